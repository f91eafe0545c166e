"""The generation pipeline, step by step (see each module for the rules it implements)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from finpipe.sandbox.world import (
    anomalies,
    lifecycle,
    providers,
    purchases,
    recurring,
    sales,
    truth,
)
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.bank import build_statement
from finpipe.sandbox.world.bank_accounts import build_bank_accounts
from finpipe.sandbox.world.book import Book
from finpipe.sandbox.world.chart import ROLE, build_accounts, role_table, used_accounts
from finpipe.sandbox.world.companies import build_companies
from finpipe.sandbox.world.contacts import build_contacts
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.fx import FxRates, convert
from finpipe.sandbox.world.items import build_items
from finpipe.sandbox.world.journal import build_journal
from finpipe.sandbox.world.numbering import numbers
from finpipe.sandbox.world.output import Output
from finpipe.sandbox.world.rng import Streams
from finpipe.sandbox.world.spec import Calendar, WorldSpec
from finpipe.sandbox.world.writer import (
    TABLE_BY_SHORT,
    WorldManifest,
    check_out_dir,
    conform,
    write_world,
)

Progress = Callable[[str, int, int], None]
STEPS = (
    "companies",
    "sales",
    "purchases",
    "payroll and recurring",
    "anomalies",
    "transfers and taxes",
    "journal",
    "providers",
    "bank statements",
    "ground truth",
    "tables",
    "writing",
)


def build_frames(spec: WorldSpec, progress: Progress | None = None) -> dict[str, pl.DataFrame]:
    """Generate the world in memory: one conformed frame per declared table."""
    spec.validate()
    total = len(STEPS)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(STEPS[done - 1], done, total)

    streams = Streams(spec.seed)
    cal = Calendar.from_spec(spec)
    co = build_companies(cal, spec.companies, streams)
    contacts = build_contacts(cal, co, streams)
    items = build_items(co, streams, ROLE)
    ctx = Ctx(
        spec=spec,
        cal=cal,
        co=co,
        contacts=contacts,
        items=items,
        fx=FxRates(cal, streams),
        streams=streams,
        book=Book(),
    )
    banks = build_bank_accounts(co, streams)
    opening = recurring.openings(ctx)
    tick()

    sales.card_sales(ctx)
    sales.cash_sales(ctx)
    sales.refunds(ctx)
    inv = np.concatenate([sales.opening_invoices(ctx), sales.invoices(ctx)])
    sales.collect(ctx, inv)
    tick()

    log = anomalies.AnomalyLog()
    bills = np.concatenate(
        [
            purchases.opening_bills(ctx),
            purchases.spending(ctx),
            purchases.rent(ctx),
            anomalies.benford_bills(ctx, log),
        ]
    )
    purchases.pay_bills(ctx, bills)
    tick()

    recurring.payroll(ctx)
    recurring.depreciation(ctx, opening)
    recurring.loan_payments(ctx, opening)
    recurring.owner_draws(ctx)
    tick()

    anomalies.inject(ctx, log)
    lifecycle.mistakes(ctx)
    ctx.book.compact()
    tick()

    recurring.tax_returns(ctx)
    recurring.transfers(ctx, opening)
    ctx.book.compact()
    edits = lifecycle.statuses(ctx)
    tick()

    jl = build_journal(ctx)
    tick()

    rows = providers.assign(ctx, edits)
    nums = numbers(ctx)
    tick()

    statement = build_statement(ctx, banks, opening.bank)
    tick()

    roles = role_table(co)
    lines = ctx.book.lines()
    posted_roles = np.concatenate(
        [jl["role"], lines["role"], items.role, np.full(len(items.role), ROLE["cogs_main"])]
    )
    posted_ci = np.concatenate(
        [
            jl["ci"],
            ctx.book.docs()["ci"][lines["doc"]],
            items.frame["ci"].to_numpy(),
            items.frame["ci"].to_numpy(),
        ]
    )
    accounts = build_accounts(
        cal, co, banks.names, used_accounts(roles, posted_ci, posted_roles), roles, streams
    )
    monthly, cash = truth.monthly(ctx, roles, jl)
    crunch = truth.cash_crunch(ctx, cash, _opening_cash(ctx, opening))
    tick()

    out = Output(ctx, accounts, banks, rows, nums, edits)
    bank_lines, line_ids = out.bank_lines(statement)
    frames = {
        "companies": out.companies(),
        "accounts": out.accounts_table(),
        "contacts": out.contacts(),
        "items": out.items(),
        "bank_accounts": out.bank_accounts(opening.bank),
        "documents": out.documents(),
        "document_lines": out.document_lines(),
        "allocations": out.allocations(),
        "journal_lines": out.journal_lines(jl),
        "bank_lines": bank_lines,
        "truth_matches": out.truth_matches(statement, line_ids),
        "truth_anomalies": out.truth_anomalies(log, crunch),
        "truth_monthly": monthly,
    }
    frames = {name: conform(TABLE_BY_SHORT[name], frame) for name, frame in frames.items()}
    tick()
    return frames


def _opening_cash(ctx: Ctx, opening: recurring.Openings) -> np.ndarray:
    co = ctx.co
    fx_rate = ctx.fx.rate(np.maximum(co.foreign_ccy, 0), co.home_ccy, np.full(co.n, ctx.cal.start))
    return (
        opening.bank[:, ref.CHECKING]
        + opening.bank[:, ref.SAVINGS]
        + convert(opening.bank[:, ref.FX_CHECKING], fx_rate)
    )


def generate_world(
    spec: WorldSpec, out_dir: Path, progress: Progress | None = None
) -> WorldManifest:
    """Generate ``spec`` into ``out_dir`` (replacing a previous world there atomically).

    Writes one Parquet file per ``raw.world_*`` table and ``manifest.json``; the same spec
    always produces byte-identical files. ``progress(step, done, total)`` is called as the
    steps complete. Raises :class:`WorldError` for a bad spec or an ``out_dir`` that holds
    something other than a world.
    """
    spec.validate()
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    frames = build_frames(spec, progress)
    return write_world(spec, out_dir, frames, progress, (len(STEPS), len(STEPS)))
