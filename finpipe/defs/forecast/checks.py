"""Checks on the cash forecast: every figure finite, every interval ordered."""

from collections.abc import Callable

import dagster as dg
import polars as pl

from finpipe.analytics.forecast.checks import BANDS, disordered_intervals, non_finite_rows
from finpipe.defs.forecast.assets import CASH_FORECAST_KEY
from finpipe.defs.metadata import markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.analytics_forecast import CASH_FORECAST

_SHOWN = ["frequency", "model", "period", *(f"balance_{b}" for b in BANDS)]


def _evaluate(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    breaking: Callable[[pl.DataFrame], pl.DataFrame],
    label: str,
) -> dg.AssetCheckResult:
    """Pass when ``breaking`` finds no row of the company's stored forecast."""
    with warehouse.open() as wh:
        forecast = wh.read(CASH_FORECAST, company_id=context.partition_key)
    bad = breaking(forecast)
    return dg.AssetCheckResult(
        passed=bad.is_empty(),
        metadata={
            "rows": forecast.height,
            label: bad.height,
            "detail": dg.MetadataValue.md(markdown_preview(bad, rows=20, columns=_SHOWN)),
        },
    )


@dg.asset_check(
    asset=CASH_FORECAST_KEY,
    blocking=True,
    partitions_def=company_partitions,
    description="Every point forecast and interval bound of the flows and the balance is a "
    "finite number (no null, NaN or infinity reached the table).",
)
def forecasts_finite(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _evaluate(context, warehouse, non_finite_rows, "non_finite_rows")


@dg.asset_check(
    asset=CASH_FORECAST_KEY,
    blocking=True,
    partitions_def=company_partitions,
    description="Every interval is ordered: lo95 <= lo80 <= point <= hi80 <= hi95, for the "
    "flow and the balance of every forecast period.",
)
def intervals_ordered(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _evaluate(context, warehouse, disordered_intervals, "disordered_rows")
