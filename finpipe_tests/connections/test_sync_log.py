"""The sync run log and the status it drives: success rows from a SyncReport, failures keyed
by run id (recording one again counts nothing twice), active -> degraded after N failures in
a row, degraded -> active at the next success; and which errors a step retry may fix."""

from __future__ import annotations

import polars as pl
import pytest
import requests

from finpipe.connections.retry import failure_kind, is_transient
from finpipe.connections.sync_log import (
    RunInfo,
    record_failure,
    record_success,
    success_rows,
    trigger_of,
)
from finpipe.connectors.aggregator.client import PlaidError, PlaidErrorBody
from finpipe.connectors.errors import (
    ConnectorError,
    NeedsReauth,
    ProviderError,
    ProviderUnavailable,
    StaleVersion,
)
from finpipe.connectors.report import EntityReport, SyncReport
from finpipe.connectors.xero.client import DailyLimitReached
from finpipe.connectors.xero.sync import SyncKilled
from finpipe.warehouse import Warehouse
from finpipe.warehouse.errors import WarehouseConnectionError
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.ops_health import SYNC_RUNS
from finpipe_tests.connections.helpers import NOW, connection, connections, hours_ago


def info(run_id: str, hours: float, trigger: str = "manual") -> RunInfo:
    return RunInfo(run_id, trigger, hours_ago(hours + 0.1), hours_ago(hours))


def report(company_id: str = "cmp_a", provider: str = "quickbooks") -> SyncReport:
    rep = SyncReport(provider, company_id, sync_id="s-1", calls=20, rate_limited=3, retries=4)
    rep.token_refreshes = 1
    rep.entities = [
        EntityReport("Invoice", "realm-1", inserted=5, updated=2, calls=8, rate_limited=1),
        EntityReport("Bill", "realm-2", inserted=1, deleted=1, calls=7, rate_limited=2),
    ]
    return rep


def status_of(wh: Warehouse, external_id: str) -> tuple[str, str | None]:
    row = wh.read(CONNECTIONS).filter(pl.col("external_id") == external_id).row(0, named=True)
    return row["status"], row["status_reason"]


def test_success_rows_split_the_report_per_connection_and_add_up() -> None:
    rows = success_rows(report(), ["realm-2", "realm-1"], info("run-1", 1), NOW)
    assert rows.schema == SYNC_RUNS.polars_schema()
    by_id = {r["external_id"]: r for r in rows.iter_rows(named=True)}
    # realm-1 (first sorted) also carries what no tenant claimed: 20 - 15 calls, all retries
    assert by_id["realm-1"]["calls"] == 13
    assert by_id["realm-2"]["calls"] == 7
    assert by_id["realm-1"]["rate_limited"] == 1
    assert by_id["realm-2"]["rate_limited"] == 2
    assert by_id["realm-1"]["retries"] == 4 and by_id["realm-2"]["retries"] == 0
    assert by_id["realm-1"]["token_refreshes"] == 1
    assert by_id["realm-1"]["rows_written"] == 7
    assert by_id["realm-2"]["rows_written"] == 2
    assert set(rows["status"]) == {"success"}
    assert set(rows["sync_id"]) == {"s-1"}


def test_trigger_from_run_tags() -> None:
    assert trigger_of({"finpipe/trigger": "webhook"}) == "webhook"
    assert trigger_of({"finpipe/trigger": "nightly"}) == "schedule"
    assert trigger_of({"dagster/schedule_name": "x"}) == "schedule"
    assert trigger_of({"dagster/sensor_name": "x"}) == "sensor"
    assert trigger_of({}) == "manual"


def test_three_failures_in_a_row_degrade_and_a_success_recovers(warehouse: Warehouse) -> None:
    warehouse.upsert(
        CONNECTIONS,
        connections(
            connection(external_id="realm-1"),
            connection(external_id="realm-2", status="paused"),
            connection(provider="xero", external_id="tenant-1"),
        ),
    )
    for i, hours in enumerate((5, 4)):
        after = record_failure(
            warehouse, "cmp_a", "quickbooks", info(f"f{i}", hours), "ProviderUnavailable", "503"
        )
        assert after["status"].to_list() == ["active"]
    # a re-evaluation of the same failed run counts nothing twice
    again = record_failure(
        warehouse, "cmp_a", "quickbooks", info("f1", 4), "ProviderUnavailable", "503"
    )
    assert again["consecutive_failures"].to_list() == [2]
    assert status_of(warehouse, "realm-1")[0] == "active"
    third = record_failure(
        warehouse,
        "cmp_a",
        "quickbooks",
        info("f2", 3),
        "ProviderError",
        "quickbooks answered 400: Bearer abc.def is bad",
    )
    assert third["consecutive_failures"].to_list() == [3]
    status, reason = status_of(warehouse, "realm-1")
    assert status == "degraded"
    assert reason == (
        "3 consecutive failed syncs since 2026-12-07 07:00 UTC "
        "(last: ProviderError: quickbooks answered 400: Bearer *** is bad)"
    )
    # the paused connection was not tried, the other provider untouched
    logged = warehouse.read(SYNC_RUNS)
    assert logged.height == 3
    assert set(logged["external_id"]) == {"realm-1"}
    assert status_of(warehouse, "realm-2")[0] == "paused"
    assert status_of(warehouse, "tenant-1")[0] == "active"

    rep = SyncReport("quickbooks", "cmp_a", sync_id="s-9", calls=4)
    record_success(warehouse, rep, ["realm-1"], info("ok", 1, "webhook"), now=NOW)
    status, reason = status_of(warehouse, "realm-1")
    assert status == "active"
    assert reason == "recovered: run ok synced at 2026-12-07 11:00 UTC"
    row = warehouse.read(CONNECTIONS).filter(pl.col("external_id") == "realm-1").row(0, named=True)
    assert row["last_synced_at"] == hours_ago(1)
    ok = warehouse.read(SYNC_RUNS, where="run_id = %s", params=["ok"]).row(0, named=True)
    assert (ok["status"], ok["trigger"], ok["calls"]) == ("success", "webhook", 4)
    # recording the same success again writes the same single row
    record_success(warehouse, rep, ["realm-1"], info("ok", 1, "webhook"), now=NOW)
    assert warehouse.count(SYNC_RUNS) == 4


def test_needs_reauth_is_charged_but_never_degraded(duck: Warehouse) -> None:
    duck.upsert(CONNECTIONS, connections(connection(status="needs_reauth", reason="x")))
    for i in range(4):
        record_failure(
            duck,
            "cmp_a",
            "quickbooks",
            info(f"f{i}", 5 - i),
            "NeedsReauth",
            "refresh refused",
            degrade_after=2,
        )
    assert status_of(duck, "realm-1") == ("needs_reauth", "x")
    assert duck.count(SYNC_RUNS) == 4


def test_no_connection_tried_records_nothing(duck: Warehouse) -> None:
    duck.upsert(CONNECTIONS, connections(connection(status="removed")))
    out = record_failure(duck, "cmp_a", "quickbooks", info("f", 1), "X", "y")
    assert out.is_empty()
    assert duck.count(SYNC_RUNS) == 0
    with pytest.raises(ValueError, match="degrade_after"):
        record_failure(duck, "cmp_a", "quickbooks", info("f", 1), "X", "y", degrade_after=0)


def _plaid(status: int, error_type: str, code: str) -> PlaidError:
    return PlaidError(
        "/transactions/sync", status, PlaidErrorBody(error_type, code, "m", None), "u"
    )


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ProviderUnavailable("503 after 8 attempts"), "transient"),
        (ProviderError("xero", 503, "down", "u"), "transient"),
        (ProviderError("xero", 429, "slow down", "u"), "transient"),
        (ProviderError("xero", 400, "bad request", "u"), "permanent"),
        (ProviderError("quickbooks", 403, "forbidden", "u"), "permanent"),
        (_plaid(429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT"), "transient"),
        (_plaid(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED"), "permanent"),
        (requests.ConnectionError("reset"), "transient"),
        (requests.Timeout("slow"), "transient"),
        (TimeoutError("slow"), "transient"),
        (WarehouseConnectionError("db down"), "transient"),
        (SyncKilled("killed after 2 pages"), "transient"),
        (NeedsReauth("invalid_grant"), "needs_reauth"),
        (DailyLimitReached("5000 calls"), "permanent"),
        (StaleVersion("xero", "Invoices", "1", "changed"), "permanent"),
        (ConnectorError("parse"), "permanent"),
        (KeyError("bug"), "permanent"),
    ],
)
def test_retry_classification(exc: BaseException, kind: str) -> None:
    assert failure_kind(exc) == kind
    assert is_transient(exc) is (kind == "transient")


def test_the_cause_chain_is_judged_and_needs_reauth_always_wins() -> None:
    try:
        try:
            raise ProviderUnavailable("down")
        except ProviderUnavailable as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    try:
        try:
            raise NeedsReauth("refused")
        except NeedsReauth as inner:
            raise ProviderUnavailable("while refreshing") from inner
    except ProviderUnavailable as outer:
        assert not is_transient(outer)
        assert failure_kind(outer) == "needs_reauth"
