"""analytics/cash_series, cash_forecast, forecast_backtest, cash_warnings: a company's
13-week and 12-month cash forecast with intervals and its early warnings, rebuilt whenever
its books change (the rules live in :mod:`finpipe.analytics.forecast`)."""

import dagster as dg
import polars as pl

from finpipe.analytics.forecast import forecast_company, write_forecast
from finpipe.defs.forecast.checks import CASH_FORECAST_KEY, check_results, check_specs
from finpipe.defs.ledger.books import JOURNAL_LINES_KEY
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Table
from finpipe.warehouse.tables.analytics_forecast import (
    CASH_FORECAST,
    CASH_SERIES,
    CASH_WARNINGS,
    FORECAST_BACKTEST,
)

FORECAST_TABLES = (CASH_SERIES, CASH_FORECAST, FORECAST_BACKTEST, CASH_WARNINGS)


def forecast_key(table: Table) -> dg.AssetKey:
    return dg.AssetKey(["analytics", table.name])


CASH_WARNINGS_KEY = forecast_key(CASH_WARNINGS)


def _spec(table: Table) -> dg.AssetSpec:
    return derived_table_spec(forecast_key(table), table, "analytics", [JOURNAL_LINES_KEY])


@dg.multi_asset(
    name="cash_forecast",
    specs=[_spec(t) for t in FORECAST_TABLES],
    check_specs=check_specs(),
    partitions_def=company_partitions,
    can_subset=False,
    description="Weekly and monthly cash series from the books; 13-week and 12-month "
    "forecasts with 80 % / 95 % intervals from the model a rolling-origin backtest chose "
    "(seasonal naive, ETS, STL + ETS, their ensemble); early warnings when the lower "
    "interval of the balance crosses zero or the runway drops under the threshold.",
)
def cash_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        result = forecast_company(wh, company_id)
        write_forecast(wh, result)
    summary = result.summary_markdown()
    context.log.info(
        f"cash forecast of {company_id}: "
        + ", ".join(f"{k} {v.chosen}" for k, v in result.results.items())
        + f"; {result.warnings.height} warning(s)"
    )
    backtest = result.backtest
    chosen = backtest.filter(pl.col("chosen"))
    yield dg.MaterializeResult(
        asset_key=forecast_key(CASH_SERIES),
        metadata={
            "dagster/row_count": result.series.height,
            "as_of": str(result.as_of) if result.as_of else "no books",
            "currency": result.currency or "unknown",
        },
    )
    yield dg.MaterializeResult(
        asset_key=CASH_FORECAST_KEY,
        metadata={
            "dagster/row_count": result.forecast.height,
            "chosen_models": dg.MetadataValue.json(
                {r["frequency"]: r["model"] for r in chosen.iter_rows(named=True)}
            ),
            "summary": dg.MetadataValue.md(summary),
        },
    )
    yield dg.MaterializeResult(
        asset_key=forecast_key(FORECAST_BACKTEST),
        metadata={
            "dagster/row_count": backtest.height,
            "mase_vs_seasonal_naive": dg.MetadataValue.json(
                {r["frequency"]: r["mase_vs_seasonal_naive"] for r in chosen.iter_rows(named=True)}
            ),
            "backtest": dg.MetadataValue.md(
                markdown_preview(
                    backtest,
                    rows=12,
                    columns=["frequency", "model", "status", "mase", "folds", "reason"],
                )
            ),
        },
    )
    warnings = result.warnings
    yield dg.MaterializeResult(
        asset_key=CASH_WARNINGS_KEY,
        metadata={
            "dagster/row_count": warnings.height,
            "by_kind": dg.MetadataValue.json(
                dict(warnings.group_by("kind").len().sort("kind").iter_rows())
            ),
            "warnings": dg.MetadataValue.md(
                "\n".join(
                    f"- **{r['severity']}**: {r['reason']}" for r in warnings.iter_rows(named=True)
                )
                or "_no warnings_"
            ),
        },
    )
    yield from check_results(result)
