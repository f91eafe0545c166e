"""QuickBooks Online documents (the ``raw.quickbooks_*`` landing rows) expanded into
canonical double-entry books (no Dagster).

Posting rules (QBO's own semantics, home currency, debit positive):

==============  =================================================================
Invoice         AR (ARAccountRef / chart A/R) Dr | each sales line Cr to its Item's
                IncomeAccountRef | TxnTaxDetail.TotalTax Cr to the sales-tax account
CreditMemo      the invoice entry reversed
SalesReceipt    DepositToAccountRef Dr (none: the chart's processor clearing account,
                else Undeposited Funds) | sales lines Cr | tax Cr
RefundReceipt   the sales receipt reversed (DepositToAccountRef Cr)
Bill            AP Cr | item lines Dr to the Item's ExpenseAccountRef, account lines Dr
                to their AccountRef | tax Dr (recoverable input tax, same account)
VendorCredit    the bill entry reversed
Purchase        AccountRef (bank / card) Cr | lines Dr | tax Dr; ``Credit: true`` (a card
                credit / refund) reversed
Deposit         DepositToAccountRef Dr | each line Cr to its AccountRef (a LinkedTxn line
                without one: Undeposited Funds) | CashBack Dr
Payment         DepositToAccountRef (else Undeposited Funds) Dr | AR Cr per applied line at
                the *invoice's* rate, unapplied at the payment's own | FX gain/loss
BillPayment     bank (CheckPayment.BankAccountRef) or card (CreditCardPayment.CCAccountRef)
                Cr | AP Dr as a payment | FX gain/loss
Transfer        ToAccountRef Dr | FromAccountRef Cr
JournalEntry    each line Debit + / Credit -
==============  =================================================================

Rounding follows the sandbox world's journal (finpipe/sandbox/world/journal.py): every line
is converted at the document's ``ExchangeRate`` (home per foreign unit, half away from zero)
and the difference to zero lands on the first item line; settlements relieve AR/AP
cumulatively per invoice (``round(cum * rate) - round(prev * rate)``) so a fully paid
foreign invoice leaves exactly zero and the exchange difference goes to the chart's
Exchange Gain or Loss account.

Voided documents (QBO keeps them with zero amounts and ``PrivateNote`` "Voided") and deleted
ones (landing ``deleted = true``) are documents with status ``void`` / ``deleted`` and no
lines. A record that cannot be read becomes a row of ``Books.rejects`` naming the entity,
the record id, the field and what to do; the rest of the batch goes on.

Parsing walks each payload once in Python (QBO lines are nested, heterogeneous detail
records); every money operation after that (conversion, residuals, cumulative reliefs,
exchange differences) is vectorised over the whole company.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import numpy as np
import polars as pl

from finpipe.connectors.statements.model import CURRENCY_EXPONENTS, currency_exponent
from finpipe.ledger.books import REJECT_SCHEMA, Books
from finpipe.ledger.books_schema import (
    ALLOCATION_SCHEMA,
    CONTACT_SCHEMA,
    DOCUMENT_SCHEMA,
    JOURNAL_LINE_SCHEMA,
)

PROVIDER = "quickbooks"
RATE_SCALE = 100_000_000  # ExchangeRate kept as a fixed-point integer with 8 decimals

# QBO entity -> canonical doc_type.
ENTITY_DOC_TYPE: dict[str, str] = {
    "Invoice": "invoice",
    "CreditMemo": "credit_note",
    "SalesReceipt": "sales_receipt",
    "RefundReceipt": "refund",
    "Payment": "customer_payment",
    "Bill": "bill",
    "VendorCredit": "vendor_credit",
    "BillPayment": "bill_payment",
    "Purchase": "expense",
    "Deposit": "deposit",
    "Transfer": "transfer",
    "JournalEntry": "journal",
}
SALES = frozenset({"Invoice", "CreditMemo", "SalesReceipt", "RefundReceipt"})
EXPENSES = frozenset({"Bill", "VendorCredit", "Purchase"})
# Sign of the header (control / cash) line: +1 debit.
HEADER_SIGN = {
    "Invoice": 1,
    "CreditMemo": -1,
    "SalesReceipt": 1,
    "RefundReceipt": -1,
    "Bill": -1,
    "VendorCredit": 1,
    "Purchase": -1,
    "Deposit": 1,
}
# Documents with an open balance QBO reports (``Balance``).
BALANCE_DOCS = frozenset({"Invoice", "Bill", "CreditMemo", "VendorCredit"})

# CompanyInfo.Country -> currency, when Preferences did not land (QBO company files are
# single-country; multicurrency companies always have Preferences.CurrencyPrefs).
COUNTRY_CURRENCY = {
    "US": "USD",
    "CA": "CAD",
    "GB": "GBP",
    "UK": "GBP",
    "AU": "AUD",
    "NZ": "NZD",
    "IE": "EUR",
    "DE": "EUR",
    "FR": "EUR",
    "NL": "EUR",
    "ES": "EUR",
    "IN": "INR",
}
TAX_SUBTYPES = ("SalesTaxPayable", "GlobalTaxPayable")

_LINE_COLUMNS = {
    "entry_id": pl.String,
    "seq": pl.Int32,
    "kind": pl.String,  # header | item | tax | journal | transfer | unapplied
    "account_id": pl.String,
    "foreign": pl.Int64,
    "description": pl.String,
}
_ALLOC_COLUMNS = {
    "source_entity": pl.String,
    "source_document_id": pl.String,
    "entry_id": pl.String,
    "seq": pl.Int32,
    "target_document_id": pl.String,
    "target_entity": pl.String,
    "date": pl.Date,
    "amount": pl.Int64,
    "sign": pl.Int8,  # +1: the line relieves the control account like a payment does
    "account_id": pl.String,
    "field": pl.String,
}


class _Bad(Exception):
    """One record cannot be read: which field and why (becomes a reject row)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# ----------------------------------------------------------------------------- helpers


def _dec(value: Any, field: str) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise _Bad(field, f"{value!r} is not a number")
    try:
        out = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise _Bad(field, f"{value!r} is not a number") from None
    if not out.is_finite():
        raise _Bad(field, f"{value!r} is not a finite number")
    return out


def _minor(value: Any, currency: str, field: str) -> int:
    """A QBO decimal amount as integer minor units of ``currency`` (exact or a reject)."""
    amount = _dec(value, field)
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise _Bad(
            field,
            f"{value} has more decimals than {currency} allows ({currency_exponent(currency)}); "
            "correct the amount in QuickBooks",
        )
    return int(scaled)


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        raw = value.get("value")
        return None if raw in (None, "") else str(raw)
    return None


def _date(value: Any, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _Bad(field, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _instant(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _text(value: Any) -> str | None:
    """A text field as a string (QBO sometimes sends numbers); empty is None."""
    return None if value in (None, "") else str(value)


def _updated(payload: Mapping[str, Any]) -> dt.datetime | None:
    """``MetaData.LastUpdatedTime`` as a UTC instant (None when absent or unreadable)."""
    meta = payload.get("MetaData")
    return _instant(meta.get("LastUpdatedTime")) if isinstance(meta, Mapping) else None


def _seq(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(field, f"expected a list, got {type(value).__name__}")
    return value


def _map(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Bad(field, f"expected an object, got {type(value).__name__}")
    return value


def convert(amount: np.ndarray, rate: np.ndarray, shift: np.ndarray | int = 0) -> np.ndarray:
    """``amount * rate / RATE_SCALE * 10**shift`` rounded half away from zero, exact in
    int64 (``rate`` fixed point with 8 decimals; ``shift`` = home exponent - document
    exponent). The product is split so it never overflows for |amount| < 2**40."""
    amount = np.asarray(amount, dtype=np.int64)
    rate = np.asarray(rate, dtype=np.int64)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), amount.shape)
    rate = rate * np.where(shift > 0, 10 ** np.maximum(shift, 0), 1)
    denom = RATE_SCALE * np.where(shift < 0, 10 ** np.maximum(-shift, 0), 1)
    hi, lo = np.divmod(np.abs(amount), 1 << 20)
    q_hi, r_hi = np.divmod(hi * rate, denom)
    q_lo, r_lo = np.divmod((r_hi << 20) + lo * rate, denom)
    q = (q_hi << 20) + q_lo + (r_lo * 2 >= denom)
    return np.sign(amount) * q


def _exponents(currency: pl.Series) -> np.ndarray:
    """ISO 4217 exponent of each currency code (vectorised ``currency_exponent``)."""
    return currency.replace_strict(CURRENCY_EXPONENTS, default=2, return_dtype=pl.Int64).to_numpy()


def _rate_fixed(rate: Decimal) -> int:
    return int((rate * RATE_SCALE).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# ------------------------------------------------------------------------ landing rows


def _records(
    raw: Mapping[str, pl.DataFrame], entity: str, rejects: list[dict[str, Any]]
) -> Iterator[tuple[str, bool, dict[str, Any], dt.datetime | None]]:
    """(source_id, deleted, payload, source_updated_at) of one entity's landing rows."""
    frame = raw.get(entity)
    if frame is None or frame.height == 0:
        return
    cols = frame.columns
    ids = frame["source_id"].cast(pl.String).to_list()
    deleted = frame["deleted"].to_list() if "deleted" in cols else [False] * frame.height
    payloads = frame["payload"].to_list()
    updated = (
        frame["source_updated_at"].to_list()
        if "source_updated_at" in cols
        else [None] * frame.height
    )
    for source_id, gone, text, upd in zip(ids, deleted, payloads, updated, strict=True):
        try:
            payload = json.loads(text, parse_float=Decimal) if text else {}
        except (TypeError, ValueError) as exc:
            rejects.append(_reject(entity, source_id, "payload", f"not JSON ({exc})"))
            continue
        if not isinstance(payload, dict):
            rejects.append(_reject(entity, source_id, "payload", "not a JSON object"))
            continue
        if isinstance(upd, dt.datetime) and upd.tzinfo is None:
            upd = upd.replace(tzinfo=dt.UTC)
        yield str(source_id), bool(gone), payload, upd


def _reject(entity: str, source_id: str | None, field: str, reason: str) -> dict[str, Any]:
    return {
        "provider": PROVIDER,
        "entity": entity,
        "source_id": source_id,
        "field": field,
        "reason": reason,
    }


class _Chart:
    """What the expansion needs from Account / Item / Preferences / CompanyInfo."""

    def __init__(self, raw: Mapping[str, pl.DataFrame], rejects: list[dict[str, Any]]) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        for source_id, gone, payload, _ in _records(raw, "Account", rejects):
            if not gone:
                self.accounts[source_id] = payload
        self.items: dict[str, dict[str, Any]] = {}
        for source_id, _gone, payload, _ in _records(raw, "Item", rejects):
            if payload:
                self.items[source_id] = payload  # a deleted item still books old lines
        self.home = self._home_currency(raw, rejects)
        # Invoice / bill / credit id -> the A/R or A/P account it was booked to.
        self.controls: dict[str, str] = {}
        self.ar = self._by("AccountType", "Accounts Receivable")
        self.ap = self._by("AccountType", "Accounts Payable")
        self.undeposited = self._by("AccountSubType", "UndepositedFunds")
        self.fx = self._by("AccountSubType", "ExchangeGainOrLoss")
        self.tax = None
        for subtype in TAX_SUBTYPES:
            self.tax = self.tax or self._by("AccountSubType", subtype)
        # Card takings land in a processor clearing account (an Other Current Asset named
        # "... Clearing"); the payouts (Deposits) draw from it.
        self.clearing = next(
            (
                i
                for i, a in self._ordered()
                if a.get("AccountType") == "Other Current Asset"
                and "clearing" in str(a.get("Name", "")).lower()
            ),
            None,
        )

    def _ordered(self) -> list[tuple[str, dict[str, Any]]]:
        def key(item: tuple[str, dict[str, Any]]) -> tuple[int, str]:
            ident = item[0]
            return (int(ident), "") if ident.isdigit() else (1 << 62, ident)

        return sorted(self.accounts.items(), key=key)

    def _by(self, field: str, value: str) -> str | None:
        """The first active account whose ``field`` is ``value`` (home currency first)."""
        hits = [(i, a) for i, a in self._ordered() if a.get(field) == value]
        hits.sort(
            key=lambda x: (
                x[1].get("Active") is False,
                _ref(x[1].get("CurrencyRef")) not in (None, self.home),
            )
        )
        return hits[0][0] if hits else None

    def _home_currency(
        self, raw: Mapping[str, pl.DataFrame], rejects: list[dict[str, Any]]
    ) -> str | None:
        for _, _, payload, _ in _records(raw, "Preferences", rejects):
            prefs = payload.get("CurrencyPrefs")
            home = _ref(prefs.get("HomeCurrency")) if isinstance(prefs, Mapping) else None
            if home:
                return home
        for _, _, payload, _ in _records(raw, "CompanyInfo", rejects):
            addr = payload.get("CompanyAddr")
            country = payload.get("Country") or (
                addr.get("Country") if isinstance(addr, Mapping) else None
            )
            if country in COUNTRY_CURRENCY:
                return COUNTRY_CURRENCY[country]
        # Without either, the chart's own currency (QBO accounts are in home currency
        # unless the company keeps foreign-currency bank/AR/AP accounts).
        ccys = [_ref(a.get("CurrencyRef")) for a in self.accounts.values()]
        ccys = [c for c in ccys if c]
        return max(set(ccys), key=ccys.count) if ccys else None

    def ar_for(self, currency: str) -> str | None:
        """A/R of ``currency`` (QBO keeps one per currency in a multicurrency file)."""
        return self._control("Accounts Receivable", currency) or self.ar

    def ap_for(self, currency: str) -> str | None:
        return self._control("Accounts Payable", currency) or self.ap

    def _control(self, account_type: str, currency: str) -> str | None:
        if currency == self.home:
            return None
        for ident, acc in self._ordered():
            if acc.get("AccountType") == account_type and _ref(acc.get("CurrencyRef")) == currency:
                return ident
        return None


# ------------------------------------------------------------------ one record -> rows


class _Doc:
    """One transaction payload read into a document row, its raw lines (document
    currency, signed) and its allocations."""

    def __init__(
        self,
        entity: str,
        source_id: str,
        payload: Mapping[str, Any],
        chart: _Chart,
        company_id: str,
        updated: dt.datetime | None,
    ) -> None:
        self.entity = entity
        self.id = source_id
        self.p = payload
        self.chart = chart
        self.entry_id = f"{entity}:{source_id}"
        self.lines: list[dict[str, Any]] = []
        self.allocs: list[dict[str, Any]] = []
        home = chart.home
        if home is None:
            raise _Bad(
                "Preferences.CurrencyPrefs.HomeCurrency",
                "the company's home currency is unknown: land Preferences (or CompanyInfo)",
            )
        self.currency = _ref(payload.get("CurrencyRef")) or home
        rate_raw = payload.get("ExchangeRate")
        if self.currency == home:
            rate = _dec(rate_raw, "ExchangeRate") if rate_raw is not None else Decimal(1)
            if rate != 1:
                raise _Bad("ExchangeRate", f"{rate_raw} on a home-currency ({home}) document")
        else:
            if rate_raw is None:
                raise _Bad(
                    "ExchangeRate",
                    f"a {self.currency} document in a {home} company has no ExchangeRate; "
                    "never assumed 1: re-sync the record or set its rate in QuickBooks",
                )
            rate = _dec(rate_raw, "ExchangeRate")
            if rate <= 0:
                raise _Bad("ExchangeRate", f"{rate_raw} is not a positive rate")
        self.rate = rate
        self.rate_fixed = _rate_fixed(rate)
        self.date = _date(payload.get("TxnDate"), "TxnDate")
        if self.date is None:
            raise _Bad("TxnDate", "missing: QBO always dates a transaction; re-sync the record")
        total_key = "Amount" if entity == "Transfer" else "TotalAmt"
        self.total = _minor(payload.get(total_key), self.currency, total_key)
        tax_detail = _map(payload.get("TxnTaxDetail"), "TxnTaxDetail")
        self.tax = _minor(tax_detail.get("TotalTax"), self.currency, "TxnTaxDetail.TotalTax")
        self.contact = next(
            (
                _ref(payload.get(k))
                for k in ("CustomerRef", "VendorRef", "EntityRef")
                if _ref(payload.get(k))
            ),
            None,
        )
        self.void = str(payload.get("PrivateNote") or "").startswith("Voided") and (self.total == 0)
        self.row = self._row(company_id, updated)

    # ---------------------------------------------------------------- the row

    def _row(self, company_id: str, updated: dt.datetime | None) -> dict[str, Any]:
        p, entity = self.p, self.entity
        balance = (
            _minor(p.get("Balance"), self.currency, "Balance")
            if entity in BALANCE_DOCS and p.get("Balance") is not None
            else None
        )
        if self.void:
            status = "void"
        elif entity in BALANCE_DOCS:
            if balance == 0:
                status = "paid"
            elif balance is None or balance >= self.total:  # no Balance: nothing known paid
                status = "open"
            else:
                status = "partially_paid"
        else:
            status = "posted"
        subtotal = self.total - self.tax if entity in SALES | EXPENSES else None
        cash, from_cash, external = self._cash_accounts()
        reference = p.get("PrivateNote") or p.get("PaymentRefNum")
        return {
            "company_id": company_id,
            "provider": PROVIDER,
            "document_id": self.id,
            "doc_type": ENTITY_DOC_TYPE[entity],
            "source_type": entity,
            "number": _text(p.get("DocNumber")),
            "reference": None if reference is None else str(reference),
            "contact_id": self.contact,
            "issue_date": self.date,
            "due_date": _date(p.get("DueDate"), "DueDate"),
            "currency": self.currency,
            "fx_rate": self.rate.quantize(Decimal("0.00000001")),
            "subtotal": subtotal,
            "tax": self.tax if entity in SALES | EXPENSES else None,
            "total": self.total,
            "home_total": None,  # filled vectorised
            "amount_due": balance,
            "status": status,
            "cash_account_id": cash,
            "from_cash_account_id": from_cash,
            "external_id": external,
            "updated_at": updated or _updated(p),
            "sync_version": None if p.get("SyncToken") is None else str(p.get("SyncToken")),
            "rate_fixed": self.rate_fixed,
        }

    def _cash_accounts(self) -> tuple[str | None, str | None, str | None]:
        """(cash account, paying account of a transfer, the id the bank also shows)."""
        p, entity = self.p, self.entity
        chart = self.chart
        if entity == "Transfer":
            return _ref(p.get("ToAccountRef")), _ref(p.get("FromAccountRef")), None
        if entity == "Purchase":
            number = _text(p.get("DocNumber")) if p.get("PaymentType") == "Check" else None
            return _ref(p.get("AccountRef")), None, number
        if entity == "BillPayment":
            check = _map(p.get("CheckPayment"), "CheckPayment")
            card = _map(p.get("CreditCardPayment"), "CreditCardPayment")
            account = _ref(check.get("BankAccountRef")) or _ref(card.get("CCAccountRef"))
            number = _text(p.get("DocNumber")) if p.get("PayType") == "Check" else None
            return account, None, number
        if entity == "SalesReceipt":
            account = _ref(p.get("DepositToAccountRef")) or chart.clearing or chart.undeposited
            return account, None, _text(p.get("PaymentRefNum"))
        if entity in ("Payment", "RefundReceipt"):
            account = _ref(p.get("DepositToAccountRef")) or chart.undeposited
            return account, None, _text(p.get("PaymentRefNum"))
        if entity == "Deposit":
            # A processor payout carries the processor's payout id (``po_...``) in its
            # memo: the id the bank statement shows too.
            note = str(p.get("PrivateNote") or "")
            external = note if note and " " not in note and "_" in note else None
            return _ref(p.get("DepositToAccountRef")), None, external
        return None, None, None

    # -------------------------------------------------------------- the lines

    def _line(self, seq: int, kind: str, account: str | None, foreign: int, desc: Any) -> None:
        self.lines.append(
            {
                "entry_id": self.entry_id,
                "seq": seq,
                "kind": kind,
                "account_id": account,
                "foreign": foreign,
                "description": None if desc is None else str(desc),
            }
        )

    def expand(self) -> None:
        """Raw lines (document currency, debit +) and allocations of a live document."""
        entity = self.entity
        if entity in SALES | EXPENSES:
            self._itemised()
        elif entity == "Deposit":
            self._deposit()
        elif entity in ("Payment", "BillPayment"):
            self._settlement()
        elif entity == "Transfer":
            to, frm = _ref(self.p.get("ToAccountRef")), _ref(self.p.get("FromAccountRef"))
            if not to or not frm:
                raise _Bad("FromAccountRef" if to else "ToAccountRef", "missing account")
            self._line(0, "transfer", to, self.total, "Transfer in")
            self._line(1, "transfer", frm, -self.total, "Transfer out")
        elif entity == "JournalEntry":
            self._journal()

    def _header_account(self) -> tuple[str | None, str]:
        p, chart, entity = self.p, self.chart, self.entity
        if entity in ("Invoice", "CreditMemo"):
            return _ref(p.get("ARAccountRef")) or chart.ar_for(self.currency), "ARAccountRef"
        if entity in ("Bill", "VendorCredit"):
            return _ref(p.get("APAccountRef")) or chart.ap_for(self.currency), "APAccountRef"
        if entity == "Purchase":
            return _ref(p.get("AccountRef")), "AccountRef"
        return self.row["cash_account_id"], "DepositToAccountRef"

    def _itemised(self) -> None:
        p, entity = self.p, self.entity
        sign = HEADER_SIGN[entity]
        if entity == "Purchase" and p.get("Credit") is True:
            sign = -sign  # a card credit: money back onto the card
        account, field = self._header_account()
        if not account:
            raise _Bad(field, "no account to post the document's total to (none in the chart)")
        self._line(0, "header", account, sign * self.total, None)
        net = 0
        seq = 1
        for where, raw in self._flat_lines(_seq(p.get("Line"), "Line"), "Line"):
            kind = raw.get("DetailType")
            if kind in (None, "SubTotalLineDetail", "DescriptionOnly", "DescriptionLineDetail"):
                continue
            amount = _minor(raw.get("Amount"), self.currency, f"{where}.Amount")
            detail = _map(raw.get(kind), f"{where}.{kind}")
            line_sign = -sign
            if kind == "SalesItemLineDetail":
                account = self._item_account(detail, "IncomeAccountRef", where, kind)
            elif kind == "ItemBasedExpenseLineDetail":
                account = self._item_account(detail, "ExpenseAccountRef", where, kind)
            elif kind == "AccountBasedExpenseLineDetail":
                account = _ref(detail.get("AccountRef"))
                if not account:
                    raise _Bad(f"{where}.{kind}.AccountRef", "missing")
            elif kind == "DiscountLineDetail":
                account = _ref(detail.get("DiscountAccountRef"))
                if not account:
                    raise _Bad(f"{where}.{kind}.DiscountAccountRef", "missing")
                line_sign = sign  # a discount reduces the sale
            else:
                raise _Bad(f"{where}.DetailType", f"{kind!r} is not a line QBO posts here")
            net += -line_sign * sign * amount
            self._line(seq, "item", account, line_sign * amount, raw.get("Description"))
            seq += 1
        if self.tax:
            if not self.chart.tax:
                raise _Bad(
                    "TxnTaxDetail.TotalTax",
                    "tax on the document but no sales-tax liability account landed "
                    "(AccountSubType SalesTaxPayable / GlobalTaxPayable)",
                )
            self._line(seq, "tax", self.chart.tax, -sign * self.tax, "Sales tax / VAT")
        if net + self.tax != self.total:
            raise _Bad(
                "TotalAmt",
                f"lines ({net}) plus tax ({self.tax}) do not make the total ({self.total}) "
                f"in {self.currency} minor units; re-sync the record",
            )

    def _flat_lines(self, lines: list[Any], base: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for i, raw in enumerate(lines):
            where = f"{base}[{i}]"
            if not isinstance(raw, Mapping):
                raise _Bad(where, "not an object")
            if raw.get("DetailType") == "GroupLineDetail":
                group = _map(raw.get("GroupLineDetail"), f"{where}.GroupLineDetail")
                yield from self._flat_lines(
                    _seq(group.get("Line"), f"{where}.GroupLineDetail.Line"),
                    f"{where}.GroupLineDetail.Line",
                )
            else:
                yield where, raw

    def _item_account(self, detail: Mapping[str, Any], key: str, where: str, kind: str) -> str:
        item_id = _ref(detail.get("ItemRef"))
        item = self.chart.items.get(item_id or "")
        account = _ref(item.get(key)) if item else None
        if account is None and key == "IncomeAccountRef":
            # QBO repeats the item's income account on the line (read-only).
            account = _ref(detail.get("ItemAccountRef"))
        if account is None:
            missing = "is not landed" if item is None else f"has no {key}"
            raise _Bad(
                f"{where}.{kind}.ItemRef",
                f"item {item_id} {missing}: land the Item records (or fix the item) first",
            )
        return account

    def _deposit(self) -> None:
        p = self.p
        cash = self.row["cash_account_id"]
        if not cash:
            raise _Bad("DepositToAccountRef", "missing")
        self._line(0, "header", cash, self.total, None)
        seq, net = 1, 0
        for i, raw in enumerate(_seq(p.get("Line"), "Line")):
            where = f"Line[{i}]"
            if not isinstance(raw, Mapping):
                raise _Bad(where, "not an object")
            amount = _minor(raw.get("Amount"), self.currency, f"{where}.Amount")
            detail = _map(raw.get("DepositLineDetail"), f"{where}.DepositLineDetail")
            account = _ref(detail.get("AccountRef"))
            if account is None and raw.get("LinkedTxn"):
                account = self.chart.undeposited  # funds received earlier, now banked
            if account is None:
                raise _Bad(f"{where}.DepositLineDetail.AccountRef", "missing")
            self._line(seq, "item", account, -amount, raw.get("Description"))
            seq, net = seq + 1, net + amount
        cash_back = _map(p.get("CashBack"), "CashBack")
        back = _minor(cash_back.get("Amount"), self.currency, "CashBack.Amount")
        if back:
            account = _ref(cash_back.get("AccountRef"))
            if not account:
                raise _Bad("CashBack.AccountRef", "missing")
            self._line(seq, "item", account, back, cash_back.get("Memo"))
        if net - back != self.total:
            raise _Bad("TotalAmt", f"lines ({net}) less cash back ({back}) != {self.total}")

    def _settlement(self) -> None:
        p, entity, chart = self.p, self.entity, self.chart
        payment = entity == "Payment"
        cash = self.row["cash_account_id"]
        targets = [
            str(link.get("TxnId"))
            for raw in _seq(p.get("Line"), "Line")
            if isinstance(raw, Mapping)
            for link in (raw.get("LinkedTxn") or [])[:1]
            if isinstance(link, Mapping)
        ]
        # The control account: the payment's own, else the one its invoices / bills were
        # booked to, else the chart's.
        booked = next((chart.controls[t] for t in targets if t in chart.controls), None)
        if payment:
            control = _ref(p.get("ARAccountRef")) or booked or chart.ar_for(self.currency)
            cash_field, control_field, sign = "DepositToAccountRef", "ARAccountRef", 1
        else:
            control = _ref(p.get("APAccountRef")) or booked or chart.ap_for(self.currency)
            cash_field = "CheckPayment.BankAccountRef"
            control_field, sign = "APAccountRef", -1
        if not cash:
            raise _Bad(cash_field, "no account the money moved through")
        if not control:
            raise _Bad(
                control_field,
                "no control account: none on the payment, its targets are not landed and "
                "the landed chart has none; land the Account and target records first",
            )
        # sign: +1 money in (customer payment), -1 money out (bill payment).
        self._line(0, "header", cash, sign * self.total, None)
        applied = 0
        for i, raw in enumerate(_seq(p.get("Line"), "Line")):
            where = f"Line[{i}]"
            if not isinstance(raw, Mapping):
                raise _Bad(where, "not an object")
            amount = _minor(raw.get("Amount"), self.currency, f"{where}.Amount")
            links = _seq(raw.get("LinkedTxn"), f"{where}.LinkedTxn")
            if not links:
                raise _Bad(f"{where}.LinkedTxn", "a payment line names no transaction")
            link = _map(links[0], f"{where}.LinkedTxn[0]")
            target = link.get("TxnId")
            if target in (None, ""):
                raise _Bad(f"{where}.LinkedTxn[0].TxnId", "missing")
            ttype = str(link.get("TxnType") or "")
            # A credit memo / vendor credit used inside a payment counts against it.
            line_sign = -1 if ttype in ("CreditMemo", "VendorCredit") else 1
            applied += line_sign * amount
            self.allocs.append(
                {
                    "source_entity": entity,
                    "source_document_id": self.id,
                    "entry_id": self.entry_id,
                    "seq": i + 1,
                    "target_document_id": str(target),
                    "target_entity": ttype,
                    "date": self.date,
                    "amount": amount,
                    "sign": line_sign,
                    "account_id": chart.controls.get(str(target), control),
                    "field": f"{where}.LinkedTxn[0].TxnId",
                }
            )
        unapplied = self.total - applied
        if unapplied:
            # On account: AR / AP at the payment's own rate.
            self._line(len(self.allocs) + 1, "unapplied", control, -sign * unapplied, None)

    def _journal(self) -> None:
        for i, raw in enumerate(_seq(self.p.get("Line"), "Line")):
            where = f"Line[{i}]"
            if not isinstance(raw, Mapping):
                raise _Bad(where, "not an object")
            if raw.get("DetailType") in ("DescriptionOnly",):
                continue
            detail = _map(raw.get("JournalEntryLineDetail"), f"{where}.JournalEntryLineDetail")
            posting = detail.get("PostingType")
            if posting not in ("Debit", "Credit"):
                raise _Bad(f"{where}.JournalEntryLineDetail.PostingType", f"{posting!r}")
            account = _ref(detail.get("AccountRef"))
            if not account:
                raise _Bad(f"{where}.JournalEntryLineDetail.AccountRef", "missing")
            amount = _minor(raw.get("Amount"), self.currency, f"{where}.Amount")
            signed = amount if posting == "Debit" else -amount
            self._line(i, "journal", account, signed, raw.get("Description"))
        if sum(x["foreign"] for x in self.lines) != 0:
            raise _Bad("Line", "debits and credits do not balance in the document currency")


# ------------------------------------------------------------------------- the books


def books_from_quickbooks(raw: Mapping[str, pl.DataFrame], *, company_id: str) -> Books:
    """One company's QBO landing rows (entity name -> ``raw.quickbooks_<entity>`` rows:
    ``source_id``, ``deleted``, ``payload``, optionally ``source_updated_at``) as canonical
    books: contacts, documents (live, void and deleted), balanced journal lines of every
    live document (``entry_id`` = ``<Entity>:<Id>``), allocations and rejects.

    A record that cannot be read (bad JSON, a foreign document without ExchangeRate, a line
    whose item is not landed, totals that do not add up, a payment of an unknown foreign
    invoice ...) is left out and named in ``rejects``; it never raises."""
    rejects: list[dict[str, Any]] = []
    chart = _Chart(raw, rejects)
    contacts = _contacts(raw, chart, company_id, rejects)
    docs: list[_Doc] = []
    dead: list[dict[str, Any]] = []
    # Invoices, bills and credits first: settlements relieve the control account their
    # targets were booked to.
    for entity in sorted(ENTITY_DOC_TYPE, key=lambda e: e not in BALANCE_DOCS):
        for source_id, gone, payload, updated in _records(raw, entity, rejects):
            if gone:
                dead.append(_dead_row(entity, source_id, payload, chart, company_id, updated))
                continue
            try:
                doc = _Doc(entity, source_id, payload, chart, company_id, updated)
                if not doc.void:
                    doc.expand()
            except _Bad as bad:
                rejects.append(_reject(entity, source_id, bad.field, bad.reason))
                continue
            docs.append(doc)
            if entity in BALANCE_DOCS and doc.lines:
                chart.controls[source_id] = doc.lines[0]["account_id"]

    doc_rows = [d.row for d in docs]
    documents = (
        pl.DataFrame(doc_rows, schema={**DOCUMENT_SCHEMA, "rate_fixed": pl.Int64}, orient="row")
        if doc_rows
        else pl.DataFrame(schema={**DOCUMENT_SCHEMA, "rate_fixed": pl.Int64})
    )
    lines = (
        pl.DataFrame([x for d in docs for x in d.lines], schema=_LINE_COLUMNS, orient="row")
        if any(d.lines for d in docs)
        else pl.DataFrame(schema=_LINE_COLUMNS)
    )
    allocs = (
        pl.DataFrame([x for d in docs for x in d.allocs], schema=_ALLOC_COLUMNS, orient="row")
        if any(d.allocs for d in docs)
        else pl.DataFrame(schema=_ALLOC_COLUMNS)
    )
    allocs = _credit_applications(docs, allocs)

    home_exp = currency_exponent(chart.home) if chart.home else 2
    documents = documents.with_columns(
        pl.Series(
            "home_total",
            convert(
                documents["total"].to_numpy(),
                documents["rate_fixed"].to_numpy(),
                home_exp - _exponents(documents["currency"]) if documents.height else 0,
            ),
            dtype=pl.Int64,
        )
    )
    # Settlements whose target cannot be priced are rejected here (and their lines dropped).
    reliefs, bad = _reliefs(documents, allocs, chart, home_exp)
    for row in bad.iter_rows(named=True):
        rejects.append(
            _reject(row["source_entity"], row["source_document_id"], row["field"], row["reason"])
        )
    drop = bad["entry_id"].unique()
    journal = _journal_lines(
        _without(documents, drop),
        _without(lines, drop),
        _without(reliefs, drop),
        chart,
        company_id,
        home_exp,
    )
    # An exchange difference with no Exchange Gain or Loss account in the landed chart.
    no_fx = journal.filter(pl.col("account_id").is_null())["entry_id"].unique()
    for entry in no_fx.to_list():
        entity, _, source_id = entry.partition(":")
        rejects.append(
            _reject(
                entity,
                source_id,
                "ExchangeRate",
                "the settlement has an exchange difference but no Exchange Gain or Loss "
                "account (AccountSubType ExchangeGainOrLoss) landed; land the Account records",
            )
        )
    drop = pl.concat([drop, no_fx])
    journal = _without(journal, drop)
    documents = _without(documents, drop)
    allocs = _without(allocs, drop)
    if dead:
        dead_frame = pl.DataFrame(dead, schema=DOCUMENT_SCHEMA, orient="row")
        documents = pl.concat([documents.drop("rate_fixed"), dead_frame])
    else:
        documents = documents.drop("rate_fixed")
    allocations = _allocations(allocs, documents, company_id)
    return Books(
        contacts=contacts,
        documents=documents.select(DOCUMENT_SCHEMA.names()).cast(DOCUMENT_SCHEMA),
        journal_lines=journal,
        allocations=allocations,
        rejects=pl.DataFrame(
            [{"company_id": company_id, **r} for r in rejects], schema=REJECT_SCHEMA, orient="row"
        )
        if rejects
        else pl.DataFrame(schema=REJECT_SCHEMA),
    )


def _without(frame: pl.DataFrame, entries: pl.Series) -> pl.DataFrame:
    """``frame`` less the rows of rejected entries (``entry_id`` or, for documents,
    ``<source_type>:<document_id>``)."""
    if entries.len() == 0:
        return frame
    key = (
        pl.col("entry_id")
        if "entry_id" in frame.columns
        else pl.col("source_type") + ":" + pl.col("document_id")
    )
    return frame.filter(~key.is_in(entries.implode()))


def _dead_row(
    entity: str,
    source_id: str,
    payload: Mapping[str, Any],
    chart: _Chart,
    company_id: str,
    updated: Any,
) -> dict[str, Any]:
    """A deleted document: its header when the landed payload still has one (a CDC
    tombstone has only Id and MetaData), status ``deleted``, never lines."""
    try:
        row = _Doc(entity, source_id, payload, chart, company_id, updated).row
    except _Bad:
        row = None  # a bare tombstone: nothing more to read
    if row is not None:
        row.pop("rate_fixed")
        return {**row, "status": "deleted", "amount_due": None}
    return {
        "company_id": company_id,
        "provider": PROVIDER,
        "document_id": source_id,
        "doc_type": ENTITY_DOC_TYPE[entity],
        "source_type": entity,
        "status": "deleted",
        "updated_at": updated or _updated(payload),
        "sync_version": None if payload.get("SyncToken") is None else str(payload["SyncToken"]),
    }


def _credit_applications(docs: list[_Doc], allocs: pl.DataFrame) -> pl.DataFrame:
    """Credit memos / vendor credits applied straight to invoices / bills: QBO names them in
    the target's ``LinkedTxn`` (no amount). What a credit applied is its total less its
    remaining ``Balance``; over several targets (oldest first) each gets at most what its
    own total less its ``Balance`` less its payments leaves unexplained. One loop per
    invoice or bill that names a credit: a handful."""
    by_id = {(d.entity, d.id): d for d in docs}
    paid_rows = (
        allocs.filter(pl.col("sign") != 0)
        .group_by("target_document_id")
        .agg((pl.col("amount") * pl.col("sign").cast(pl.Int64)).sum())
        .rows()
    )
    paid = dict(paid_rows)
    left: dict[str, int] = {}  # credit id -> applied amount not placed yet
    rows: list[dict[str, Any]] = []
    targets = [d for d in docs if d.entity in ("Invoice", "Bill") and not d.void]
    for d in sorted(targets, key=lambda x: (x.date, x.id.zfill(20))):
        owed = d.total - (d.row["amount_due"] or 0) - paid.get(d.id, 0)
        for link in d.p.get("LinkedTxn") or []:
            if not isinstance(link, Mapping):
                continue
            ctype = str(link.get("TxnType") or "")
            credit = by_id.get((ctype, str(link.get("TxnId"))))
            if ctype not in ("CreditMemo", "VendorCredit") or credit is None or credit.void:
                continue
            avail = left.setdefault(credit.id, credit.total - (credit.row["amount_due"] or 0))
            amount = min(avail, max(owed, 0))
            if amount <= 0:
                continue
            left[credit.id] = avail - amount
            owed -= amount
            rows.append(
                {
                    "source_entity": ctype,
                    "source_document_id": credit.id,
                    "entry_id": credit.entry_id,
                    "seq": 0,
                    "target_document_id": d.id,
                    "target_entity": d.entity,
                    "date": credit.date,
                    "amount": amount,
                    "sign": 0,  # no lines: the credit's own entry already moved AR / AP
                    "account_id": None,
                    "field": "LinkedTxn",
                }
            )
    if not rows:
        return allocs
    return pl.concat([allocs, pl.DataFrame(rows, schema=_ALLOC_COLUMNS, orient="row")])


def _reliefs(
    documents: pl.DataFrame, allocs: pl.DataFrame, chart: _Chart, home_exp: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """AR / AP relief (home) of every settlement line, cumulative per target at the
    target's own rate; and the lines whose target cannot be priced (rejects)."""
    targets = documents.select(
        pl.col("document_id").alias("target_document_id"),
        pl.col("source_type").alias("t_entity"),
        pl.col("rate_fixed").alias("t_rate"),
        pl.col("currency").alias("t_currency"),
    )
    # Ids are unique across QBO transactions of a realm; keep one per id all the same.
    targets = targets.unique("target_document_id", keep="first")
    src = documents.select(
        pl.col("document_id").alias("source_document_id"),
        pl.col("source_type").alias("source_entity"),
        pl.col("currency").alias("s_currency"),
    )
    a = allocs.join(src, on=["source_document_id", "source_entity"], how="left").join(
        targets, on="target_document_id", how="left"
    )
    home = chart.home
    a = a.with_columns(
        pl.when(pl.col("t_rate").is_not_null())
        .then(pl.col("t_rate"))
        .when(pl.col("s_currency") == home)
        .then(pl.lit(RATE_SCALE, pl.Int64))  # an unlanded home-currency target: rate 1
        .otherwise(None)
        .alias("t_rate"),
        pl.coalesce("t_currency", "s_currency").alias("t_currency"),
    )
    bad = a.filter(
        (pl.col("sign") != 0)
        & (pl.col("t_rate").is_null() | (pl.col("t_currency") != pl.col("s_currency")))
    ).with_columns(
        pl.when(pl.col("t_rate").is_null())
        .then(
            pl.lit("links ")
            + pl.col("target_entity")
            + " "
            + pl.col("target_document_id")
            + ", which is not in the books (not landed, or itself rejected: see ops.quarantine);"
            " a foreign-currency settlement needs its rate: land or fix the target first"
        )
        .otherwise(
            pl.lit("currency ")
            + pl.col("s_currency")
            + " differs from the target's "
            + pl.col("t_currency")
        )
        .alias("reason")
    )
    ok = a.filter(pl.col("t_rate").is_not_null())
    if ok.height == 0:
        return ok.with_columns(pl.lit(0, pl.Int64).alias("home")), bad
    # Cumulative rounding per target in (date, source) order, credits included.
    ok = (
        ok.with_columns(pl.col("source_document_id").str.zfill(20).alias("_src_key"))
        .sort("target_document_id", "date", "_src_key", "seq")
        .with_columns(pl.col("amount").cum_sum().over("target_document_id").alias("cum"))
    )
    shift = home_exp - _exponents(ok["t_currency"])
    cum_home = convert(ok["cum"].to_numpy(), ok["t_rate"].to_numpy(), shift)
    ok = ok.with_columns(pl.Series("cum_home", cum_home, dtype=pl.Int64)).with_columns(
        (
            pl.col("cum_home")
            - pl.col("cum_home").shift(1, fill_value=0).over("target_document_id")
        ).alias("home")
    )
    return ok.filter(pl.col("sign") != 0), bad


def _journal_lines(
    documents: pl.DataFrame,
    lines: pl.DataFrame,
    reliefs: pl.DataFrame,
    chart: _Chart,
    company_id: str,
    home_exp: int,
) -> pl.DataFrame:
    """Home-currency lines of every live document: convert, push the rounding residual to
    the first item line, add settlement reliefs and their exchange differences."""
    docs = documents.filter(pl.col("status") != "void").select(
        (pl.col("source_type") + ":" + pl.col("document_id")).alias("entry_id"),
        "document_id",
        "doc_type",
        "source_type",
        pl.col("issue_date").alias("date"),
        "currency",
        "rate_fixed",
        "contact_id",
    )
    x = lines.join(docs, on="entry_id", how="inner")
    shift = home_exp - _exponents(x["currency"]) if x.height else 0
    x = x.with_columns(
        pl.Series(
            "amount",
            convert(x["foreign"].to_numpy(), x["rate_fixed"].to_numpy(), shift),
            dtype=pl.Int64,
        )
    )
    # Settlement reliefs: AR credit (payment) / AP debit (bill payment), per applied line.
    if reliefs.height:
        # payment: AR credit (-); bill payment: AP debit (+); a credit used inside the
        # payment (sign -1) the other way.
        direction = pl.when(pl.col("source_entity") == "Payment").then(-1).otherwise(1) * pl.col(
            "sign"
        ).cast(pl.Int64)
        r = reliefs.select(
            "entry_id",
            pl.col("seq").cast(pl.Int32),
            pl.lit("relief").alias("kind"),
            "account_id",
            (direction * pl.col("amount")).alias("foreign"),
            pl.lit(None, pl.String).alias("description"),
            (direction * pl.col("home")).alias("amount"),
        ).join(docs, on="entry_id", how="inner")
        x = pl.concat([x, r.select(x.columns)])
    # Residual: entries must sum to zero. Item documents and journals put it on their first
    # item / journal line; settlements book it as the exchange difference.
    settle = pl.col("source_type").is_in(["Payment", "BillPayment"])
    sums = x.group_by("entry_id").agg(
        pl.col("amount").sum().alias("residual"), settle.first().alias("settle")
    )
    x = x.join(sums, on="entry_id")
    first = (
        pl.col("seq")
        == pl.col("seq").filter(pl.col("kind").is_in(["item", "journal"])).min().over("entry_id")
    ) & pl.col("kind").is_in(["item", "journal"])
    x = x.with_columns(
        pl.when(first & ~pl.col("settle"))
        .then(pl.col("amount") - pl.col("residual"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    fx = (
        x.filter(pl.col("settle") & (pl.col("residual") != 0))
        .group_by("entry_id")
        .agg(
            pl.col(
                "document_id", "doc_type", "source_type", "date", "currency", "contact_id"
            ).first(),
            pl.col("residual").first(),
            pl.col("seq").max().alias("seq"),
        )
        .with_columns(
            (pl.col("seq") + 1).cast(pl.Int32),
            pl.lit("fx").alias("kind"),
            pl.lit(chart.fx, pl.String).alias("account_id"),
            pl.lit(0, pl.Int64).alias("foreign"),
            pl.lit("Exchange difference").alias("description"),
            (-pl.col("residual")).alias("amount"),
            pl.lit(None, pl.Int64).alias("rate_fixed"),
            pl.lit(True).alias("settle"),
        )
    )
    x = pl.concat([x, fx.select(x.columns)]) if fx.height else x
    # Items not in a residual pass keep the residual of zero; entries without an item line
    # (e.g. a total with tax only) take it on the header.
    leftover = x.group_by("entry_id").agg(pl.col("amount").sum().alias("left"))
    x = x.join(leftover, on="entry_id").with_columns(
        pl.when((pl.col("left") != 0) & (pl.col("kind") == "header"))
        .then(pl.col("amount") - pl.col("left"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    order = {
        "header": 0,
        "transfer": 0,
        "item": 1,
        "journal": 1,
        "relief": 1,
        "unapplied": 2,
        "tax": 3,
        "fx": 4,
    }
    x = x.with_columns(pl.col("kind").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
    x = x.sort("entry_id", "_o", "seq").with_columns(
        (pl.int_range(pl.len()).over("entry_id") + 1).cast(pl.Int32).alias("line_no")
    )
    return (
        x.select(
            pl.lit(company_id).alias("company_id"),
            pl.lit(PROVIDER).alias("provider"),
            "entry_id",
            "line_no",
            "document_id",
            "doc_type",
            "date",
            "account_id",
            "amount",
            pl.when(pl.col("kind") == "fx")
            .then(pl.lit(chart.home))
            .otherwise(pl.col("currency"))
            .alias("currency"),
            "foreign",
            "contact_id",
            "description",
        )
        .rename({"foreign": "foreign_amount"})
        .cast(JOURNAL_LINE_SCHEMA)
    )


def _allocations(allocs: pl.DataFrame, documents: pl.DataFrame, company_id: str) -> pl.DataFrame:
    """Applied payments and credits, in the target's currency (QBO requires the payment's
    currency to be the invoice's)."""
    live = documents.filter(~pl.col("status").is_in(["void", "deleted"])).select(
        pl.col("document_id").alias("source_document_id"),
        pl.col("source_type").alias("source_entity"),
        "currency",
    )
    a = allocs.filter(pl.col("target_entity").is_in(["Invoice", "Bill"])).join(
        live, on=["source_document_id", "source_entity"], how="inner"
    )
    return a.select(
        pl.lit(company_id).alias("company_id"),
        pl.lit(PROVIDER).alias("provider"),
        # A payment may apply two of its lines to one invoice: the line keeps ids apart.
        pl.concat_str(
            "source_document_id", "target_document_id", pl.col("seq").cast(pl.String), separator=":"
        ).alias("allocation_id"),
        "source_document_id",
        "target_document_id",
        "date",
        "amount",
        "currency",
    ).cast(ALLOCATION_SCHEMA)


def _contacts(
    raw: Mapping[str, pl.DataFrame],
    chart: _Chart,
    company_id: str,
    rejects: list[dict[str, Any]],
) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for entity, kind in (("Customer", "customer"), ("Vendor", "vendor"), ("Employee", "employee")):
        for source_id, gone, p, updated in _records(raw, entity, rejects):
            email = p.get("PrimaryEmailAddr")
            bank = p.get("VendorPaymentBankDetail")
            rows.append(
                {
                    "company_id": company_id,
                    "provider": PROVIDER,
                    "contact_id": source_id,
                    "name": _text(p.get("DisplayName") or p.get("CompanyName")),
                    "kind": kind,
                    "is_customer": kind == "customer",
                    "is_supplier": kind == "vendor",
                    "email": _text(email.get("Address")) if isinstance(email, Mapping) else None,
                    "tax_number": _text(p.get("PrimaryTaxIdentifier") or p.get("TaxIdentifier")),
                    "bank_account_number": _text(bank.get("BankAccountNumber"))
                    if isinstance(bank, Mapping)
                    else None,
                    "currency": _ref(p.get("CurrencyRef")) or chart.home,
                    "is_active": (not gone) and p.get("Active", True) is not False,
                    "updated_at": updated or _updated(p),
                }
            )
    if not rows:
        return pl.DataFrame(schema=CONTACT_SCHEMA)
    return pl.DataFrame(rows, schema=CONTACT_SCHEMA, orient="row")


__all__ = ["PROVIDER", "books_from_quickbooks", "convert"]
