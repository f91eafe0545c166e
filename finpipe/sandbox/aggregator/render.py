"""World bank accounts and lines as Plaid shows them (``AccountBase`` and ``Transaction``).

Conventions (Plaid's, https://plaid.com/docs/api/products/transactions/):

* ``amount`` is positive when money moves **out** of the account (the world's lines are
  money-in-positive, so the sign flips), a JSON number with the currency's decimals;
* ``date`` is the day a pending transaction occurred or a posted one posted;
  ``authorized_date`` the day it was initiated (the world's value date);
* a posted transaction that replaces a pending one names it in ``pending_transaction_id``;
* ``payment_meta.reference_number`` carries the bank's reference, except for checks, whose
  number is ``check_number``;
* credit accounts report ``current`` as the amount owed (positive), depository accounts
  their booked balance; ``available`` adds pending movements.

Cursors of ``/transactions/sync`` are opaque to clients: URL-safe base64 of a small JSON
object with the position in :meth:`BankView.history`, the item they belong to and, for a
cursor handed out while ``has_more`` was true, how many events the history held when that
pagination began (so the next page can tell the data moved underneath it).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finpipe.connectors.statements.model import currency_exponent


def money(minor: int, currency: str) -> Decimal:
    """Integer minor units as a Decimal with the currency's decimals (``-2679`` -> ``-26.79``)."""
    exponent = currency_exponent(currency)
    return (Decimal(minor).scaleb(-exponent)).quantize(Decimal(1).scaleb(-exponent))


def iso_instant(value: dt.datetime | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` of an instant (None stays None)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mask(account: dict[str, Any]) -> str | None:
    number = account.get("account_number") or account.get("iban")
    return str(number)[-4:] if number else None


def account_type(world_type: str) -> tuple[str, str]:
    """(type, subtype) of a world account type."""
    if world_type == "credit_card":
        return "credit", "credit card"
    if world_type == "savings":
        return "depository", "savings"
    return "depository", "checking"


def render_account(account: dict[str, Any], booked: int, pending: int) -> dict[str, Any]:
    """``AccountBase`` of a world bank account; ``booked`` is its booked balance and
    ``pending`` the sum of its pending lines (world sign: money in positive)."""
    kind, subtype = account_type(str(account["account_type"]))
    currency = str(account["currency"])
    if kind == "credit":
        # Plaid: current = amount owed; no credit limit in the world, so available is unknown.
        current, available = money(-booked, currency), None
    else:
        current, available = money(booked, currency), money(booked + pending, currency)
    return {
        "account_id": account["bank_account_id"],
        "balances": {
            "available": available,
            "current": current,
            "limit": None,
            "iso_currency_code": currency,
            "unofficial_currency_code": None,
            "last_updated_datetime": None,
        },
        "mask": _mask(account),
        "name": account["account_name"],
        "official_name": f"{account['institution_name']} {account['account_name']}",
        "type": kind,
        "subtype": subtype,
        "holder_category": "business",
    }


def _channel(code: str) -> str:
    if "-CCRD-" in code:
        return "in store" if code.endswith("POSD") else "online"
    return "other"


def _category(code: str, amount: int) -> dict[str, str]:
    if "-FEES" in code or "-CHRG-" in code:
        primary, detailed = "BANK_FEES", "BANK_FEES_OTHER_BANK_FEES"
    elif "-INTR" in code and amount > 0:
        primary, detailed = "INCOME", "INCOME_INTEREST_EARNED"
    elif amount > 0:
        primary, detailed = "TRANSFER_IN", "TRANSFER_IN_DEPOSIT"
    elif "-CCRD-" in code:
        primary, detailed = "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE"
    elif "LDAS-" in code:
        primary, detailed = "LOAN_PAYMENTS", "LOAN_PAYMENTS_OTHER_PAYMENT"
    else:
        primary, detailed = "TRANSFER_OUT", "TRANSFER_OUT_OTHER_TRANSFER_OUT"
    return {"primary": primary, "detailed": detailed, "confidence_level": "MEDIUM"}


def _payment_method(code: str, description: str) -> str | None:
    if description.upper().startswith("WIRE") or code.endswith("XBCT"):
        return "Wire"
    if "-IDDT-" in code or "-DMCT" in code or "ACH" in description.upper():
        return "ACH"
    return None


def render_transaction(line: dict[str, Any]) -> dict[str, Any]:
    """``Transaction`` of a world bank line (a row of :meth:`BankView.lines`)."""
    code = str(line.get("bank_transaction_code") or "")
    description = str(line.get("description") or "")
    amount = int(line["amount"])
    currency = str(line["currency"])
    pending = line["status"] == "pending"
    counterparty = line.get("counterparty_name")
    is_check = "-ICHQ-" in code or "-RCHQ-" in code
    reference = line.get("reference")
    card = "-CCRD-" in code
    money_in = amount > 0
    counterparties = (
        [
            {
                "name": counterparty,
                "type": "income_source" if money_in else "merchant",
                "website": None,
                "logo_url": None,
                "entity_id": None,
                "confidence_level": "HIGH",
                "phone_number": None,
            }
        ]
        if counterparty
        else []
    )
    return {
        "account_id": line["bank_account_id"],
        "account_owner": None,
        # Plaid: positive = money out.
        "amount": money(-amount, currency),
        "iso_currency_code": currency,
        "unofficial_currency_code": None,
        "check_number": reference if is_check and reference else None,
        "counterparties": counterparties,
        "date": line["booked_date"].isoformat(),
        "datetime": None if pending else iso_instant(line.get("created_at")),
        "authorized_date": (line.get("value_date") or line["booked_date"]).isoformat(),
        "authorized_datetime": None,
        "location": {
            "address": None,
            "city": None,
            "region": None,
            "postal_code": None,
            "country": None,
            "lat": None,
            "lon": None,
            "store_number": None,
        },
        "logo_url": None,
        "merchant_entity_id": None,
        "merchant_name": counterparty if card else None,
        "name": description,
        "payment_channel": _channel(code),
        "payment_meta": {
            "by_order_of": None,
            "payee": None if money_in else counterparty,
            "payer": counterparty if money_in else None,
            "payment_method": _payment_method(code, description),
            "payment_processor": None,
            "ppd_id": None,
            "reason": None,
            "reference_number": None if is_check else reference,
        },
        "pending": pending,
        "pending_transaction_id": line.get("pending_line_id"),
        "personal_finance_category": _category(code, amount),
        "transaction_code": None,
        "transaction_id": line["line_id"],
        "website": None,
    }


# ---------------------------------------------------------------------------- cursors


class CursorError(ValueError):
    """A cursor the sandbox did not hand out (or not for this item)."""


@dataclass(frozen=True)
class Cursor:
    """A position in an item's history; ``snapshot`` is set while a pagination is running."""

    position: int
    item: str
    snapshot: int | None = None

    def encode(self) -> str:
        """The opaque text handed to clients."""
        raw = {"p": self.position, "i": self.item[:12], "s": self.snapshot}
        return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, text: str, item_id: str) -> Cursor:
        """The cursor of ``text``; :class:`CursorError` when it is not one of ``item_id``'s."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(text.encode()))
            cursor = cls(int(raw["p"]), str(raw["i"]), raw.get("s"))
        except (ValueError, KeyError, TypeError):
            raise CursorError("cursor is not a cursor this API returned") from None
        if cursor.item != item_id[:12] or cursor.position < 0:
            raise CursorError("cursor belongs to another item")
        return cursor
