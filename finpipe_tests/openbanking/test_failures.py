"""What goes wrong: the 4-unattended-pulls rule, expired and revoked consents, 5xx faults."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from finpipe.connectors.errors import NeedsReauth
from finpipe.connectors.oauth import TokenManager, TokenStore
from finpipe.connectors.openbanking import (
    AccountsClient,
    ConsentClient,
    openbanking_app,
    to_bank_lines,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.raw import OPENBANKING_TABLES
from finpipe_tests.openbanking.conftest import Running, raw_frames
from finpipe_tests.openbanking.test_sync import assert_matches_bank

UTC = dt.UTC


def _client(ob: Running, ctx, customer_ip: str | None = None) -> AccountsClient:
    app = openbanking_app(ob.base, ctx.credentials.client_id, ctx.credentials.client_secret, "")
    tokens = TokenManager(app, TokenStore(ctx.warehouse, ctx.box), ctx.company_id)
    return AccountsClient(ob.base, tokens, customer_ip=customer_ip)


def test_fifth_unattended_pull_is_refused_and_the_sync_stops_cleanly(
    ob: Running, duck: Warehouse, ob_company: str
) -> None:
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    ob.sync(ctx, consent_id)
    consent = ob.sandbox.consents[consent_id]
    # One sync is one pull of each resource, however many pages it followed.
    account = ob.sandbox.bank.accounts_of(ob_company).item(0, "bank_account_id")
    assert len(consent.pulls[f"accounts/{account}/transactions"]) == 1
    assert len(consent.pulls["accounts"]) == 1  # the attended read at connect did not count

    unattended = _client(ob, ctx)
    for _ in range(3):
        unattended.accounts()
    landed = duck.count(OPENBANKING_TABLES["transactions"], ob_company)
    report = ob.sync(ctx, consent_id)
    assert report.resume_at is not None
    assert "resume after" in (report.stopped or "")
    # Retry-After measured on the bank's clock: about 24 h after the first pull.
    assert (
        dt.timedelta(hours=23) < report.resume_at - dt.datetime.now(UTC) <= dt.timedelta(hours=24)
    )
    assert ob.sandbox.pull_rejections == 1
    assert duck.count(OPENBANKING_TABLES["transactions"], ob_company) == landed

    # The PSU being present (x-fapi-customer-ip-address) is not an unattended pull.
    assert len(_client(ob, ctx, customer_ip="198.51.100.7").accounts()) == 3
    # A day later the allowance is back.
    ob.sandbox.advance(86_400)
    again = ob.sync(ctx, consent_id)
    assert again.resume_at is None


def test_expired_consent_needs_reauth(ob: Running, duck: Warehouse, ob_company: str) -> None:
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    ob.sync(ctx, consent_id)
    ob.sandbox.advance(91 * 86_400)  # past the 90-day consent

    # As the profile says: a 401 without a body.
    tokens = TokenStore(duck, ctx.box).load(ob_company, "openbanking")
    assert tokens is not None
    raw = requests.get(
        f"{ob.base}/open-banking/v3.1/aisp/accounts",
        headers={"Authorization": f"Bearer {tokens.access_token}"},
        timeout=10,
    )
    assert raw.status_code == 401 and raw.content == b""
    assert raw.headers["x-fapi-interaction-id"]

    with pytest.raises(NeedsReauth, match="ExpirationDateTime") as caught:
        ob.sync(ctx, consent_id)
    assert consent_id in str(caught.value) and "finpipe connect openbanking" in str(caught.value)
    row = duck.read(CONNECTIONS, where="company_id = %s", params=[ob_company]).row(0, named=True)
    assert row["status"] == "needs_reauth"
    assert "ExpirationDateTime" in row["status_reason"]


def test_deleted_consent_needs_reauth(ob: Running, duck: Warehouse, ob_company: str) -> None:
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    ConsentClient(ob.base, ctx.credentials.client_id, ctx.credentials.client_secret).delete(
        consent_id
    )
    ob.sandbox.oauth.expire_access_tokens()
    with pytest.raises(NeedsReauth, match="no longer known"):
        ob.sync(ctx, consent_id)
    assert (
        duck.read(CONNECTIONS, where="company_id = %s", params=[ob_company]).item(0, "status")
        == "needs_reauth"
    )


def test_5xx_and_429_storms_are_survived(ob: Running, duck: Warehouse, ob_company: str) -> None:
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    ob.sandbox.faults.configure(error_rate=0.3, seed=7, storm_429=2, storm_retry_after=0)
    report = ob.sync(ctx, consent_id)
    ob.sandbox.faults.configure(error_rate=0.0)
    counters = ob.sandbox.counters_snapshot()[consent_id]
    assert counters["fault_5xx"] > 0 and counters["fault_429s"] == 2
    assert report.retries >= counters["fault_5xx"] + 2
    assert_matches_bank(to_bank_lines(raw_frames(duck, ob_company)), ob.sandbox.bank, ob_company)
