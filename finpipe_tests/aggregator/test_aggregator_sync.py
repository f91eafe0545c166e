"""The aggregator connector against the sandbox over HTTP: link, sync, pending -> posted,
removals, mutation during pagination, faults, re-auth, idempotency."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from aggregator_helpers import Running, StartSandbox, connections, frames, live_booked, raw, sync

from finpipe.connectors.aggregator import (
    PROVIDER,
    connect,
    stored_item,
)
from finpipe.connectors.errors import ConnectorError, NeedsReauth
from finpipe.connectors.oauth import TokenStore
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import OAUTH_TOKENS
from finpipe.warehouse.tables.raw import AGGREGATOR_TABLES

UTC = dt.UTC
TRANSACTIONS = AGGREGATOR_TABLES["transactions"]
ACCOUNTS = AGGREGATOR_TABLES["accounts"]


def test_sync_lands_the_banks_lines_and_a_resync_writes_nothing(
    agg: Running, warehouse: Warehouse, box: SecretBox
) -> None:
    item_id = agg.link(warehouse, box)
    # The access token is stored encrypted, never in clear.
    cipher = warehouse.read(OAUTH_TOKENS).item(0, "ciphertext")
    assert stored_item(warehouse, box, agg.company_id) is not None
    assert stored_item(warehouse, box, agg.company_id)[1] not in cipher  # type: ignore[index]
    connection = connections(warehouse, agg.company_id)
    assert connection.select("provider", "external_id", "status").row(0) == (
        "aggregator",
        item_id,
        "active",
    )

    report = sync(agg, warehouse, box, item_id)
    assert report.totals()["inserted"] > 0
    assert live_booked(warehouse, agg.company_id).equals(agg.booked_truth())
    accounts = PROVIDER.to_bank_accounts(frames(warehouse, agg.company_id))
    assert accounts.height == agg.sandbox.bank.accounts_of(agg.company_id).height
    for row in accounts.iter_rows(named=True):
        assert row["reported_balance"] == agg.sandbox.bank.booked_balance(row["bank_account_id"])
    # Pending lines still pending at the bank are landed as pending.
    still_pending = agg.sandbox.bank.lines().filter(
        pl.col("company_id") == agg.company_id, pl.col("status") == "pending"
    )
    lines = PROVIDER.to_bank_lines(frames(warehouse, agg.company_id))
    live_pending = lines.filter(~pl.col("deleted"), pl.col("status") == "pending")
    assert sorted(live_pending.get_column("source_id")) == sorted(
        still_pending.get_column("line_id")
    )

    before = raw(warehouse, agg.company_id)
    again = sync(agg, warehouse, box, item_id)
    assert again.totals()["inserted"] == again.totals()["updated"] == 0
    assert again.totals()["deleted"] == 0
    assert again.calls == 2  # one /accounts/get, one /transactions/sync
    assert raw(warehouse, agg.company_id).equals(before)
    synced = connections(warehouse, agg.company_id).item(0, "last_synced_at")
    assert synced is not None


def test_pending_line_is_replaced_by_its_posted_line(
    start_sandbox: StartSandbox, duck: Warehouse, box: SecretBox
) -> None:
    # The bank's clock starts early in August: some card lines are still pending.
    agg = start_sandbox(start=dt.datetime(2026, 8, 3, tzinfo=UTC))
    bank = agg.sandbox.bank
    advance = dt.timedelta(days=3)
    pending = bank.lines().filter(
        pl.col("company_id") == agg.company_id, pl.col("status") == "pending"
    )
    assert pending.height > 0
    # follow a line that posts within the days the clock is moved (some take longer)
    posted_by_then = bank.lines(at=bank.now() + advance).get_column("pending_line_id")
    pending = pending.filter(pl.col("line_id").is_in(posted_by_then.drop_nulls().implode()))
    assert pending.height > 0
    item_id = agg.link(duck, box)
    sync(agg, duck, box, item_id)
    first = PROVIDER.to_bank_lines(frames(duck, agg.company_id))
    pending_id = pending.item(0, "line_id")
    assert first.filter(pl.col("source_id") == pending_id).get_column("status").to_list() == [
        "pending"
    ]

    bank.advance(advance.total_seconds())
    report = sync(agg, duck, box, item_id)
    assert report.totals()["deleted"] >= 1
    lines = PROVIDER.to_bank_lines(frames(duck, agg.company_id))
    gone = lines.filter(pl.col("source_id") == pending_id)
    assert gone.get_column("deleted").to_list() == [True]
    posted = lines.filter(~pl.col("deleted"), pl.col("pending_source_id") == pending_id)
    assert posted.height == 1
    assert posted.item(0, "status") == "booked"
    assert posted.item(0, "amount") == pending.item(0, "amount")
    # Exactly one live line remains for that purchase.
    live = lines.filter(~pl.col("deleted"))
    assert live.filter(pl.col("source_id") == pending_id).is_empty()
    assert live_booked(duck, agg.company_id).equals(agg.booked_truth())


def test_line_removed_by_the_bank_is_soft_deleted(
    agg: Running, duck: Warehouse, box: SecretBox
) -> None:
    item_id = agg.link(duck, box)
    sync(agg, duck, box, item_id)
    victim = (
        agg.sandbox.bank.lines()
        .filter(pl.col("company_id") == agg.company_id, pl.col("status") == "booked")
        .item(3, "line_id")
    )
    agg.sandbox.bank.remove(victim)
    report = sync(agg, duck, box, item_id)
    assert report.totals()["deleted"] == 1
    row = duck.read(TRANSACTIONS, company_id=agg.company_id).filter(pl.col("source_id") == victim)
    assert row.get_column("deleted").to_list() == [True]  # payload kept, flagged
    lines = PROVIDER.to_bank_lines(frames(duck, agg.company_id))
    assert lines.filter(~pl.col("deleted"), pl.col("source_id") == victim).is_empty()
    assert live_booked(duck, agg.company_id).equals(agg.booked_truth())


def test_login_required_marks_the_connection_and_raises(
    agg: Running, duck: Warehouse, box: SecretBox
) -> None:
    item_id = agg.link(duck, box)
    agg.sandbox.reset_login(item_id)
    with pytest.raises(NeedsReauth, match="ITEM_LOGIN_REQUIRED") as caught:
        sync(agg, duck, box, item_id)
    token = agg.sandbox.item(item_id).access_token
    assert token not in str(caught.value)
    connection = connections(duck, agg.company_id).row(0, named=True)
    assert connection["status"] == "needs_reauth"
    assert "Plaid Link" in connection["status_reason"]


def test_connect_needs_link_outside_the_sandbox(agg: Running, duck: Warehouse, box: SecretBox):
    with pytest.raises(ConnectorError, match="Plaid Link"):
        connect(agg.context(duck, box), False, lambda _: None)


def test_relinking_removes_the_previous_item(agg: Running, duck: Warehouse, box: SecretBox):
    first = agg.link(duck, box)
    second = agg.link(duck, box)
    assert agg.sandbox.item(first).removed
    rows = connections(duck, agg.company_id)
    status = dict(zip(rows.get_column("external_id"), rows.get_column("status"), strict=True))
    assert status == {first: "removed", second: "active"}
    tokens = TokenStore(duck, box).load(agg.company_id, "aggregator")
    assert tokens is not None and tokens.scope == f"item:{second}"
