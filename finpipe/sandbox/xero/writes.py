"""Creating and updating records the way Xero does (rules listed in :mod:`.store`).

Used by the HTTP write endpoints (``PUT``/``POST`` Invoices, Contacts, BankTransactions)
and by the sandbox's mutation API for tests.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from finpipe.connectors.xero.endpoints import ENDPOINTS
from finpipe.connectors.xero.parse import parse_date
from finpipe.sandbox.xero.store import (
    TenantStore,
    WriteRejected,
    date_fields,
    money,
    ms_date,
    to_ms,
)

ZERO = Decimal("0.00")
RATE_ONE = Decimal("1.000000")
# Endpoints whose records carry UpdatedDateUTCString (Xero added it in 2026).
WITH_UPDATED_STRING = frozenset(
    {"Invoices", "CreditNotes", "Payments", "Prepayments", "Overpayments"}
)
INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
BANK_TX_STATUSES = ("AUTHORISED", "DELETED")


def contact_ref(contact: dict[str, Any]) -> dict[str, Any]:
    """How documents embed their contact."""
    return {
        "ContactID": contact["ContactID"],
        "Name": contact["Name"],
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }


def stamp(store: TenantStore, endpoint: str, record: dict[str, Any]) -> None:
    """Give ``record`` a fresh UpdatedDateUTC from the sandbox clock."""
    instant = store.clock.stamp()
    record["UpdatedDateUTC"] = ms_date(instant)
    if endpoint in WITH_UPDATED_STRING:
        record["UpdatedDateUTCString"] = instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: Any, field: str) -> Any:
    try:
        parsed = parse_date(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise WriteRejected(400, [f"{field} must be a date (YYYY-MM-DD or /Date(ms)/)"])
    return parsed.date()


def _contact(store: TenantStore, given: Any) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise WriteRejected(400, ["A Contact must be specified for this type of transaction"])
    contacts = store.records.get("Contacts", {})
    if given.get("ContactID"):
        found = contacts.get(str(given["ContactID"]))
        if found is None:
            raise WriteRejected(400, [f"Contact with ContactID {given['ContactID']} not found"])
        return found
    name = given.get("Name")
    for contact in contacts.values():
        if name and contact["Name"] == name and contact.get("ContactStatus") == "ACTIVE":
            return contact
    if isinstance(name, str) and name.strip():
        # As Xero does: a document naming a contact that does not exist creates it.
        created = build_contact(store, {"Name": name}, None)
        stamp(store, "Contacts", created)
        store.put("Contacts", created)
        return created
    raise WriteRejected(400, ["A Contact must be specified for this type of transaction"])


def _account_by_code(store: TenantStore, code: Any) -> dict[str, Any] | None:
    for account in store.records.get("Accounts", {}).values():
        if account.get("Code") == code:
            return account
    return None


def _lines(store: TenantStore, given: Any) -> tuple[list[dict[str, Any]], Decimal, Decimal]:
    """Line items completed as Xero returns them, with the subtotal and tax."""
    if not isinstance(given, list) or not given:
        raise WriteRejected(400, ["At least one line item is required"])
    lines: list[dict[str, Any]] = []
    subtotal = tax = ZERO
    for n, line in enumerate(given, 1):
        if not isinstance(line, dict):
            raise WriteRejected(400, [f"Line item {n} must be an object"])
        quantity = Decimal(str(line.get("Quantity", "1")))
        unit = money(line.get("UnitAmount", line.get("LineAmount", "0")))
        amount = money(line["LineAmount"]) if "LineAmount" in line else money(quantity * unit)
        line_tax = money(line.get("TaxAmount", "0"))
        code = line.get("AccountCode")
        if code is not None and _account_by_code(store, code) is None:
            raise WriteRejected(
                400, [f"Account code '{code}' is not a valid code for this document."]
            )
        completed = {
            "Description": line.get("Description", ""),
            "UnitAmount": unit,
            "TaxType": line.get("TaxType", "NONE"),
            "TaxAmount": line_tax,
            "LineAmount": amount,
            "AccountCode": code,
            "Tracking": [],
            "Quantity": quantity,
            "LineItemID": line.get("LineItemID") or str(uuid.uuid4()),
        }
        if line.get("ItemCode"):
            completed["ItemCode"] = line["ItemCode"]
        lines.append(completed)
        subtotal += amount
        tax += line_tax
    return lines, subtotal, tax


def _base_currency(store: TenantStore) -> str:
    organisations = store.records.get("Organisation", {})
    for organisation in organisations.values():
        return str(organisation["BaseCurrency"])
    return "USD"


# ------------------------------------------------------------------------------ invoices


def build_invoice(
    store: TenantStore, data: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """An invoice (or bill) from ``data`` merged over ``current``."""
    record = dict(current or {})
    invoice_type = data.get("Type", record.get("Type"))
    if invoice_type not in ("ACCREC", "ACCPAY"):
        raise WriteRejected(400, ["Invoice Type must be ACCREC or ACCPAY"])
    record["Type"] = invoice_type
    record.setdefault("InvoiceID", str(uuid.uuid4()))
    if "Contact" in data or current is None:
        record["Contact"] = contact_ref(_contact(store, data.get("Contact")))
    if "InvoiceNumber" in data:
        record["InvoiceNumber"] = data["InvoiceNumber"]
    elif current is None:
        record["InvoiceNumber"] = f"INV-{store.count('Invoices') + 1:05d}"
    for key in ("Reference", "LineAmountTypes", "Url"):
        if key in data:
            record[key] = data[key]
    record.setdefault("Reference", "")
    record.setdefault("LineAmountTypes", "Exclusive")
    for prefix in ("", "Due"):
        if f"{prefix}Date" in data:
            record.update(date_fields(_date(data[f"{prefix}Date"], f"{prefix}Date"), prefix))
    if "DateString" not in record:
        record.update(date_fields(store.clock.now().date()))
    record["CurrencyCode"] = data.get("CurrencyCode", record.get("CurrencyCode")) or (
        _base_currency(store)
    )
    rate = data.get("CurrencyRate", record.get("CurrencyRate", RATE_ONE))
    record["CurrencyRate"] = Decimal(str(rate)).quantize(Decimal("0.000001"))
    if "LineItems" in data or current is None:
        lines, subtotal, tax = _lines(store, data.get("LineItems"))
        record["LineItems"] = lines
        record["SubTotal"], record["TotalTax"] = subtotal, tax
        record["Total"] = subtotal + tax
    for key in ("Payments", "CreditNotes", "Prepayments", "Overpayments"):
        record.setdefault(key, [])
    record.setdefault("AmountPaid", ZERO)
    record.setdefault("AmountCredited", ZERO)
    record["AmountDue"] = record["Total"] - record["AmountPaid"] - record["AmountCredited"]
    record.setdefault("HasErrors", False)
    record.setdefault("IsDiscounted", False)
    record.setdefault("HasAttachments", False)
    status = data.get("Status", record.get("Status", "DRAFT"))
    _check_invoice_status(record, current, status)
    record["Status"] = status
    return record


def _check_invoice_status(record: dict[str, Any], current: dict[str, Any] | None, status: str):
    if status not in INVOICE_STATUSES:
        raise WriteRejected(400, [f"Invalid status {status!r}"])
    before = (current or {}).get("Status", "DRAFT")
    if status == before:
        return
    if status == "DELETED" and before not in ("DRAFT", "SUBMITTED"):
        raise WriteRejected(400, [f"Invoice in status {before} cannot be deleted; void it"])
    if status == "VOIDED" and (before != "AUTHORISED" or record.get("AmountPaid")):
        raise WriteRejected(
            400,
            [
                "Invoice not of valid status for modification: only unpaid AUTHORISED "
                "invoices can be voided"
            ],
        )
    if status == "PAID" and record.get("AmountDue"):
        raise WriteRejected(400, ["An invoice becomes PAID only when payments cover it"])


# ------------------------------------------------------------------------------ contacts


def build_contact(
    store: TenantStore, data: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    record = dict(current or {})
    record.setdefault("ContactID", str(uuid.uuid4()))
    name = data.get("Name", record.get("Name"))
    if not name:
        raise WriteRejected(400, ["The contact name must be specified"])
    for other in store.records.get("Contacts", {}).values():
        if (
            other["ContactID"] != record["ContactID"]
            and other["Name"] == name
            and other.get("ContactStatus") == "ACTIVE"
        ):
            raise WriteRejected(
                400,
                [
                    f"The contact name {name} is already assigned to another contact. The "
                    "contact name must be unique across all active contacts."
                ],
            )
    record["Name"] = name
    for key in (
        "FirstName",
        "LastName",
        "EmailAddress",
        "BankAccountDetails",
        "TaxNumber",
        "DefaultCurrency",
        "IsSupplier",
        "IsCustomer",
        "ContactNumber",
    ):
        if key in data:
            record[key] = data[key]
    status = data.get("ContactStatus", record.get("ContactStatus", "ACTIVE"))
    if status not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
        raise WriteRejected(400, [f"Invalid ContactStatus {status!r}"])
    record["ContactStatus"] = status
    for key in ("Addresses", "Phones", "ContactGroups", "ContactPersons"):
        record.setdefault(key, data.get(key, []))
    record.setdefault("IsSupplier", False)
    record.setdefault("IsCustomer", False)
    record.setdefault("HasAttachments", False)
    record.setdefault("HasValidationErrors", False)
    return record


# --------------------------------------------------------------------- bank transactions


def build_bank_transaction(
    store: TenantStore, data: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    record = dict(current or {})
    record.setdefault("BankTransactionID", str(uuid.uuid4()))
    kind = data.get("Type", record.get("Type"))
    if kind not in ("RECEIVE", "SPEND"):
        raise WriteRejected(400, ["BankTransaction Type must be RECEIVE or SPEND"])
    record["Type"] = kind
    if "BankAccount" in data or current is None:
        given = data.get("BankAccount") or {}
        account = None
        if given.get("AccountID"):
            account = store.records.get("Accounts", {}).get(str(given["AccountID"]))
        elif given.get("Code"):
            account = _account_by_code(store, given["Code"])
        if account is None or account.get("Type") != "BANK":
            raise WriteRejected(400, ["A valid bank account must be specified"])
        record["BankAccount"] = {
            "AccountID": account["AccountID"],
            "Code": account.get("Code"),
            "Name": account["Name"],
        }
    if "Contact" in data or current is None:
        record["Contact"] = contact_ref(_contact(store, data.get("Contact")))
    if "Date" in data:
        record.update(date_fields(_date(data["Date"], "Date")))
    if "DateString" not in record:
        record.update(date_fields(store.clock.now().date()))
    for key in ("Reference", "LineAmountTypes", "IsReconciled"):
        if key in data:
            record[key] = data[key]
    record.setdefault("Reference", "")
    record.setdefault("IsReconciled", False)
    record.setdefault("LineAmountTypes", "Exclusive")
    record["CurrencyCode"] = data.get("CurrencyCode", record.get("CurrencyCode")) or (
        _base_currency(store)
    )
    if "CurrencyRate" in data or "CurrencyRate" in record:
        record["CurrencyRate"] = Decimal(str(data.get("CurrencyRate", record.get("CurrencyRate"))))
    if "LineItems" in data or current is None:
        lines, subtotal, tax = _lines(store, data.get("LineItems"))
        record["LineItems"] = lines
        record["SubTotal"], record["TotalTax"] = subtotal, tax
        record["Total"] = subtotal + tax
    status = data.get("Status", record.get("Status", "AUTHORISED"))
    if status not in BANK_TX_STATUSES:
        raise WriteRejected(400, [f"Invalid status {status!r} for a bank transaction"])
    record["Status"] = status
    record.setdefault("HasAttachments", False)
    return record


BUILDERS = {
    "Invoices": build_invoice,
    "Contacts": build_contact,
    "BankTransactions": build_bank_transaction,
}


def apply_write(
    store: TenantStore, endpoint: str, data: dict[str, Any], source_id: str | None
) -> dict[str, Any]:
    """Create (no id) or update one record of a writable endpoint; raises
    :class:`WriteRejected` as Xero would refuse it."""
    if endpoint not in BUILDERS:
        raise WriteRejected(400, [f"The sandbox does not accept writes to {endpoint}"])
    spec = ENDPOINTS[endpoint]
    source_id = source_id or data.get(spec.id_field)
    with store.lock:
        current = store.get(endpoint, str(source_id)) if source_id else None
        if source_id and current is None:
            raise WriteRejected(404, ["The resource you're looking for cannot be found"])
        if current is not None and data.get("UpdatedDateUTC") not in (None, ""):
            sent = parse_date(str(data["UpdatedDateUTC"]))
            held = parse_date(str(current["UpdatedDateUTC"]))
            if sent is None or held is None or to_ms(sent) != to_ms(held):
                raise WriteRejected(
                    409,
                    [
                        f"This {endpoint[:-1]} has been modified since the version you sent "
                        f"(UpdatedDateUTC {data['UpdatedDateUTC']}; current "
                        f"{current['UpdatedDateUTC']}). Re-read it and apply the change again."
                    ],
                    {spec.id_field: source_id},
                )
        clean = {k: v for k, v in data.items() if k != "UpdatedDateUTC"}
        record = BUILDERS[endpoint](store, clean, current)
        stamp(store, endpoint, record)
        store.put(endpoint, record)
        post_journals(store, endpoint, current, record)
        return record


# ------------------------------------------------------------------------------ journals


def post_journals(
    store: TenantStore,
    endpoint: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """Post to the general ledger what Xero would on this change: the document's journal
    when it becomes posted (AUTHORISED), the reversal when it is voided or deleted."""
    posted_before = _posted(endpoint, before)
    posted_after = _posted(endpoint, after)
    if posted_after and not posted_before:
        _post(store, endpoint, after, reverse=False)
    elif posted_before and not posted_after:
        _post(store, endpoint, after, reverse=True)


def _posted(endpoint: str, record: dict[str, Any] | None) -> bool:
    if record is None:
        return False
    status = record.get("Status")
    if endpoint == "Invoices":
        return status in ("AUTHORISED", "PAID")
    if endpoint == "BankTransactions":
        return status == "AUTHORISED"
    return False


def _system_account(store: TenantStore, system: str, fallback_type: str) -> dict[str, Any] | None:
    accounts = store.records.get("Accounts", {}).values()
    for account in accounts:
        if account.get("SystemAccount") == system:
            return account
    return next((a for a in accounts if a.get("Type") == fallback_type), None)


def _journal_line(account: dict[str, Any] | None, amount: Decimal, description: str = ""):
    account = account or {}
    return {
        "JournalLineID": str(uuid.uuid4()),
        "AccountID": account.get("AccountID"),
        "AccountCode": account.get("Code"),
        "AccountType": account.get("Type"),
        "AccountName": account.get("Name"),
        "Description": description,
        "NetAmount": amount,
        "GrossAmount": amount,
        "TaxAmount": ZERO,
        "TrackingCategories": [],
    }


def _post(store: TenantStore, endpoint: str, record: dict[str, Any], reverse: bool) -> None:
    rate = Decimal(str(record.get("CurrencyRate") or RATE_ONE)) or RATE_ONE

    # Document currency -> base currency (Xero's CurrencyRate is document units per base unit).
    def base(amount: Decimal) -> Decimal:
        return money(Decimal(amount) / rate)

    if endpoint == "Invoices":
        receivable = record["Type"] == "ACCREC"
        control = _system_account(
            store, "DEBTORS" if receivable else "CREDITORS", "CURRENT" if receivable else "CURRLIAB"
        )
        tax_account = _system_account(store, "GST", "CURRLIAB")
        sign = Decimal(1) if receivable else Decimal(-1)  # debit control for sales
        source_type = record["Type"]
    else:
        receivable = record["Type"] == "RECEIVE"
        control = store.records.get("Accounts", {}).get(record["BankAccount"]["AccountID"])
        tax_account = _system_account(store, "GST", "CURRLIAB")
        sign = Decimal(1) if receivable else Decimal(-1)
        source_type = "CASHREC" if receivable else "CASHPAID"
    lines = []
    total = ZERO
    for line in record["LineItems"]:
        amount = base(line["LineAmount"])
        total += amount
        account = _account_by_code(store, line.get("AccountCode"))
        lines.append(_journal_line(account, -sign * amount, line.get("Description", "")))
    tax = base(record.get("TotalTax") or ZERO)
    if tax:
        total += tax
        lines.append(_journal_line(tax_account, -sign * tax))
    lines.insert(0, _journal_line(control, sign * total))
    if reverse:
        for line in lines:
            line["NetAmount"] = -line["NetAmount"]
            line["GrossAmount"] = -line["GrossAmount"]
    created = store.clock.stamp()
    store.add_journal(
        {
            "JournalID": str(uuid.uuid4()),
            "JournalDate": record["Date"],
            "JournalNumber": 0,
            "CreatedDateUTC": ms_date(created),
            "Reference": record.get("Reference", ""),
            "SourceID": record[ENDPOINTS[endpoint].id_field],
            "SourceType": source_type,
            "JournalLines": lines,
        }
    )
