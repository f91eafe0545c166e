"""One materialization of ``ops/integration_health`` and its WARN checks on a warehouse with
seeded connections, tokens, sync runs and webhook events."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from finpipe.defs.connections.assets import INTEGRATION_HEALTH_KEY, integration_health
from finpipe.defs.connections.resources import ConnectionHealthResource
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS
from finpipe.warehouse.tables.ops_health import INTEGRATION_HEALTH, SYNC_RUNS
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX
from finpipe_tests.connections.helpers import (
    connection,
    connections,
    inbox,
    inbox_event,
    run,
    runs,
    token,
    tokens,
)

UTC = dt.UTC


@pytest.mark.slow
def test_materialize_integration_health_with_warnings(duckdb_warehouse_url: str) -> None:
    now = dt.datetime.now(UTC)
    with Warehouse.open(duckdb_warehouse_url) as wh:
        wh.upsert(
            CONNECTIONS,
            connections(
                connection(last_synced_at=now - dt.timedelta(hours=2)),
                connection(
                    "cmp_b", "xero", "tenant-1", last_synced_at=now - dt.timedelta(hours=50)
                ),
                connection("cmp_c", "xero", "tenant-2", status="paused"),
            ),
        )
        wh.upsert(
            OAUTH_TOKENS,
            tokens(
                token("cmp_a", "quickbooks", now - dt.timedelta(days=1)),
                token("cmp_b", "xero", now - dt.timedelta(days=50)),  # 10 days left
                token("cmp_c", "xero", now - dt.timedelta(days=59)),  # paused: not warned
            ),
        )
        wh.upsert(SYNC_RUNS, runs(run("r1", now - dt.timedelta(hours=2), calls=9)))
        wh.upsert(
            WEBHOOK_INBOX,
            inbox(inbox_event("quickbooks", "realm-1", now - dt.timedelta(hours=1), "e1")),
        )
    result = dg.materialize(
        [integration_health],
        resources={
            "warehouse": WarehouseResource(url=duckdb_warehouse_url),
            "connection_health": ConnectionHealthResource(),
        },
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert event.materialization.asset_key == INTEGRATION_HEALTH_KEY
    assert meta["dagster/row_count"].value == 3
    assert meta["needing_action"].value == 2
    table = meta["connections"].value
    assert table.splitlines()[0].startswith("| company_id | provider | external_id | status |")
    assert "| cmp_b | xero | tenant-1 | active |" in table
    with Warehouse.open(duckdb_warehouse_url) as wh:
        stored = wh.read(INTEGRATION_HEALTH)
    qbo = stored.filter(pl.col("company_id") == "cmp_a").row(0, named=True)
    assert (qbo["calls_24h"], qbo["webhooks_24h"], qbo["next_action"]) == (9, 1, "none")
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    tokens_check = checks["refresh_tokens_not_going_stale"]
    lag_check = checks["connections_not_lagging"]
    assert not tokens_check.passed and tokens_check.severity == dg.AssetCheckSeverity.WARN
    assert tokens_check.metadata["which"].value == "cmp_b/xero/tenant-1"
    assert "| cmp_b | xero | tenant-1 | 10.0 |" in tokens_check.metadata["detail"].value
    assert not lag_check.passed and lag_check.severity == dg.AssetCheckSeverity.WARN
    assert lag_check.metadata["which"].value == "cmp_b/xero/tenant-1"
    assert lag_check.metadata["threshold"].value == "> 36 h without a successful sync"
