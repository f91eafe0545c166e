"""The forecast end to end: from journal lines to the four tables and back through the
public reads (both engines), and one slow materialization of the Dagster asset and its
checks on a generated world's books."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from finpipe.analytics.forecast import (
    forecast_from_journal,
    read_backtest,
    read_forecast,
    read_warnings,
    write_forecast,
)
from finpipe.analytics.forecast.checks import disordered_intervals, non_finite_rows
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_forecast import CASH_SERIES, CASH_WARNINGS
from finpipe_tests.world_books import land_world_books


def declining_books(weeks: int = 70) -> pl.DataFrame:
    """A shop with 50,000.00 opening cash losing about 600.00 a week (sales in, rent out):
    about 8,000.00 is left after 70 weeks."""
    rng = np.random.default_rng(2)
    start = dt.date(2025, 6, 2)
    rows = [("ob", start, "1010", 5_000_000), ("ob", start, "3900", -5_000_000)]
    for k in range(weeks):
        day = start + dt.timedelta(weeks=k, days=2)
        sale = int(400_000 + rng.normal(0, 30_000))
        rows += [(f"s{k}", day, "1010", sale), (f"s{k}", day, "4000", -sale)]
        rows += [(f"r{k}", day, "1010", -460_000), (f"r{k}", day, "6100", 460_000)]
    return pl.DataFrame(
        [
            {
                "company_id": "shop",
                "provider": "xero",
                "entry_id": e,
                "date": d,
                "standard_code": c,
                "amount": a,
            }
            for e, d, c, a in rows
        ]
    )


def test_forecast_tables_round_trip_through_the_public_reads(warehouse: Warehouse) -> None:
    result = forecast_from_journal(declining_books(), "shop", "EUR")
    assert result.results["weekly"].chosen is not None
    assert result.results["monthly"].chosen is not None
    assert non_finite_rows(result.forecast).is_empty()
    assert disordered_intervals(result.forecast).is_empty()
    write_forecast(warehouse, result)
    write_forecast(warehouse, result)  # a re-run replaces the partition
    weekly = read_forecast(warehouse, "shop", "weekly")
    assert weekly["step"].to_list() == list(range(1, 14))
    assert weekly["chosen"].all() and weekly["currency"].unique().to_list() == ["EUR"]
    assert read_forecast(warehouse, "shop", chosen_only=False).height == result.forecast.height
    assert warehouse.count(CASH_SERIES, "shop") == result.series.height
    backtest = read_backtest(warehouse, "shop")
    assert backtest.filter(pl.col("chosen")).height == 2
    # about 2,600.00 a month out of about 8,000.00: short runway, the band crosses zero
    warnings = read_warnings(warehouse, "shop")
    assert warehouse.count(CASH_WARNINGS, "shop") == warnings.height
    kinds = set(warnings["kind"])
    assert {"balance_may_cross_zero", "runway_below_threshold"} <= kinds, warnings
    assert all(r for r in warnings["reason"])
    summary = result.summary_markdown()
    assert "Next 13 weeks" in summary and "**Warnings**" in summary


def test_a_company_without_cash_lines_gets_empty_tables() -> None:
    books = declining_books(3).filter(~pl.col("standard_code").is_in(["1010"]))
    result = forecast_from_journal(books, "shop", None)
    assert result.series.is_empty() and result.forecast.is_empty() and result.warnings.is_empty()
    assert "nothing to forecast" in result.summary_markdown()


@pytest.mark.slow
def test_cash_forecast_asset_materializes_with_passing_checks(tmp_path: Path) -> None:
    from finpipe.defs.forecast.assets import CASH_FORECAST_KEY, cash_forecast
    from finpipe.defs.resources import WarehouseResource
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    generate_world(WorldSpec(companies=2, months=15, seed=11), tmp_path / "world")
    world = load_world(tmp_path / "world")
    company = world.table("companies").collect().sort("company_id")["company_id"][0]
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with Warehouse.open(url) as wh:
        land_world_books(wh, world, [company])
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("company", [company])
        result = dg.materialize(
            [cash_forecast],
            partition_key=company,
            instance=instance,
            resources={"warehouse": WarehouseResource(url=url)},
        )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == ["forecasts_finite", "intervals_ordered"]
    assert all(c.passed for c in checks)
    materialized = {
        m.asset_key: m.metadata for m in result.asset_materializations_for_node("cash_forecast")
    }
    summary = materialized[CASH_FORECAST_KEY]["summary"].value
    assert "Next 13 weeks: cash balance" in summary and "80 % band" in summary
    with Warehouse.open(url) as wh:
        forecast = read_forecast(wh, company)
    assert sorted(forecast.group_by("frequency").len().iter_rows()) == [
        ("monthly", 12),
        ("weekly", 13),
    ]
