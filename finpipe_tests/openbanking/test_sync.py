"""Connect + incremental sync against the Open Banking sandbox over real HTTP: what lands
equals what the bank reports (BankView), re-syncs write nothing, pending lines post."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finpipe.connectors.oauth import TokenStore
from finpipe.connectors.openbanking import sync as ob_sync
from finpipe.connectors.openbanking import to_bank_accounts, to_bank_lines
from finpipe.sandbox.bank_view import BankView
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS, SYNC_CURSORS
from finpipe.warehouse.tables.raw import OPENBANKING_TABLES
from finpipe_tests.openbanking.conftest import Running, StartSandbox, raw_frames

UTC = dt.UTC


def assert_matches_bank(lines: pl.DataFrame, bank: BankView, company_id: str) -> None:
    """Per account: booked count and sum, pending ids, equal what the bank reports now."""
    live = lines.filter(~pl.col("deleted"))
    assert live.get_column("source_id").is_unique().all()
    for account_id in bank.accounts_of(company_id).get_column("bank_account_id"):
        truth = bank.lines(account_id)
        mine = live.filter(pl.col("bank_account_id") == account_id)
        for status in ("booked", "pending"):
            want = truth.filter(pl.col("status") == status)
            got = mine.filter(pl.col("status") == status)
            assert got.height == want.height, (account_id, status)
            assert int(got.get_column("amount").sum()) == int(want.get_column("amount").sum())
            assert set(got.get_column("source_id")) == set(want.get_column("line_id"))


def test_connect_and_sync_land_what_the_bank_reports(
    ob: Running, duck: Warehouse, ob_company: str
) -> None:
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)

    connection = duck.read(CONNECTIONS, where="company_id = %s", params=[ob_company]).row(
        0, named=True
    )
    assert connection["provider"] == "openbanking"
    assert connection["external_id"] == consent_id
    assert connection["status"] == "active"
    token_row = duck.read(OAUTH_TOKENS, where="company_id = %s", params=[ob_company])
    assert token_row.item(0, "provider") == "openbanking"
    stored = TokenStore(duck, ctx.box).load(ob_company, "openbanking")
    assert stored is not None and stored.access_token not in token_row.item(0, "ciphertext")
    assert ob.sandbox.consents[consent_id].status == "Authorised"

    report = ob.sync(ctx, consent_id)
    assert report.resume_at is None and report.totals()["inserted"] > 0
    frames = raw_frames(duck, ob_company)
    lines = to_bank_lines(frames)
    assert_matches_bank(lines, ob.sandbox.bank, ob_company)

    # Canonical conventions: money in positive, statuses lower-case, running balances signed.
    truth = ob.sandbox.bank.lines().select("line_id", "amount", "running_balance", "reference")
    joined = lines.join(truth, left_on="source_id", right_on="line_id", suffix="_w")
    assert (joined["amount"] == joined["amount_w"]).all()
    assert (joined["running_balance"].eq_missing(joined["running_balance_w"])).all()
    assert (joined["reference"].eq_missing(joined["reference_w"])).all()
    assert set(lines["status"]) <= {"booked", "pending"}
    assert lines.filter(pl.col("counterparty_name").is_not_null()).height > 0

    accounts = to_bank_accounts(frames)
    world = ob.sandbox.bank.accounts_of(ob_company)
    assert accounts.height == world.height
    for row in world.iter_rows(named=True):
        mine = accounts.filter(pl.col("bank_account_id") == row["bank_account_id"]).row(
            0, named=True
        )
        assert mine["institution_name"] == row["institution_name"]
        assert mine["account_type"] == row["account_type"]
        assert mine["iban"] == row["iban"]
        assert mine["account_number"] == row["account_number"]
        assert mine["reported_balance"] == ob.sandbox.bank.booked_balance(row["bank_account_id"])


def test_resync_with_nothing_new_writes_nothing(
    ob: Running, duck: Warehouse, ob_company: str
) -> None:
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    ob.sync(ctx, consent_id)
    before = raw_frames(duck, ob_company)
    again = ob.sync(ctx, consent_id)
    totals = again.totals()
    assert (totals["inserted"], totals["updated"], totals["deleted"]) == (0, 0, 0)
    after = raw_frames(duck, ob_company)
    for entity, frame in before.items():
        assert frame.equals(after[entity]), entity


def test_sync_on_both_engines(ob: Running, warehouse: Warehouse, ob_company: str) -> None:
    ctx = ob.context(warehouse, ob_company)
    consent_id = ob.connect(ctx)
    ob.sync(ctx, consent_id)
    assert_matches_bank(
        to_bank_lines(raw_frames(warehouse, ob_company)), ob.sandbox.bank, ob_company
    )
    again = ob.sync(ctx, consent_id).totals()
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)


def test_pending_lines_post_and_leave_one_line_per_transaction(
    start_sandbox: StartSandbox, duck: Warehouse, ob_company: str
) -> None:
    # The bank's clock starts mid-month: some card payments are still pending.
    ob = start_sandbox(start=dt.datetime(2026, 10, 12, 9, tzinfo=UTC))
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    ob.sync(ctx, consent_id)
    first = to_bank_lines(raw_frames(duck, ob_company))
    pending = set(first.filter(pl.col("status") == "pending")["source_id"])
    assert pending
    assert_matches_bank(first, ob.sandbox.bank, ob_company)

    ob.sandbox.advance(14 * 86_400)
    report = ob.sync(ctx, consent_id)
    assert report.totals()["deleted"] > 0
    lines = to_bank_lines(raw_frames(duck, ob_company))
    assert_matches_bank(lines, ob.sandbox.bank, ob_company)
    # Every pending line whose booked line arrived is soft-deleted (payload kept), so each
    # transaction is one live line.
    world = ob.sandbox.bank.lines()
    posted = set(world.filter(pl.col("pending_line_id").is_in(list(pending)))["pending_line_id"])
    assert posted
    gone = lines.filter(pl.col("source_id").is_in(list(posted)))
    assert gone.height == len(posted) and gone["deleted"].all()
    live = lines.filter(~pl.col("deleted"))
    replaced = world.filter(pl.col("pending_line_id").is_not_null())
    assert not set(replaced["pending_line_id"]) & set(live["source_id"])


class Killed(Exception):
    """The sync process died (right after a commit)."""


def _landed(warehouse: Warehouse, company_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Landed transactions (key, payload, deleted) and transaction cursors, sorted."""
    lines = warehouse.read(OPENBANKING_TABLES["transactions"], company_id=company_id)
    cursors = warehouse.read(
        SYNC_CURSORS, where="company_id = %s AND entity = %s", params=[company_id, "transactions"]
    )
    return (
        lines.select("tenant_id", "source_id", "payload", "deleted").sort("tenant_id", "source_id"),
        cursors.select("tenant_id", "cursor").sort("tenant_id"),
    )


def test_sync_killed_after_a_newest_first_page_resumes_without_losing_history(
    start_sandbox: StartSandbox,
    duck: Warehouse,
    ob_company: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bank that sends transactions newest first (OBIE fixes no order).
    ob = start_sandbox(order="desc")
    ctx = ob.context(duck, ob_company)
    consent_id = ob.connect(ctx)
    # The clean run: the same consent (its tokens copied) into a warehouse of its own.
    with Warehouse.open(f"duckdb:///{tmp_path / 'clean.duckdb'}", create=False) as clean:
        clean.ensure_tables([*OPENBANKING_TABLES.values(), SYNC_CURSORS, OAUTH_TOKENS, CONNECTIONS])
        tokens = TokenStore(duck, ctx.box).load(ob_company, "openbanking")
        assert tokens is not None
        TokenStore(clean, ctx.box).save(ob_company, "openbanking", tokens, dt.datetime.now(UTC))
        ob.sync(replace(ctx, warehouse=clean), consent_id)
        want_lines, want_cursors = _landed(clean, ob_company)
    assert want_lines.height > 100  # more than one page

    real_commit = ob_sync.commit_page

    def commit_then_die(warehouse: Warehouse, table: Table, *args: Any) -> Any:
        result = real_commit(warehouse, table, *args)
        if table is OPENBANKING_TABLES["transactions"]:
            raise Killed  # killed right after page 1 of the first account committed
        return result

    monkeypatch.setattr(ob_sync, "commit_page", commit_then_die)
    with pytest.raises(Killed):
        ob.sync(ctx, consent_id)
    monkeypatch.undo()
    killed_lines, killed_cursors = _landed(duck, ob_company)
    assert 0 < killed_lines.height < want_lines.height
    # Mid-pull commits keep the cursor the pull started from (none yet).
    assert set(killed_cursors["cursor"]) <= {""}

    ob.sync(ctx, consent_id)
    got_lines, got_cursors = _landed(duck, ob_company)
    assert got_lines.equals(want_lines)
    assert got_cursors.equals(want_cursors)
