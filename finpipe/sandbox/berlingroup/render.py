"""World bank rows -> NextGenPSD2 AIS JSON (accounts, balances, transactions).

Mapping choices (the world has one narration and one reference per line; NextGenPSD2 has
several fields for them):

* ``transactionId`` is the world ``line_id``; booked lines also carry it as
  ``entryReference``;
* the world ``reference`` goes to ``endToEndId`` (to ``checkId`` for cheques), the
  narration to ``remittanceInformationUnstructured``;
* the counterparty is the **creditor** of money going out and the **debtor** of money
  coming in (``creditorAccount``/``debtorAccount`` by ``iban``, else ``bban``);
* pending lines carry ``valueDate`` but no ``bookingDate`` (as in the spec's examples), no
  ``entryReference`` and no ``balanceAfterTransaction``;
* card accounts are served under ``/v1/accounts`` with a ``maskedPan`` reference and
  ``cashAccountType: CARD`` (a real ASPSP serves them under ``/v1/card-accounts``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import polars as pl

from finpipe.connectors.berlingroup.money import format_amount

IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$")

CASH_ACCOUNT_TYPES = {"checking": "CACC", "savings": "SVGS", "credit_card": "CARD"}
PRODUCTS = {"checking": "Current Account", "savings": "Savings Account", "credit_card": "Card"}


def amount(minor: int, currency: str) -> dict[str, str]:
    return {"currency": currency, "amount": format_amount(minor, currency)}


def account_reference(account: dict[str, Any]) -> dict[str, str]:
    """How the spec names an account in consents and report headers."""
    if account.get("iban"):
        return {"iban": account["iban"]}
    if account["account_type"] == "credit_card":
        return {"maskedPan": account["account_number"]}
    return {"bban": account["account_number"]}


def synthetic_bic(account: dict[str, Any]) -> str | None:
    """A BIC-shaped code for the sandbox (4 bank letters, country, ``XX``); real ASPSPs
    report their own."""
    letters = re.sub(r"[^A-Z]", "", str(account["institution_name"]).upper())
    country = (account.get("iban") or "")[:2]
    if len(letters) < 4 or not country:
        return None
    return f"{letters[:4]}{country}XX"


def render_account(
    account: dict[str, Any], owner: str, services: set[str], balances: list | None = None
) -> dict[str, Any]:
    resource_id = account["bank_account_id"]
    body: dict[str, Any] = {"resourceId": resource_id}
    body.update(account_reference(account))
    body["currency"] = account["currency"]
    body["ownerName"] = owner
    body["name"] = account["account_name"]
    body["product"] = PRODUCTS.get(account["account_type"], account["account_type"])
    body["cashAccountType"] = CASH_ACCOUNT_TYPES.get(account["account_type"], "CACC")
    body["status"] = "enabled"
    bic = synthetic_bic(account)
    if bic:
        body["bic"] = bic
    if balances is not None:
        body["balances"] = balances
    links: dict[str, Any] = {}
    if "balances" in services:
        links["balances"] = {"href": f"/v1/accounts/{resource_id}/balances"}
    if "transactions" in services:
        links["transactions"] = {"href": f"/v1/accounts/{resource_id}/transactions"}
    body["_links"] = links
    return body


def render_balances(
    account: dict[str, Any], lines: pl.DataFrame, today: dt.date
) -> list[dict[str, Any]]:
    """closingBooked (end of yesterday), interimAvailable (booked now, less pending debits)
    and expected (booked now plus everything pending)."""
    currency = account["currency"]
    opening = int(account["opening_balance"])
    booked = lines.filter(pl.col("status") == "booked")
    pending = lines.filter(pl.col("status") == "pending")
    yesterday = today - dt.timedelta(days=1)
    closing = opening + int(booked.filter(pl.col("booked_date") <= yesterday)["amount"].sum())
    booked_now = opening + int(booked["amount"].sum())
    debits = int(pending.filter(pl.col("amount") < 0)["amount"].sum())
    expected = booked_now + int(pending["amount"].sum())
    # The instant of the last line that moved a balance: stable between calls.
    last = lines["created_at"].max() if lines.height else None
    changed = (
        last.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if isinstance(last, dt.datetime)
        else None
    )
    out: list[dict[str, Any]] = [
        {
            "balanceType": "closingBooked",
            "balanceAmount": amount(closing, currency),
            "referenceDate": yesterday.isoformat(),
        },
        {
            "balanceType": "interimAvailable",
            "balanceAmount": amount(booked_now + debits, currency),
            "referenceDate": today.isoformat(),
        },
        {"balanceType": "expected", "balanceAmount": amount(expected, currency)},
    ]
    if changed:
        out[1]["lastChangeDateTime"] = changed
        out[2]["lastChangeDateTime"] = changed
    return out


def _party_account(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    compact = value.replace(" ", "")
    return {"iban": compact} if IBAN.match(compact) else {"bban": value}


def render_transaction(line: dict[str, Any], account_id: str) -> dict[str, Any]:
    booked = line["status"] == "booked"
    currency = line["currency"]
    minor = int(line["amount"])
    code = line.get("bank_transaction_code")
    body: dict[str, Any] = {"transactionId": line["line_id"]}
    if booked:
        body["entryReference"] = line["line_id"]
    reference = line.get("reference")
    if reference:
        if code and "CCHQ" in code:
            body["checkId"] = reference
        else:
            body["endToEndId"] = reference
    if code and "-DD" in code and line.get("counterparty_name"):
        # Direct debits carry the creditor's mandate reference.
        digest = hashlib.sha1(str(line["counterparty_name"]).encode()).hexdigest()[:10]
        body["mandateId"] = f"MNDT-{digest.upper()}"
    if booked:
        body["bookingDate"] = line["booked_date"].isoformat()
    value_date = line.get("value_date") or line["booked_date"]
    body["valueDate"] = value_date.isoformat()
    body["transactionAmount"] = amount(minor, currency)
    side = "creditor" if minor < 0 else "debtor"
    if line.get("counterparty_name"):
        body[f"{side}Name"] = line["counterparty_name"]
    party = _party_account(line.get("counterparty_account"))
    if party:
        body[f"{side}Account"] = party
    body["remittanceInformationUnstructured"] = line["description"]
    if code:
        body["bankTransactionCode"] = code
    if booked and line.get("running_balance") is not None:
        body["balanceAfterTransaction"] = {
            "balanceType": "interimBooked",
            "balanceAmount": amount(int(line["running_balance"]), currency),
        }
    body["_links"] = {
        "transactionDetails": {"href": f"/v1/accounts/{account_id}/transactions/{line['line_id']}"}
    }
    return body
