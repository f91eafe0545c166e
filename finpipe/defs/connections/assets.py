"""``ops/integration_health``: one row per connection, rebuilt every half hour (and with
the company registry) from the sync log, the token metadata and the webhook tables."""

import datetime as dt

import dagster as dg
import polars as pl

from finpipe.connections.health import read_health
from finpipe.defs.connections.checks import check_results, check_specs
from finpipe.defs.connections.resources import ConnectionHealthResource
from finpipe.defs.landing import CONNECTIONS_KEY
from finpipe.defs.metadata import markdown_preview, table_schema
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.ops_health import INTEGRATION_HEALTH

INTEGRATION_HEALTH_KEY = dg.AssetKey(["ops", "integration_health"])
# What the operator reads first, in the Markdown table of the materialization.
SUMMARY_COLUMNS = [
    "company_id",
    "provider",
    "external_id",
    "status",
    "last_success_at",
    "lag_hours",
    "errors_24h",
    "rate_limited_24h",
    "token_days_left",
    "webhooks_24h",
    "next_action",
]


def health_summary(health: pl.DataFrame, rows: int = 50) -> str:
    """The connections as a Markdown table, those needing an action first."""
    ordered = health.with_columns(
        pl.col("lag_hours").round(1), pl.col("token_days_left").round(1)
    ).sort(
        [pl.col("next_action") == "none", "company_id", "provider", "external_id"],
    )
    return markdown_preview(ordered, rows=rows, columns=SUMMARY_COLUMNS)


@dg.asset(
    key=INTEGRATION_HEALTH_KEY,
    group_name="ops",
    kinds={"polars", "duckdb", "postgres"},
    deps=[CONNECTIONS_KEY],
    # Cross-company and time-dependent (lag grows by itself): rebuilt on a clock, not on
    # upstream changes; `register_companies` rebuilds it too.
    automation_condition=dg.AutomationCondition.cron_tick_passed("*/30 * * * *")
    & ~dg.AutomationCondition.in_progress(),
    description=INTEGRATION_HEALTH.doc,
    check_specs=check_specs(INTEGRATION_HEALTH_KEY),
    metadata={
        "dagster/table_name": INTEGRATION_HEALTH.qualified_name,
        "dagster/column_schema": table_schema(INTEGRATION_HEALTH),
    },
)
def integration_health(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    connection_health: ConnectionHealthResource,
) -> dg.MaterializeResult:
    """Last success, lag, 24-hour calls / 429s / errors, failure streak, refresh-token
    horizon, webhook deliveries and rejections, and the next action, per connection."""
    now = dt.datetime.now(dt.UTC)
    thresholds = connection_health.thresholds()
    with warehouse.open() as wh:
        health = read_health(wh, now, thresholds)
        wh.replace_all(INTEGRATION_HEALTH, health)
    acting = health.filter(pl.col("next_action") != "none")
    by_status = health.group_by("status").len().sort("status")
    context.log.info(f"{health.height} connection(s), {acting.height} needing an action")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(health.height),
            "needing_action": dg.MetadataValue.int(acting.height),
            "by_status": dg.MetadataValue.json(dict(by_status.iter_rows())),
            "connections": dg.MetadataValue.md(health_summary(health)),
            "computed_at": dg.MetadataValue.text(now.isoformat()),
        },
        check_results=check_results(INTEGRATION_HEALTH_KEY, health, thresholds),
    )
