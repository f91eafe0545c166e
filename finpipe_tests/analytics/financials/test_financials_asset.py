"""End to end: a company of the tiny world gets its books built the pipeline's way, then the
``financials`` multi-asset is materialized for its partition on each warehouse engine."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finpipe.defs.financials.assets import financials
from finpipe.defs.resources import WarehouseResource
from finpipe.sandbox.world import load_world
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import (
    BALANCE_SHEET,
    HEALTH_COMPONENTS,
    HEALTH_SCORES,
    INCOME_STATEMENT,
    TABLES,
)
from finpipe_tests.world_books import build_world_books, world_companies


@pytest.mark.slow
def test_financials_materialize_on_a_world_company(tiny_world: Path, warehouse_url: str) -> None:
    world = load_world(tiny_world)
    company = next(c for c in world_companies(world) if c["accounting_provider"] == "both")
    cid = company["company_id"]
    with Warehouse.open(warehouse_url) as wh:
        build_world_books(wh, world, company)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("company", [cid])
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}
    for _ in range(2):  # a re-run replaces, never duplicates
        result = dg.materialize(
            [financials], partition_key=cid, resources=resources, instance=instance
        )
        assert result.success
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == [
        "cash_flow_ties_to_cash",
        "scores_in_range",
        "statements_tie_to_trial_balance",
    ]
    assert all(c.passed for c in checks)
    event = instance.get_latest_materialization_event(dg.AssetKey(["analytics", "health_scores"]))
    assert event is not None and event.asset_materialization is not None
    summary = event.asset_materialization.metadata["summary"].value
    assert "Altman Z″" in summary and "| liquidity |" in summary

    truth = world.table("truth_monthly").filter(pl.col("company_id") == cid).collect()
    with Warehouse.open(warehouse_url) as wh:
        counts = {t.name: wh.count(t, cid) for t in TABLES}
        income = wh.read(INCOME_STATEMENT, company_id=cid)
        balance = wh.read(BALANCE_SHEET, company_id=cid)
        scores = wh.read(HEALTH_SCORES, company_id=cid)
        parts = wh.read(HEALTH_COMPONENTS, company_id=cid)
    months = truth.height
    assert counts["income_statement"] == counts["balance_sheet"] == months == 3
    assert counts["kpis"] == months * 24
    # The ledger's revenue and receivables are the world's true ones (to FX rounding).
    both = income.join(balance, on=["company_id", "month"]).join(
        truth, on=["company_id", "month"], suffix="_truth"
    )
    assert ((both["revenue"] - both["revenue_truth"]).abs() <= 1).all()
    assert ((both["accounts_receivable"] - both["accounts_receivable_truth"]).abs() <= 1).all()
    assert scores["composite"].is_between(0, 100).all()
    assert scores["altman_zone"].is_in(["distress", "grey", "safe"]).all()
    composite = parts.filter(pl.col("score") == "composite")
    sums = composite.group_by("month").agg(pl.col("contribution").sum()).sort("month")
    assert sums["contribution"].to_list() == pytest.approx(
        scores.sort("month")["composite"].to_list()
    )
