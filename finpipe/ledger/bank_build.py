"""Build one company's canonical bank tables from everything landed for it (no Dagster):
read each bank source's raw rows, let the source turn them into canonical frames, merge,
and write ``ledger.bank_lines`` / ``ledger.bank_accounts`` in one transaction.

A landed transaction a source cannot read does not stop the company's ledger: the source
skips it and reports it (``rejected_lines``), and the write puts it in ``ops.quarantine``
(source ``<provider>/transactions``, record ``<tenant_id>:<source_id>``, the field, the
reason and the raw payload) in the same transaction as the canonical tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from finpipe.ledger.bank_lines import (
    MergeStats,
    balance_continuity,
    canonical_account_ids,
    merge_bank_lines,
)
from finpipe.ledger.bank_sources import REJECT_SCHEMA, conform, validated
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES
from finpipe.warehouse.tables.ops import QUARANTINE

Converter = Callable[[dict[str, pl.DataFrame]], pl.DataFrame]

# The entity whose records ``rejected_lines`` reports (quarantine source
# ``<source>/transactions``).
REJECTED_ENTITY = "transactions"

# The records a build skipped: the source's name, the REJECT_SCHEMA columns and the raw
# payload as landed (null if the landing row could not be found).
REJECTED_SCHEMA = pl.Schema({"source": pl.String(), **REJECT_SCHEMA, "payload": pl.String()})


@dataclass(frozen=True)
class BankSource:
    """A source of bank lines: its landing tables, and how they become canonical frames
    (``read_lines``: the lines and the landed transactions skipped as unreadable)."""

    name: str
    tables: dict[str, Table]
    read_lines: Callable[[dict[str, pl.DataFrame]], tuple[pl.DataFrame, pl.DataFrame]]
    to_bank_accounts: Converter


def bank_sources() -> list[BankSource]:
    """Every bank source: the API providers and the statement drop folder."""
    from finpipe.connectors import statements
    from finpipe.connectors.banks import bank_providers

    sources = [
        BankSource(p.name, p.tables, p.read_lines, p.to_bank_accounts)
        for p in bank_providers().values()
    ]
    sources.append(
        BankSource(
            "statement",
            statements.STATEMENT_SOURCE_TABLES,
            # Statement lines are validated when the file is imported (a bad file is
            # quarantined by the drop folder): nothing is rejected here.
            validated(statements.to_bank_lines),
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
    rejected: pl.DataFrame  # REJECTED_SCHEMA: landed records skipped as unreadable

    @property
    def quarantined(self) -> int:
        """How many landed records were skipped (and go to ``ops.quarantine``)."""
        return self.rejected.height

    def summary(self) -> dict[str, int]:
        """The merge stats plus the quarantined count (for logs and metadata)."""
        return {**self.stats.as_dict(), "quarantined": self.quarantined}

    def continuity(self) -> pl.DataFrame:
        return balance_continuity(self.lines, accounts=self.accounts)


def _rejected(
    source: BankSource, frames: dict[str, pl.DataFrame], rejects: pl.DataFrame
) -> pl.DataFrame:
    """``source``'s rejects of ``frames`` with the source name and the landed payload."""
    rejects = conform(rejects, REJECT_SCHEMA, f"{source.name} rejects")
    if rejects.is_empty():
        return pl.DataFrame(schema=REJECTED_SCHEMA)
    landed = frames.get(REJECTED_ENTITY)
    if landed is None:
        payloads = pl.DataFrame(schema=["tenant_id", "source_id", "payload"])
        payloads = payloads.cast(pl.String())
    else:
        payloads = landed.select("tenant_id", "source_id", pl.col("payload").cast(pl.String()))
        payloads = payloads.unique(["tenant_id", "source_id"], keep="last")
    joined = rejects.join(payloads, on=["tenant_id", "source_id"], how="left")
    return joined.select(pl.lit(source.name).alias("source"), *REJECT_SCHEMA, "payload")


def build_bank_ledger(
    warehouse: Warehouse, company_id: str, sources: list[BankSource] | None = None
) -> BankLedger:
    """Read every source's landed rows of ``company_id`` and merge them."""
    lines: list[pl.DataFrame] = []
    accounts: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = [pl.DataFrame(schema=REJECTED_SCHEMA)]
    for source in sources if sources is not None else bank_sources():
        frames = {
            entity: warehouse.read(table, company_id=company_id)
            for entity, table in source.tables.items()
        }
        source_lines, rejects = source.read_lines(frames)
        lines.append(source_lines)
        accounts.append(source.to_bank_accounts(frames))
        rejected.append(_rejected(source, frames, rejects))
    merged, merged_accounts, stats = merge_bank_lines(lines, accounts)
    by_source = dict(merged.group_by("source").len().iter_rows())
    return BankLedger(merged, merged_accounts, stats, by_source, pl.concat(rejected))


def quarantine_rows(company_id: str, ledger: BankLedger, now: dt.datetime) -> pl.DataFrame:
    """``ledger.rejected`` as ``ops.quarantine`` rows of ``company_id``."""
    rows = ledger.rejected.select(
        pl.lit(company_id).alias("company_id"),
        (pl.col("source") + f"/{REJECTED_ENTITY}").alias("source"),
        (pl.col("tenant_id") + ":" + pl.col("source_id")).alias("record_id"),
        "field",
        "reason",
        "payload",
        pl.lit(now).alias("quarantined_at"),
    )
    rows = rows.cast(dict(QUARANTINE.polars_schema()))  # type: ignore[arg-type]
    return rows.unique(["source", "record_id"], keep="last", maintain_order=True)


def write_bank_ledger(
    warehouse: Warehouse, company_id: str, ledger: BankLedger, *, now: dt.datetime | None = None
) -> None:
    """Replace the company's partition of both tables and upsert the skipped records into
    ``ops.quarantine``, in one transaction (``now``: their ``quarantined_at``)."""
    stamp = now if now is not None else dt.datetime.now(dt.UTC)
    with warehouse.batch() as batch:
        batch.replace_partition(BANK_ACCOUNTS, company_id, ledger.accounts)
        batch.replace_partition(BANK_LINES, company_id, ledger.lines)
        batch.upsert(QUARANTINE, quarantine_rows(company_id, ledger, stamp))


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
