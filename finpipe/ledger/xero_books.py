"""Xero documents (``raw.xero_*`` landing rows) expanded into canonical double-entry books.

Every live document becomes one balanced entry in the organisation's base currency (debit
positive); ``entry_id`` is ``<kind>:<Xero id>`` so a Payment and the Overpayment of the same
money never collide:

========================  =================================================================
Xero record               entry
========================  =================================================================
Invoices ACCREC / ACCPAY  AR (DEBTORS) / AP (CREDITORS) control | LineItems | tax (GST)
CreditNotes               the same, reversed; the control relieved at the rates of the
                          invoices they are applied to
BankTransactions          BankAccount | LineItems | tax (``*-OVERPAYMENT``/``*-PREPAYMENT``:
SPEND / RECEIVE           bank | AR/AP, unless an Overpayments/Prepayments record has it)
Payments (and batches)    Account (bank) | AR/AP relief at the invoice's own CurrencyRate |
                          exchange difference (REALISEDCURRENCYGAIN, else FXGAINS)
Overpayments /            BankAccount | AR/AP control (allocating them moves AR to AR: no
Prepayments               lines)
BankTransfers             ToBankAccount | FromBankAccount
ManualJournals            their own signed JournalLines (+ tax to GST)
========================  =================================================================

Amounts: LineItems are net of tax for ``LineAmountTypes`` Exclusive, gross for Inclusive
(net = LineAmount - TaxAmount), NoTax has no tax. The whole document's tax is one line.

Currency: Xero's ``CurrencyRate`` is units of document currency per unit of base currency
(a USD invoice in a NZD organisation at 0.65 means 1 NZD = 0.65 USD), so a home amount is
``foreign / CurrencyRate``, rounded half away from zero. A foreign document without a rate
is rejected, never read at 1. Rounding as the world's journal documents it: each line is
converted on its own, the difference to the control total lands on the first line; AR/AP
relief is cumulative per invoice (``round(cum / rate) - round(prev / rate)``) so a settled
foreign invoice leaves exactly zero, and a payment's exchange difference goes to the
realised FX gains account.

Status: DRAFT/SUBMITTED -> draft, AUTHORISED -> open / partially_paid (posted for cash
documents), PAID -> paid, VOIDED -> void, DELETED (or the landing ``deleted`` flag) ->
deleted; dead documents get no lines.

A record that cannot be read (bad JSON, an unknown account code, a foreign document without
a rate, lines that do not add up to the total) is left out and listed in ``Books.rejects``
with the record, the field and what to do; the rest of the batch goes on.

The per-record work is decoding the nested JSON (one Python parse per record); the money
arithmetic (conversion, rounding residuals, cumulative reliefs, balancing) is vectorised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.statements.model import currency_exponent
from finpipe.connectors.xero.parse import XeroParseError, parse_record
from finpipe.errors import FinpipeError
from finpipe.ledger.books import REJECT_SCHEMA, Books
from finpipe.ledger.books_schema import (
    ALLOCATION_SCHEMA,
    CONTACT_SCHEMA,
    DEAD_STATUSES,
    DOCUMENT_SCHEMA,
    JOURNAL_LINE_SCHEMA,
)

PROVIDER = "xero"
RATE_SCALE = 10**10  # CurrencyRate kept as an integer with 10 decimals
FX_SYSTEM_ACCOUNTS = ("REALISEDCURRENCYGAIN", "FXGAINS", "FXGAIN")
TAX_SYSTEM_ACCOUNTS = ("GST", "SALESTAX", "VAT")

INVOICE_TYPES = {
    "ACCREC": ("invoice", "DEBTORS", 1),
    "ACCPAY": ("bill", "CREDITORS", -1),
}
CREDIT_TYPES = {
    "ACCRECCREDIT": ("credit_note", "DEBTORS", -1),
    "ACCPAYCREDIT": ("vendor_credit", "CREDITORS", 1),
}
# PaymentType -> (doc_type, control system account, sign: +1 money in / control credited)
PAYMENT_TYPES = {
    "ACCRECPAYMENT": ("customer_payment", "DEBTORS", 1),
    "ARCREDITPAYMENT": ("customer_payment", "DEBTORS", -1),
    "AROVERPAYMENTPAYMENT": ("customer_payment", "DEBTORS", -1),
    "ARPREPAYMENTPAYMENT": ("customer_payment", "DEBTORS", -1),
    "ACCPAYPAYMENT": ("bill_payment", "CREDITORS", -1),
    "APCREDITPAYMENT": ("bill_payment", "CREDITORS", 1),
    "APOVERPAYMENTPAYMENT": ("bill_payment", "CREDITORS", 1),
    "APPREPAYMENTPAYMENT": ("bill_payment", "CREDITORS", 1),
}
# Overpayment / prepayment types -> (doc_type, control account, sign of the bank leg)
CREDIT_CASH_TYPES = {
    "RECEIVE-OVERPAYMENT": ("overpayment", "DEBTORS", 1),
    "SPEND-OVERPAYMENT": ("overpayment", "CREDITORS", -1),
    "RECEIVE-PREPAYMENT": ("prepayment", "DEBTORS", 1),
    "SPEND-PREPAYMENT": ("prepayment", "CREDITORS", -1),
}
BANK_TYPES = {"RECEIVE": ("deposit", 1), "SPEND": ("expense", -1)}

# Part kinds: how a line's home amount is found.
CONVERT, FIXED, BALANCE_FIRST_LINE = "convert", "fixed", "first_line"


class XeroBooksError(FinpipeError):
    """The Xero landing data cannot be expanded at all (no organisation, missing columns)."""


class _Reject(Exception):
    """One record cannot be read: ``field`` and ``reason`` go to the rejects frame."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


# ------------------------------------------------------------------------------ helpers


def _minor(value: Any, currency: str, field_name: str) -> int:
    """A Decimal amount in integer minor units of ``currency`` (exact or rejected)."""
    if value is None:
        return 0
    try:
        scaled = Decimal(value) * (10 ** currency_exponent(currency))
    except (InvalidOperation, TypeError, ValueError):
        raise _Reject(field_name, f"not an amount: {value!r}") from None
    if scaled != scaled.to_integral_value():
        # Xero stores money to the currency's minor unit; more digits mean a bad payload.
        raise _Reject(field_name, f"{value} has more digits than {currency} minor units")
    return int(scaled)


def _rate(value: Any) -> int | None:
    """CurrencyRate as an integer scaled by 10**10 (None when absent or zero)."""
    if value is None or value == "":
        return None
    try:
        rate = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise _Reject("CurrencyRate", f"not a rate: {value!r}") from None
    if rate <= 0:
        return None
    return int((rate * RATE_SCALE).to_integral_value(rounding=ROUND_HALF_UP))


def _convert_expr(amount: pl.Expr, rate: pl.Expr) -> pl.Expr:
    """``amount / (rate / 10**10)`` rounded half away from zero, exact in Int128."""
    a = amount.cast(pl.Int128)
    r = rate.cast(pl.Int128)
    q = (2 * a.abs() * RATE_SCALE + r) // (2 * r)
    return (q * a.sign()).cast(pl.Int64)


def _convert(amount: int, rate: int) -> int:
    q = (2 * abs(amount) * RATE_SCALE + rate) // (2 * rate)
    return q if amount >= 0 else -q


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ref_id(value: Any, key: str) -> str | None:
    return _text(value.get(key)) if isinstance(value, Mapping) else None


# ------------------------------------------------------------------------------ chart


@dataclass
class _Chart:
    by_code: dict[str, str]
    ids: set[str]
    currency: dict[str, str]
    system: dict[str, str]

    def account(self, ref: Mapping[str, Any] | None, field_name: str) -> str:
        """The AccountID an ``AccountCode``/``AccountID`` (or an account object) names."""
        if not ref:
            raise _Reject(field_name, "no account: Xero names one on every posted line")
        account_id = _text(ref.get("AccountID"))
        if account_id:
            return account_id
        code = _text(ref.get("AccountCode") or ref.get("Code"))
        if code is None:
            raise _Reject(field_name, "no AccountCode or AccountID on the line")
        if code not in self.by_code:
            raise _Reject(
                field_name,
                f"account code {code!r} is not in the chart (sync Accounts, then re-run)",
            )
        return self.by_code[code]

    def system_account(self, names: tuple[str, ...] | str, field_name: str) -> str:
        for name in (names,) if isinstance(names, str) else names:
            if name in self.system:
                return self.system[name]
        raise _Reject(
            field_name,
            f"the chart has no system account {names}: sync Accounts (SystemAccount) first",
        )


def _chart(rows: list[dict[str, Any]]) -> _Chart:
    chart = _Chart({}, set(), {}, {})
    for values in rows:
        account_id = _text(values.get("AccountID"))
        if account_id is None:
            continue
        chart.ids.add(account_id)
        code = _text(values.get("Code"))
        if code:
            chart.by_code[code] = account_id
        if values.get("CurrencyCode"):
            chart.currency[account_id] = str(values["CurrencyCode"])
        system = _text(values.get("SystemAccount"))
        if system and system not in chart.system:
            chart.system[system] = account_id
    return chart


# ------------------------------------------------------------------------------ state


@dataclass
class _Out:
    """Rows collected while decoding, in plain Python (turned into frames at the end)."""

    company_id: str
    base: str
    chart: _Chart
    documents: list[dict[str, Any]] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    # target document id -> (currency, rate) for relief at the target's own rate
    targets: dict[str, tuple[str, int]] = field(default_factory=dict)
    # overpayment / prepayment id -> BankAccount of its bank transaction
    cash_sides: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    # payments whose exchange difference had no account: rejected after expansion
    unbooked: set[str] = field(default_factory=set)

    def mark(self) -> tuple[int, int, int]:
        return len(self.documents), len(self.parts), len(self.allocations)

    def undo(self, mark: tuple[int, int, int]) -> None:
        """Drop what a record added before it was rejected: a record is all in or all out."""
        del self.documents[mark[0] :], self.parts[mark[1] :], self.allocations[mark[2] :]

    def reject(self, entity: str, source_id: str | None, field_name: str, reason: str) -> None:
        self.rejects.append(
            {
                "company_id": self.company_id,
                "provider": PROVIDER,
                "entity": entity,
                "source_id": source_id,
                "field": field_name,
                "reason": reason,
            }
        )


@dataclass
class _Doc:
    """The facts of one document every expansion step needs."""

    entry_id: str
    document_id: str
    doc_type: str
    date: dt.date | None
    currency: str
    rate: int
    contact_id: str | None
    live: bool


def _status(raw_status: str | None, deleted: bool, *, cash: bool, paid: int, total: int) -> str:
    status = (raw_status or "").upper()
    if deleted or status == "DELETED":
        return "deleted"
    if status in ("DRAFT", "SUBMITTED"):
        return "draft"
    if status == "VOIDED":
        return "void"
    if status == "PAID":
        return "paid"
    if cash or status == "POSTED":
        return "posted"
    if paid and paid < total:
        return "partially_paid"
    return "paid" if total and paid >= total else "open"


def _currency_and_rate(out: _Out, values: Mapping[str, Any]) -> tuple[str, int]:
    currency = _text(values.get("CurrencyCode")) or out.base
    if currency == out.base:
        return currency, RATE_SCALE
    rate = _rate(values.get("CurrencyRate"))
    if rate is None:
        raise _Reject(
            "CurrencyRate",
            f"{currency} document in a {out.base} organisation has no CurrencyRate: "
            "re-fetch it from Xero (never read as 1)",
        )
    return currency, rate


def _fx_rate(rate: int) -> Decimal:
    """Home per unit of document currency (DOCUMENT_SCHEMA.fx_rate) from Xero's rate."""
    return (Decimal(RATE_SCALE) / Decimal(rate)).quantize(
        Decimal("0.00000001"), rounding=ROUND_HALF_UP
    )


def _document(out: _Out, rec: Any, doc: _Doc, **fields: Any) -> dict[str, Any]:
    values = rec.values
    row = {
        "company_id": out.company_id,
        "provider": PROVIDER,
        "document_id": doc.document_id,
        "doc_type": doc.doc_type,
        "source_type": None,
        "number": None,
        "reference": _text(values.get("Reference")),
        "contact_id": doc.contact_id,
        "issue_date": doc.date,
        "due_date": _day(values.get("DueDate")),
        "currency": doc.currency,
        "fx_rate": _fx_rate(doc.rate),
        "subtotal": None,
        "tax": None,
        "total": None,
        "home_total": None,
        "amount_due": None,
        "status": None,
        "cash_account_id": None,
        "from_cash_account_id": None,
        "external_id": None,
        "updated_at": rec.updated_at,
        "sync_version": _text(rec.payload.get("UpdatedDateUTC")),
    }
    row.update(fields)
    if row["total"] is not None:
        row["home_total"] = _convert(row["total"], doc.rate)
    return row


def _part(
    doc: _Doc,
    account_id: str,
    foreign: int,
    order: int,
    description: str | None,
    *,
    kind: str = CONVERT,
    home: int | None = None,
) -> dict[str, Any]:
    return {
        "entry_id": doc.entry_id,
        "document_id": doc.document_id,
        "doc_type": doc.doc_type,
        "date": doc.date,
        "account_id": account_id,
        "foreign": foreign,
        "home": home,
        "kind": kind,
        "order": order,
        "rate": doc.rate,
        "currency": doc.currency,
        "contact_id": doc.contact_id,
        "description": description,
    }


def _item_parts(
    out: _Out, rec: Any, doc: _Doc, sign: int, lines_key: str = "LineItems"
) -> tuple[list[dict[str, Any]], int, int]:
    """Line and tax parts of a document with LineItems: (parts, subtotal, tax), signed so
    that ``sign`` is the control side (+1: control debited, lines credited)."""
    values = rec.values
    if not values.get(lines_key) and values.get("Total"):
        raise _Reject(
            lines_key,
            f"no {lines_key} on a document with a Total: Xero leaves them out of unpaged "
            "list answers; fetch with page=N (or the single record) and re-land it",
        )
    kind = str(values.get("LineAmountTypes") or "Exclusive").upper()
    parts, net_sum, tax_sum = [], 0, 0
    for i, line in enumerate(values.get(lines_key) or []):
        where = f"{lines_key}[{i}]"
        amount = _minor(line.get("LineAmount"), doc.currency, f"{where}.LineAmount")
        tax = (
            0
            if kind == "NOTAX"
            else _minor(line.get("TaxAmount"), doc.currency, f"{where}.TaxAmount")
        )
        net = amount - tax if kind == "INCLUSIVE" else amount
        tax_sum += tax
        net_sum += net
        if net == 0 and tax == 0:
            continue  # Xero posts nothing for an empty line
        account = out.chart.account(line, f"{where}.AccountCode")
        part = _part(doc, account, -sign * net, 1, _text(line.get("Description")))
        part["kind"] = BALANCE_FIRST_LINE
        parts.append(part)
    if tax_sum:
        tax_account = out.chart.system_account(TAX_SYSTEM_ACCOUNTS, "TotalTax")
        parts.append(_part(doc, tax_account, -sign * tax_sum, 2, "Sales tax / VAT"))
    return parts, net_sum, tax_sum


# ------------------------------------------------------------------------------ endpoints


def _invoice(out: _Out, rec: Any, deleted: bool, credit: bool) -> None:
    values = rec.values
    types = CREDIT_TYPES if credit else INVOICE_TYPES
    kind = str(values.get("Type") or "")
    if kind not in types:
        raise _Reject("Type", f"unknown {'credit note' if credit else 'invoice'} type {kind!r}")
    doc_type, control, sign = types[kind]
    currency, rate = _currency_and_rate(out, values)
    total = _minor(values.get("Total"), currency, "Total")
    paid = _minor(values.get("AmountPaid"), currency, "AmountPaid") + _minor(
        values.get("AmountCredited"), currency, "AmountCredited"
    )
    due_key = "RemainingCredit" if credit else "AmountDue"
    amount_due = values.get(due_key)
    if credit:
        paid = total - _minor(amount_due, currency, due_key) if amount_due is not None else 0
    status = _status(rec.status, deleted, cash=False, paid=paid, total=total)
    doc = _Doc(
        f"{doc_type}:{rec.source_id}",
        rec.source_id,
        doc_type,
        _day(values.get("Date")),
        currency,
        rate,
        _ref_id(values.get("Contact"), "ContactID"),
        status not in DEAD_STATUSES,
    )
    out.targets[rec.source_id] = (currency, rate)
    number = _text(values.get("CreditNoteNumber" if credit else "InvoiceNumber"))
    row = _document(
        out,
        rec,
        doc,
        source_type=kind,
        number=number,
        subtotal=_minor(values.get("SubTotal"), currency, "SubTotal"),
        tax=_minor(values.get("TotalTax"), currency, "TotalTax"),
        total=total,
        amount_due=_minor(amount_due, currency, due_key) if amount_due is not None else None,
        status=status,
    )
    parts: list[dict[str, Any]] = []
    if doc.live:
        if doc.date is None:
            raise _Reject("Date", "a posted document needs its Date")
        lines, net, tax = _item_parts(out, rec, doc, sign)
        if net + tax != total:
            raise _Reject(
                "LineItems",
                f"lines ({net}) + tax ({tax}) do not add up to Total ({total}) in minor units",
            )
        control_id = out.chart.system_account(control, "Type")
        # Credit notes relieve AR/AP at the rates of the invoices they are applied to
        # (filled in once every allocation is known).
        label = "Accounts receivable" if control == "DEBTORS" else "Accounts payable"
        ctl = _part(doc, control_id, sign * total, 0, label)
        if credit:
            ctl["kind"] = "credit_control"
        parts = [ctl, *lines]
    if credit:
        for i, alloc in enumerate(values.get("Allocations") or []):
            _allocation(out, rec.source_id, doc, alloc, f"Allocations[{i}]", i)
    out.documents.append(row)
    out.parts.extend(parts)


def _allocation(
    out: _Out, source_id: str, doc: _Doc, alloc: Mapping[str, Any], where: str, i: int
) -> None:
    target = None
    for key, id_key in (
        ("Invoice", "InvoiceID"),
        ("CreditNote", "CreditNoteID"),
        ("Overpayment", "OverpaymentID"),
        ("Prepayment", "PrepaymentID"),
    ):
        target = target or _ref_id(alloc.get(key), id_key)
    if target is None:
        raise _Reject(f"{where}.Invoice", "allocation names no invoice")
    out.allocations.append(
        {
            "company_id": out.company_id,
            "provider": PROVIDER,
            "allocation_id": _text(alloc.get("AllocationID")) or f"{source_id}:{i}",
            "source_document_id": source_id,
            "target_document_id": target,
            "date": _day(alloc.get("Date")) or doc.date,
            "amount": _minor(alloc.get("Amount"), doc.currency, f"{where}.Amount"),
            "currency": doc.currency,
            "_entry": doc.entry_id if doc.live else None,
        }
    )


def _bank_account(out: _Out, values: Mapping[str, Any], key: str) -> str:
    ref = values.get(key)
    if not isinstance(ref, Mapping) or not (ref.get("AccountID") or ref.get("Code")):
        raise _Reject(key, "no bank account: Xero names the account the cash moved through")
    return out.chart.account(ref, key)


def _bank_transaction(out: _Out, rec: Any, deleted: bool, covered: set[str]) -> None:
    values = rec.values
    kind = str(values.get("Type") or "")
    if kind in CREDIT_CASH_TYPES:
        # The Overpayments / Prepayments record is the document; this is its bank side.
        linked = {
            rec.source_id,
            _text(values.get("OverpaymentID")),
            _text(values.get("PrepaymentID")),
        }
        if linked & covered:
            return
        _credit_cash(out, rec, deleted, kind)
        return
    if kind not in BANK_TYPES:
        raise _Reject("Type", f"unknown bank transaction type {kind!r}")
    doc_type, sign = BANK_TYPES[kind]
    currency, rate = _currency_and_rate(out, values)
    total = _minor(values.get("Total"), currency, "Total")
    status = _status(rec.status, deleted, cash=True, paid=0, total=total)
    doc = _Doc(
        f"bank:{rec.source_id}",
        rec.source_id,
        doc_type,
        _day(values.get("Date")),
        currency,
        rate,
        _ref_id(values.get("Contact"), "ContactID"),
        status not in DEAD_STATUSES,
    )
    bank = _bank_account(out, values, "BankAccount") if doc.live else None
    reference = _text(values.get("Reference"))
    row = _document(
        out,
        rec,
        doc,
        source_type=kind,
        subtotal=_minor(values.get("SubTotal"), currency, "SubTotal"),
        tax=_minor(values.get("TotalTax"), currency, "TotalTax"),
        total=total,
        status=status,
        cash_account_id=bank or _ref_id(values.get("BankAccount"), "AccountID"),
        external_id=reference,
    )
    parts: list[dict[str, Any]] = []
    if doc.live:
        if doc.date is None:
            raise _Reject("Date", "a posted bank transaction needs its Date")
        lines, net, tax = _item_parts(out, rec, doc, sign)
        if net + tax != total:
            raise _Reject(
                "LineItems",
                f"lines ({net}) + tax ({tax}) do not add up to Total ({total}) in minor units",
            )
        assert bank is not None
        parts = [_part(doc, bank, sign * total, 0, "Bank"), *lines]
    out.documents.append(row)
    out.parts.extend(parts)


def _credit_cash(out: _Out, rec: Any, deleted: bool, kind: str | None = None) -> None:
    """An overpayment or prepayment: cash against the AR/AP control account."""
    values = rec.values
    kind = kind or str(values.get("Type") or "")
    if kind not in CREDIT_CASH_TYPES:
        raise _Reject("Type", f"unknown overpayment/prepayment type {kind!r}")
    doc_type, control, sign = CREDIT_CASH_TYPES[kind]
    currency, rate = _currency_and_rate(out, values)
    total = _minor(values.get("Total"), currency, "Total")
    remaining = values.get("RemainingCredit")
    due = _minor(remaining, currency, "RemainingCredit") if remaining is not None else None
    status = _status(
        rec.status, deleted, cash=False, paid=total - due if due is not None else 0, total=total
    )
    doc = _Doc(
        f"{doc_type}:{rec.source_id}",
        rec.source_id,
        doc_type,
        _day(values.get("Date")),
        currency,
        rate,
        _ref_id(values.get("Contact"), "ContactID"),
        status not in DEAD_STATUSES,
    )
    out.targets[rec.source_id] = (currency, rate)
    bank = _ref_id(values.get("BankAccount"), "AccountID")
    if bank is None and rec.source_id in out.cash_sides:
        # Xero's Overpayments/Prepayments answers omit the bank account; the
        # RECEIVE-/SPEND-OVERPAYMENT bank transaction of the same money names it.
        bank = out.chart.account(out.cash_sides[rec.source_id], "BankAccount")
    if doc.live and bank is None:
        bank = _bank_account(out, values, "BankAccount")
    row = _document(
        out,
        rec,
        doc,
        source_type=kind,
        subtotal=_minor(values.get("SubTotal"), currency, "SubTotal"),
        tax=_minor(values.get("TotalTax"), currency, "TotalTax"),
        total=total,
        amount_due=due,
        status=status,
        cash_account_id=bank,
        external_id=_text(values.get("Reference")),
    )
    parts: list[dict[str, Any]] = []
    if doc.live:
        if doc.date is None:
            raise _Reject("Date", "a posted overpayment needs its Date")
        control_id = out.chart.system_account(control, "Type")
        assert bank is not None
        label = "Accounts receivable" if control == "DEBTORS" else "Accounts payable"
        ctl = _part(doc, control_id, -sign * total, 1, label)
        ctl["kind"] = BALANCE_FIRST_LINE
        parts = [_part(doc, bank, sign * total, 0, "Bank"), ctl]
    for i, alloc in enumerate(values.get("Allocations") or []):
        _allocation(out, rec.source_id, doc, alloc, f"Allocations[{i}]", i)
    out.documents.append(row)
    out.parts.extend(parts)


def _payments(out: _Out, records: list[tuple[Any, bool]]) -> None:
    """Payments grouped into documents: a BatchPayment is one document (one entry), any
    other Payment its own. Reliefs are filled in later, once every allocation is known."""
    groups: dict[str, list[tuple[Any, bool]]] = {}
    for rec, deleted in records:
        batch = _text(rec.values.get("BatchPaymentID"))
        groups.setdefault(batch or rec.source_id, []).append((rec, deleted))
    for doc_id, members in groups.items():
        mark = out.mark()
        try:
            _payment_document(out, doc_id, members)
        except _Reject as exc:
            out.undo(mark)
            out.reject("Payments", members[0][0].source_id, exc.field, exc.reason)


def _payment_document(out: _Out, doc_id: str, members: list[tuple[Any, bool]]) -> None:
    first = members[0][0].values
    kind = str(first.get("PaymentType") or "")
    if kind not in PAYMENT_TYPES:
        # Xero omits PaymentType on some older payloads: the linked invoice says it.
        inv_type = _ref_id(first.get("Invoice"), "Type")
        kind = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT"}.get(inv_type or "", "")
    if kind not in PAYMENT_TYPES:
        raise _Reject("PaymentType", f"unknown payment type {first.get('PaymentType')!r}")
    doc_type, control, sign = PAYMENT_TYPES[kind]
    live_members = [
        (rec, d) for rec, d in members if not d and str(rec.status or "").upper() != "DELETED"
    ]
    status = "posted" if live_members else "deleted"
    rec0 = members[0][0]
    target_ref = first.get("Invoice") or first.get("CreditNote") or {}
    currency = _text(target_ref.get("CurrencyCode")) if isinstance(target_ref, Mapping) else None
    currency = currency or _text(first.get("CurrencyCode")) or out.base
    if currency == out.base:
        rate = RATE_SCALE
    else:
        rate = _rate(first.get("CurrencyRate"))
        if rate is None:
            raise _Reject(
                "CurrencyRate",
                f"{currency} payment in a {out.base} organisation has no CurrencyRate: "
                "re-fetch it from Xero (never read as 1)",
            )
    bank = _bank_account(out, first, "Account") if status == "posted" else None
    contact = _ref_id(target_ref.get("Contact"), "ContactID") if target_ref else None
    date = _day(first.get("Date"))
    batch = first.get("BatchPayment")
    if isinstance(batch, Mapping) and len(members) > 1:
        date = _day(batch.get("Date")) or date
    doc = _Doc(
        f"payment:{doc_id}", doc_id, doc_type, date, currency, rate, contact, status == "posted"
    )
    counted = live_members or members
    total = sum(_minor(r.values.get("Amount"), currency, "Amount") for r, _ in counted)
    bank_home = 0
    bank_currency = out.chart.currency.get(bank or "", out.base)
    for r, _ in counted:
        amount = _minor(r.values.get("Amount"), currency, "Amount")
        if bank_currency == out.base and r.values.get("BankAmount") is not None:
            # What the bank account (in base currency) really moved.
            bank_home += _minor(r.values.get("BankAmount"), out.base, "BankAmount")
        else:
            bank_home += _convert(amount, rate)
    row = _document(
        out,
        rec0,
        doc,
        source_type=kind,
        subtotal=total,
        tax=0,
        total=total,
        status=status,
        cash_account_id=bank or _ref_id(first.get("Account"), "AccountID"),
        external_id=_text(first.get("Reference")),
    )
    row["home_total"] = bank_home
    if doc.live:
        if doc.date is None:
            raise _Reject("Date", "a posted payment needs its Date")
        for r, _ in live_members:
            target = None
            for key, id_key in (
                ("Invoice", "InvoiceID"),
                ("CreditNote", "CreditNoteID"),
                ("Overpayment", "OverpaymentID"),
                ("Prepayment", "PrepaymentID"),
            ):
                target = target or _ref_id(r.values.get(key), id_key)
            if target is None:
                raise _Reject("Invoice", "payment names no invoice, credit note or overpayment")
            out.allocations.append(
                {
                    "company_id": out.company_id,
                    "provider": PROVIDER,
                    "allocation_id": r.source_id,
                    "source_document_id": doc_id,
                    "target_document_id": target,
                    "date": _day(r.values.get("Date")) or doc.date,
                    "amount": _minor(r.values.get("Amount"), currency, "Amount"),
                    "currency": currency,
                    "_entry": doc.entry_id,
                    "_payment_rate": rate,
                }
            )
        label = "Accounts receivable" if control == "DEBTORS" else "Accounts payable"
        control_id = out.chart.system_account(control, "PaymentType")
        assert bank is not None
        out.parts.append(
            _part(doc, bank, sign * total, 0, "Bank", kind=FIXED, home=sign * bank_home)
        )
        ctl = _part(doc, control_id, -sign * total, 1, label)
        ctl["kind"] = "relief"
        out.parts.append(ctl)
        fx = _part(doc, "", 0, 3, "Exchange difference")
        fx["kind"] = "fx"
        out.parts.append(fx)
    out.documents.append(row)


def _transfer(out: _Out, rec: Any, deleted: bool) -> None:
    values = rec.values
    source = _ref_id(values.get("FromBankAccount"), "AccountID")
    target = _ref_id(values.get("ToBankAccount"), "AccountID")
    # Amount is in the foreign side's currency when one account is foreign (CurrencyRate
    # then applies), else in the paying account's.
    from_currency = out.chart.currency.get(source or "", out.base)
    to_currency = out.chart.currency.get(target or "", out.base)
    currency = from_currency if from_currency != out.base else to_currency
    if currency == out.base:
        rate = RATE_SCALE
    else:
        rate = _rate(values.get("CurrencyRate"))
        if rate is None:
            raise _Reject("CurrencyRate", f"{currency} transfer has no CurrencyRate")
    status = _status(rec.status or "AUTHORISED", deleted, cash=True, paid=0, total=0)
    doc = _Doc(
        f"transfer:{rec.source_id}",
        rec.source_id,
        "transfer",
        _day(values.get("Date")),
        currency,
        rate,
        None,
        status not in DEAD_STATUSES,
    )
    total = _minor(values.get("Amount"), currency, "Amount")
    out.documents.append(
        _document(
            out,
            rec,
            doc,
            source_type="TRANSFER",
            subtotal=total,
            tax=0,
            total=total,
            status=status,
            cash_account_id=target,
            from_cash_account_id=source,
            external_id=_text(values.get("Reference")),
        )
    )
    if doc.live:
        if source is None or target is None or doc.date is None:
            missing = "FromBankAccount" if source is None else "ToBankAccount"
            raise _Reject(missing if doc.date else "Date", "a transfer needs both accounts")
        out.parts += [
            _part(doc, target, total, 0, "Bank"),
            _part(doc, source, -total, 0, "Bank"),
        ]


def _manual_journal(out: _Out, rec: Any, deleted: bool) -> None:
    values = rec.values
    status = _status(rec.status, deleted, cash=True, paid=0, total=0)
    doc = _Doc(
        f"journal:{rec.source_id}",
        rec.source_id,
        "journal",
        _day(values.get("Date")),
        out.base,  # Xero manual journals are always in base currency
        RATE_SCALE,
        None,
        status not in DEAD_STATUSES,
    )
    kind = str(values.get("LineAmountTypes") or "NoTax").upper()
    parts, debit, tax_sum = [], 0, 0
    for i, line in enumerate(values.get("JournalLines") or []):
        where = f"JournalLines[{i}]"
        amount = _minor(line.get("LineAmount"), out.base, f"{where}.LineAmount")
        tax = (
            0 if kind == "NOTAX" else _minor(line.get("TaxAmount"), out.base, f"{where}.TaxAmount")
        )
        net = amount - tax if kind == "INCLUSIVE" else amount
        tax_sum += tax
        debit += max(amount + (tax if kind == "EXCLUSIVE" else 0), 0)
        if doc.live and net:
            account = out.chart.account(line, f"{where}.AccountCode")
            parts.append(_part(doc, account, net, 1, _text(line.get("Description"))))
    if doc.live:
        if tax_sum:
            account = out.chart.system_account(TAX_SYSTEM_ACCOUNTS, "JournalLines.TaxAmount")
            parts.append(_part(doc, account, tax_sum, 2, "Sales tax / VAT"))
        if sum(p["foreign"] for p in parts):
            raise _Reject(
                "JournalLines",
                f"lines sum to {sum(p['foreign'] for p in parts)} minor units, not zero",
            )
        if doc.date is None:
            raise _Reject("Date", "a posted journal needs its Date")
    out.documents.append(
        _document(
            out,
            rec,
            doc,
            source_type="MANJOURNAL",
            reference=_text(values.get("Narration")),
            subtotal=debit,
            tax=tax_sum,
            total=debit,
            status=status,
        )
    )
    out.parts.extend(parts)


def _contacts(company_id: str, records: list[tuple[Any, bool]]) -> pl.DataFrame:
    rows = []
    for rec, deleted in records:
        v = rec.values
        customer, supplier = bool(v.get("IsCustomer")), bool(v.get("IsSupplier"))
        rows.append(
            {
                "company_id": company_id,
                "provider": PROVIDER,
                "contact_id": rec.source_id,
                "name": _text(v.get("Name")),
                "kind": "customer" if customer else "vendor",
                "is_customer": customer,
                "is_supplier": supplier,
                "email": _text(v.get("EmailAddress")),
                "tax_number": _text(v.get("TaxNumber")),
                "bank_account_number": _text(v.get("BankAccountDetails")),
                "currency": _text(v.get("DefaultCurrency")),
                "is_active": not deleted and str(v.get("ContactStatus") or "ACTIVE") == "ACTIVE",
                "updated_at": rec.updated_at,
            }
        )
    return pl.DataFrame(rows, schema=CONTACT_SCHEMA)


# ------------------------------------------------------------------------------ decoding


def _decode(
    company_id: str, endpoint: str, frame: pl.DataFrame | None
) -> tuple[list[tuple[Any, bool]], list[dict[str, Any]]]:
    """Parsed records of one landing frame plus rejects for the unreadable ones."""
    if frame is None or frame.height == 0:
        return [], []
    if "payload" not in frame.columns:
        raise XeroBooksError(f"raw.xero {endpoint}: landing frame has no payload column")
    deleted = (
        frame["deleted"].fill_null(False).to_list()
        if "deleted" in frame.columns
        else [False] * frame.height
    )
    ids = frame["source_id"].to_list() if "source_id" in frame.columns else [None] * frame.height
    records, rejects = [], []
    for text, gone, source_id in zip(frame["payload"].to_list(), deleted, ids, strict=True):
        try:
            rec = parse_record(endpoint, payloads.loads(text))
        except XeroParseError as exc:
            rejects.append((source_id or exc.record_id, exc.field or "payload", str(exc)))
            continue
        except (ValueError, TypeError) as exc:
            rejects.append((source_id, "payload", f"not JSON: {exc}"))
            continue
        records.append((rec, bool(gone)))
    return records, [
        {
            "company_id": company_id,
            "provider": PROVIDER,
            "entity": endpoint,
            "source_id": sid,
            "field": fld,
            "reason": why,
        }
        for sid, fld, why in rejects
    ]


def _base_currency(records: list[tuple[Any, bool]]) -> str:
    for rec, _ in records:
        base = _text(rec.values.get("BaseCurrency"))
        if base:
            return base
    raise XeroBooksError(
        "raw.xero Organisation has no BaseCurrency: sync the Organisation endpoint before "
        "building the books (home amounts depend on it)"
    )


def books_from_xero(raw: Mapping[str, pl.DataFrame], *, company_id: str) -> Books:
    """One company's canonical :class:`Books` from its Xero landing rows.

    ``raw`` maps a Xero endpoint name (``"Invoices"``, ``"Payments"``, ...) to its landing
    rows (``raw.xero_*`` shape: ``source_id``, ``payload`` JSON text, ``deleted``); missing
    endpoints count as empty. ``Organisation`` (BaseCurrency) and ``Accounts`` are needed.
    Unreadable records go to ``rejects`` naming the record and field; the rest is expanded.
    Raises :class:`XeroBooksError` only when the organisation's base currency is unknown.
    """
    decoded: dict[str, list[tuple[Any, bool]]] = {}
    reject_rows: list[dict[str, Any]] = []
    for endpoint in (
        "Organisation",
        "Accounts",
        "Contacts",
        "Invoices",
        "CreditNotes",
        "Payments",
        "Overpayments",
        "Prepayments",
        "BankTransactions",
        "BankTransfers",
        "ManualJournals",
    ):
        records, rejected = _decode(company_id, endpoint, raw.get(endpoint))
        decoded[endpoint] = records
        reject_rows += rejected
    base = _base_currency(decoded["Organisation"])
    chart = _chart([rec.values for rec, gone in decoded["Accounts"]])
    out = _Out(company_id, base, chart, rejects=reject_rows)

    def each(endpoint: str, handler) -> None:
        for rec, gone in decoded[endpoint]:
            mark = out.mark()
            try:
                handler(rec, gone)
            except _Reject as exc:
                out.undo(mark)
                out.reject(endpoint, rec.source_id, exc.field, exc.reason)

    for rec, _ in decoded["BankTransactions"]:
        if str(rec.values.get("Type") or "") in CREDIT_CASH_TYPES and rec.values.get("BankAccount"):
            for key in ("BankTransactionID", "OverpaymentID", "PrepaymentID"):
                if _text(rec.values.get(key)):
                    out.cash_sides[str(rec.values[key])] = rec.values["BankAccount"]
    each("Invoices", lambda r, d: _invoice(out, r, d, credit=False))
    each("CreditNotes", lambda r, d: _invoice(out, r, d, credit=True))
    each("Overpayments", lambda r, d: _credit_cash(out, r, d))
    each("Prepayments", lambda r, d: _credit_cash(out, r, d))
    covered = {r.source_id for r, _ in decoded["Overpayments"] + decoded["Prepayments"]}
    each("BankTransactions", lambda r, d: _bank_transaction(out, r, d, covered))
    _payments(out, decoded["Payments"])
    each("BankTransfers", lambda r, d: _transfer(out, r, d))
    each("ManualJournals", lambda r, d: _manual_journal(out, r, d))

    documents = pl.DataFrame(out.documents, schema=DOCUMENT_SCHEMA, orient="row")
    allocations = pl.DataFrame(
        out.allocations,
        schema={
            **ALLOCATION_SCHEMA,
            "_entry": pl.String,
            "_payment_rate": pl.Int64,
        },
        orient="row",
    )
    lines = _journal_lines(out, allocations)
    if out.unbooked:
        payment_docs = pl.col("doc_type").is_in(["customer_payment", "bill_payment"])
        gone = pl.col("document_id").is_in(list(out.unbooked)) & payment_docs
        documents = documents.filter(~gone)
        allocations = allocations.filter(~pl.col("source_document_id").is_in(list(out.unbooked)))
    return Books(
        contacts=_contacts(company_id, decoded["Contacts"]),
        documents=documents,
        journal_lines=lines,
        allocations=allocations.select(ALLOCATION_SCHEMA.names()).cast(dict(ALLOCATION_SCHEMA)),
        rejects=pl.DataFrame(out.rejects, schema=REJECT_SCHEMA, orient="row"),
    )


# ------------------------------------------------------------------------------ money


def _reliefs(out: _Out, allocations: pl.DataFrame) -> pl.DataFrame:
    """Home relief of each allocation: cumulative per target at the target's own rate."""
    targets = pl.DataFrame(
        {
            "target_document_id": list(out.targets),
            "_target_rate": [r for _, r in out.targets.values()],
        },
        schema={"target_document_id": pl.String, "_target_rate": pl.Int64},
    )
    live = allocations.filter(pl.col("_entry").is_not_null())
    return (
        live.join(targets, on="target_document_id", how="left")
        .with_columns(
            # A target we do not hold: relieve at the source's own rate (no FX is visible).
            pl.coalesce("_target_rate", "_payment_rate", pl.lit(RATE_SCALE)).alias("_rate")
        )
        .sort("target_document_id", "date", "source_document_id", "allocation_id")
        .with_columns(pl.col("amount").cum_sum().over("target_document_id").alias("_cum"))
        .with_columns(_convert_expr(pl.col("_cum"), pl.col("_rate")).alias("_cum_home"))
        .with_columns(
            (
                pl.col("_cum_home")
                - pl.col("_cum_home").shift(1, fill_value=0).over("target_document_id")
            ).alias("relief")
        )
        .group_by("_entry")
        .agg(pl.col("relief").sum(), pl.col("amount").sum().alias("applied"))
    )


def _journal_lines(out: _Out, allocations: pl.DataFrame) -> pl.DataFrame:
    if not out.parts:
        return pl.DataFrame(schema=JOURNAL_LINE_SCHEMA)
    parts = pl.DataFrame(
        out.parts,
        schema={
            "entry_id": pl.String,
            "document_id": pl.String,
            "doc_type": pl.String,
            "date": pl.Date,
            "account_id": pl.String,
            "foreign": pl.Int64,
            "home": pl.Int64,
            "kind": pl.String,
            "order": pl.Int32,
            "rate": pl.Int64,
            "currency": pl.String,
            "contact_id": pl.String,
            "description": pl.String,
        },
        orient="row",
    ).with_row_index("_seq")
    relief = _reliefs(out, allocations)
    parts = parts.join(relief, left_on="entry_id", right_on="_entry", how="left")
    sign = pl.col("foreign").sign()
    unapplied = pl.col("foreign").abs() - pl.col("applied").fill_null(0)
    home = (
        pl.when(pl.col("kind") == FIXED)
        .then(pl.col("home"))
        .when(pl.col("kind").is_in(["relief", "credit_control"]))
        # Applied part at the targets' rates, the rest at the document's own rate.
        .then(sign * (pl.col("relief").fill_null(0) + _convert_expr(unapplied, pl.col("rate"))))
        .when(pl.col("kind") == "fx")
        .then(pl.lit(0, pl.Int64))
        .otherwise(_convert_expr(pl.col("foreign"), pl.col("rate")))
    )
    parts = parts.with_columns(home.alias("home"))
    # Rounding residual: onto the first item line, or the exchange difference line.
    first_line = (pl.col("kind") == BALANCE_FIRST_LINE) & (
        pl.col("_seq") == pl.col("_seq").filter(pl.col("kind") == BALANCE_FIRST_LINE).min()
    ).over("entry_id")
    residual = -pl.col("home").sum().over("entry_id")
    fx_account = None
    if (parts["kind"] == "fx").any():
        try:
            fx_account = out.chart.system_account(FX_SYSTEM_ACCOUNTS, "CurrencyRate")
        except _Reject:
            fx_account = None
    parts = parts.with_columns(
        pl.when(first_line | (pl.col("kind") == "fx"))
        .then(pl.col("home") + residual)
        .otherwise(pl.col("home"))
        .alias("amount"),
        pl.when(pl.col("kind") == "fx")
        .then(pl.lit(fx_account, pl.String))
        .otherwise(pl.col("account_id"))
        .alias("account_id"),
        pl.when(pl.col("kind") == "fx")
        .then(pl.lit(out.base))
        .otherwise(pl.col("currency"))
        .alias("currency"),
    )
    # No exchange difference: no line. One without an FX account cannot be posted.
    parts = parts.filter(~((pl.col("kind") == "fx") & (pl.col("amount") == 0)))
    bad = parts.filter(pl.col("account_id").is_null())["document_id"].unique().to_list()
    out.unbooked.update(bad)
    for document_id in bad:
        out.reject(
            "Payments",
            document_id,
            "CurrencyRate",
            "an exchange difference needs the REALISEDCURRENCYGAIN system account: sync Accounts",
        )
    parts = parts.filter(~pl.col("document_id").is_in(bad))
    return (
        parts.sort("entry_id", "order", "_seq")
        .with_columns(
            pl.lit(out.company_id).alias("company_id"),
            pl.lit(PROVIDER).alias("provider"),
            (pl.int_range(pl.len()).over("entry_id") + 1).cast(pl.Int32).alias("line_no"),
            pl.col("foreign").alias("foreign_amount"),
        )
        .select(JOURNAL_LINE_SCHEMA.names())
        .cast(dict(JOURNAL_LINE_SCHEMA))
    )


# ------------------------------------------------------------------------------ cross-check


def journal_differences(books: Books, raw: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Where the expansion disagrees with Xero's own general ledger (``Journals``).

    One row per (account_id, month) whose net home amount differs: ``books`` (sum of
    ``books.journal_lines``), ``xero`` (sum of Journals' ``JournalLines[].NetAmount``),
    ``difference`` (books - xero), minor units; empty when they agree everywhere.
    """
    schema = {"account_id": pl.String, "month": pl.Date, "amount": pl.Int64}
    rows = []
    company = books.journal_lines["company_id"].first() if books.journal_lines.height else None
    records, _ = _decode(company or "", "Journals", raw.get("Journals"))
    base = None
    if "Organisation" in raw:
        orgs, _ = _decode(company or "", "Organisation", raw.get("Organisation"))
        base = _base_currency(orgs) if orgs else None
    for rec, _ in records:
        day = _day(rec.values.get("JournalDate"))
        for line in rec.values.get("JournalLines") or []:
            account = _text(line.get("AccountID"))
            if day is None or account is None:
                continue
            rows.append(
                {
                    "account_id": account,
                    "month": day.replace(day=1),
                    "amount": _minor(line.get("NetAmount"), base or "", "NetAmount"),
                }
            )
    xero = (
        pl.DataFrame(rows, schema=schema, orient="row")
        .group_by("account_id", "month")
        .agg(pl.col("amount").sum().alias("xero"))
    )
    ours = (
        books.journal_lines.group_by("account_id", pl.col("date").dt.truncate("1mo").alias("month"))
        .agg(pl.col("amount").sum().alias("books"))
        .cast({"month": pl.Date})
    )
    return (
        ours.join(xero, on=["account_id", "month"], how="full", coalesce=True)
        .with_columns(pl.col("books").fill_null(0), pl.col("xero").fill_null(0))
        .with_columns((pl.col("books") - pl.col("xero")).alias("difference"))
        .filter(pl.col("difference") != 0)
        .sort("account_id", "month")
    )
