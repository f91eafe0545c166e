"""Parsed statements as rows of the landing tables, and landed rows as canonical bank frames.

Landing (``raw.statement_lines`` / ``raw.statement_balances``, the common landing shape):

* ``tenant_id`` is the account identification the file gives (IBAN, account number, the
  OFX ACCTID, the MT940 ``:25:``), exactly as given;
* ``source_id`` of a line is keyed by what the file gives (see :func:`line_source_ids`):

  - a bank id the format guarantees unique per account (OFX ``FITID``, camt
    ``AcctSvcrRef``, a CSV profile's declared transaction-id column) is the key as is;
  - any other bank id (an MT940 ``:61:`` bank reference, a camt ``NtryRef``: banks reuse
    them across files, the corpus repeats ``//55555``) is only unique together with the
    line's booking date and amount: ``ref:<id>:<booked date>:<amount in minor units>``;
  - no id: a deterministic key, ``sha256:`` + SHA-256 of account | booked date | amount |
    currency | description | occurrence of that same tuple within the file.

  The same line in two overlapping files (this month's export and last week's) gets the same
  key and lands once. A key repeated inside one file for the same account (a bank id used
  twice, seen in real MT940 files) gets ``#2``, ``#3`` ... on its later uses, so no line is
  lost to a key collision;
* ``source_id`` of a balance is ``opening|closing:<date>[:<statement id>]``: the same
  statement in two files lands once;
* ``payload`` is the parsed line (or balance) as JSON, amounts as integer minor units and
  dates ISO, plus the file's name, SHA-256 and format; a line's payload also says how many
  lines of its file are alike (``alike_in_file``: same account, status, booked date, amount
  and currency), which :func:`to_bank_lines` needs to collapse files with other id schemes.

:func:`to_bank_lines` / :func:`to_bank_accounts` turn landed rows into the frames of
:mod:`finpipe.ledger.bank_sources`, decoding the JSON payload column with Polars.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.statements.camt053 import CamtLine
from finpipe.connectors.statements.model import Statement, StatementLine
from finpipe.ledger.bank_sources import (
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    conform,
    empty_accounts,
    empty_lines,
)
from finpipe.warehouse.schema import Table
from finpipe.warehouse.tables.raw import STATEMENT_BALANCES, STATEMENT_LINES

SOURCE = "statement"
HASH_PREFIX = "sha256:"
REF_PREFIX = "ref:"
# What to_bank_lines / to_bank_accounts read: entity -> landing table (the frames' keys).
STATEMENT_SOURCE_TABLES: dict[str, Table] = {
    "lines": STATEMENT_LINES,
    "balances": STATEMENT_BALANCES,
}

# The payload fields to_bank_lines / to_bank_accounts read (others are kept for people).
LINE_PAYLOAD = pl.Struct(
    {
        "booked_date": pl.String(),
        "value_date": pl.String(),
        "amount": pl.Int64(),
        "currency": pl.String(),
        "status": pl.String(),
        "description": pl.String(),
        "counterparty_name": pl.String(),
        "counterparty_account": pl.String(),
        "reference": pl.String(),
        "bank_transaction_code": pl.String(),
        "running_balance": pl.Int64(),
        "file_sha256": pl.String(),
        "format": pl.String(),
        "alike_in_file": pl.Int64(),  # absent in rows landed before it was written
    }
)
# What makes two statement lines of one account the same movement across files.
_ALIKE = ["company_id", "tenant_id", "status", "booked_date", "amount", "currency"]
BALANCE_PAYLOAD = pl.Struct(
    {
        "kind": pl.String(),
        "amount": pl.Int64(),
        "currency": pl.String(),
        "date": pl.String(),
    }
)
_IBAN = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"
_ISO_CODE = r"^[A-Z]{4}/[A-Z]{4}/[A-Z]{4}$"


@dataclass(frozen=True)
class StatementFrames:
    """The rows one file adds to ``raw.statement_lines`` and ``raw.statement_balances``."""

    lines: pl.DataFrame
    balances: pl.DataFrame


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def bank_id_is_unique(fmt: str, line: StatementLine) -> bool:
    """Whether ``fmt`` guarantees ``line.source_id`` unique per account: an OFX ``FITID``,
    a camt ``AcctSvcrRef`` (not its ``NtryRef``), a CSV profile's declared transaction-id
    column (the only place a CSV line's id comes from). MT940 bank references are not."""
    if not line.source_id:
        return False
    if fmt == "ofx" or fmt.startswith("csv:"):
        return True
    if fmt == "camt053":
        return isinstance(line, CamtLine) and line.servicer_ref
    return False


def line_source_ids(statements: Sequence[Statement], *, fmt: str) -> list[list[str]]:
    """The landing ``source_id`` of every line of one ``fmt`` file, per statement (see the
    module doc)."""
    keys: Counter[tuple[str, str]] = Counter()
    tuples: Counter[tuple[str, ...]] = Counter()
    out: list[list[str]] = []
    for statement in statements:
        ids: list[str] = []
        for line in statement.lines:
            if line.source_id:
                if bank_id_is_unique(fmt, line):
                    key = line.source_id
                else:
                    booked = line.booked_date.isoformat()
                    key = f"{REF_PREFIX}{line.source_id}:{booked}:{line.amount}"
                keys[(statement.account_id, key)] += 1
                n = keys[(statement.account_id, key)]
                ids.append(key if n == 1 else f"{key}#{n}")
                continue
            parts = (
                statement.account_id,
                line.booked_date.isoformat(),
                str(line.amount),
                line.currency,
                line.description,
            )
            tuples[parts] += 1
            # The occurrence index tells apart two identical coffees on one day, and is the
            # same in every file that carries both, so overlapping files agree on the keys.
            text = "\x1f".join((*parts, str(tuples[parts])))
            ids.append(HASH_PREFIX + hashlib.sha256(text.encode()).hexdigest())
        out.append(ids)
    return out


def _alike(statement: Statement, line: StatementLine) -> tuple[str, str, dt.date, int, str]:
    return (statement.account_id, line.status, line.booked_date, line.amount, line.currency)


def _line_payload(
    statement: Statement,
    index: int,
    position: int,
    line: StatementLine,
    file: dict[str, str],
    alike: int,
) -> dict[str, Any]:
    record = {f.name: getattr(line, f.name) for f in dataclasses.fields(StatementLine)}
    record["booked_date"] = _iso(line.booked_date)
    record["value_date"] = _iso(line.value_date)
    return {
        "account_id": statement.account_id,
        **record,
        "statement_id": statement.statement_id,
        "statement_index": index,
        "line_index": position,
        "alike_in_file": alike,
        **file,
    }


def statement_frames(
    statements: Sequence[Statement],
    *,
    company_id: str,
    file_name: str,
    content_sha256: str,
    fmt: str,
    extracted_at: dt.datetime,
    sync_id: str,
) -> StatementFrames:
    """Landing rows for the lines and balances of one file's ``statements`` (already
    checked: every statement names its account and currency)."""
    file = {"file_name": file_name, "file_sha256": content_sha256, "format": fmt}
    alike = Counter(_alike(s, line) for s in statements for line in s.lines)
    line_rows: list[tuple[str, str, str]] = []
    for index, (statement, ids) in enumerate(
        zip(statements, line_source_ids(statements, fmt=fmt), strict=True), start=1
    ):
        for position, (line, source_id) in enumerate(zip(statement.lines, ids, strict=True)):
            payload = _line_payload(
                statement, index, position + 1, line, file, alike[_alike(statement, line)]
            )
            line_rows.append((statement.account_id, source_id, payloads.dumps(payload)))
    balance_rows: dict[tuple[str, str], str] = {}
    for index, statement in enumerate(statements, start=1):
        booked = sum(line.amount for line in statement.lines if line.status == "booked")
        for kind, balance in (
            ("opening", statement.opening_balance),
            ("closing", statement.closing_balance),
        ):
            if balance is None:
                continue
            source_id = f"{kind}:{_iso(balance.date) or 'undated'}"
            if statement.statement_id:
                source_id += f":{statement.statement_id}"
            payload = {
                "kind": kind,
                "account_id": statement.account_id,
                "amount": balance.amount,
                "currency": statement.currency,
                "date": _iso(balance.date),
                "statement_id": statement.statement_id,
                "statement_index": index,
                "lines": len(statement.lines),
                "booked_total": booked,
                "balance_difference": statement.balance_difference(),
                **file,
            }
            # The same key twice in one file (a statement repeated): the later one stands.
            balance_rows[(statement.account_id, source_id)] = payloads.dumps(payload)
    return StatementFrames(
        lines=_landing(
            STATEMENT_LINES.polars_schema(), line_rows, company_id, extracted_at, sync_id
        ),
        balances=_landing(
            STATEMENT_BALANCES.polars_schema(),
            [(t, s, p) for (t, s), p in balance_rows.items()],
            company_id,
            extracted_at,
            sync_id,
        ),
    )


def _landing(
    schema: pl.Schema,
    rows: list[tuple[str, str, str]],
    company_id: str,
    extracted_at: dt.datetime,
    sync_id: str,
) -> pl.DataFrame:
    n = len(rows)
    return pl.DataFrame(
        {
            "company_id": [company_id] * n,
            "tenant_id": [r[0] for r in rows],
            "source_id": [r[1] for r in rows],
            "source_updated_at": [None] * n,  # a file gives no per-record change instant
            "payload": [r[2] for r in rows],
            "deleted": [False] * n,
            "extracted_at": [extracted_at] * n,
            "sync_id": [sync_id] * n,
        },
        schema=schema,
    )


def _date(name: str) -> pl.Expr:
    return pl.col(name).str.to_date("%Y-%m-%d", strict=True)


def _one_copy_per_movement(decoded: pl.DataFrame) -> pl.DataFrame:
    """``decoded`` landed lines with the copies that other files of another id scheme added
    left out (an OFX export keyed by FITID and a CSV export keyed by hash of one month).

    Lines of one account alike in (status, booked date, amount, currency) are one group;
    the group keeps as many lines as the most any one file printed (the maximum over files,
    not the sum): a file's own count is in its lines' payload (``alike_in_file``; for rows
    landed before that was written, the rows landed from that file are counted). Landing
    keeps one row per key, with the payload of the last file that carried it, so a file's
    rows may carry several files' names; for content-hash and ``ref:`` keys the occurrence
    numbering makes ``alike_in_file`` of the last carrier at least as large, and
    bank-unique ids of one format (distinct ids are distinct movements by the format's
    guarantee) are also counted across files. The lines kept are those with a bank-unique
    id first, then bank references, then content hashes; within that, the first of each
    file by ``source_id`` (occurrence 1 of every file, then 2, ...)."""
    sid = pl.col("source_id")
    kind = (
        pl.when(sid.str.starts_with(HASH_PREFIX))
        .then(2)
        .when(sid.str.starts_with(REF_PREFIX))
        .then(1)
        .otherwise(0)
    )
    per_file = [*_ALIKE, "_file"]
    per_id_scheme = [*_ALIKE, "_format"]
    ranked = decoded.with_row_index("_row").with_columns(
        kind.alias("_kind"),
        pl.col("file_sha256").fill_null("").alias("_file"),
        pl.col("format").fill_null("").alias("_format"),
    )
    ranked = ranked.with_columns(
        sid.rank("ordinal").over(per_file).alias("_occurrence"),
        pl.max_horizontal(
            pl.col("alike_in_file").fill_null(0),
            pl.len().over(per_file).cast(pl.Int64),
            (pl.col("_kind") == 0).sum().over(per_id_scheme).cast(pl.Int64),
        )
        .max()
        .over(_ALIKE)
        .alias("_keep"),
    )
    kept = ranked.sort([*_ALIKE, "_kind", "_occurrence", "_file", "source_id"]).filter(
        pl.int_range(pl.len()).over(_ALIKE) < pl.col("_keep")
    )
    return kept.sort("_row").drop("_row", "_kind", "_file", "_format", "_occurrence", "_keep")


def to_bank_lines(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Landed ``raw.statement_lines`` rows (``frames["lines"]``) as SOURCE_LINE_SCHEMA
    frames: ``bank_account_id`` is the file's account identification (``tenant_id``).
    camt domain codes (``PMNT/RCDT/ESCT``) are written ISO-style (``PMNT-RCDT-ESCT``) as the
    API sources write them.

    The same movement landed from two files whose keys differ (two exports of one account
    in two formats) is returned once: see :func:`_one_copy_per_movement`. The canonical
    merge collapses duplicates only across sources, so this is the statement source's job."""
    rows = frames.get("lines")
    if rows is None or rows.is_empty():
        return empty_lines()
    decoded = _one_copy_per_movement(
        rows.with_columns(pl.col("payload").str.json_decode(LINE_PAYLOAD)).unnest("payload")
    )
    code = pl.col("bank_transaction_code")
    out = decoded.select(
        "company_id",
        pl.col("tenant_id").alias("bank_account_id"),
        pl.lit(SOURCE).alias("source"),
        "source_id",
        _date("booked_date").alias("booked_date"),
        _date("value_date").alias("value_date"),
        "amount",
        "currency",
        "status",
        pl.col("description").fill_null(""),
        "counterparty_name",
        "counterparty_account",
        "reference",
        pl.when(code.str.contains(_ISO_CODE))
        .then(code.str.replace_all("/", "-", literal=True))
        .otherwise(code)
        .alias("bank_transaction_code"),
        "running_balance",
        pl.lit(None, dtype=pl.String).alias("pending_source_id"),
        "deleted",
        "extracted_at",
    )
    return conform(out, SOURCE_LINE_SCHEMA, "statement lines")


def closing_balances(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Every closing balance the landed files printed: ``tenant_id`` (the file's account
    identification), ``date``, ``balance`` (minor units), for balance continuity checks."""
    balances = frames.get("balances")
    schema = {"tenant_id": pl.String(), "date": pl.Date(), "balance": pl.Int64()}
    if balances is None or balances.is_empty():
        return pl.DataFrame(schema=schema)
    decoded = balances.with_columns(pl.col("payload").str.json_decode(BALANCE_PAYLOAD)).unnest(
        "payload"
    )
    return (
        decoded.filter((pl.col("kind") == "closing") & pl.col("date").is_not_null())
        .select("tenant_id", _date("date").alias("date"), pl.col("amount").alias("balance"))
        .unique(maintain_order=True)
        .cast(schema)  # type: ignore[arg-type]
    )


def to_bank_accounts(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One SOURCE_ACCOUNT_SCHEMA row per account seen in statement files (lines or
    balances): ``iban`` when the identification is an IBAN, else ``account_number``;
    ``reported_balance`` is the latest closing balance any file gave (by date)."""
    keys = ["company_id", "tenant_id"]
    parts: list[pl.DataFrame] = []
    lines = frames.get("lines")
    if lines is not None and not lines.is_empty():
        parts.append(
            lines.select(
                *keys,
                pl.col("payload")
                .str.json_decode(pl.Struct({"currency": pl.String()}))
                .struct.field("currency")
                .alias("currency"),
            )
        )
    balances = frames.get("balances")
    closing = None
    if balances is not None and not balances.is_empty():
        decoded = balances.with_columns(pl.col("payload").str.json_decode(BALANCE_PAYLOAD)).unnest(
            "payload"
        )
        parts.append(decoded.select(*keys, "currency"))
        closing = (
            decoded.filter(pl.col("kind") == "closing")
            .with_columns(_date("date").alias("date"))
            .sort([*keys, "date", "extracted_at", "source_id"], nulls_last=False)
            .group_by(keys, maintain_order=True)
            .agg(
                pl.col("amount").last().alias("reported_balance"),
                pl.col("date").last().alias("reported_balance_date"),
                pl.col("currency").last().alias("balance_currency"),
            )
        )
    if not parts:
        return empty_accounts()
    accounts = (
        pl.concat(parts)
        .group_by(keys)
        .agg(pl.col("currency").drop_nulls().mode().sort().first().alias("currency"))
    )
    if closing is not None:
        accounts = accounts.join(closing, on=keys, how="left").with_columns(
            pl.coalesce("balance_currency", "currency").alias("currency")
        )
    else:
        accounts = accounts.with_columns(
            pl.lit(None, dtype=pl.Int64).alias("reported_balance"),
            pl.lit(None, dtype=pl.Date).alias("reported_balance_date"),
        )
    normalised = pl.col("tenant_id").str.replace_all(r"\s", "").str.to_uppercase()
    is_iban = normalised.str.contains(_IBAN)
    out = accounts.sort(keys).select(
        "company_id",
        pl.col("tenant_id").alias("bank_account_id"),
        pl.lit(SOURCE).alias("source"),
        pl.lit(None, dtype=pl.String).alias("institution_name"),
        pl.lit(None, dtype=pl.String).alias("account_name"),
        pl.lit(None, dtype=pl.String).alias("account_type"),
        pl.when(is_iban).then(normalised).alias("iban"),
        pl.when(~is_iban).then(pl.col("tenant_id")).alias("account_number"),
        "currency",
        "reported_balance",
        "reported_balance_date",
    )
    return conform(out, SOURCE_ACCOUNT_SCHEMA, "statement accounts")
