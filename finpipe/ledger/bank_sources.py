"""The contract between bank connectors and the canonical bank tables.

Every bank source (Open Banking, Berlin Group, the aggregator, statement files) turns its
landed raw rows into frames of exactly these schemas (its ``to_bank_lines`` /
``to_bank_accounts`` functions); :mod:`finpipe.ledger.bank_lines` then merges the sources
into ``ledger.bank_lines`` / ``ledger.bank_accounts``. No Dagster here.

Conventions every source follows:

* ``amount``: signed integer minor units of ``currency``, **money in positive** (Plaid's
  positive-is-money-out and OBIE's unsigned amount + ``CreditDebitIndicator`` are converted);
* ``status``: ``booked`` or ``pending``; ``pending_source_id`` on a booked line names the
  pending line it replaces when the source says so (aggregator ``pending_transaction_id``);
* ``deleted``: the raw row's soft-delete flag (aggregator ``removed``, a pending line that a
  later pull no longer returned); deleted lines never reach the canonical table;
* ``bank_account_id``: the account's id at its source; statement files use the file's
  account identification (IBAN or account number), and the merge maps it onto an API
  account with the same IBAN / number when there is one.
"""

from __future__ import annotations

import polars as pl

SOURCES: tuple[str, ...] = ("openbanking", "berlingroup", "aggregator", "statement")

SOURCE_LINE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String(),
        "bank_account_id": pl.String(),
        "source": pl.String(),
        "source_id": pl.String(),
        "booked_date": pl.Date(),
        "value_date": pl.Date(),
        "amount": pl.Int64(),
        "currency": pl.String(),
        "status": pl.String(),
        "description": pl.String(),
        "counterparty_name": pl.String(),
        "counterparty_account": pl.String(),
        "reference": pl.String(),
        "bank_transaction_code": pl.String(),
        "running_balance": pl.Int64(),
        "pending_source_id": pl.String(),
        "deleted": pl.Boolean(),
        "extracted_at": pl.Datetime("us", "UTC"),
    }
)

SOURCE_ACCOUNT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String(),
        "bank_account_id": pl.String(),
        "source": pl.String(),
        "institution_name": pl.String(),
        "account_name": pl.String(),
        "account_type": pl.String(),
        "iban": pl.String(),
        "account_number": pl.String(),
        "currency": pl.String(),
        "reported_balance": pl.Int64(),
        "reported_balance_date": pl.Date(),
    }
)


class BankSourceError(ValueError):
    """A source frame does not follow the contract (named columns, wrong types)."""


def conform(frame: pl.DataFrame, schema: pl.Schema, what: str) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in order and cast; missing or extra
    columns are an error naming ``what`` (a connector bug, not bad input)."""
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        raise BankSourceError(f"{what}: missing columns {missing}, unexpected columns {extra}")
    return frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])


def empty_lines() -> pl.DataFrame:
    return pl.DataFrame(schema=SOURCE_LINE_SCHEMA)


def empty_accounts() -> pl.DataFrame:
    return pl.DataFrame(schema=SOURCE_ACCOUNT_SCHEMA)
