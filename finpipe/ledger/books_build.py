"""Build one company's canonical books from everything landed for it (no Dagster).

Read every accounting source's landing rows (``raw.quickbooks_*``, ``raw.xero_*``), expand
each source's documents into canonical frames (:mod:`finpipe.ledger.quickbooks_books`,
:mod:`finpipe.ledger.xero_books`), de-duplicate a company that is on both sources
(:mod:`finpipe.ledger.conflicts`: the book of record per period), give every journal line
its standard-chart code (``ledger.account_map``), link the bank feeds to the books' bank
accounts and read the cash movements off the journal (:mod:`finpipe.ledger.cash_movements`).

:func:`write_books` replaces the company's partition of every ledger table, upserts the
unreadable records into ``ops.quarantine`` and the conflicts into ``recon.conflicts``, in one
transaction: the books are never half written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from finpipe.ledger.account_mapping import accounts_from_quickbooks, accounts_from_xero
from finpipe.ledger.books import REJECT_SCHEMA, Books, check_balanced
from finpipe.ledger.books_schema import (
    ALLOCATION_SCHEMA,
    CONTACT_SCHEMA,
    DOCUMENT_SCHEMA,
    JOURNAL_LINE_SCHEMA,
)
from finpipe.ledger.cash_movements import cash_movements, link_bank_accounts
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import (
    ALLOCATIONS,
    BANK_ACCOUNT_LINKS,
    BANK_ACCOUNTS,
    CASH_MOVEMENTS,
    CONTACTS,
    DOCUMENTS,
    JOURNAL_LINES,
)
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP
from finpipe.warehouse.tables.ops import QUARANTINE
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

_XERO_BANK = pl.Struct(
    {"AccountID": pl.String(), "BankAccountNumber": pl.String(), "BankAccountType": pl.String()}
)


@dataclass(frozen=True)
class CompanyBooks:
    """One company's canonical books, across its accounting sources."""

    company_id: str
    contacts: pl.DataFrame
    documents: pl.DataFrame  # DOCUMENT_SCHEMA + book_of_record
    journal_lines: pl.DataFrame  # JOURNAL_LINE_SCHEMA + standard_code, book of record only
    # Every source's own expansion before de-duplication: what each source's trial
    # balance is held to (a company on both keeps each document once in journal_lines).
    source_journal_lines: pl.DataFrame
    allocations: pl.DataFrame
    accounts: pl.DataFrame  # ACCOUNT_SCHEMA (+ bank_account_number / bank_account_type)
    links: pl.DataFrame
    movements: pl.DataFrame
    rejects: pl.DataFrame  # REJECT_SCHEMA + payload
    conflicts: pl.DataFrame | None
    providers: tuple[str, ...]

    def unbalanced(self) -> pl.DataFrame:
        """Entries whose lines do not sum to zero (should be none)."""
        return check_balanced(self.journal_lines)

    def summary(self) -> dict[str, int]:
        """Counts for logs and metadata."""
        return {
            "documents": self.documents.height,
            "book_of_record": int(self.documents["book_of_record"].sum()),
            "journal_lines": self.journal_lines.height,
            "entries": self.journal_lines["entry_id"].n_unique(),
            "contacts": self.contacts.height,
            "allocations": self.allocations.height,
            "cash_movements": self.movements.height,
            "linked_bank_accounts": self.links.height,
            "rejected": self.rejects.height,
            "conflicts": 0 if self.conflicts is None else self.conflicts.height,
        }


def _read(warehouse: Warehouse, tables: dict, company_id: str) -> dict[str, pl.DataFrame]:
    return {
        entity: warehouse.read(table, company_id=company_id) for entity, table in tables.items()
    }


def _landed(frames: dict[str, pl.DataFrame]) -> bool:
    return any(frame.height for frame in frames.values())


def _xero_bank_numbers(raw: pl.DataFrame) -> pl.DataFrame:
    """Xero's bank accounts' own numbers (``BankAccountNumber``), which link them to the
    bank feeds exactly."""
    if raw.height == 0:
        return pl.DataFrame(
            schema={
                "account_id": pl.String,
                "bank_account_number": pl.String,
                "bank_account_type": pl.String,
            }
        )
    decoded = raw.select(pl.col("payload").str.json_decode(_XERO_BANK).alias("p")).unnest("p")
    return decoded.select(
        pl.col("AccountID").alias("account_id"),
        pl.col("BankAccountNumber").alias("bank_account_number"),
        pl.col("BankAccountType").alias("bank_account_type"),
    ).unique("account_id")


def _with_payload(rejects: pl.DataFrame, frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Rejects with the landed payload of the record (for ``ops.quarantine``)."""
    parts = []
    for entity, frame in frames.items():
        if frame.height:
            parts.append(
                frame.select(
                    pl.lit(entity).alias("entity"),
                    "source_id",
                    pl.col("payload").cast(pl.String),
                )
            )
    if not parts or rejects.height == 0:
        return rejects.with_columns(pl.lit(None, pl.String).alias("payload"))
    payloads = pl.concat(parts).unique(["entity", "source_id"], keep="last")
    return rejects.join(payloads, on=["entity", "source_id"], how="left")


def build_books(warehouse: Warehouse, company_id: str) -> CompanyBooks:
    """Read and expand every accounting source landed for ``company_id``."""
    from finpipe.ledger.quickbooks_books import books_from_quickbooks
    from finpipe.ledger.xero_books import books_from_xero

    parts: list[Books] = []
    accounts: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = [pl.DataFrame(schema={**REJECT_SCHEMA, "payload": pl.String})]
    providers: list[str] = []
    qbo = _read(warehouse, QUICKBOOKS_TABLES, company_id)
    if _landed(qbo):
        books = books_from_quickbooks(qbo, company_id=company_id)
        parts.append(books)
        accounts.append(accounts_from_quickbooks(qbo["Account"]))
        rejects.append(_with_payload(books.rejects, qbo))
        providers.append("quickbooks")
    xero = _read(warehouse, XERO_TABLES, company_id)
    if _landed(xero):
        books = books_from_xero(xero, company_id=company_id)
        parts.append(books)
        xero_accounts = accounts_from_xero(xero["Accounts"], xero["Organisation"])
        accounts.append(
            xero_accounts.join(_xero_bank_numbers(xero["Accounts"]), on="account_id", how="left")
        )
        rejects.append(_with_payload(books.rejects, xero))
        providers.append("xero")

    def cat(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
        return (
            pl.concat([f.cast(dict(schema)) for f in frames])
            if frames
            else pl.DataFrame(schema=schema)
        )

    contacts = cat([b.contacts for b in parts], CONTACT_SCHEMA)
    documents = cat([b.documents.select(list(DOCUMENT_SCHEMA)) for b in parts], DOCUMENT_SCHEMA)
    journal = cat(
        [b.journal_lines.select(list(JOURNAL_LINE_SCHEMA)) for b in parts], JOURNAL_LINE_SCHEMA
    )
    allocations = cat([b.allocations for b in parts], ALLOCATION_SCHEMA)
    chart = pl.concat(accounts, how="diagonal_relaxed") if accounts else pl.DataFrame()

    conflicts = None
    documents = documents.with_columns(pl.lit(True).alias("book_of_record"))
    if len(providers) > 1:
        documents, conflicts = _resolve_overlap(warehouse, company_id, documents, contacts, journal)
    source_journal = journal
    kept = documents.filter(pl.col("book_of_record")).select("provider", "document_id")
    journal = journal.join(kept, on=["provider", "document_id"], how="semi")
    account_map = warehouse.read(ACCOUNT_MAP, company_id=company_id).select(
        "provider", "account_id", "standard_code"
    )
    journal = journal.join(account_map, on=["provider", "account_id"], how="left")

    bank_accounts = warehouse.read(BANK_ACCOUNTS, company_id=company_id)
    if chart.height:
        links = link_bank_accounts(bank_accounts, chart)
        movements = cash_movements(
            documents.filter(pl.col("book_of_record")),
            journal,
            contacts,
            links,
            chart,
            bank_accounts,
        )
    else:
        links = pl.DataFrame(schema=BANK_ACCOUNT_LINKS.polars_schema())
        movements = pl.DataFrame(schema=CASH_MOVEMENTS.polars_schema())
    return CompanyBooks(
        company_id=company_id,
        contacts=contacts,
        documents=documents,
        journal_lines=journal,
        source_journal_lines=source_journal,
        allocations=allocations,
        accounts=chart,
        links=links,
        movements=movements,
        rejects=pl.concat(rejects, how="diagonal_relaxed"),
        conflicts=conflicts,
        providers=tuple(providers),
    )


def _resolve_overlap(
    warehouse: Warehouse,
    company_id: str,
    documents: pl.DataFrame,
    contacts: pl.DataFrame,
    journal: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Documents of a company on both sources, each marked book of record or not under the
    company's source policy (configured, else inferred), and the conflicts recorded."""
    from finpipe.compliance.overrides import record_overrides
    from finpipe.ledger.conflicts import find_twins, resolve
    from finpipe.warehouse.tables.ops import SOURCE_POLICIES

    policy = warehouse.read(SOURCE_POLICIES, company_id=company_id)
    record_overrides(
        warehouse, company_id, SOURCE_POLICIES.qualified_name, policy, ["cutover_date"]
    )
    # A journal has no total of its own (QBO's TotalAmt and Xero's debits need not agree):
    # both copies are compared on the debits their lines post.
    debits = journal.group_by("provider", "document_id").agg(
        pl.col("amount").clip(lower_bound=0).sum().alias("_debits")
    )
    compared = (
        documents.drop("book_of_record")
        .join(debits, on=["provider", "document_id"], how="left")
        .with_columns(
            pl.when(pl.col("doc_type") == "journal")
            .then(pl.coalesce("_debits", "total"))
            .otherwise(pl.col("total"))
            .alias("total")
        )
        .drop("_debits")
    )
    twins = find_twins(compared, contacts)
    result = resolve(documents.drop("book_of_record"), twins, policy)
    return result.documents, result.conflicts


def quarantine_rows(books: CompanyBooks, now: dt.datetime) -> pl.DataFrame:
    """The unreadable records as ``ops.quarantine`` rows."""
    rows = books.rejects.select(
        "company_id",
        (pl.col("provider") + "/" + pl.col("entity")).alias("source"),
        pl.col("source_id").alias("record_id"),
        "field",
        "reason",
        "payload",
        pl.lit(now).alias("quarantined_at"),
    )
    rows = rows.cast(dict(QUARANTINE.polars_schema()))  # type: ignore[arg-type]
    return rows.unique(["source", "record_id"], keep="last", maintain_order=True)


def write_books(
    warehouse: Warehouse, books: CompanyBooks, *, now: dt.datetime | None = None
) -> None:
    """Replace the company's partition of every ledger books table, and upsert quarantined
    records and conflicts, in one transaction."""
    from finpipe.warehouse.tables.recon import CONFLICTS

    stamp = now if now is not None else dt.datetime.now(dt.UTC)
    company_id = books.company_id
    known = warehouse.read(CONFLICTS, company_id=company_id)["conflict_id"]
    with warehouse.batch() as batch:
        batch.replace_partition(CONTACTS, company_id, books.contacts)
        batch.replace_partition(DOCUMENTS, company_id, books.documents)
        batch.replace_partition(JOURNAL_LINES, company_id, books.journal_lines)
        batch.replace_partition(ALLOCATIONS, company_id, books.allocations)
        batch.replace_partition(BANK_ACCOUNT_LINKS, company_id, books.links)
        batch.replace_partition(CASH_MOVEMENTS, company_id, books.movements)
        # A company no longer on both sources has no conflicts left.
        conflicts = books.conflicts
        if conflicts is None:
            conflicts = pl.DataFrame(schema=CONFLICTS.polars_schema())
        batch.replace_partition(CONFLICTS, company_id, conflicts)
        batch.upsert(QUARANTINE, quarantine_rows(books, stamp))
    if books.conflicts is not None:
        record_conflicts(
            warehouse, books.conflicts.filter(~pl.col("conflict_id").is_in(known.implode()))
        )


def record_conflicts(warehouse: Warehouse, new: pl.DataFrame) -> None:
    """One audit entry per company for the conflict resolutions not recorded before (a
    re-run of the same books adds nothing to the chain)."""
    from finpipe.compliance import AuditKind, append

    for (company_id,), rows in new.group_by(["company_id"], maintain_order=True):
        append(
            warehouse,
            str(company_id),
            AuditKind.CONFLICT_RESOLUTION,
            subject=f"books:{rows.height} conflict(s)",
            details={
                "count": rows.height,
                "by_kind": dict(rows.group_by("kind").len().sort("kind").iter_rows()),
                "conflicts": rows.select(
                    "conflict_id",
                    "kind",
                    "quickbooks_document_id",
                    "xero_document_id",
                    "kept_provider",
                    "policy",
                ).to_dicts(),
            },
            actor="finpipe",
        )


def monthly_trial_balance(journal_lines: pl.DataFrame) -> pl.DataFrame:
    """Per provider and month, the sum of every line (must be zero) and of debits."""
    return (
        journal_lines.group_by(
            "company_id", "provider", pl.col("date").dt.truncate("1mo").alias("month")
        )
        .agg(
            pl.col("amount").sum().alias("total"),
            pl.col("amount").clip(lower_bound=0).sum().alias("debits"),
        )
        .sort("provider", "month")
    )


def trial_balance_differences(
    journal_lines: pl.DataFrame, provider_tb: pl.DataFrame, accounts: pl.DataFrame
) -> pl.DataFrame:
    """Accounts whose ledger balance differs from the provider's own trial balance
    (``ledger.provider_trial_balances`` rows): per provider and report date, both balances
    and the difference; empty when they agree.

    The ledger is closed the way the report is: lines after ``as_of`` left out; income and
    expense lines dated before the report's ``fiscal_year_start`` moved to the chart's
    retained earnings account (``accounts``: ``ACCOUNT_SCHEMA`` rows, whose
    ``classification`` says which accounts are income or expense)."""
    empty = pl.DataFrame(
        schema={
            "provider": pl.String,
            "as_of": pl.Date,
            "account_id": pl.String,
            "ledger": pl.Int64,
            "provider_balance": pl.Int64,
            "difference": pl.Int64,
        }
    )
    if provider_tb.height == 0:
        return empty
    reports = provider_tb.select("provider", "as_of", "fiscal_year_start").unique()
    chart = accounts.select(
        "provider",
        "account_id",
        pl.col("classification").str.to_lowercase().is_in(["revenue", "expense"]).alias("pnl"),
        pl.col("account_subtype").str.to_lowercase().is_in(["retainedearnings"]).alias("retained"),
    )
    retained = (
        chart.filter("retained")
        .group_by("provider")
        .agg(pl.col("account_id").first().alias("retained_id"))
    )
    lines = (
        journal_lines.select("provider", "date", "account_id", "amount")
        .join(reports, on="provider")
        .filter(pl.col("date") <= pl.col("as_of"))
        .join(
            chart.select("provider", "account_id", "pnl"), on=["provider", "account_id"], how="left"
        )
        .join(retained, on="provider", how="left")
    )
    closed = pl.col("pnl").fill_null(False) & (pl.col("date") < pl.col("fiscal_year_start"))
    ledger = (
        lines.with_columns(
            pl.when(closed & pl.col("retained_id").is_not_null())
            .then(pl.col("retained_id"))
            .otherwise(pl.col("account_id"))
            .alias("account_id")
        )
        .group_by("provider", "as_of", "account_id")
        .agg(pl.col("amount").sum().alias("ledger"))
    )
    theirs = provider_tb.select(
        "provider", "as_of", "account_id", pl.col("balance").alias("provider_balance")
    )
    both = ledger.join(theirs, on=["provider", "as_of", "account_id"], how="full", coalesce=True)
    both = both.with_columns(
        pl.col("ledger").fill_null(0), pl.col("provider_balance").fill_null(0)
    ).with_columns((pl.col("ledger") - pl.col("provider_balance")).alias("difference"))
    return (
        both.filter(pl.col("difference") != 0)
        .select(list(empty.columns))
        .sort("provider", "account_id")
    )
