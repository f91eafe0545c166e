"""``finpipe connections`` through click's runner against a warehouse in a temp folder (both
engines): list, show, pause / resume / remove with their audit entries, reauth, and clear
errors for what does not exist."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from finpipe.cli import cli
from finpipe.cli.connections import render_table
from finpipe.compliance import AuditKind, verify
from finpipe.config import ConfigError
from finpipe.connections.manage import ConnectionsError, UnknownConnectionError
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS
from finpipe.warehouse.tables.ops_health import SYNC_RUNS
from finpipe_tests.connections.helpers import connection, connections, run, runs, token, tokens

UTC = dt.UTC


@pytest.fixture
def seeded(
    tmp_path: Path, duckdb_warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dt.datetime]:
    """The seeded warehouse on DuckDB."""
    return seed(tmp_path, duckdb_warehouse_url, monkeypatch)


@pytest.fixture
def seeded_any(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dt.datetime]:
    """The seeded warehouse on each engine."""
    return seed(tmp_path, warehouse_url, monkeypatch)


def seed(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dt.datetime]:
    """Two companies: cmp_a on QuickBooks (token 95 days old, one failure after a success)
    and Xero (paused), cmp_b on a statement account."""
    monkeypatch.setenv("FINPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FINPIPE_WAREHOUSE_URL", warehouse_url)
    for name in ("FINPIPE_QUICKBOOKS_CLIENT_ID", "FINPIPE_QUICKBOOKS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    with Warehouse.open(warehouse_url) as wh:
        wh.upsert(
            CONNECTIONS,
            connections(
                connection(last_synced_at=now - dt.timedelta(hours=3)),
                connection(provider="xero", external_id="tenant-1", status="paused"),
                connection("cmp_b", "statement", "GB00TEST", last_synced_at=now),
            ),
        )
        wh.upsert(
            OAUTH_TOKENS,
            tokens(
                token("cmp_a", "quickbooks", now - dt.timedelta(days=95)),
                token("cmp_a", "xero", now - dt.timedelta(days=1)),
            ),
        )
        wh.upsert(
            SYNC_RUNS,
            runs(
                run("run-ok", now - dt.timedelta(hours=3), calls=12, rate_limited=2),
                run(
                    "run-bad",
                    now - dt.timedelta(hours=1),
                    "failed",
                    error_class="ProviderUnavailable",
                    message="quickbooks did not answer",
                ),
            ),
        )
    return warehouse_url, now


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["connections", *args], input=input)


def table(url: str, t: object) -> pl.DataFrame:
    with Warehouse.open(url) as wh:
        return wh.read(t)  # type: ignore[arg-type]


def test_render_table_pads_columns() -> None:
    text = render_table([{"a": "x", "b": None}, {"a": "long", "b": 1.25}], [("a", "A"), ("b", "B")])
    assert text.splitlines() == ["A     B", "----  ---", "x     -", "long  1.2"]


def test_list_shows_status_lag_token_and_next_action(
    seeded_any: tuple[str, dt.datetime],
) -> None:
    _, now = seeded_any
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "company", "provider", "external", "id", "status", "last", "sync", "lag",
        "token", "days", "next", "action",
    ]  # fmt: skip
    qbo = next(line for line in lines if "realm-1" in line)
    assert "active" in qbo
    assert (now - dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M") in qbo
    assert " 3.0 " in qbo and " 5.0 " in qbo  # lag hours, token days left
    assert "investigate: 1 failure(s) since" in qbo
    xero = next(line for line in lines if "tenant-1" in line)
    assert "paused" in xero and "resume when wanted" in xero
    assert lines[-1] == "3 connection(s), 2 needing an action"


def test_show_prints_health_runs_and_failures(seeded: tuple[str, dt.datetime]) -> None:
    result = invoke("show", "cmp_a", "quickbooks")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("cmp_a quickbooks realm-1\n")
    assert "  calls_24h             12\n" in out
    assert "  rate_limited_24h      2\n" in out
    assert "  consecutive_failures  1\n" in out
    assert "  token_horizon_days    100\n" in out
    assert "recent sync runs (2 of 2):" in out
    assert "latest failures (1):" in out
    assert "ProviderUnavailable  quickbooks did not answer  run-bad" in out


def test_pause_resume_are_audited(seeded_any: tuple[str, dt.datetime]) -> None:
    url, _ = seeded_any
    paused = invoke("pause", "cmp_a", "quickbooks", "--reason", "month-end freeze")
    assert paused.exit_code == 0, paused.output
    assert paused.output.splitlines() == [
        "quickbooks realm-1 of cmp_a: paused",
        "recorded 1 audit entry",
    ]
    row = table(url, CONNECTIONS).filter(pl.col("external_id") == "realm-1").row(0, named=True)
    assert (row["status"], row["status_reason"]) == ("paused", "month-end freeze")
    again = invoke("pause", "cmp_a", "quickbooks")
    assert isinstance(again.exception, ConnectionsError)
    assert "is paused: cannot pause it" in str(again.exception)
    resumed = invoke("resume", "cmp_a", "quickbooks")
    assert resumed.exit_code == 0, resumed.output
    assert "quickbooks realm-1 of cmp_a: active" in resumed.output
    audit = table(url, AUDIT_LOG).filter(pl.col("company_id") == "cmp_a")
    assert audit["kind"].to_list() == [AuditKind.MANUAL_OVERRIDE.value] * 2
    assert all(s.startswith("ops.connections:quickbooks/realm-1@") for s in audit["subject"])
    with Warehouse.open(url) as wh:
        assert verify(wh, "cmp_a").ok


def test_remove_asks_deletes_tokens_and_keeps_history(seeded: tuple[str, dt.datetime]) -> None:
    url, _ = seeded
    declined = invoke("remove", "cmp_a", "quickbooks", input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert table(url, OAUTH_TOKENS).height == 2
    removed = invoke("remove", "cmp_a", "quickbooks", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "deleted 1 stored token set(s)" in removed.output
    assert table(url, OAUTH_TOKENS)["provider"].to_list() == ["xero"]
    assert table(url, SYNC_RUNS).height == 2
    conns = table(url, CONNECTIONS)
    assert conns.filter(pl.col("external_id") == "realm-1")["status"].item() == "removed"
    listed = invoke("list")
    assert "realm-1" not in listed.output
    assert "realm-1" in invoke("list", "--all").output


def test_unknown_company_and_provider_name_what_exists(seeded: tuple[str, dt.datetime]) -> None:
    nobody = invoke("show", "cmp_zz", "quickbooks")
    assert isinstance(nobody.exception, UnknownConnectionError)
    assert "companies with connections: cmp_a, cmp_b" in str(nobody.exception)
    wrong = invoke("pause", "cmp_b", "xero")
    assert isinstance(wrong.exception, UnknownConnectionError)
    assert str(wrong.exception) == "company 'cmp_b' has no 'xero' connection; it has: statement"
    no_id = invoke("pause", "cmp_a", "quickbooks", "--external-id", "realm-9")
    assert "its quickbooks connections: realm-1" in str(no_id.exception)


def test_reauth_reuses_finpipe_connect(seeded: tuple[str, dt.datetime]) -> None:
    printed = invoke("reauth", "cmp_a", "quickbooks", "--print-only")
    assert printed.exit_code == 0
    assert printed.output == "finpipe connect quickbooks --company cmp_a\n"
    # The real flow is `finpipe connect`'s: without the app's credentials it stops there.
    flow = invoke("reauth", "cmp_a", "quickbooks")
    assert isinstance(flow.exception, ConfigError)
    assert "FINPIPE_QUICKBOOKS_CLIENT_ID" in str(flow.exception)
    statement = invoke("reauth", "cmp_b", "statement")
    assert isinstance(statement.exception, ConnectionsError)
    assert "nothing to authorise" in str(statement.exception)
