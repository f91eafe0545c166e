"""The generated world's QuickBooks rows rendered as QBO JSON entities.

World ``doc_type`` → QBO entity:

==================  ==============  ===============================================
doc_type            QBO entity      notes
==================  ==============  ===============================================
invoice             Invoice         SalesItemLineDetail lines + SubTotal line
credit_note         CreditMemo      RemainingCredit = total − applied
sales_receipt       SalesReceipt    DepositToAccountRef = the bank's ledger account
refund              RefundReceipt   DepositToAccountRef = the account refunded from
customer_payment    Payment         Line[].LinkedTxn → Invoice; UnappliedAmt
bill                Bill            Account- or ItemBasedExpenseLineDetail lines
vendor_credit       VendorCredit    lines as Bill
bill_payment        BillPayment     PayType Check / CreditCard; Line[].LinkedTxn → Bill
expense             Purchase        PaymentType Cash / Check / CreditCard; EntityRef
deposit             Deposit         DepositLineDetail lines
transfer            Transfer        FromAccountRef / ToAccountRef / Amount
journal             JournalEntry    JournalEntryLineDetail, PostingType Debit/Credit
==================  ==============  ===============================================

Contacts of kind ``customer``/``vendor`` become Customer/Vendor (employees are payroll
aggregates and have no landing table, so they are not served); accounts become Account,
items Item, the company CompanyInfo and Preferences (``CurrencyPrefs.HomeCurrency``,
``MultiCurrencyEnabled``). Documents with status ``void`` are served the way QBO keeps a
voided transaction (zero amounts, ``PrivateNote`` "Voided"); ``deleted`` ones only as CDC
tombstones. Money is integer minor units in the world and a JSON number with two decimals
here (``Decimal`` built from the integer, so exact). Applied credit notes and vendor
credits show in the invoice's / bill's ``LinkedTxn`` (QBO would route them through a
Payment / BillPayment; the sandbox keeps the world's direct allocation).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from finpipe.sandbox.world.timezones import COUNTRY_TIMEZONES

CENT = Decimal("0.01")
DOC_TYPE_ENTITY: dict[str, str] = {
    "invoice": "Invoice",
    "credit_note": "CreditMemo",
    "sales_receipt": "SalesReceipt",
    "refund": "RefundReceipt",
    "customer_payment": "Payment",
    "bill": "Bill",
    "vendor_credit": "VendorCredit",
    "bill_payment": "BillPayment",
    "expense": "Purchase",
    "deposit": "Deposit",
    "transfer": "Transfer",
    "journal": "JournalEntry",
}
SALES_FORMS = frozenset({"Invoice", "CreditMemo", "SalesReceipt", "RefundReceipt", "Estimate"})
EXPENSE_FORMS = frozenset({"Bill", "VendorCredit", "Purchase"})
# The company's zone: MetaData times carry its offset, as QuickBooks writes them.
TIMEZONES = COUNTRY_TIMEZONES
CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "GBP": "British Pound Sterling",
    "EUR": "Euro",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
    "NZD": "New Zealand Dollar",
    "CHF": "Swiss Franc",
    "JPY": "Japanese Yen",
    "SEK": "Swedish Krona",
    "NOK": "Norwegian Krone",
    "DKK": "Danish Krone",
    "PLN": "Polish Zloty",
    "MXN": "Mexican Peso",
    "CNY": "Chinese Yuan Renminbi",
    "INR": "Indian Rupee",
    "SGD": "Singapore Dollar",
    "HKD": "Hong Kong Dollar",
    "ZAR": "South African Rand",
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
BALANCE_SHEET = frozenset({"Asset", "Liability", "Equity"})


def money(cents: int | None) -> Decimal | None:
    """Integer minor units as a two-decimal Decimal (``12345`` → ``123.45``, exact)."""
    return None if cents is None else Decimal(int(cents)).scaleb(-2)


def plain(number: Decimal | None) -> Decimal | None:
    """A Decimal without trailing zeros or exponent (``1.25000000`` → ``1.25``)."""
    if number is None:
        return None
    text = format(number.normalize(), "f")
    return Decimal(text)


def zone_for(country: str | None) -> ZoneInfo:
    return ZoneInfo(TIMEZONES.get(country or "", "UTC"))


def currency_ref(code: str) -> dict[str, str]:
    ref = {"value": code}
    if code in CURRENCY_NAMES:
        ref["name"] = CURRENCY_NAMES[code]
    return ref


def _instant(value: dt.datetime, tz: dt.tzinfo) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).replace(microsecond=0).isoformat(timespec="seconds")


def _meta(created: dt.datetime, updated: dt.datetime, tz: dt.tzinfo) -> dict[str, str]:
    return {"CreateTime": _instant(created, tz), "LastUpdatedTime": _instant(updated, tz)}


@dataclass
class RealmWorld:
    """One realm's rows from the world, collected."""

    realm_id: str
    company: dict[str, Any]
    accounts: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    items: list[dict[str, Any]]
    bank_accounts: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    allocations: list[dict[str, Any]]
    balances: dict[str, int]  # account_id -> sum of journal amounts (home, debit +)


def _table(world: Any, name: str) -> pl.LazyFrame:
    return world.table(name)


def realms(world: Any) -> list[dict[str, Any]]:
    """Companies on QuickBooks (``accounting_provider`` quickbooks or both)."""
    frame = _table(world, "companies").filter(pl.col("qbo_realm_id").is_not_null()).collect()
    return frame.to_dicts()


def collect_realm(world: Any, company: Mapping[str, Any]) -> RealmWorld:
    """The rows of ``company``'s realm (provider == quickbooks)."""
    cid = company["company_id"]

    def rows(name: str, provider: bool = True) -> list[dict[str, Any]]:
        frame = _table(world, name).filter(pl.col("company_id") == cid)
        if provider:
            frame = frame.filter(pl.col("provider") == "quickbooks")
        return frame.collect().to_dicts()

    journal = (
        _table(world, "journal_lines")
        .filter((pl.col("company_id") == cid) & (pl.col("provider") == "quickbooks"))
        .group_by("account_id")
        .agg(pl.col("amount").sum())
        .collect()
    )
    return RealmWorld(
        realm_id=str(company["qbo_realm_id"]),
        company=dict(company),
        accounts=rows("accounts"),
        contacts=rows("contacts"),
        items=rows("items"),
        bank_accounts=rows("bank_accounts", provider=False),
        documents=rows("documents"),
        lines=rows("document_lines"),
        allocations=rows("allocations"),
        balances=dict(zip(journal["account_id"], journal["amount"], strict=True)),
    )


class _Renderer:
    def __init__(self, rw: RealmWorld) -> None:
        self.rw = rw
        self.tz = zone_for(rw.company.get("country"))
        self.home = str(rw.company["home_currency"])
        self.us = rw.company.get("country") == "US"
        self.accounts = {a["account_id"]: a for a in rw.accounts}
        self.contacts = {c["contact_id"]: c for c in rw.contacts}
        self.items = {i["item_id"]: i for i in rw.items}
        self.banks = {b["bank_account_id"]: b for b in rw.bank_accounts}
        # The QBO account of each bank account (a company on both providers has one ledger
        # account per provider; bank_accounts.ledger_account_id names only one of them).
        self.bank_ledger = {
            a["bank_account_id"]: a["account_id"] for a in rw.accounts if a.get("bank_account_id")
        }
        self.lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in rw.lines:
            self.lines[line["document_id"]].append(line)
        for doc_lines in self.lines.values():
            doc_lines.sort(key=lambda x: x["line_no"])
        self.applied_to: dict[str, list[dict[str, Any]]] = defaultdict(list)  # target ->
        self.applied_from: dict[str, list[dict[str, Any]]] = defaultdict(list)  # source ->
        for alloc in rw.allocations:
            self.applied_to[alloc["target_document_id"]].append(alloc)
            self.applied_from[alloc["source_document_id"]].append(alloc)
        self.doc_type = {d["document_id"]: d["doc_type"] for d in rw.documents}
        self.multi = any(d["currency"] != self.home for d in rw.documents) or any(
            c["currency"] != self.home for c in rw.contacts
        )
        self.ap = self._first_account("Accounts Payable")
        self.ar = self._first_account("Accounts Receivable")

    def _first_account(self, account_type: str) -> dict[str, str] | None:
        for acc in self.rw.accounts:
            if acc["account_type"] == account_type:
                return self.account_ref(acc["account_id"])
        return None

    # ------------------------------------------------------------------- refs

    def account_ref(self, account_id: str | None) -> dict[str, str] | None:
        if account_id is None:
            return None
        acc = self.accounts.get(account_id)
        return {"value": account_id, "name": acc["name"]} if acc else {"value": account_id}

    def bank_ref(self, bank_account_id: str | None) -> dict[str, str] | None:
        if not bank_account_id:
            return None
        ledger = self.bank_ledger.get(bank_account_id)
        if ledger is None and bank_account_id in self.banks:
            ledger = self.banks[bank_account_id]["ledger_account_id"]
        return self.account_ref(ledger)

    def contact_ref(self, contact_id: str | None, with_type: bool = False) -> dict[str, str] | None:
        if contact_id is None:
            return None
        contact = self.contacts.get(contact_id)
        ref = {"value": contact_id}
        if contact:
            ref["name"] = contact["name"]
            if with_type:
                ref["type"] = contact["kind"].capitalize()
        return ref

    def item_ref(self, item_id: str | None) -> dict[str, str] | None:
        if item_id is None:
            return None
        item = self.items.get(item_id)
        return {"value": item_id, "name": item["name"]} if item else {"value": item_id}

    # --------------------------------------------------------------- entities

    def company_info(self) -> dict[str, Any]:
        c = self.rw.company
        start = dt.datetime.combine(c["start_date"], dt.time(9), self.tz)
        return {
            "CompanyName": c["name"],
            "LegalName": c["name"],
            "CompanyAddr": {"Country": c["country"]},
            "Country": c["country"],
            "CompanyStartDate": c["start_date"].isoformat(),
            "FiscalYearStartMonth": MONTHS[int(c["fiscal_year_start_month"]) - 1],
            "SupportedLanguages": "en",
            "DefaultTimeZone": str(self.tz),
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "1",
            "MetaData": _meta(start, start, self.tz),
            "NameValue": [
                {"Name": "NeoEnabled", "Value": "true"},
                {"Name": "IndustryType", "Value": str(c.get("industry", ""))},
            ],
        }

    def preferences(self) -> dict[str, Any]:
        c = self.rw.company
        month = MONTHS[int(c["fiscal_year_start_month"]) - 1]
        start = dt.datetime.combine(c["start_date"], dt.time(9), self.tz)
        return {
            "AccountingInfoPrefs": {
                "FirstMonthOfFiscalYear": month,
                "UseAccountNumbers": any(a.get("code") for a in self.rw.accounts),
                "TaxYearMonth": month,
                "ClassTrackingPerTxn": False,
                "TrackDepartments": False,
                "CustomerTerminology": "Customers",
            },
            "ProductAndServicesPrefs": {
                "ForSales": True,
                "ForPurchase": True,
                "QuantityWithPriceAndRate": True,
                "QuantityOnHand": True,
            },
            "SalesFormsPrefs": {
                "AllowDeposit": False,
                "AllowDiscount": True,
                "AllowEstimates": True,
                "CustomTxnNumbers": True,
            },
            "TaxPrefs": {"UsingSalesTax": True},
            "CurrencyPrefs": {
                "MultiCurrencyEnabled": self.multi,
                "HomeCurrency": {"value": self.home},
            },
            "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": _meta(start, start, self.tz),
        }

    def account(self, a: Mapping[str, Any]) -> dict[str, Any]:
        balance = 0
        if a["classification"] in BALANCE_SHEET:
            raw = int(self.rw.balances.get(a["account_id"], 0))
            balance = raw if a["classification"] == "Asset" else -raw
        name = a["name"] if a["active"] else f"{a['name']} (deleted)"
        out: dict[str, Any] = {
            "Name": name,
            "SubAccount": False,
            "FullyQualifiedName": name,
            "Active": bool(a["active"]),
            "Classification": a["classification"],
            "AccountType": a["account_type"],
        }
        if a.get("account_subtype"):
            out["AccountSubType"] = a["account_subtype"]
        if a.get("code"):
            out["AcctNum"] = a["code"]
        out.update(
            {
                "CurrentBalance": money(balance),
                "CurrentBalanceWithSubAccounts": money(balance),
                "CurrencyRef": currency_ref(a["currency"]),
                "domain": "QBO",
                "sparse": False,
                "Id": a["account_id"],
                "SyncToken": "0" if a["created_at"] == a["updated_at"] else "1",
                "MetaData": _meta(a["created_at"], a["updated_at"], self.tz),
            }
        )
        return out

    def contact(self, c: Mapping[str, Any], open_balance: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if c.get("country"):
            out["BillAddr"] = {"Country": c["country"]}
        if c["kind"] == "customer":
            out.update({"Taxable": True, "Job": False, "BillWithParent": False})
        out["Balance"] = money(open_balance)
        if c["kind"] == "customer":
            out["BalanceWithJobs"] = money(open_balance)
        else:
            out["Vendor1099"] = False
        out["CurrencyRef"] = currency_ref(c["currency"])
        if c["kind"] == "customer":
            out["PreferredDeliveryMethod"] = "Email" if c.get("email") else "Print"
        out.update(
            {
                "domain": "QBO",
                "sparse": False,
                "Id": c["contact_id"],
                "SyncToken": "0" if c["created_at"] == c["updated_at"] else "1",
                "MetaData": _meta(c["created_at"], c["updated_at"], self.tz),
            }
        )
        if c["kind"] == "customer":
            out["FullyQualifiedName"] = c["name"]
        out.update(
            {
                "CompanyName": c["name"],
                "DisplayName": c["name"],
                "PrintOnCheckName": c["name"],
                "Active": True,
            }
        )
        if c.get("email"):
            out["PrimaryEmailAddr"] = {"Address": c["email"]}
        if c["kind"] == "vendor" and c.get("bank_account_number"):
            out["VendorPaymentBankDetail"] = {
                "BankAccountName": c["name"],
                "BankAccountNumber": c["bank_account_number"],
            }
        return out

    def item(self, i: Mapping[str, Any]) -> dict[str, Any]:
        kind = {"service": "Service", "inventory": "Inventory", "non_inventory": "NonInventory"}
        item_type = kind.get(i["item_type"], "Service")
        out: dict[str, Any] = {"Name": i["name"]}
        if i.get("sku"):
            out["Sku"] = i["sku"]
        out.update(
            {
                "Active": True,
                "FullyQualifiedName": i["name"],
                "Taxable": True,
                "UnitPrice": money(i["unit_price"]),
                "Type": item_type,
            }
        )
        if i.get("income_account_id"):
            out["IncomeAccountRef"] = self.account_ref(i["income_account_id"])
        if i.get("unit_cost") is not None:
            out["PurchaseCost"] = money(i["unit_cost"])
        if i.get("expense_account_id"):
            out["ExpenseAccountRef"] = self.account_ref(i["expense_account_id"])
        out["TrackQtyOnHand"] = item_type == "Inventory"
        if item_type == "Inventory":
            out["QtyOnHand"] = 0
            out["InvStartDate"] = i["created_at"].date().isoformat()
        out.update(
            {
                "domain": "QBO",
                "sparse": False,
                "Id": i["item_id"],
                "SyncToken": "0" if i["created_at"] == i["updated_at"] else "1",
                "MetaData": _meta(i["created_at"], i["updated_at"], self.tz),
            }
        )
        return out

    # ------------------------------------------------------------ transactions

    def _header(self, d: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "domain": "QBO",
            "sparse": False,
            "Id": d["document_id"],
            "SyncToken": str(int(d["sync_version"])),
            "MetaData": _meta(d["created_at"], d["updated_at"], self.tz),
        }
        if d.get("number"):
            out["DocNumber"] = d["number"]
        out["TxnDate"] = d["issue_date"].isoformat()
        out["CurrencyRef"] = currency_ref(d["currency"])
        if self.multi:
            out["ExchangeRate"] = plain(Decimal(d["fx_rate"]))
        if d.get("reference"):
            out["PrivateNote"] = d["reference"]
        return out

    def _qty(self, line: Mapping[str, Any]) -> Decimal | None:
        q = line.get("quantity")
        return plain(Decimal(q)) if q is not None else None

    def _sales_line(self, line: Mapping[str, Any]) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        if line.get("item_id"):
            detail["ItemRef"] = self.item_ref(line["item_id"])
        detail["ItemAccountRef"] = self.account_ref(line["account_id"])
        if line.get("unit_amount") is not None:
            detail["UnitPrice"] = money(line["unit_amount"])
        if line.get("quantity") is not None:
            detail["Qty"] = self._qty(line)
        detail["TaxCodeRef"] = {"value": line.get("tax_code") or "NON"}
        out: dict[str, Any] = {"Id": str(line["line_no"]), "LineNum": int(line["line_no"])}
        if line.get("description"):
            out["Description"] = line["description"]
        out.update(
            {
                "Amount": money(line["amount"]),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }
        )
        return out

    def _expense_line(self, line: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"Id": str(line["line_no"]), "LineNum": int(line["line_no"])}
        if line.get("description"):
            out["Description"] = line["description"]
        out["Amount"] = money(line["amount"])
        tax = {"value": line.get("tax_code") or "NON"}
        if line.get("item_id"):
            detail: dict[str, Any] = {"ItemRef": self.item_ref(line["item_id"])}
            if line.get("unit_amount") is not None:
                detail["UnitPrice"] = money(line["unit_amount"])
            if line.get("quantity") is not None:
                detail["Qty"] = self._qty(line)
            detail.update({"BillableStatus": "NotBillable", "TaxCodeRef": tax})
            out.update(
                {"DetailType": "ItemBasedExpenseLineDetail", "ItemBasedExpenseLineDetail": detail}
            )
        else:
            out.update(
                {
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {
                        "AccountRef": self.account_ref(line["account_id"]),
                        "BillableStatus": "NotBillable",
                        "TaxCodeRef": tax,
                    },
                }
            )
        return out

    def _tax(self, out: dict[str, Any], d: Mapping[str, Any]) -> None:
        out["TxnTaxDetail"] = {"TotalTax": money(d["tax"])}
        if not self.us:
            out["GlobalTaxCalculation"] = "TaxExcluded"

    def _applied(self, doc_id: str) -> int:
        return sum(int(a["amount"]) for a in self.applied_to.get(doc_id, []))

    def _remaining(self, doc_id: str, total: int) -> int:
        """A credit's amount not yet applied to invoices / bills."""
        return max(total - sum(int(a["amount"]) for a in self.applied_from.get(doc_id, [])), 0)

    def _links_to(self, doc_id: str) -> list[dict[str, str]]:
        kinds = {
            "customer_payment": "Payment",
            "credit_note": "CreditMemo",
            "bill_payment": "BillPayment",
            "vendor_credit": "VendorCredit",
        }
        return [
            {
                "TxnId": a["source_document_id"],
                "TxnType": kinds.get(self.doc_type.get(a["source_document_id"], ""), "Payment"),
            }
            for a in self.applied_to.get(doc_id, [])
        ]

    def transaction(self, d: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        entity = DOC_TYPE_ENTITY[d["doc_type"]]
        out = self._header(d)
        lines = self.lines.get(d["document_id"], [])
        total = int(d["total"])
        home_total = int(d["home_total"])
        foreign = d["currency"] != self.home
        if entity in SALES_FORMS:
            out["Line"] = [self._sales_line(x) for x in lines] + [
                {
                    "Amount": money(d["subtotal"]),
                    "DetailType": "SubTotalLineDetail",
                    "SubTotalLineDetail": {},
                }
            ]
            self._tax(out, d)
            if d.get("contact_id"):
                out["CustomerRef"] = self.contact_ref(d["contact_id"])
            if entity == "Invoice":
                if self.ar:
                    out["ARAccountRef"] = self.ar
                if d.get("due_date"):
                    out["DueDate"] = d["due_date"].isoformat()
                out["LinkedTxn"] = self._links_to(d["document_id"])
            out["TotalAmt"] = money(total)
            if foreign:
                out["HomeTotalAmt"] = money(home_total)
            if entity == "Invoice":
                balance = (
                    0 if d["status"] == "paid" else max(total - self._applied(d["document_id"]), 0)
                )
                out["Balance"] = money(balance)
            elif entity == "CreditMemo":
                remaining = self._remaining(d["document_id"], total)
                out["RemainingCredit"] = money(remaining)
                out["Balance"] = money(remaining)
            else:
                out["Balance"] = money(0)
                if d.get("bank_account_id"):
                    out["DepositToAccountRef"] = self.bank_ref(d["bank_account_id"])
            if d.get("payment_method") and entity in ("SalesReceipt", "RefundReceipt"):
                out["PaymentRefNum"] = d.get("number") or ""
        elif entity in EXPENSE_FORMS:
            out["Line"] = [self._expense_line(x) for x in lines]
            self._tax(out, d)
            if entity == "Purchase":
                bank = self.banks.get(d.get("bank_account_id") or "")
                if bank and bank.get("account_type") == "credit_card":
                    pay_type = "CreditCard"
                elif d.get("payment_method") == "check":
                    pay_type = "Check"
                else:
                    pay_type = "Cash"
                acct = self.bank_ref(d.get("bank_account_id"))
                if acct:
                    out["AccountRef"] = acct
                out["PaymentType"] = pay_type
                if d.get("contact_id"):
                    out["EntityRef"] = self.contact_ref(d["contact_id"], with_type=True)
                out["Credit"] = False
            else:
                out["VendorRef"] = self.contact_ref(d.get("contact_id"))
                if self.ap:
                    out["APAccountRef"] = self.ap
            if entity == "Bill":
                if d.get("due_date"):
                    out["DueDate"] = d["due_date"].isoformat()
                out["LinkedTxn"] = self._links_to(d["document_id"])
            out["TotalAmt"] = money(total)
            if foreign:
                out["HomeTotalAmt"] = money(home_total)
            if entity == "Bill":
                balance = (
                    0 if d["status"] == "paid" else max(total - self._applied(d["document_id"]), 0)
                )
                out["Balance"] = money(balance)
            elif entity == "VendorCredit":
                out["Balance"] = money(self._remaining(d["document_id"], total))
        elif entity in ("Payment", "BillPayment"):
            allocs = self.applied_from.get(d["document_id"], [])
            target = "Invoice" if entity == "Payment" else "Bill"
            out["Line"] = [
                {
                    "Amount": money(a["amount"]),
                    "LinkedTxn": [{"TxnId": a["target_document_id"], "TxnType": target}],
                }
                for a in allocs
            ]
            if entity == "Payment":
                out["CustomerRef"] = self.contact_ref(d.get("contact_id"))
                acct = self.bank_ref(d.get("bank_account_id"))
                if acct:
                    out["DepositToAccountRef"] = acct
                if self.ar:
                    out["ARAccountRef"] = self.ar
                out["TotalAmt"] = money(total)
                out["UnappliedAmt"] = money(max(total - sum(int(a["amount"]) for a in allocs), 0))
                out["ProcessPayment"] = False
                if d.get("number"):
                    out["PaymentRefNum"] = d["number"]
            else:
                out["VendorRef"] = self.contact_ref(d.get("contact_id"))
                if self.ap:
                    out["APAccountRef"] = self.ap
                bank = self.banks.get(d.get("bank_account_id") or "")
                acct = self.bank_ref(d.get("bank_account_id"))
                if bank and bank.get("account_type") == "credit_card":
                    out["PayType"] = "CreditCard"
                    out["CreditCardPayment"] = {"CCAccountRef": acct}
                else:
                    out["PayType"] = "Check"
                    out["CheckPayment"] = {"BankAccountRef": acct, "PrintStatus": "NotSet"}
                out["TotalAmt"] = money(total)
            if foreign:
                out["HomeTotalAmt"] = money(home_total)
        elif entity == "Deposit":
            out["DepositToAccountRef"] = self.bank_ref(d.get("bank_account_id"))
            deposit_lines = []
            for x in lines:
                detail: dict[str, Any] = {"AccountRef": self.account_ref(x["account_id"])}
                if d.get("contact_id"):
                    detail["Entity"] = self.contact_ref(d["contact_id"], with_type=True)
                line: dict[str, Any] = {"Id": str(x["line_no"]), "LineNum": int(x["line_no"])}
                if x.get("description"):
                    line["Description"] = x["description"]
                line.update(
                    {
                        "Amount": money(x["amount"]),
                        "DetailType": "DepositLineDetail",
                        "DepositLineDetail": detail,
                    }
                )
                deposit_lines.append(line)
            out["Line"] = deposit_lines
            out["TotalAmt"] = money(total)
            if foreign:
                out["HomeTotalAmt"] = money(home_total)
        elif entity == "Transfer":
            out["FromAccountRef"] = self.bank_ref(d.get("from_bank_account_id"))
            out["ToAccountRef"] = self.bank_ref(d.get("bank_account_id"))
            out["Amount"] = money(total)
        elif entity == "JournalEntry":
            out["Adjustment"] = False
            journal_lines = []
            for i, x in enumerate(lines):
                amount = int(x["amount"])
                detail = {
                    "PostingType": "Debit" if amount >= 0 else "Credit",
                    "AccountRef": self.account_ref(x["account_id"]),
                }
                line = {"Id": str(i)}
                if x.get("description"):
                    line["Description"] = x["description"]
                line.update(
                    {
                        "Amount": money(abs(amount)),
                        "DetailType": "JournalEntryLineDetail",
                        "JournalEntryLineDetail": detail,
                    }
                )
                journal_lines.append(line)
            out["Line"] = journal_lines
            out["TxnTaxDetail"] = {}
            out["TotalAmt"] = money(total)
            if foreign:
                out["HomeTotalAmt"] = money(home_total)
        if d["status"] == "void":
            out = void_payload(entity, out)
        return entity, out

    def tombstone(self, d: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        entity = DOC_TYPE_ENTITY[d["doc_type"]]
        return entity, {
            "domain": "QBO",
            "status": "Deleted",
            "Id": d["document_id"],
            "MetaData": {"LastUpdatedTime": _instant(d["updated_at"], self.tz)},
        }


def render_realm(
    rw: RealmWorld,
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """``(live, tombstones)``: every entity of the realm as ``(entity, payload)``."""
    r = _Renderer(rw)
    live: list[tuple[str, dict[str, Any]]] = [
        ("CompanyInfo", r.company_info()),
        ("Preferences", r.preferences()),
    ]
    live += [("Account", r.account(a)) for a in rw.accounts]
    # Open balances per contact, in the contact's currency (invoices/bills not paid off).
    open_by_contact: dict[str, int] = defaultdict(int)
    for d in rw.documents:
        if d["doc_type"] in ("invoice", "bill") and d["status"] in ("open", "partially_paid"):
            open_by_contact[d["contact_id"]] += max(
                int(d["total"]) - r._applied(d["document_id"]), 0
            )
    for c in rw.contacts:
        if c["kind"] in ("customer", "vendor"):
            entity = "Customer" if c["kind"] == "customer" else "Vendor"
            live.append((entity, r.contact(c, open_by_contact.get(c["contact_id"], 0))))
    live += [("Item", r.item(i)) for i in rw.items]
    tombstones: list[tuple[str, dict[str, Any]]] = []
    for d in rw.documents:
        if d["doc_type"] not in DOC_TYPE_ENTITY:
            continue
        if d["status"] == "deleted":
            tombstones.append(r.tombstone(d))
        else:
            live.append(r.transaction(d))
    return live, tombstones


def iter_realms(world: Any) -> Iterator[RealmWorld]:
    for company in realms(world):
        yield collect_realm(world, company)


# ------------------------------------------------------------ write-time derivations


def _dec(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _item_lines(lines: list[Any]) -> list[Mapping[str, Any]]:
    return [
        x
        for x in lines
        if isinstance(x, Mapping) and x.get("DetailType") not in ("SubTotalLineDetail",)
    ]


def finish_totals(
    entity: str, payload: dict[str, Any], created: bool, previous: Mapping[str, Any] | None = None
) -> None:
    """What QBO computes on save: ``TotalAmt`` from the lines (+ tax), the sales forms'
    SubTotal line, and a new document's ``Balance``."""
    lines = payload.get("Line")
    if not isinstance(lines, list):
        return
    if entity in SALES_FORMS | EXPENSE_FORMS | {"Deposit"}:
        net = Decimal(0)
        for x in _item_lines(lines):
            amount = _dec(x.get("Amount"))
            net += -amount if x.get("DetailType") == "DiscountLineDetail" else amount
        tax = _dec((payload.get("TxnTaxDetail") or {}).get("TotalTax"))
        total = (net + tax).quantize(CENT)
        if entity in SALES_FORMS:
            subtotal = {
                "Amount": net.quantize(CENT),
                "DetailType": "SubTotalLineDetail",
                "SubTotalLineDetail": {},
            }
            payload["Line"] = [*_item_lines(lines), subtotal]
        old_total = _dec((previous or {}).get("TotalAmt")) if previous else None
        payload["TotalAmt"] = total
        if entity in ("Invoice", "Bill"):
            if created or previous is None:
                payload["Balance"] = total
            else:
                paid = (old_total or Decimal(0)) - _dec(previous.get("Balance"))
                payload["Balance"] = max(total - paid, Decimal(0)).quantize(CENT)
        elif entity in ("SalesReceipt", "RefundReceipt"):
            payload["Balance"] = Decimal("0.00")
        elif entity == "CreditMemo" and created:
            payload["RemainingCredit"] = total
            payload["Balance"] = total
    elif entity in ("Payment", "BillPayment") and "TotalAmt" not in payload:
        payload["TotalAmt"] = sum(
            (_dec(x.get("Amount")) for x in _item_lines(lines)), Decimal(0)
        ).quantize(CENT)
    elif entity == "JournalEntry":
        debit = sum(
            (
                _dec(x.get("Amount"))
                for x in _item_lines(lines)
                if (x.get("JournalEntryLineDetail") or {}).get("PostingType") == "Debit"
            ),
            Decimal(0),
        )
        payload["TotalAmt"] = debit.quantize(CENT)


def void_payload(entity: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A voided transaction as QBO keeps it: every amount zero, note "Voided"."""
    zero = Decimal("0")
    for line in payload.get("Line") or []:
        if not isinstance(line, dict):
            continue
        line["Amount"] = zero
        detail = line.get(line.get("DetailType") or "")
        if isinstance(detail, dict):
            detail.pop("UnitPrice", None)
            detail.pop("Qty", None)
    for key in (
        "TotalAmt",
        "Balance",
        "HomeTotalAmt",
        "UnappliedAmt",
        "RemainingCredit",
        "HomeBalance",
        "Amount",
    ):
        if key in payload:
            payload[key] = zero
    if isinstance(payload.get("TxnTaxDetail"), dict) and "TotalTax" in payload["TxnTaxDetail"]:
        payload["TxnTaxDetail"]["TotalTax"] = zero
    payload["PrivateNote"] = "Voided"
    if "LinkedTxn" in payload:
        payload["LinkedTxn"] = []
    return payload
