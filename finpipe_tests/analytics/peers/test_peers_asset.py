"""End to end: the ``peer_benchmarks`` asset reads companies, KPIs, income statements and a
custom group from the warehouse, writes its three tables and evaluates its checks."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from finpipe.defs.peers.assets import peer_benchmarks
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import INCOME_STATEMENT, KPIS
from finpipe.warehouse.tables.analytics_peers import (
    CUSTOM_PEER_GROUPS,
    PEER_BENCHMARKS,
    PEER_GROUP_MEMBERS,
    PEER_GROUPS,
)
from finpipe.warehouse.tables.ops import COMPANIES

MONTHS = [dt.date(2024, m, 1) for m in range(1, 13)]
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _seed(wh: Warehouse) -> None:
    codes = {**{f"cmp_s{i}": "541511" for i in range(5)}, "cmp_b": "236220"}
    ids = list(codes)
    wh.replace_all(
        COMPANIES,
        pl.DataFrame(
            {
                "company_id": ids,
                "name": ids,
                "naics_code": list(codes.values()),
                "country": "US",
                "home_currency": "USD",
                "fiscal_year_start_month": 1,
                "status": "active",
                "created_at": NOW,
                "updated_at": NOW,
            }
        ),
    )
    money = [c.name for c in INCOME_STATEMENT.columns if c.kind.value == "money"]
    income = (
        pl.DataFrame({"company_id": [c for c in ids for _ in MONTHS], "month": MONTHS * len(ids)})
        .with_columns(currency=pl.lit("USD"), **{name: pl.lit(0, dtype=pl.Int64) for name in money})
        .with_columns(revenue=pl.lit(5_000_000, dtype=pl.Int64))
    )
    wh.replace_all(INCOME_STATEMENT, income)
    kpis = pl.DataFrame(
        {
            "company_id": [c for c in ids for _ in MONTHS],
            "month": MONTHS * len(ids),
            "value": [float(i + 1) for i in range(len(ids)) for _ in MONTHS],
        }
    ).with_columns(
        kpi=pl.lit("current_ratio"),
        amount=pl.lit(None, dtype=pl.Int64),
        unit=pl.lit("ratio"),
        null_reason=pl.lit(None, dtype=pl.String),
        inputs=pl.lit("{}"),
    )
    wh.replace_all(KPIS, kpis)
    wh.replace_all(
        CUSTOM_PEER_GROUPS,
        pl.DataFrame(
            {"group_id": "software", "company_id": ids[:5], "name": "software", "added_at": NOW}
        ),
    )


@pytest.mark.slow
def test_peer_benchmarks_materialize(warehouse_url: str) -> None:
    with Warehouse.open(warehouse_url) as wh:
        _seed(wh)
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):  # a re-run replaces, never duplicates
        result = dg.materialize([peer_benchmarks], resources=resources, instance=instance)
        assert result.success
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == [
        "groups_at_least_k",
        "no_figure_below_k",
        "percentiles_in_range",
    ]
    assert all(c.passed for c in checks)
    with Warehouse.open(warehouse_url) as wh:
        groups = wh.read(PEER_GROUPS)
        members = wh.read(PEER_GROUP_MEMBERS)
        bench = wh.read(PEER_BENCHMARKS)
    assert groups.height == 6 * 12
    assert set(groups.filter(pl.col("company_id") == "cmp_b")["level"]) == {"reference"}
    assert set(members["group_id"]) == {"naics6:541511|band:250k-1M", "custom:software"}
    last = bench.filter(pl.col("month") == MONTHS[-1])
    # cmp_b (sector 23) has no peers and no reference current ratio in the packaged table.
    assert last.filter(pl.col("company_id") == "cmp_b").is_empty()
    assert set(last["source"]) == {"peers", "custom"}
    top = last.filter((pl.col("company_id") == "cmp_s4") & (pl.col("source") == "peers"))
    assert top.select("percentile", "group_median", "n").row(0) == (100.0, 3.0, 5)
    event = instance.get_latest_materialization_event(dg.AssetKey(["analytics", "peer_groups"]))
    assert event is not None and event.asset_materialization is not None
    summary = event.asset_materialization.metadata["summary"].value
    assert "| naics6+band | 1 | 5 | 5 | 5 |" in summary and "`custom:software` (5)" in summary
