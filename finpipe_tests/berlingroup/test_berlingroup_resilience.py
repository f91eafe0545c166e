"""The Berlin Group connector's edges: connecting (consent + OAuth SCA, encrypted tokens,
replacing a consent), frequencyPerDay, expired and revoked consents, faults."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.connectors.berlingroup import sync_berlingroup, to_bank_lines
from finpipe.connectors.errors import NeedsReauth
from finpipe.connectors.oauth import TokenStore
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS
from finpipe.warehouse.tables.raw import BERLINGROUP_TABLES
from finpipe_tests.berlingroup.bg_helpers import assert_matches_bank, frames
from finpipe_tests.berlingroup.conftest import FAST_RETRIES, Running

UTC = dt.UTC


def test_connect_records_consent_and_encrypted_tokens(bg: Running, duck: Warehouse) -> None:
    company = bg.companies()[0]
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    connections = duck.read(CONNECTIONS)
    assert connections.select("provider", "external_id", "status").rows() == [
        ("berlingroup", consent_id, "active")
    ]
    consent = bg.sandbox.consents.get(consent_id)
    assert consent is not None and consent.status == "valid" and consent.company_id == company
    tokens = TokenStore(duck, ctx.box).load(company, "berlingroup")
    assert tokens is not None and tokens.scope == f"AIS:{consent_id}"
    stored = duck.read(OAUTH_TOKENS).item(0, "ciphertext")
    assert tokens.access_token not in stored and consent_id not in stored

    # Connecting again replaces the consent: the old one is terminated and its row removed.
    second = bg.connect(ctx)
    rows = dict(duck.read(CONNECTIONS).select("external_id", "status").rows())
    assert rows == {consent_id: "removed", second: "active"}
    old = bg.sandbox.consents.get(consent_id)
    assert old is not None and old.status == "terminatedByTpp"


def test_frequency_per_day_stops_the_sync_cleanly(bg: Running, duck: Warehouse) -> None:
    company = bg.companies()[0]
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx, frequency_per_day=1)
    sync_berlingroup(ctx, [consent_id])
    landed = duck.count(BERLINGROUP_TABLES["transactions"], company)

    report = sync_berlingroup(ctx, [consent_id])

    message = report.stopped or ""
    assert "ACCESS_EXCEEDED" in message and "frequencyPerDay" in message
    assert "resume" in message and report.resume_at is not None
    assert report.resume_at > dt.datetime.now(UTC)
    assert report.calls == 1 and report.totals()["inserted"] == 0
    assert duck.count(BERLINGROUP_TABLES["transactions"], company) == landed
    assert duck.read(CONNECTIONS).item(0, "status") == "active"
    # The bank's next day: accesses without the PSU are allowed again.
    bg.sandbox.advance(86_400)
    assert sync_berlingroup(ctx, [consent_id]).stopped is None


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_dead_consent_needs_reauth(bg: Running, duck: Warehouse, how: str) -> None:
    company = bg.companies()[0]
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    sync_berlingroup(ctx, [consent_id])
    if how == "expired":
        bg.sandbox.advance(181 * 86_400)  # past validUntil (the ASPSP's 180-day maximum)
        expected = "expired"
    else:
        bg.sandbox.revoke_consent(consent_id)
        expected = "no longer usable"

    with pytest.raises(NeedsReauth) as caught:
        sync_berlingroup(ctx, [consent_id])

    assert expected in str(caught.value) and "finpipe connect berlingroup" in str(caught.value)
    row = duck.read(CONNECTIONS).row(0, named=True)
    assert row["status"] == "needs_reauth" and expected in row["status_reason"]


def test_faults_and_token_expiry_are_survived(bg: Running, duck: Warehouse) -> None:
    company = bg.companies()[0]
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    bg.sandbox.faults.configure(error_rate=0.3, seed=7, storm_429=2, storm_retry_after=0)
    bg.sandbox.oauth.expire_access_tokens()

    report = sync_berlingroup(ctx, [consent_id], policy=FAST_RETRIES)

    counters = bg.sandbox.counters_snapshot()[consent_id]
    assert counters["fault_5xx"] > 0 and counters["fault_429s"] == 2
    assert report.retries >= counters["fault_5xx"] and report.token_refreshes == 1
    assert_matches_bank(bg, duck, company)


def test_first_sync_takes_the_history_the_aspsp_offers(bg: Running, duck: Warehouse) -> None:
    """An ASPSP serving 90 days refuses the 3-year first read (400 PERIOD_INVALID): the
    connector asks again for 89 days and lands exactly those."""
    bg.sandbox.history_days = 90
    company = bg.companies()[0]
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    today = bg.sandbox.consents.today()
    now = dt.datetime.combine(today, dt.time(9), UTC)

    sync_berlingroup(ctx, [consent_id], now=now)

    start = today - dt.timedelta(days=89)
    lines = to_bank_lines(frames(duck, company)).filter(pl.col("status") == "booked")
    truth = bg.sandbox.view.lines().filter(
        (pl.col("company_id") == company)
        & (pl.col("status") == "booked")
        & (pl.col("booked_date") >= start)
    )
    assert lines.height == truth.height > 0
    assert set(lines["source_id"]) == set(truth["line_id"])
