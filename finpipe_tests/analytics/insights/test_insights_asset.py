"""End to end: the ``insights`` multi-asset on the hand-built warehouse (both engines): it
writes ranked, verified insights, both blocking checks pass, the top five are in the metadata;
a failing verification makes ``insights_verified`` fail with the number named."""

from __future__ import annotations

import dagster as dg
import pytest

from finpipe.analytics.insights.verify import Verification
from finpipe.defs.insights.assets import insights
from finpipe.defs.insights.checks import INSIGHTS_KEY, check_results
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_insights import INSIGHTS
from finpipe_tests.analytics.insights.seed import CID, seed


@pytest.mark.slow
def test_insights_materialize(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINPIPE_LLM_BASE_URL", raising=False)
    with Warehouse.open(warehouse_url) as wh:
        seed(wh)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("company", [CID])
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}
    for _ in range(2):  # a re-run replaces, never duplicates
        result = dg.materialize(
            [insights], partition_key=CID, resources=resources, instance=instance
        )
        assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"insights_verified": True, "insight_ranks_contiguous": True}
    event = instance.get_latest_materialization_event(INSIGHTS_KEY)
    assert event is not None and event.asset_materialization is not None
    top = event.asset_materialization.metadata["top_insights"].value
    assert (
        top.startswith("1. **Gross margin down to 38 %**") and "\n5. " in top and "\n6. " not in top
    )
    with Warehouse.open(warehouse_url) as wh:
        assert wh.count(INSIGHTS, CID) == 10


def test_unverified_insight_fails_the_check(seeded: Warehouse) -> None:
    duck = seeded
    bad = Verification("runway:runway_months", False, 3, [], ["12"])
    frame = duck.read(INSIGHTS, company_id=CID)
    verified, ranks = check_results(frame, [bad])
    assert not verified.passed and verified.severity == dg.AssetCheckSeverity.ERROR
    assert "number '12' in the text is not a cited number" in verified.metadata["detail"].value
    assert ranks.passed
