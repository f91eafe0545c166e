"""The Berlin Group connector against the sandbox over HTTP: incremental sync, what lands
equals what the bank reports (both engines), re-runs write nothing, pending -> booked."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finpipe.connectors.berlingroup import sync as bg_sync
from finpipe.connectors.berlingroup import sync_berlingroup, to_bank_accounts, to_bank_lines
from finpipe.connectors.oauth import TokenStore
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS, SYNC_CURSORS
from finpipe.warehouse.tables.raw import BERLINGROUP_TABLES
from finpipe_tests.berlingroup.bg_helpers import assert_matches_bank, frames
from finpipe_tests.berlingroup.conftest import Running, StartSandbox


def test_sync_lands_what_the_bank_reports(
    start_sandbox: StartSandbox, warehouse: Warehouse
) -> None:
    """On both engines: every account, balance and line lands; canonical frames match."""
    bg = start_sandbox()
    for company in bg.companies():
        ctx = bg.context(warehouse, company)
        consent_id = bg.connect(ctx)
        report = sync_berlingroup(ctx, [consent_id])
        assert report.totals()["inserted"] > 0
        assert_matches_bank(bg, warehouse, company)
        accounts = to_bank_accounts(frames(warehouse, company))
        view = bg.sandbox.view
        assert accounts.height == view.accounts_of(company).height
        for row in accounts.iter_rows(named=True):
            assert row["reported_balance"] == view.booked_balance(row["bank_account_id"])
            truth = view.account(row["bank_account_id"])
            assert truth is not None and row["iban"] == truth["iban"]
            assert row["account_type"] == truth["account_type"]
    # Transactions paged: more calls than accounts.
    assert any(e.pages > 1 for e in report.entity("transactions"))


def test_resync_with_nothing_new_writes_nothing(bg: Running, duck: Warehouse) -> None:
    company = bg.companies()[0]
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    sync_berlingroup(ctx, [consent_id])
    raw_before = {e: t.sort("tenant_id", "source_id") for e, t in frames(duck, company).items()}
    cursors_before = duck.read(SYNC_CURSORS)

    again = sync_berlingroup(ctx, [consent_id])

    assert again.totals()["inserted"] == again.totals()["updated"] == 0
    assert again.totals()["deleted"] == 0
    for entity, before in raw_before.items():
        assert frames(duck, company)[entity].sort("tenant_id", "source_id").equals(before)
    assert duck.read(SYNC_CURSORS).equals(cursors_before)
    # One call per endpoint: the account list, then balances + one page per account.
    accounts = bg.sandbox.view.accounts_of(company).height
    assert again.calls == 1 + 2 * accounts


def _pending_that_posts(running: Running, company: str) -> tuple[dict, dict]:
    lines = running.sandbox.world.table("bank_lines").collect()
    ids = running.sandbox.view.accounts_of(company).get_column("bank_account_id")
    lines = lines.filter(pl.col("bank_account_id").is_in(ids.implode()))
    booked = lines.filter(pl.col("pending_line_id").is_not_null()).sort("created_at")
    pair = booked.row(booked.height // 2, named=True)
    pending = lines.filter(pl.col("line_id") == pair["pending_line_id"]).row(0, named=True)
    return pending, pair


def test_pending_line_posts_and_is_soft_deleted(
    start_sandbox: StartSandbox, bg_world, duck: Warehouse
) -> None:
    probe = start_sandbox()
    company = probe.companies()[0]
    pending, booked = _pending_that_posts(probe, company)
    # A bank whose clock stands while the line is still pending.
    bg = start_sandbox(start=pending["created_at"] + dt.timedelta(seconds=1))
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    sync_berlingroup(ctx, [consent_id])
    table = BERLINGROUP_TABLES["transactions"]
    landed = duck.read(table, company_id=company)
    assert f"pending:{pending['line_id']}" in set(landed["source_id"])
    assert booked["line_id"] not in set(landed["source_id"])

    bg.sandbox.advance((booked["created_at"] - pending["created_at"]).total_seconds() + 60)
    report = sync_berlingroup(ctx, [consent_id])

    landed = duck.read(table, company_id=company)
    state = dict(landed.select("source_id", "deleted").rows())
    assert state[f"pending:{pending['line_id']}"] is True
    assert state[booked["line_id"]] is False
    assert sum(e.deleted for e in report.entity("transactions")) >= 1
    lines = to_bank_lines(frames(duck, company)).filter(~pl.col("deleted"))
    pair = lines.filter(
        pl.col("source_id").is_in([f"pending:{pending['line_id']}", booked["line_id"]])
    )
    assert pair.select("source_id", "status").rows() == [(booked["line_id"], "booked")]
    assert_matches_bank(bg, duck, company)


class Killed(Exception):
    """The sync process died (right after a commit)."""


def _landed(warehouse: Warehouse, company_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Landed transactions (key, payload, deleted) and transaction cursors, sorted."""
    lines = warehouse.read(BERLINGROUP_TABLES["transactions"], company_id=company_id)
    cursors = warehouse.read(
        SYNC_CURSORS, where="company_id = %s AND entity = %s", params=[company_id, "transactions"]
    )
    return (
        lines.select("tenant_id", "source_id", "payload", "deleted").sort("tenant_id", "source_id"),
        cursors.select("tenant_id", "cursor").sort("tenant_id"),
    )


def test_sync_killed_after_a_newest_first_page_resumes_without_losing_history(
    start_sandbox: StartSandbox, duck: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An ASPSP that lists report entries newest first (NextGenPSD2 fixes no order).
    bg = start_sandbox(order="desc")
    company = bg.companies()[1]  # its first account's report has several pages
    ctx = bg.context(duck, company)
    consent_id = bg.connect(ctx)
    # The clean run: the same consent (its tokens copied) into a warehouse of its own.
    with Warehouse.open(f"duckdb:///{tmp_path / 'clean.duckdb'}", create=False) as clean:
        clean.ensure_tables([*BERLINGROUP_TABLES.values(), SYNC_CURSORS, OAUTH_TOKENS, CONNECTIONS])
        tokens = TokenStore(duck, ctx.box).load(company, "berlingroup")
        assert tokens is not None
        TokenStore(clean, ctx.box).save(company, "berlingroup", tokens, dt.datetime.now(dt.UTC))
        report = sync_berlingroup(replace(ctx, warehouse=clean), [consent_id])
        want_lines, want_cursors = _landed(clean, company)
    assert report.entity("transactions")[0].pages > 1

    real_commit = bg_sync.commit_page

    def commit_then_die(*args: Any) -> Any:
        real_commit(*args)
        raise Killed  # killed right after page 1 of the first account committed

    monkeypatch.setattr(bg_sync, "commit_page", commit_then_die)
    with pytest.raises(Killed):
        sync_berlingroup(ctx, [consent_id])
    monkeypatch.undo()
    killed_lines, killed_cursors = _landed(duck, company)
    assert 0 < killed_lines.height < want_lines.height
    # Mid-pull commits keep the cursor the pull started from (none yet).
    assert set(killed_cursors["cursor"]) <= {""}

    sync_berlingroup(ctx, [consent_id])
    got_lines, got_cursors = _landed(duck, company)
    assert got_lines.equals(want_lines)
    assert got_cursors.equals(want_cursors)
    assert_matches_bank(bg, duck, company)
