"""OBIE payloads -> finpipe's canonical bank frames (no I/O).

Amounts arrive as unsigned decimal strings plus ``CreditDebitIndicator``; they become signed
integer minor units, money in positive (Credit +, Debit -), through :class:`~decimal.Decimal`
only. v4.0 names (``AccountCategory`` / ``AccountTypeCode``, ISO balance and consent status
codes) are read too.

A transaction record that breaks the data model does not stop the batch: :func:`parse_lines`
returns it as a :class:`~finpipe.ledger.bank_sources.Reject` (record and field named),
:func:`to_bank_lines` skips it and :func:`rejected_lines` reports it (for ``ops.quarantine``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.openbanking.codes import INSTITUTIONS, exponent, short_btc
from finpipe.ledger.bank_sources import (
    READ_ERRORS,
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    BankRecordError,
    Reject,
    conform,
    empty_accounts,
    empty_lines,
    reject,
    rejects_frame,
)

SOURCE = "openbanking"
AMOUNT = re.compile(r"^\d{1,13}$|^\d{1,13}\.\d{1,5}$")  # OBActiveCurrencyAndAmount_SimpleType

# v4.0 ISO codes -> the v3.1 names.
BALANCE_TYPES = {
    "CLAV": "ClosingAvailable",
    "CLBD": "ClosingBooked",
    "CLCL": "ClosingCleared",
    "XPCD": "Expected",
    "FWAV": "ForwardAvailable",
    "INFO": "Information",
    "ITAV": "InterimAvailable",
    "ITBD": "InterimBooked",
    "ITCL": "InterimCleared",
    "OPAV": "OpeningAvailable",
    "OPBD": "OpeningBooked",
    "OPCL": "OpeningCleared",
    "PRCD": "PreviouslyClosedBooked",
}
CONSENT_STATUSES = {
    "AWAU": "AwaitingAuthorisation",
    "AUTH": "Authorised",
    "REJT": "Rejected",
    "RVKD": "Revoked",
    "EXPD": "Expired",
}
# Which balance a bank account reports as "the" balance, best first.
BALANCE_PREFERENCE = (
    "InterimBooked",
    "ClosingBooked",
    "InterimAvailable",
    "ClosingAvailable",
    "Expected",
)
ACCOUNT_TYPES = {
    "CurrentAccount": "checking",
    "Savings": "savings",
    "CreditCard": "credit_card",
    "ChargeCard": "credit_card",
    "CACC": "checking",
    "SVGS": "savings",
    "CARD": "credit_card",
}


class OpenBankingParseError(BankRecordError):
    """A payload breaks the OBIE data model; the message names the record and the field
    (``field``: the payload path to blame, e.g. ``Amount.Amount``)."""


def minor_units(amount: Any, where: str, field: str = "Amount") -> tuple[int, str]:
    """``{"Amount": "10.00", "Currency": "GBP"}`` -> (1000, "GBP"), unsigned. ``where`` names
    the record, ``field`` the path of the amount object in it."""
    if not isinstance(amount, dict):
        raise OpenBankingParseError(f"{where}: {field} is missing or not an object", field=field)
    text, currency = amount.get("Amount"), amount.get("Currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise OpenBankingParseError(
            f"{where}: {field}.Currency {currency!r} is not an ISO 4217 code",
            field=f"{field}.Currency",
        )
    if not isinstance(text, str) or not AMOUNT.match(text):
        raise OpenBankingParseError(
            f"{where}: {field}.Amount {text!r} is not an unsigned decimal string such as '10.00'",
            field=f"{field}.Amount",
        )
    try:
        scaled = Decimal(text).scaleb(exponent(currency))
    except InvalidOperation:
        raise OpenBankingParseError(
            f"{where}: {field}.Amount {text!r} is not a number", field=f"{field}.Amount"
        ) from None
    if scaled != scaled.to_integral_value():
        raise OpenBankingParseError(
            f"{where}: {field}.Amount {text} {currency} has more decimals than {currency} has "
            "minor units",
            field=f"{field}.Amount",
        )
    return int(scaled), currency


def signed(body: dict[str, Any], where: str, field: str | None = None) -> tuple[int, str]:
    """Amount + CreditDebitIndicator -> signed minor units (Credit +, Debit -). ``field``: the
    path of ``body`` in the record (None: the record itself)."""
    prefix = f"{field}." if field else ""
    value, currency = minor_units(body.get("Amount"), where, f"{prefix}Amount")
    indicator = body.get("CreditDebitIndicator")
    if indicator not in ("Credit", "Debit"):
        raise OpenBankingParseError(
            f"{where}: {prefix}CreditDebitIndicator {indicator!r} is neither Credit nor Debit",
            field=f"{prefix}CreditDebitIndicator",
        )
    return (value if indicator == "Credit" else -value), currency


def parse_instant(text: Any, where: str, field: str | None = None) -> dt.datetime:
    """An ISO 8601 date-time (UTC when it has no offset). ``where`` names the record (or, with
    no ``field``, the record and the field)."""
    what = f"{where}: {field}" if field else where
    if not isinstance(text, str):
        raise OpenBankingParseError(f"{what}: missing date-time", field=field)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OpenBankingParseError(
            f"{what}: {text!r} is not an ISO 8601 date-time", field=field
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _day(text: Any, where: str, field: str) -> dt.date:
    # The date as the bank wrote it (its own offset), not shifted to UTC.
    return parse_instant(text, where, field).date()


def transaction_line(tx: dict[str, Any], where: str | None = None) -> dict[str, Any]:
    """One ``OBTransaction6`` as the canonical line fields (without company / flags).
    ``where`` names the record in errors (default: from its TransactionId and AccountId)."""
    tid = tx.get("TransactionId")
    if where is None:
        where = (
            f"openbanking transaction {tid or '(no TransactionId)'} of account "
            f"{tx.get('AccountId')}"
        )
    amount, currency = signed(tx, where)
    status = str(tx.get("Status", "")).lower()
    if status not in ("booked", "pending", "rejected"):
        raise OpenBankingParseError(
            f"{where}: Status {tx.get('Status')!r} is not Booked/Pending", field="Status"
        )
    balance = tx.get("Balance")
    running = signed(balance, where, "Balance")[0] if isinstance(balance, dict) else None
    outgoing = amount < 0
    party = tx.get("CreditorAccount" if outgoing else "DebtorAccount") or {}
    merchant = tx.get("MerchantDetails") or {}
    # The ISO family-subfamily when the bank gives it, else the bank's own code.
    btc = tx.get("BankTransactionCode") or {}
    proprietary = (tx.get("ProprietaryBankTransactionCode") or {}).get("Code")
    code = (
        short_btc(str(btc["Code"]), str(btc.get("SubCode", ""))) if btc.get("Code") else proprietary
    )
    value_date = tx.get("ValueDateTime")
    return {
        "bank_account_id": tx.get("AccountId"),
        "source_id": tid,
        "booked_date": _day(tx.get("BookingDateTime"), where, "BookingDateTime"),
        "value_date": _day(value_date, where, "ValueDateTime") if value_date else None,
        "amount": amount,
        "currency": currency,
        "status": status,
        "description": tx.get("TransactionInformation"),
        "counterparty_name": party.get("Name") or merchant.get("MerchantName"),
        "counterparty_account": party.get("Identification"),
        "reference": tx.get("TransactionReference"),
        "bank_transaction_code": code,
        "running_balance": running,
        "pending_source_id": None,  # OBIE does not link a booked line to its pending one
    }


def parse_transactions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An ``OBReadTransaction6`` answer -> canonical line fields, one per transaction."""
    return [transaction_line(tx) for tx in (body.get("Data") or {}).get("Transaction") or []]


def balance_record(balance: dict[str, Any]) -> dict[str, Any]:
    """One ``OBReadBalance1`` balance: type (v3.1 name), signed minor units, instant."""
    kind = str(balance.get("Type"))
    where = f"balance {kind} of account {balance.get('AccountId')}"
    amount, currency = signed(balance, where)
    return {
        "bank_account_id": balance.get("AccountId"),
        "type": BALANCE_TYPES.get(kind, kind),
        "amount": amount,
        "currency": currency,
        "at": parse_instant(balance.get("DateTime"), where, "DateTime"),
    }


def parse_balances(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``Data.Balance`` (a list; some published examples give one object) -> records."""
    found = (body.get("Data") or {}).get("Balance") or []
    return [balance_record(b) for b in (found if isinstance(found, list) else [found])]


def account_record(account: dict[str, Any]) -> dict[str, Any]:
    """One ``OBAccount6`` (or v4.0) as canonical account fields (without balances)."""
    where = f"account {account.get('AccountId')}"
    if not account.get("AccountId") or not account.get("Currency"):
        raise OpenBankingParseError(f"{where}: AccountId and Currency are mandatory")
    iban = number = None
    for ident in account.get("Account") or []:
        scheme = str(ident.get("SchemeName", ""))
        value = ident.get("Identification")
        if scheme.endswith("IBAN"):
            iban = value
        elif scheme.endswith("SortCodeAccountNumber") and value:
            number = str(value)[6:]  # 6-digit sort code + 8-digit account number
        elif scheme.endswith("PAN") and number is None:
            number = value
    servicer = account.get("Servicer") or {}
    bic = servicer.get("Identification")
    institution = servicer.get("Name") or (INSTITUTIONS.get(str(bic)[:4]) if bic else None) or bic
    sub_type = account.get("AccountSubType") or account.get("AccountTypeCode")
    return {
        "bank_account_id": account["AccountId"],
        "institution_name": institution,
        "account_name": account.get("Nickname") or account.get("Description"),
        "account_type": ACCOUNT_TYPES.get(
            str(sub_type), str(sub_type).lower() if sub_type else None
        ),
        "iban": iban,
        "account_number": number,
        "currency": account["Currency"],
    }


def parse_accounts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An ``OBReadAccount6`` answer -> canonical account fields."""
    return [account_record(a) for a in (body.get("Data") or {}).get("Account") or []]


def parse_consent(body: dict[str, Any]) -> dict[str, Any]:
    """An ``OBReadConsentResponse1`` -> id, status (v3.1 name), permissions, expiry."""
    data = body.get("Data") or {}
    if not data.get("ConsentId"):
        raise OpenBankingParseError("account-access-consent: Data.ConsentId is missing")
    expires = data.get("ExpirationDateTime")
    status = str(data.get("Status"))
    return {
        "consent_id": data["ConsentId"],
        "status": CONSENT_STATUSES.get(status, status),
        "permissions": list(data.get("Permissions") or []),
        "expires": parse_instant(expires, "Data.ExpirationDateTime") if expires else None,
        "created": parse_instant(data.get("CreationDateTime"), "Data.CreationDateTime"),
    }


# --------------------------------------------------------------- canonical frames


def parse_lines(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, list[Reject]]:
    """Landed ``transactions`` rows -> SOURCE_LINE_SCHEMA (deleted rows kept, flagged), plus
    the records that could not be read (skipped, named with the field to blame)."""
    raw = frames.get("transactions")
    if raw is None or raw.is_empty():
        return empty_lines(), []
    rows = []
    rejected: list[Reject] = []
    columns = ("company_id", "tenant_id", "source_id", "payload", "deleted", "extracted_at")
    for company_id, tenant_id, source_id, payload, deleted, extracted_at in raw.select(
        columns
    ).iter_rows():
        where = f"openbanking transaction {source_id} of account {tenant_id}"
        try:
            tx = payloads.loads(payload)
            if not isinstance(tx, dict):
                raise OpenBankingParseError(f"{where}: the payload is not a JSON object")
            line = transaction_line(tx, where)
        except READ_ERRORS as exc:
            rejected.append(reject(exc, where, tenant_id, source_id))
            continue
        line.update(
            company_id=company_id,
            source=SOURCE,
            deleted=bool(deleted) or line["status"] == "rejected",
            extracted_at=extracted_at,
        )
        rows.append(line)
    if not rows:
        return empty_lines(), rejected
    frame = pl.DataFrame(rows, schema=SOURCE_LINE_SCHEMA)
    return conform(frame, SOURCE_LINE_SCHEMA, SOURCE), rejected


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
    """Landed ``accounts`` + ``balances`` rows -> SOURCE_ACCOUNT_SCHEMA, one row per account,
    with the preferred reported balance (InterimBooked first)."""
    raw = frames.get("accounts")
    if raw is None or raw.is_empty():
        return empty_accounts()
    best: dict[str, dict[str, Any]] = {}
    balances = frames.get("balances")
    if balances is not None and not balances.is_empty():
        for payload, deleted in balances.select("payload", "deleted").iter_rows():
            if deleted:
                continue
            record = balance_record(payloads.loads(payload))
            rank = (
                BALANCE_PREFERENCE.index(record["type"])
                if record["type"] in BALANCE_PREFERENCE
                else len(BALANCE_PREFERENCE)
            )
            current = best.get(record["bank_account_id"])
            if current is None or rank < current["rank"]:
                best[record["bank_account_id"]] = {**record, "rank": rank}
    rows = []
    for company_id, payload, deleted in raw.select("company_id", "payload", "deleted").iter_rows():
        if deleted:
            continue
        account = account_record(payloads.loads(payload))
        balance = best.get(account["bank_account_id"])
        account.update(
            company_id=company_id,
            source=SOURCE,
            reported_balance=balance["amount"] if balance else None,
            reported_balance_date=balance["at"].date() if balance else None,
        )
        rows.append(account)
    return conform(pl.DataFrame(rows, schema=SOURCE_ACCOUNT_SCHEMA), SOURCE_ACCOUNT_SCHEMA, SOURCE)
