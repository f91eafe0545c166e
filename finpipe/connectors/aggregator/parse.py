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
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    BankSourceError,
    conform,
    empty_accounts,
    empty_lines,
)


class AggregatorRecordError(BankSourceError):
    """A landed aggregator record cannot be read into the canonical frame."""


def minor_units(value: Any, currency: str, *, record: str, field_name: str) -> int:
    """A JSON number (Decimal or int, never float) as integer minor units of ``currency``."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise AggregatorRecordError(
            f"{record}: {field_name} is {value!r}, not a number; re-sync the record"
        )
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise AggregatorRecordError(
            f"{record}: {field_name} {value!r} is not a number; re-sync the record"
        ) from None
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise AggregatorRecordError(
            f"{record}: {field_name} {value} has more decimals than {currency} allows; the "
            "provider sent an amount finpipe cannot book exactly"
        )
    return int(scaled)


def _date(value: Any, *, record: str, field_name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise AggregatorRecordError(
            f"{record}: {field_name} {value!r} is not a YYYY-MM-DD date"
        ) from None


def masked_number(mask: Any) -> str | None:
    """``****<mask>`` for Plaid's ``mask`` (the last digits of the account number), or None
    when the account has no mask."""
    text = str(mask).strip() if mask is not None else ""
    return f"****{text}" if text else None


def _rows(frames: dict[str, pl.DataFrame], entity: str) -> list[dict[str, Any]]:
    frame = frames.get(entity)
    return [] if frame is None else frame.to_dicts()


def to_bank_lines(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Canonical source lines of the landed ``transactions`` rows (one company or more)."""
    rows = _rows(frames, "transactions")
    if not rows:
        return empty_lines()
    out: dict[str, list[Any]] = {name: [] for name in SOURCE_LINE_SCHEMA}
    problems: list[str] = []
    for row in rows:
        record = f"aggregator transaction {row['source_id']} (company {row['company_id']})"
        try:
            payload = payloads.loads(row["payload"])
            currency = str(
                payload.get("iso_currency_code") or payload.get("unofficial_currency_code") or ""
            )
            if not currency:
                raise AggregatorRecordError(f"{record}: iso_currency_code is missing")
            # Plaid: positive = money out; canonical: money in positive.
            amount = -minor_units(
                payload.get("amount"), currency, record=record, field_name="amount"
            )
            booked = _date(payload.get("date"), record=record, field_name="date")
            if booked is None:
                raise AggregatorRecordError(f"{record}: date is missing")
            authorized = _date(
                payload.get("authorized_date"), record=record, field_name="authorized_date"
            )
        except (AggregatorRecordError, ValueError, AttributeError) as exc:
            problems.append(str(exc))
            continue
        meta = payload.get("payment_meta") or {}
        counterparties = [c for c in payload.get("counterparties") or [] if isinstance(c, dict)]
        counterparty = (counterparties[0].get("name") if counterparties else None) or payload.get(
            "merchant_name"
        )
        reference = meta.get("reference_number") or payload.get("check_number")
        out["company_id"].append(row["company_id"])
        out["bank_account_id"].append(str(payload.get("account_id") or row["tenant_id"]))
        out["source"].append(PROVIDER)
        out["source_id"].append(row["source_id"])
        out["booked_date"].append(booked)
        out["value_date"].append(authorized or booked)
        out["amount"].append(amount)
        out["currency"].append(currency)
        out["status"].append("pending" if payload.get("pending") else "booked")
        out["description"].append(payload.get("name") or payload.get("original_description"))
        out["counterparty_name"].append(counterparty)
        out["counterparty_account"].append(None)
        out["reference"].append(str(reference) if reference else None)
        out["bank_transaction_code"].append(None)  # Plaid does not expose the bank's code
        out["running_balance"].append(None)
        out["pending_source_id"].append(payload.get("pending_transaction_id"))
        out["deleted"].append(bool(row["deleted"]))
        out["extracted_at"].append(row["extracted_at"])
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise AggregatorRecordError("; ".join(problems[:5]) + more)
    return conform(
        pl.DataFrame(out, schema=SOURCE_LINE_SCHEMA), SOURCE_LINE_SCHEMA, "aggregator lines"
    )


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
