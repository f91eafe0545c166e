"""Checks on the cash forecast: every figure finite, every interval ordered (evaluated on the
frames the asset just wrote, no re-read)."""

from __future__ import annotations

import dagster as dg

from finpipe.analytics.forecast import CompanyForecast
from finpipe.analytics.forecast.checks import BANDS, disordered_intervals, non_finite_rows
from finpipe.defs.metadata import markdown_preview
from finpipe.warehouse.tables.analytics_forecast import CASH_FORECAST

CASH_FORECAST_KEY = dg.AssetKey(["analytics", CASH_FORECAST.name])
_SHOWN = ["frequency", "model", "period", *(f"balance_{b}" for b in BANDS)]


def check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "forecasts_finite",
            asset=CASH_FORECAST_KEY,
            blocking=True,
            description="Every point forecast and interval bound of the flows and the balance "
            "is a finite number (no null, NaN or infinity reached the table).",
        ),
        dg.AssetCheckSpec(
            "intervals_ordered",
            asset=CASH_FORECAST_KEY,
            blocking=True,
            description="Every interval is ordered: lo95 <= lo80 <= point <= hi80 <= hi95, for "
            "the flow and the balance of every forecast period.",
        ),
    ]


def check_results(result: CompanyForecast) -> list[dg.AssetCheckResult]:
    """The results of :func:`check_specs` for one company's run."""
    forecast = result.forecast
    out = []
    for name, breaking, label in (
        ("forecasts_finite", non_finite_rows, "non_finite_rows"),
        ("intervals_ordered", disordered_intervals, "disordered_rows"),
    ):
        bad = breaking(forecast)
        out.append(
            dg.AssetCheckResult(
                check_name=name,
                asset_key=CASH_FORECAST_KEY,
                passed=bad.is_empty(),
                metadata={
                    "rows": forecast.height,
                    label: bad.height,
                    "detail": dg.MetadataValue.md(markdown_preview(bad, rows=20, columns=_SHOWN)),
                },
            )
        )
    return out
