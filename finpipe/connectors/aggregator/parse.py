"""Landed aggregator rows -> the canonical bank source frames (``finpipe.ledger.bank_sources``).

* ``amount``: Plaid's is positive when money leaves the account; the canonical amount is
  money-in-positive integer minor units, so it is negated and scaled exactly (the payload
  was parsed with Decimal; a value with more decimals than the currency has is an error
  naming the transaction, never rounded).
* ``status``: ``pending`` when ``pending`` is true, else ``booked``; a posted transaction's
  ``pending_transaction_id`` becomes ``pending_source_id``.
* ``booked_date`` is Plaid's ``date`` (the day a pending transaction occurred or a posted
  one posted); ``value_date`` its ``authorized_date`` when given.
* ``reference``: ``payment_meta.reference_number``, else ``check_number``;
  ``counterparty_name``: the first counterparty, else ``merchant_name``.
* ``deleted`` is the landed soft-delete flag (``removed`` by the aggregator); the merge
  drops those rows.
* Accounts: ``reported_balance`` is ``balances.current`` in the canonical sign (a credit
  account's ``current`` is the amount owed, so it turns negative), dated the day it was
  extracted; Plaid shows only the account ``mask`` (the last digits), not the number, so
  ``account_number`` is the masked form ``****<mask>`` (the column allows a masked number):
  the merge matches it to a statement file's account whose number ends in those digits.

A transaction record that cannot be read does not stop the batch: :func:`parse_lines`
returns it as a :class:`~finpipe.ledger.bank_sources.Reject` (record and field named),
:func:`to_bank_lines` skips it and :func:`rejected_lines` reports it (for ``ops.quarantine``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.aggregator.client import PROVIDER
from finpipe.connectors.statements.model import currency_exponent
from finpipe.ledger.bank_sources import (
    READ_ERRORS,
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    BankRecordError,
    BankSourceError,
    Reject,
    conform,
    empty_accounts,
    empty_lines,
    reject,
    rejects_frame,
)


class AggregatorRecordError(BankRecordError, BankSourceError):
    """A landed aggregator record cannot be read into the canonical frame (``field``: the
    payload field to blame)."""


def minor_units(value: Any, currency: str, *, record: str, field_name: str) -> int:
    """A JSON number (Decimal or int, never float) as integer minor units of ``currency``."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise AggregatorRecordError(
            f"{record}: {field_name} is {value!r}, not a number; re-sync the record",
            field=field_name,
        )
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise AggregatorRecordError(
            f"{record}: {field_name} {value!r} is not a number; re-sync the record",
            field=field_name,
        ) from None
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise AggregatorRecordError(
            f"{record}: {field_name} {value} has more decimals than {currency} allows; the "
            "provider sent an amount finpipe cannot book exactly",
            field=field_name,
        )
    return int(scaled)


def _date(value: Any, *, record: str, field_name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise AggregatorRecordError(
            f"{record}: {field_name} {value!r} is not a YYYY-MM-DD date", field=field_name
        ) from None


def masked_number(mask: Any) -> str | None:
    """``****<mask>`` for Plaid's ``mask`` (the last digits of the account number), or None
    when the account has no mask."""
    text = str(mask).strip() if mask is not None else ""
    return f"****{text}" if text else None


def _rows(frames: dict[str, pl.DataFrame], entity: str) -> list[dict[str, Any]]:
    frame = frames.get(entity)
    return [] if frame is None else frame.to_dicts()


def transaction_line(payload: Any, row: dict[str, Any], record: str) -> dict[str, Any]:
    """One landed transaction (``row``, its decoded ``payload``) as a canonical line;
    :class:`AggregatorRecordError` naming ``record`` and the field when it cannot be read."""
    if not isinstance(payload, dict):
        raise AggregatorRecordError(f"{record}: the payload is not a JSON object")
    currency = str(
        payload.get("iso_currency_code") or payload.get("unofficial_currency_code") or ""
    )
    if not currency:
        raise AggregatorRecordError(
            f"{record}: iso_currency_code is missing (and no unofficial_currency_code)",
            field="iso_currency_code",
        )
    # Plaid: positive = money out; canonical: money in positive.
    amount = -minor_units(payload.get("amount"), currency, record=record, field_name="amount")
    booked = _date(payload.get("date"), record=record, field_name="date")
    if booked is None:
        raise AggregatorRecordError(f"{record}: date is missing", field="date")
    authorized = _date(payload.get("authorized_date"), record=record, field_name="authorized_date")
    meta = payload.get("payment_meta") or {}
    counterparties = [c for c in payload.get("counterparties") or [] if isinstance(c, dict)]
    counterparty = (counterparties[0].get("name") if counterparties else None) or payload.get(
        "merchant_name"
    )
    reference = meta.get("reference_number") or payload.get("check_number")
    return {
        "company_id": row["company_id"],
        "bank_account_id": str(payload.get("account_id") or row["tenant_id"]),
        "source": PROVIDER,
        "source_id": row["source_id"],
        "booked_date": booked,
        "value_date": authorized or booked,
        "amount": amount,
        "currency": currency,
        "status": "pending" if payload.get("pending") else "booked",
        "description": payload.get("name") or payload.get("original_description"),
        "counterparty_name": counterparty,
        "counterparty_account": None,
        "reference": str(reference) if reference else None,
        "bank_transaction_code": None,  # Plaid does not expose the bank's code
        "running_balance": None,
        "pending_source_id": payload.get("pending_transaction_id"),
        "deleted": bool(row["deleted"]),
        "extracted_at": row["extracted_at"],
    }


def parse_lines(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, list[Reject]]:
    """Canonical source lines of the landed ``transactions`` rows (one company or more), plus
    the records that could not be read (skipped, named with the field to blame)."""
    lines: list[dict[str, Any]] = []
    rejected: list[Reject] = []
    for row in _rows(frames, "transactions"):
        record = f"aggregator transaction {row['source_id']} of account {row['tenant_id']}"
        try:
            lines.append(transaction_line(payloads.loads(row["payload"]), row, record))
        except READ_ERRORS as exc:
            rejected.append(reject(exc, record, row["tenant_id"], row["source_id"]))
    if not lines:
        return empty_lines(), rejected
    frame = pl.DataFrame(lines, schema=SOURCE_LINE_SCHEMA)
    return conform(frame, SOURCE_LINE_SCHEMA, "aggregator lines"), rejected


def read_lines(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical source lines of the landed ``transactions`` rows, and the records skipped
    as unreadable (REJECT_SCHEMA, for ``ops.quarantine``): one parse for both."""
    lines, rejected = parse_lines(frames)
    return lines, rejects_frame(rejected)


def to_bank_lines(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The lines of :func:`read_lines` (unreadable records skipped)."""
    return read_lines(frames)[0]


def rejected_lines(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The records :func:`read_lines` skipped (REJECT_SCHEMA)."""
    return read_lines(frames)[1]


def to_bank_accounts(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Canonical source accounts of the landed ``accounts`` rows (deleted ones left out)."""
    rows = [r for r in _rows(frames, "accounts") if not r["deleted"]]
    if not rows:
        return empty_accounts()
    out: dict[str, list[Any]] = {name: [] for name in SOURCE_ACCOUNT_SCHEMA}
    for row in rows:
        record = f"aggregator account {row['source_id']} (company {row['company_id']})"
        payload = payloads.loads(row["payload"])
        balances = payload.get("balances") or {}
        currency = str(
            balances.get("iso_currency_code") or balances.get("unofficial_currency_code") or ""
        )
        current = balances.get("current")
        reported = (
            minor_units(current, currency, record=record, field_name="balances.current")
            if current is not None and currency
            else None
        )
        if reported is not None and payload.get("type") in ("credit", "loan"):
            reported = -reported  # Plaid: amount owed, positive
        subtype = payload.get("subtype")
        out["company_id"].append(row["company_id"])
        out["bank_account_id"].append(row["source_id"])
        out["source"].append(PROVIDER)
        out["institution_name"].append(None)  # on the Item, not the account (see report)
        out["account_name"].append(payload.get("name") or payload.get("official_name"))
        out["account_type"].append("credit_card" if subtype == "credit card" else subtype)
        out["iban"].append(None)
        out["account_number"].append(masked_number(payload.get("mask")))
        out["currency"].append(currency or None)
        out["reported_balance"].append(reported)
        extracted = row["extracted_at"]
        out["reported_balance_date"].append(extracted.date() if extracted is not None else None)
    return conform(
        pl.DataFrame(out, schema=SOURCE_ACCOUNT_SCHEMA),
        SOURCE_ACCOUNT_SCHEMA,
        "aggregator accounts",
    )
