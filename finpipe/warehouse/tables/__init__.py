"""The catalog of every declared warehouse table, one module per schema or source."""

from __future__ import annotations

from finpipe.warehouse.schema import Table
from finpipe.warehouse.tables import (
    analytics_anomalies,
    analytics_financials,
    analytics_forecast,
    analytics_insights,
    analytics_peers,
    compliance,
    ledger,
    mapping,
    ops,
    ops_health,
    raw,
    recon,
    webhooks,
    world,
)

ALL_TABLES: tuple[Table, ...] = (
    *ops.TABLES,
    *webhooks.TABLES,
    *ops_health.TABLES,
    *raw.TABLES,
    *world.TABLES,
    *ledger.TABLES,
    *mapping.TABLES,
    *recon.TABLES,
    *compliance.TABLES,
    *analytics_financials.TABLES,
    *analytics_anomalies.TABLES,
    *analytics_forecast.TABLES,
    *analytics_peers.TABLES,
    *analytics_insights.TABLES,
)


def by_name(qualified_name: str) -> Table:
    """The declared table called ``schema.name``."""
    for table in ALL_TABLES:
        if table.qualified_name == qualified_name:
            return table
    known = ", ".join(t.qualified_name for t in ALL_TABLES)
    raise KeyError(f"no declared table {qualified_name!r}; declared tables: {known}")
