"""Reconcile one company from the warehouse and write ``recon.*`` (no Dagster).

Reads ``ledger.bank_lines`` and ``ledger.cash_movements``, runs the cascade
(:func:`finpipe.reconcile.reconcile`), ages what is left and writes matches, suggestions,
the unmatched items and the per-company summary in one transaction.

The reconciliation date (``as_of``) defaults to the latest date either side has reached, not
the wall clock: reconciling last year's books again gives the same ages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from finpipe.reconcile.cascade import ReconConfig, ReconResult, reconcile
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES, CASH_MOVEMENTS

AGE_BUCKETS = ("0-7", "8-30", "31-60", "61-90", "90+")


def age_bucket(days: pl.Expr) -> pl.Expr:
    """The age bucket label of a number of days."""
    return (
        pl.when(days <= 7)
        .then(pl.lit("0-7"))
        .when(days <= 30)
        .then(pl.lit("8-30"))
        .when(days <= 60)
        .then(pl.lit("31-60"))
        .when(days <= 90)
        .then(pl.lit("61-90"))
        .otherwise(pl.lit("90+"))
    )


@dataclass(frozen=True)
class CompanyRecon:
    """One company's reconciliation, ready to write."""

    company_id: str
    as_of: dt.date
    bank_lines: pl.DataFrame
    movements: pl.DataFrame
    result: ReconResult
    unmatched_bank_lines: pl.DataFrame
    unmatched_movements: pl.DataFrame
    summary: pl.DataFrame
    before_history: pl.DataFrame  # movements older than their bank account's history

    def rates_by_rule(self) -> dict[str, int]:
        """Matched bank lines per rule."""
        m = self.result.matches
        return dict(m.group_by("rule").agg(pl.col("bank_line_id").n_unique()).sort("rule").rows())


def _latest(bank_lines: pl.DataFrame, movements: pl.DataFrame) -> dt.date:
    dates = [d for d in (bank_lines["booked_date"].max(), movements["date"].max()) if d]
    return max(dates) if dates else dt.datetime.now(dt.UTC).date()  # type: ignore[return-value]


def reconcile_company(
    warehouse: Warehouse,
    company_id: str,
    *,
    as_of: dt.date | None = None,
    config: ReconConfig | None = None,
) -> CompanyRecon:
    """Reconcile ``company_id``'s bank lines against its books' cash movements."""
    from finpipe.reconcile.summary import summarize

    config = config or ReconConfig()
    bank_lines = warehouse.read(BANK_LINES, company_id=company_id)
    movements, before = before_bank_history(
        warehouse.read(CASH_MOVEMENTS, company_id=company_id),
        warehouse.read(BANK_ACCOUNTS, company_id=company_id),
        config,
    )
    when = as_of or _latest(bank_lines, movements)
    result = reconcile(bank_lines, movements, config)
    suggested = result.suggestions
    line_age = (pl.lit(when) - pl.col("booked_date")).dt.total_days()
    lines = result.unmatched_bank_lines.select(
        "company_id",
        "line_id",
        "bank_account_id",
        "booked_date",
        "amount",
        "currency",
        "description",
        "counterparty_name",
        line_age.alias("age_days"),
        age_bucket(line_age).alias("age_bucket"),
        pl.col("line_id").is_in(suggested["bank_line_id"].implode()).alias("suggested"),
    )
    move_age = (pl.lit(when) - pl.col("date")).dt.total_days()
    moves = result.unmatched_movements.select(
        "company_id",
        "movement_id",
        "provider",
        "document_id",
        "document_type",
        "bank_account_id",
        "date",
        "amount",
        "currency",
        "counterparty_name",
        move_age.alias("age_days"),
        age_bucket(move_age).alias("age_bucket"),
        pl.col("movement_id").is_in(suggested["movement_id"].implode()).alias("suggested"),
    )
    summary = summarize(bank_lines, movements, result, as_of=when)
    return CompanyRecon(
        company_id, when, bank_lines, movements, result, lines, moves, summary, before
    )


def before_bank_history(
    movements: pl.DataFrame, bank_accounts: pl.DataFrame, config: ReconConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(movements to reconcile, movements older than their bank account's history).

    A movement dated more than the date window before the first line the bank reported for
    its account (opening balances, books kept before the feed was connected) has nothing
    to match: it is set aside and counted, not reported as an exception forever."""
    first = bank_accounts.select("bank_account_id", pl.col("first_booked_date").alias("_first"))
    marked = movements.join(first, on="bank_account_id", how="left")
    old = (pl.col("date") + pl.duration(days=config.window_max_days)) < pl.col("_first")
    old = old.fill_null(False)
    return marked.filter(~old).drop("_first"), marked.filter(old).drop("_first")


def write_recon(warehouse: Warehouse, recon: CompanyRecon) -> None:
    """Replace the company's partition of every ``recon`` table it produces, in one
    transaction."""
    from finpipe.warehouse.tables.recon import (
        MATCHES,
        SUGGESTIONS,
        SUMMARY,
        UNMATCHED_BANK_LINES,
        UNMATCHED_MOVEMENTS,
    )

    with warehouse.batch() as batch:
        batch.replace_partition(MATCHES, recon.company_id, recon.result.matches)
        batch.replace_partition(SUGGESTIONS, recon.company_id, recon.result.suggestions)
        batch.replace_partition(UNMATCHED_BANK_LINES, recon.company_id, recon.unmatched_bank_lines)
        batch.replace_partition(UNMATCHED_MOVEMENTS, recon.company_id, recon.unmatched_movements)
        batch.replace_partition(SUMMARY, recon.company_id, recon.summary)


@dataclass(frozen=True)
class CompanyInvoices:
    """One company's invoice matching, ready to write."""

    company_id: str
    as_of: dt.date
    open_items: pl.DataFrame  # after the books' allocations and the automatic matches
    matches: pl.DataFrame
    suggestions: pl.DataFrame
    unapplied: pl.DataFrame
    rejects: pl.DataFrame
    counts: dict[str, int]


def match_company_invoices(
    warehouse: Warehouse, company_id: str, *, as_of: dt.date | None = None
) -> CompanyInvoices:
    """Apply the books' allocations and match unapplied payments and credits to open
    invoices and bills of ``company_id`` (book-of-record documents only)."""
    from finpipe.reconcile.invoices import match_payments, open_items, open_items_after
    from finpipe.warehouse.tables.ledger import ALLOCATIONS, DOCUMENTS

    documents = warehouse.read(DOCUMENTS, company_id=company_id).filter(pl.col("book_of_record"))
    allocations = warehouse.read(ALLOCATIONS, company_id=company_id).join(
        documents.select("provider", pl.col("document_id").alias("source_document_id")),
        on=["provider", "source_document_id"],
        how="semi",
    )
    when = as_of or documents["issue_date"].max() or dt.datetime.now(dt.UTC).date()
    items = open_items(documents, allocations, as_of=when)  # type: ignore[arg-type]
    result = match_payments(documents, allocations, items)
    after = open_items_after(items, result.matches)
    return CompanyInvoices(
        company_id,
        when,  # type: ignore[arg-type]
        after,
        result.matches,
        result.suggestions,
        result.unapplied,
        result.rejects,
        dict(result.counts),
    )


def write_invoices(warehouse: Warehouse, invoices: CompanyInvoices) -> None:
    """Replace the company's partition of the invoice-matching tables, in one transaction."""
    from finpipe.warehouse.tables.recon import (
        INVOICE_MATCHES,
        INVOICE_SUGGESTIONS,
        OPEN_ITEMS,
        UNAPPLIED_PAYMENTS,
    )

    with warehouse.batch() as batch:
        batch.replace_partition(OPEN_ITEMS, invoices.company_id, invoices.open_items)
        batch.replace_partition(INVOICE_MATCHES, invoices.company_id, invoices.matches)
        batch.replace_partition(INVOICE_SUGGESTIONS, invoices.company_id, invoices.suggestions)
        batch.replace_partition(UNAPPLIED_PAYMENTS, invoices.company_id, invoices.unapplied)


@dataclass(frozen=True)
class CompanyWriteback:
    """What write-back may do for one company: its settings, the plan and the past log."""

    company_id: str
    enabled: bool
    dry_run: bool
    plan: pl.DataFrame  # PROPOSAL_SCHEMA
    rejects: pl.DataFrame  # lines that could not be planned, with the reason
    previous: pl.DataFrame  # WRITEBACK_LOG_SCHEMA: every earlier attempt
    providers: tuple[str, ...]  # the books the plan writes to


def plan_company_writeback(warehouse: Warehouse, company_id: str) -> CompanyWriteback:
    """Plan write-back of the bank fees and interest reconciliation left unexplained, under
    the company's ``ops.writeback_settings`` (off, and dry-run, unless a row says so)."""
    from finpipe.compliance.overrides import record_overrides
    from finpipe.reconcile.writeback import build_plan, classify_unbooked
    from finpipe.warehouse.tables.ledger import BANK_ACCOUNT_LINKS
    from finpipe.warehouse.tables.mapping import ACCOUNT_MAP
    from finpipe.warehouse.tables.ops import WRITEBACK_SETTINGS
    from finpipe.warehouse.tables.recon import MATCHES, WRITEBACK_LOG

    settings = warehouse.read(WRITEBACK_SETTINGS, company_id=company_id)
    record_overrides(
        warehouse, company_id, WRITEBACK_SETTINGS.qualified_name, settings, ["company_id"]
    )
    previous = warehouse.read(WRITEBACK_LOG, company_id=company_id)
    enabled = bool(settings.height and settings["enabled"].any())
    dry_run = not settings.height or settings["dry_run"].fill_null(True).all()
    lines = warehouse.read(BANK_LINES, company_id=company_id)
    matched = warehouse.read(MATCHES, company_id=company_id)["bank_line_id"]
    classified = classify_unbooked(lines, matched_line_ids=matched)
    accounts = warehouse.read(ACCOUNT_MAP, company_id=company_id).select(
        "company_id",
        "provider",
        "account_id",
        pl.col("source_code").alias("code"),
        pl.col("source_name").alias("name"),
        "currency",
        "standard_code",
    )
    links = warehouse.read(BANK_ACCOUNT_LINKS, company_id=company_id)
    plan = build_plan(classified, links, accounts, settings)
    providers = tuple(sorted(set(plan.proposals["provider"])))
    return CompanyWriteback(
        company_id, enabled, dry_run, plan.proposals, plan.rejects, previous, providers
    )


def record_writeback(warehouse: Warehouse, company_id: str, log: pl.DataFrame, events) -> None:
    """Append a run's write-back log and its audit events (the log is never rewritten)."""
    from finpipe.compliance import AuditKind, append
    from finpipe.warehouse.tables.recon import WRITEBACK_LOG

    if log.height:
        warehouse.upsert(WRITEBACK_LOG, log)
    for event in events:
        append(
            warehouse,
            company_id,
            AuditKind.WRITE_BACK,
            subject=event["subject"],
            details=event["details"],
            actor=event["actor"],
        )
