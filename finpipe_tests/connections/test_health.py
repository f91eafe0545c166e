"""Integration health on hand-built frames: token ages at the providers' horizons, data lag,
the 24-hour windows, failure streaks, webhook deliveries and the operator's next action."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.connections.health import (
    NEVER_SYNCED,
    Thresholds,
    compute_health,
    lagging,
    stale_tokens,
)
from finpipe.warehouse.tables.ops_health import INTEGRATION_HEALTH
from finpipe_tests.connections.helpers import (
    NOW,
    connection,
    connections,
    hours_ago,
    inbox,
    inbox_event,
    rejections,
    run,
    runs,
    token,
    tokens,
)

DAY = dt.timedelta(days=1)


def health(
    conns: pl.DataFrame,
    sync_runs: pl.DataFrame | None = None,
    token_rows: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    rejected: pl.DataFrame | None = None,
) -> pl.DataFrame:
    return compute_health(
        conns,
        sync_runs if sync_runs is not None else runs(),
        token_rows if token_rows is not None else tokens(),
        (events if events is not None else inbox()).select("provider", "tenant_id", "received_at"),
        rejected if rejected is not None else rejections(),
        NOW,
    )


def one(frame: pl.DataFrame, external_id: str = "realm-1") -> dict[str, object]:
    return frame.filter(pl.col("external_id") == external_id).row(0, named=True)


def test_output_has_the_declared_columns_one_row_per_connection() -> None:
    frame = health(connections(connection(), connection(external_id="realm-2")))
    assert frame.columns == INTEGRATION_HEALTH.column_names
    assert frame.height == 2
    assert frame.schema["computed_at"] == pl.Datetime("us", "UTC")


def test_quickbooks_token_stale_exactly_at_100_days_and_xero_warned_inside_14_days() -> None:
    conns = connections(
        connection(last_synced_at=hours_ago(1)),
        connection(provider="xero", external_id="tenant-1", last_synced_at=hours_ago(1)),
        connection("cmp_b", "xero", "tenant-2", last_synced_at=hours_ago(1)),
    )
    toks = tokens(
        token("cmp_a", "quickbooks", NOW - 100 * DAY),  # horizon 100 days: stale now
        token("cmp_a", "xero", NOW - 46.5 * DAY),  # 60 - 46.5 = 13.5 days left
        token("cmp_b", "xero", NOW - 46 * DAY),  # 14.0 days left: not yet warned
    )
    frame = health(conns, token_rows=toks)
    qbo, xero, xero_b = one(frame), one(frame, "tenant-1"), one(frame, "tenant-2")
    assert qbo["token_horizon_days"] == 100
    assert qbo["token_age_days"] == pytest.approx(100.0)
    assert qbo["token_days_left"] == pytest.approx(0.0)
    assert qbo["refresh_expires_at"] == NOW
    assert qbo["next_action"] == "reauthorize: the refresh token went stale on 2026-12-07"
    assert xero["token_horizon_days"] == 60
    assert xero["token_days_left"] == pytest.approx(13.5)
    assert xero["refresh_expires_at"] == dt.datetime(2026, 12, 21, tzinfo=dt.UTC)
    assert xero["next_action"] == "reauthorize before 2026-12-21"
    assert xero_b["token_days_left"] == pytest.approx(14.0)
    assert xero_b["next_action"] == "none"
    stale = stale_tokens(frame)
    assert stale["external_id"].to_list() == ["realm-1", "tenant-1"]


def test_a_stored_refresh_expiry_wins_over_the_horizon() -> None:
    toks = tokens(token("cmp_a", "quickbooks", NOW - 10 * DAY, NOW + 5 * DAY))
    row = one(health(connections(connection(last_synced_at=hours_ago(1))), token_rows=toks))
    assert row["token_days_left"] == pytest.approx(5.0)
    assert row["token_age_days"] == pytest.approx(10.0)
    assert row["next_action"] == "reauthorize before 2026-12-12"


def test_lag_from_the_newest_success_and_the_36_hour_threshold() -> None:
    conns = connections(
        connection(external_id="realm-1", last_synced_at=hours_ago(40)),
        connection(external_id="realm-2", last_synced_at=hours_ago(50)),
        connection(external_id="realm-3"),
    )
    log = runs(
        run("r1", hours_ago(37), external_id="realm-1"),  # newer than last_synced_at
        run("r2", hours_ago(36), external_id="realm-2"),  # exactly at the threshold
    )
    frame = health(conns, log)
    assert one(frame)["lag_hours"] == pytest.approx(37.0)
    assert one(frame)["last_success_at"] == hours_ago(37)
    assert one(frame)["next_action"] == "sync: no successful sync for 37 h"
    assert one(frame, "realm-2")["lag_hours"] == pytest.approx(36.0)
    assert one(frame, "realm-2")["next_action"] == "none"
    # never synced, created 30 days ago
    assert one(frame, "realm-3")["lag_hours"] is None
    assert one(frame, "realm-3")["next_action"] == NEVER_SYNCED
    assert lagging(frame)["external_id"].to_list() == ["realm-3", "realm-1"]
    assert lagging(frame, Thresholds(max_lag_hours=35.0))["external_id"].to_list() == [
        "realm-3",
        "realm-1",
        "realm-2",
    ]


def test_new_and_statement_connections_are_not_lagging() -> None:
    frame = health(
        connections(
            connection(created_at=hours_ago(10)),
            connection("cmp_b", "statement", "GB00X", last_synced_at=hours_ago(500)),
            connection("cmp_c", "statement", "GB00Y"),
        )
    )
    assert frame["next_action"].to_list() == ["none", "none", "none"]
    assert one(frame, "GB00X")["lag_hours"] == pytest.approx(500.0)
    assert lagging(frame).is_empty()


def test_24_hour_window_excludes_the_boundary_and_the_future() -> None:
    log = runs(
        run("r1", hours_ago(24), calls=100, rate_limited=9),  # exactly 24 h: out
        run("r2", hours_ago(23.99), calls=10, rate_limited=2),
        run("r3", hours_ago(1), "failed", error_class="ProviderUnavailable", message="503"),
        run("r4", hours_ago(0), calls=5, rate_limited=1),
        run("r5", NOW + dt.timedelta(minutes=1), "failed"),  # after `now`: out
    )
    row = one(health(connections(connection()), log))
    assert row["syncs_24h"] == 3
    assert row["calls_24h"] == 15
    assert row["rate_limited_24h"] == 3
    assert row["errors_24h"] == 1
    assert row["consecutive_failures"] == 0
    assert row["last_success_at"] == NOW
    assert row["lag_hours"] == pytest.approx(0.0)


def test_failure_streak_since_the_last_success_drives_next_action() -> None:
    log = runs(
        run("r0", hours_ago(30), "failed", error_class="Old", message="before the success"),
        run("r1", hours_ago(10)),
        run("r2", hours_ago(5), "failed", error_class="ProviderError", message="400 x"),
        run("r3", hours_ago(3), "failed", error_class="ProviderError", message="400 y"),
        run("r4", hours_ago(1), "failed", error_class="ProviderUnavailable", message="503: z"),
    )
    row = one(health(connections(connection(status="degraded")), log))
    assert row["consecutive_failures"] == 3
    assert row["failing_since"] == hours_ago(5)
    assert row["last_error"] == "ProviderUnavailable: 503: z"
    assert row["errors_24h"] == 3
    assert row["next_action"] == (
        "investigate: 3 failure(s) since 2026-12-07 07:00 UTC (ProviderUnavailable)"
    )


def test_webhooks_matched_by_provider_and_tenant_and_rejections_per_provider_day() -> None:
    conns = connections(
        connection(last_synced_at=hours_ago(1)),
        connection(provider="xero", external_id="realm-1", last_synced_at=hours_ago(1)),
    )
    events = inbox(
        inbox_event("quickbooks", "realm-1", hours_ago(1), "e1"),
        inbox_event("quickbooks", "realm-1", hours_ago(23), "e2"),
        inbox_event("quickbooks", "realm-1", hours_ago(25), "e3"),  # older than a day
        inbox_event("quickbooks", "realm-9", hours_ago(1), "e4"),  # another tenant
    )
    today = NOW.date()
    rejected = rejections(
        ("quickbooks", "bad_signature", today, 3),
        ("quickbooks", "malformed_json", today - DAY, 2),
        ("quickbooks", "bad_signature", today - 2 * DAY, 5),  # two days ago: out
        ("xero", "bad_signature", today, 7),
    )
    frame = health(conns, events=events, rejected=rejected)
    qbo = frame.filter(pl.col("provider") == "quickbooks").row(0, named=True)
    xero = frame.filter(pl.col("provider") == "xero").row(0, named=True)
    assert qbo["webhooks_24h"] == 2
    assert qbo["last_webhook_at"] == hours_ago(1)
    assert qbo["webhook_rejections"] == 5
    assert xero["webhooks_24h"] == 0
    assert xero["last_webhook_at"] is None
    assert xero["webhook_rejections"] == 7


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("removed", "none (removed; history kept)"),
        ("paused", "resume when wanted: finpipe connections resume cmp_a quickbooks"),
        ("needs_reauth", "reauthorize now: finpipe connections reauth cmp_a quickbooks"),
        ("pending", "authorize: finpipe connect quickbooks --company cmp_a"),
    ],
)
def test_a_persons_status_comes_first(status: str, action: str) -> None:
    toks = tokens(token("cmp_a", "quickbooks", NOW - 200 * DAY))
    frame = health(connections(connection(status=status)), token_rows=toks)
    assert one(frame)["next_action"] == action
    assert lagging(frame).is_empty()
    if status in ("paused", "removed"):
        assert stale_tokens(frame).is_empty()
    else:
        assert stale_tokens(frame).height == 1


def test_read_health_reads_only_what_the_health_needs_and_agrees_with_the_full_log(
    warehouse_url: str,
) -> None:
    """The bounded read (last day, plus each connection's newest success and what followed)
    gives the same health as the whole log; a success after ``now`` does not end a streak,
    and scoping to one company returns only its connections."""
    from finpipe.connections.health import read_health
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables.ops import CONNECTIONS
    from finpipe.warehouse.tables.ops_health import SYNC_RUNS

    conns = connections(
        connection(),
        connection(external_id="realm-2"),
        connection(company_id="cmp_b", external_id="realm-9"),
    )
    history = [run(f"old{i}", hours_ago(24 * 60 + i), "failed", message="old") for i in range(5)]
    log = runs(
        *history,
        run("ok-old", hours_ago(24 * 40)),
        run("f1", hours_ago(24 * 30), "failed", error_class="ProviderError", message="400 a"),
        run("f2", hours_ago(24 * 20), "failed", error_class="ProviderError", message="400 b"),
        run("future", NOW + dt.timedelta(hours=2)),  # not yet happened at NOW
        run("r2-a", hours_ago(24 * 50), "failed", external_id="realm-2", message="x"),
        run("r2-b", hours_ago(24 * 49), "failed", external_id="realm-2", message="y"),
        run("b-ok", hours_ago(3), company_id="cmp_b", external_id="realm-9"),
        run("b-old", hours_ago(24 * 90), company_id="cmp_b", external_id="realm-9"),
    )
    with Warehouse.open(warehouse_url) as wh:
        wh.upsert(CONNECTIONS, conns)
        wh.upsert(SYNC_RUNS, log)
        bounded = read_health(wh, NOW)
        scoped = read_health(wh, NOW, company_id="cmp_b", provider="quickbooks")
    full = health(conns, log)
    drop = ["computed_at"]
    assert bounded.drop(drop).equals(full.drop(drop))
    r1 = one(bounded)
    assert (r1["consecutive_failures"], r1["last_error"]) == (2, "ProviderError: 400 b")
    assert r1["last_success_at"] == hours_ago(24 * 40)
    assert one(bounded, "realm-2")["consecutive_failures"] == 2
    assert scoped["external_id"].to_list() == ["realm-9"]
    assert one(scoped, "realm-9")["syncs_24h"] == 1
