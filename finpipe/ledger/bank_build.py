"""Build one company's canonical bank tables from everything landed for it (no Dagster):
read each bank source's raw rows, let the source turn them into canonical frames, merge,
and write ``ledger.bank_lines`` / ``ledger.bank_accounts`` in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from finpipe.ledger.bank_lines import (
    MergeStats,
    balance_continuity,
    canonical_account_ids,
    merge_bank_lines,
)
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES

Converter = Callable[[dict[str, pl.DataFrame]], pl.DataFrame]


@dataclass(frozen=True)
class BankSource:
    """A source of bank lines: its landing tables and how they become canonical frames."""

    name: str
    tables: dict[str, Table]
    to_bank_lines: Converter
    to_bank_accounts: Converter


def bank_sources() -> list[BankSource]:
    """Every bank source: the API providers and the statement drop folder."""
    from finpipe.connectors import statements
    from finpipe.connectors.banks import bank_providers

    sources = [
        BankSource(p.name, p.tables, p.to_bank_lines, p.to_bank_accounts)
        for p in bank_providers().values()
    ]
    sources.append(
        BankSource(
            "statement",
            statements.STATEMENT_SOURCE_TABLES,
            statements.to_bank_lines,
            statements.to_bank_accounts,
        )
    )
    return sources


@dataclass(frozen=True)
class BankLedger:
    """One company's canonical bank tables and how they were made."""

    lines: pl.DataFrame
    accounts: pl.DataFrame
    stats: MergeStats
    lines_by_source: dict[str, int]  # canonical lines kept from each source

    def continuity(self) -> pl.DataFrame:
        return balance_continuity(self.lines, accounts=self.accounts)


def build_bank_ledger(
    warehouse: Warehouse, company_id: str, sources: list[BankSource] | None = None
) -> BankLedger:
    """Read every source's landed rows of ``company_id`` and merge them."""
    lines: list[pl.DataFrame] = []
    accounts: list[pl.DataFrame] = []
    for source in sources if sources is not None else bank_sources():
        frames = {
            entity: warehouse.read(table, company_id=company_id)
            for entity, table in source.tables.items()
        }
        lines.append(source.to_bank_lines(frames))
        accounts.append(source.to_bank_accounts(frames))
    merged, merged_accounts, stats = merge_bank_lines(lines, accounts)
    by_source = dict(merged.group_by("source").len().iter_rows())
    return BankLedger(merged, merged_accounts, stats, by_source)


def write_bank_ledger(warehouse: Warehouse, company_id: str, ledger: BankLedger) -> None:
    """Replace the company's partition of both tables in one transaction."""
    with warehouse.batch() as batch:
        batch.replace_partition(BANK_ACCOUNTS, company_id, ledger.accounts)
        batch.replace_partition(BANK_LINES, company_id, ledger.lines)


def statement_balance_points(
    warehouse: Warehouse, company_id: str, accounts: pl.DataFrame
) -> pl.DataFrame:
    """Every closing balance a statement file of ``company_id`` printed, on the canonical
    account (``bank_account_id``, ``date``, ``balance``): what the continuity check holds
    the lines to, besides the API's running and reported balances."""
    from finpipe.connectors.statements import STATEMENT_SOURCE_TABLES
    from finpipe.connectors.statements.landing import closing_balances

    raw = warehouse.read(STATEMENT_SOURCE_TABLES["balances"], company_id=company_id)
    points = closing_balances({"balances": raw})
    return canonical_account_ids(points, accounts).select("bank_account_id", "date", "balance")
