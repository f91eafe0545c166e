"""Render one company's Xero rows of the world into Xero's native records.

World → Xero mapping (rows with ``provider == "xero"`` of the company):

====================  ========================================================================
world                 Xero
====================  ========================================================================
accounts              Accounts (Type, Class, SystemAccount; archived when not active)
contacts              Contacts (IsCustomer/IsSupplier from kind; employees are contacts too)
items                 Items (SalesDetails/PurchaseDetails with account codes)
invoice / bill        Invoices ``ACCREC`` / ``ACCPAY``; open and partially_paid → AUTHORISED,
                      paid → PAID, void → VOIDED, deleted → DELETED; Payments and CreditNotes
                      applied are listed on the invoice with AmountPaid/AmountCredited/AmountDue
credit_note /         CreditNotes ``ACCRECCREDIT`` / ``ACCPAYCREDIT`` with their Allocations and
vendor_credit         RemainingCredit
customer_payment /    Payments ``ACCRECPAYMENT`` / ``ACCPAYPAYMENT``: one Payment per invoice the
bill_payment          payment settles (Xero's Payment applies to one invoice; a payment spread
                      over several invoices becomes a BatchPayment whose Payments carry
                      ``BatchPaymentID`` = the world document id). An unallocated remainder is an
                      Overpayment (``RECEIVE-``/``SPEND-OVERPAYMENT``); a voided unallocated
                      payment is a VOIDED Overpayment, a deleted one a DELETED Payment
expense / refund      BankTransactions ``SPEND``
deposit /             BankTransactions ``RECEIVE``
sales_receipt
(void / deleted)      BankTransactions VOIDED / DELETED
transfer              BankTransfers
journal               ManualJournals (POSTED; VOIDED / DELETED)
journal_lines         Journals, one per entry, numbered in creation order (base currency)
companies             Organisation (one) and Currencies (base + every currency used)
====================  ========================================================================

The world generates no prepayments: the Prepayments endpoint answers an empty list until a
test creates one through the mutation API.

Amounts come from integer minor units as exact Decimals with two places; dates are
``/Date(ms+0000)/`` plus ``DateString``. ``CurrencyRate`` is Xero's convention, units of
document currency per unit of base currency (1 / the world's ``fx_rate``, six places).
Cash documents the world posts to a clearing account rather than a bank account (card
sales into "Payment Processor Clearing") name that account as their BankAccount.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from finpipe.sandbox.world import World
from finpipe.sandbox.world.timezones import xero_timezone
from finpipe.sandbox.xero.store import (
    SandboxClock,
    TenantStore,
    date_fields,
    ms_date,
)

UTC = dt.UTC
CENT = Decimal("0.01")
# Xero documents CurrencyRate input to 6 places, but the base amounts it books come from
# the full rate; written to 10 places the inverse of the world's 8-decimal rate converts
# every amount to the same cent (6 places moved large amounts by up to 14 cents).
RATE_PLACES = Decimal("0.0000000001")
NAMESPACE = uuid.UUID("6f1d4d2e-5c1b-4a57-9a57-3f2b1e0c9d11")

INVOICE_STATUS = {
    "open": "AUTHORISED",
    "partially_paid": "AUTHORISED",
    "paid": "PAID",
    "void": "VOIDED",
    "deleted": "DELETED",
    "posted": "AUTHORISED",
}
CASH_STATUS = {"posted": "AUTHORISED", "void": "VOIDED", "deleted": "DELETED"}
JOURNAL_STATUS = {"posted": "POSTED", "void": "VOIDED", "deleted": "DELETED"}
SOURCE_TYPE = {
    "invoice": "ACCREC",
    "bill": "ACCPAY",
    "customer_payment": "ACCRECPAYMENT",
    "bill_payment": "ACCPAYPAYMENT",
    "expense": "CASHPAID",
    "refund": "CASHPAID",
    "deposit": "CASHREC",
    "sales_receipt": "CASHREC",
    "transfer": "TRANSFER",
    "journal": "MANJOURNAL",
    "credit_note": "ACCRECCREDIT",
    "vendor_credit": "ACCPAYCREDIT",
}
BANK_SPEND = ("expense", "refund")
BANK_RECEIVE = ("deposit", "sales_receipt")
CURRENCY_NAMES = {"USD": "United States Dollar", "GBP": "British Pound", "EUR": "Euro"}
XERO_VERSION = {"GB": "UK", "US": "US", "AU": "AU", "NZ": "NZ"}


def money(minor: int | None) -> Decimal:
    """Integer minor units as an exact two-place Decimal (``12345`` → ``123.45``)."""
    return (Decimal(int(minor or 0)) / 100).quantize(CENT)


def stamp_fields(instant: dt.datetime, with_string: bool = False) -> dict[str, str]:
    out = {"UpdatedDateUTC": ms_date(instant)}
    if with_string:
        out["UpdatedDateUTCString"] = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def derived_id(*parts: str) -> str:
    """A stable id for a record the world does not name (split payments, line items)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _rows(world: World, name: str, company_id: str, xero_only: bool = True) -> list[dict]:
    frame = world.table(name).filter(pl.col("company_id") == company_id)
    if xero_only:
        frame = frame.filter(pl.col("provider") == "xero")
    return frame.collect().to_dicts()


class _Renderer:
    """Builds one tenant's records; holds the lookups every endpoint shares."""

    def __init__(self, world: World, company: dict[str, Any], store: TenantStore) -> None:
        cid = company["company_id"]
        self.company = company
        self.store = store
        self.home = company["home_currency"]
        self.accounts = _rows(world, "accounts", cid)
        self.account = {a["account_id"]: a for a in self.accounts}
        self.contacts = _rows(world, "contacts", cid)
        self.contact = {c["contact_id"]: c for c in self.contacts}
        self.items = _rows(world, "items", cid)
        self.item = {i["item_id"]: i for i in self.items}
        self.documents = _rows(world, "documents", cid)
        self.document = {d["document_id"]: d for d in self.documents}
        self.lines: dict[str, list[dict]] = defaultdict(list)
        for line in sorted(_rows(world, "document_lines", cid), key=lambda r: r["line_no"]):
            self.lines[line["document_id"]].append(line)
        self.allocations: dict[str, list[dict]] = defaultdict(list)
        self.applied_to: dict[str, list[dict]] = defaultdict(list)
        for alloc in sorted(_rows(world, "allocations", cid), key=lambda r: r["allocation_id"]):
            self.allocations[alloc["source_document_id"]].append(alloc)
            self.applied_to[alloc["target_document_id"]].append(alloc)
        self.journal_lines = _rows(world, "journal_lines", cid)
        bank_accounts = _rows(world, "bank_accounts", cid, xero_only=False)
        self.bank_currency = {b["bank_account_id"]: b["currency"] for b in bank_accounts}
        self.bank_number = {
            b["bank_account_id"]: b.get("iban") or b.get("account_number") for b in bank_accounts
        }
        # world bank account id -> the Xero BANK account that mirrors it
        self.ledger_of_bank = {
            a["bank_account_id"]: a for a in self.accounts if a.get("bank_account_id")
        }
        self.tax_account = next(
            (a for a in self.accounts if a.get("account_subtype") == "GST"), None
        )

    # ------------------------------------------------------------- references

    def contact_ref(self, contact_id: str | None) -> dict[str, Any] | None:
        contact = self.contact.get(contact_id or "")
        if contact is None:
            return None
        return {
            "ContactID": contact["contact_id"],
            "Name": contact["name"],
            "Addresses": [],
            "Phones": [],
            "ContactGroups": [],
            "ContactPersons": [],
            "HasValidationErrors": False,
        }

    def account_ref(self, account: dict[str, Any] | None) -> dict[str, Any]:
        if account is None:
            return {}
        return {
            "AccountID": account["account_id"],
            "Code": account["code"],
            "Name": account["name"],
        }

    def rate(self, doc: dict[str, Any]) -> Decimal:
        """Xero's CurrencyRate: document units per base unit."""
        fx = Decimal(str(doc["fx_rate"]))
        if fx == 0 or doc["currency"] == self.home:
            return Decimal("1.000000")
        return (Decimal(1) / fx).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)

    def updated(self, row: dict[str, Any]) -> dt.datetime:
        return row["updated_at"]

    def cash_account(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The account cash moved through: the bank's ledger account, else the account the
        books post the cash side to (a clearing account), else the first bank account."""
        if doc.get("bank_account_id") in self.ledger_of_bank:
            return self.ledger_of_bank[doc["bank_account_id"]]
        line_accounts = {line["account_id"] for line in self.lines.get(doc["document_id"], [])}
        tax_id = self.tax_account["account_id"] if self.tax_account else None
        for jl in self._journal_by_doc.get(doc["document_id"], []):
            if jl["account_id"] not in line_accounts and jl["account_id"] != tax_id:
                return self.account.get(jl["account_id"])
        return next((a for a in self.accounts if a["account_type"] == "BANK"), None)

    # ------------------------------------------------------------------ lists

    def line_items(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for line in self.lines.get(doc["document_id"], []):
            account = self.account.get(line["account_id"])
            quantity = line.get("quantity")
            item = {
                "Description": line.get("description") or "",
                "UnitAmount": money(
                    line["unit_amount"] if line.get("unit_amount") is not None else line["amount"]
                ),
                "TaxType": line.get("tax_code") or "NONE",
                "TaxAmount": money(line["tax_amount"]),
                "LineAmount": money(line["amount"]),
                "AccountCode": account["code"] if account else None,
                "AccountID": line["account_id"],
                "Tracking": [],
                "Quantity": (
                    Decimal(str(quantity)).quantize(Decimal("0.0001"))
                    if quantity is not None
                    else Decimal("1.0000")
                ),
                "LineItemID": derived_id(doc["document_id"], "line", str(line["line_no"])),
            }
            product = self.item.get(line.get("item_id") or "")
            if product is not None:
                item["ItemCode"] = product.get("sku") or product["name"][:30]
                item["Item"] = {
                    "ItemID": product["item_id"],
                    "Name": product["name"],
                    "Code": item["ItemCode"],
                }
            out.append(item)
        return out

    # -------------------------------------------------------------- endpoints

    def organisation(self) -> dict[str, Any]:
        c = self.company
        start = c["fiscal_year_start_month"]
        end_month = (start - 2) % 12 + 1
        end_day = (
            dt.date(2001 if end_month < 12 else 2000, end_month % 12 + 1, 1) - dt.timedelta(days=1)
        ).day
        created = dt.datetime.combine(c["start_date"], dt.time(9), UTC)
        return {
            "Name": c["name"],
            "LegalName": c["name"],
            "PaysTax": True,
            "Version": XERO_VERSION.get(c["country"], "GLOBAL"),
            "OrganisationType": "COMPANY",
            "BaseCurrency": self.home,
            "CountryCode": c["country"],
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": end_day,
            "FinancialYearEndMonth": end_month,
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            "CreatedDateUTC": ms_date(created).replace("+0000", ""),
            "OrganisationEntityType": "COMPANY",
            "Timezone": xero_timezone(c["country"]),
            "ShortCode": "!" + c["xero_tenant_id"][:5],
            "OrganisationID": c["xero_tenant_id"],
            "Edition": "BUSINESS",
            "Class": "PREMIUM",
            "LineOfBusiness": c["industry"].replace("_", " "),
            "Addresses": [],
            "Phones": [],
            "ExternalLinks": [],
            "PaymentTerms": {},
        }

    def currencies(self) -> list[dict[str, Any]]:
        codes = {self.home}
        codes.update(d["currency"] for d in self.documents)
        codes.update(a["currency"] for a in self.accounts)
        codes.update(c["currency"] for c in self.contacts)
        return [
            {"Code": code, "Description": CURRENCY_NAMES.get(code, code)} for code in sorted(codes)
        ]

    def render_accounts(self) -> list[dict[str, Any]]:
        out = []
        for a in self.accounts:
            record: dict[str, Any] = {
                "AccountID": a["account_id"],
                "Code": a["code"],
                "Name": a["name"],
                "Status": "ACTIVE" if a["active"] else "ARCHIVED",
                "Type": a["account_type"],
                "TaxType": "NONE",
                "Class": a["classification"].upper(),
                "EnablePaymentsToAccount": False,
                "ShowInExpenseClaims": False,
                "BankAccountType": "BANK" if a["account_type"] == "BANK" else "",
                "ReportingCode": "",
                "HasAttachments": False,
                **stamp_fields(self.updated(a)),
                "AddToWatchlist": False,
            }
            if a.get("account_subtype"):
                record["SystemAccount"] = a["account_subtype"]
            if a["account_type"] == "BANK":
                record["CurrencyCode"] = a["currency"]
                number = self.bank_number.get(a.get("bank_account_id") or "")
                if number:
                    record["BankAccountNumber"] = number
            out.append(record)
        return out

    def render_contacts(self) -> list[dict[str, Any]]:
        out = []
        for c in self.contacts:
            record: dict[str, Any] = {
                "ContactID": c["contact_id"],
                "ContactStatus": "ACTIVE",
                "Name": c["name"],
                "EmailAddress": c.get("email") or "",
                "BankAccountDetails": c.get("bank_account_number") or "",
                "Addresses": (
                    [{"AddressType": "POBOX", "Country": c["country"]}] if c.get("country") else []
                ),
                "Phones": [],
                **stamp_fields(self.updated(c)),
                "ContactGroups": [],
                "IsSupplier": c["kind"] == "vendor",
                "IsCustomer": c["kind"] == "customer",
                "DefaultCurrency": c["currency"],
                "ContactPersons": [],
                "HasAttachments": False,
                "HasValidationErrors": False,
            }
            out.append(record)
        return out

    def render_items(self) -> list[dict[str, Any]]:
        out = []
        for i in self.items:
            income = self.account.get(i.get("income_account_id") or "")
            expense = self.account.get(i.get("expense_account_id") or "")
            purchased = i.get("unit_cost") is not None
            out.append(
                {
                    "ItemID": i["item_id"],
                    "Code": i.get("sku") or i["name"][:30],
                    "Description": i["name"],
                    "PurchaseDescription": i["name"] if purchased else "",
                    **stamp_fields(self.updated(i)),
                    "PurchaseDetails": (
                        {
                            "UnitPrice": money(i["unit_cost"]),
                            "COGSAccountCode": expense["code"] if expense else None,
                            "TaxType": "INPUT2" if self.company["country"] == "GB" else "INPUT",
                        }
                        if purchased
                        else {}
                    ),
                    "SalesDetails": {
                        "UnitPrice": money(i["unit_price"]),
                        "AccountCode": income["code"] if income else None,
                        "TaxType": "OUTPUT2" if self.company["country"] == "GB" else "OUTPUT",
                    },
                    "Name": i["name"][:50],
                    "IsTrackedAsInventory": False,
                    "IsSold": True,
                    "IsPurchased": purchased,
                }
            )
        return out

    def render_invoices(self) -> list[dict[str, Any]]:
        out = []
        for doc in self.documents:
            if doc["doc_type"] not in ("invoice", "bill"):
                continue
            payments, credits = [], []
            paid = credited = Decimal("0.00")
            last = None
            for alloc in self.applied_to.get(doc["document_id"], []):
                source = self.document.get(alloc["source_document_id"])
                if source is None:
                    continue
                amount = money(alloc["amount"])
                last = max(last, alloc["date"]) if last else alloc["date"]
                if source["doc_type"] in ("credit_note", "vendor_credit"):
                    credited += amount
                    credits.append(
                        {
                            "CreditNoteID": source["document_id"],
                            "CreditNoteNumber": source.get("number") or "",
                            "ID": source["document_id"],
                            "AppliedAmount": amount,
                            **date_fields(alloc["date"]),
                            "Total": money(source["total"]),
                        }
                    )
                else:
                    paid += amount
                    payments.append(
                        {
                            "PaymentID": self.payment_id(source, alloc),
                            "Date": ms_date(_midnight(alloc["date"])),
                            "Amount": amount,
                            "Reference": source.get("reference") or "",
                            "CurrencyRate": self.rate(source),
                            "HasAccount": False,
                            "HasValidationErrors": False,
                        }
                    )
            total = money(doc["total"])
            status = INVOICE_STATUS[doc["status"]]
            record: dict[str, Any] = {
                "Type": "ACCREC" if doc["doc_type"] == "invoice" else "ACCPAY",
                "InvoiceID": doc["document_id"],
                "InvoiceNumber": doc.get("number") or "",
                "Reference": doc.get("reference") or "",
                "Payments": payments,
                "CreditNotes": credits,
                "Prepayments": [],
                "Overpayments": [],
                "AmountDue": (
                    Decimal("0.00") if status in ("VOIDED", "DELETED") else total - paid - credited
                ),
                "AmountPaid": paid,
                "AmountCredited": credited,
                "CurrencyRate": self.rate(doc),
                "HasErrors": False,
                "IsDiscounted": False,
                "HasAttachments": False,
                "Contact": self.contact_ref(doc.get("contact_id")),
                **date_fields(doc["issue_date"]),
                **(date_fields(doc["due_date"], "Due") if doc.get("due_date") else {}),
                "Status": status,
                "LineAmountTypes": "Exclusive",
                "LineItems": self.line_items(doc),
                "SubTotal": money(doc["subtotal"]),
                "TotalTax": money(doc["tax"]),
                "Total": total,
                **stamp_fields(self.updated(doc), with_string=True),
                "CurrencyCode": doc["currency"],
            }
            if status == "PAID" and last is not None:
                record["FullyPaidOnDate"] = ms_date(_midnight(last))
            out.append(record)
        return out

    def render_credit_notes(self) -> list[dict[str, Any]]:
        out = []
        for doc in self.documents:
            if doc["doc_type"] not in ("credit_note", "vendor_credit"):
                continue
            allocations = []
            applied = Decimal("0.00")
            for alloc in self.allocations.get(doc["document_id"], []):
                target = self.document.get(alloc["target_document_id"])
                amount = money(alloc["amount"])
                applied += amount
                allocations.append(
                    {
                        "AllocationID": alloc["allocation_id"],
                        "Amount": amount,
                        **date_fields(alloc["date"]),
                        "Invoice": {
                            "InvoiceID": alloc["target_document_id"],
                            "InvoiceNumber": (target or {}).get("number") or "",
                        },
                    }
                )
            total = money(doc["total"])
            status = INVOICE_STATUS[doc["status"]]
            out.append(
                {
                    "CreditNoteID": doc["document_id"],
                    "CreditNoteNumber": doc.get("number") or "",
                    "Payments": [],
                    "ID": doc["document_id"],
                    "HasErrors": False,
                    "CurrencyRate": self.rate(doc),
                    "Type": "ACCRECCREDIT" if doc["doc_type"] == "credit_note" else "ACCPAYCREDIT",
                    "Reference": doc.get("reference") or "",
                    "RemainingCredit": (
                        Decimal("0.00") if status in ("VOIDED", "DELETED") else total - applied
                    ),
                    "Allocations": allocations,
                    "HasAttachments": False,
                    "Contact": self.contact_ref(doc.get("contact_id")),
                    **date_fields(doc["issue_date"]),
                    "Status": status,
                    "LineAmountTypes": "Exclusive",
                    "LineItems": self.line_items(doc),
                    "SubTotal": money(doc["subtotal"]),
                    "TotalTax": money(doc["tax"]),
                    "Total": total,
                    **stamp_fields(self.updated(doc), with_string=True),
                    "CurrencyCode": doc["currency"],
                }
            )
        return out

    def payment_id(self, source: dict[str, Any], alloc: dict[str, Any]) -> str:
        """A payment settling one invoice keeps its world id; the parts of a batch get
        derived ids."""
        if len(self.allocations.get(source["document_id"], [])) <= 1:
            return source["document_id"]
        return derived_id(source["document_id"], "payment", alloc["allocation_id"])

    def render_payments(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(Payments, Overpayments) from customer and bill payments."""
        payments, overpayments = [], []
        for doc in self.documents:
            if doc["doc_type"] not in ("customer_payment", "bill_payment"):
                continue
            receivable = doc["doc_type"] == "customer_payment"
            account = self.cash_account(doc)
            allocations = self.allocations.get(doc["document_id"], [])
            batch = len(allocations) > 1
            applied = Decimal("0.00")
            for alloc in allocations:
                target = self.document.get(alloc["target_document_id"]) or {}
                amount = money(alloc["amount"])
                applied += amount
                record: dict[str, Any] = {
                    "PaymentID": self.payment_id(doc, alloc),
                    "Date": ms_date(_midnight(alloc["date"])),
                    "BankAmount": self.bank_amount(doc, account, amount),
                    "Amount": amount,
                    "Reference": doc.get("reference") or doc.get("number") or "",
                    "CurrencyRate": self.rate(doc),
                    "PaymentType": "ACCRECPAYMENT" if receivable else "ACCPAYPAYMENT",
                    "Status": "DELETED" if doc["status"] == "deleted" else "AUTHORISED",
                    **stamp_fields(self.updated(doc), with_string=True),
                    "HasAccount": True,
                    "IsReconciled": False,
                    "Account": {
                        "AccountID": (account or {}).get("account_id"),
                        "Code": (account or {}).get("code"),
                    },
                    "Invoice": {
                        "Type": "ACCREC" if receivable else "ACCPAY",
                        "InvoiceID": alloc["target_document_id"],
                        "InvoiceNumber": target.get("number") or "",
                        "Payments": [],
                        "CreditNotes": [],
                        "Prepayments": [],
                        "Overpayments": [],
                        "HasErrors": False,
                        "IsDiscounted": False,
                        "Contact": self.contact_ref(
                            target.get("contact_id") or doc.get("contact_id")
                        ),
                        "LineItems": [],
                        "CurrencyCode": target.get("currency") or doc["currency"],
                    },
                    "HasValidationErrors": False,
                }
                if batch:
                    record["BatchPaymentID"] = doc["document_id"]
                    record["BatchPayment"] = {
                        "Account": {"AccountID": (account or {}).get("account_id")},
                        "BatchPaymentID": doc["document_id"],
                        "Date": ms_date(_midnight(doc["issue_date"])),
                        "Type": "RECBATCH" if receivable else "PAYBATCH",
                        "Status": "AUTHORISED",
                        "TotalAmount": str(money(doc["total"])),
                        "UpdatedDateUTC": ms_date(self.updated(doc)),
                        "IsReconciled": "false",
                    }
                payments.append(record)
            remainder = money(doc["total"]) - applied
            if not allocations and doc["status"] == "deleted":
                payments.append(self._unapplied_payment(doc, account, receivable))
            elif remainder > 0:
                # The Payments above already carry the world id when there is one; the
                # remainder is its own Overpayment record with its own id, as in Xero.
                overpayment_id = (
                    derived_id(doc["document_id"], "overpayment") if allocations else None
                )
                overpayments.append(
                    self._overpayment(doc, account, receivable, remainder, overpayment_id)
                )
        return payments, overpayments

    def bank_amount(self, doc: dict[str, Any], account: dict[str, Any] | None, amount: Decimal):
        currency = (account or {}).get("currency") or doc["currency"]
        if currency == doc["currency"]:
            return amount
        return (amount * Decimal(str(doc["fx_rate"]))).quantize(CENT, rounding=ROUND_HALF_UP)

    def _unapplied_payment(self, doc, account, receivable) -> dict[str, Any]:
        amount = money(doc["total"])
        return {
            "PaymentID": doc["document_id"],
            **{"Date": ms_date(_midnight(doc["issue_date"]))},
            "BankAmount": self.bank_amount(doc, account, amount),
            "Amount": amount,
            "Reference": doc.get("reference") or doc.get("number") or "",
            "CurrencyRate": self.rate(doc),
            "PaymentType": "ACCRECPAYMENT" if receivable else "ACCPAYPAYMENT",
            "Status": "DELETED",
            **stamp_fields(self.updated(doc), with_string=True),
            "HasAccount": True,
            "IsReconciled": False,
            "Account": {
                "AccountID": (account or {}).get("account_id"),
                "Code": (account or {}).get("code"),
            },
            "HasValidationErrors": False,
        }

    def _overpayment(
        self, doc, account, receivable, remainder: Decimal, overpayment_id: str | None = None
    ) -> dict[str, Any]:
        voided = doc["status"] in ("void", "deleted")
        total = money(doc["total"]) if voided else remainder
        line_account = (
            self.control_account("DEBTORS") if receivable else self.control_account("CREDITORS")
        )
        record_id = overpayment_id or doc["document_id"]
        return {
            "OverpaymentID": record_id,
            "ID": record_id,
            "Type": "RECEIVE-OVERPAYMENT" if receivable else "SPEND-OVERPAYMENT",
            "Reference": doc.get("reference") or doc.get("number") or "",
            "RemainingCredit": Decimal("0.00") if voided else remainder,
            "Allocations": [],
            "Payments": [],
            "HasAttachments": False,
            "Contact": self.contact_ref(doc.get("contact_id")),
            **date_fields(doc["issue_date"]),
            "Status": "VOIDED" if voided else "AUTHORISED",
            "LineAmountTypes": "NoTax",
            "LineItems": [
                {
                    "Description": "Overpayment",
                    "UnitAmount": total,
                    "TaxType": "NONE",
                    "TaxAmount": Decimal("0.00"),
                    "LineAmount": total,
                    "AccountCode": (line_account or {}).get("code"),
                    "Tracking": [],
                    "Quantity": Decimal("1.0000"),
                    "LineItemID": derived_id(doc["document_id"], "overpayment"),
                }
            ],
            "SubTotal": total,
            "TotalTax": Decimal("0.00"),
            "Total": total,
            **stamp_fields(self.updated(doc), with_string=True),
            "CurrencyCode": doc["currency"],
            "CurrencyRate": self.rate(doc),
            "BankAccount": self.account_ref(account),
        }

    def control_account(self, system: str) -> dict[str, Any] | None:
        return next((a for a in self.accounts if a.get("account_subtype") == system), None)

    def render_bank_transactions(self) -> list[dict[str, Any]]:
        out = []
        for doc in self.documents:
            kind = doc["doc_type"]
            if kind not in BANK_SPEND + BANK_RECEIVE:
                continue
            record: dict[str, Any] = {
                "BankTransactionID": doc["document_id"],
                "BankAccount": self.account_ref(self.cash_account(doc)),
                "Type": "SPEND" if kind in BANK_SPEND else "RECEIVE",
                "Reference": doc.get("reference") or doc.get("number") or "",
                "IsReconciled": False,
                "HasAttachments": False,
                **date_fields(doc["issue_date"]),
                "Status": CASH_STATUS.get(doc["status"], "AUTHORISED"),
                "LineAmountTypes": "Exclusive",
                "LineItems": self.line_items(doc),
                "SubTotal": money(doc["subtotal"]),
                "TotalTax": money(doc["tax"]),
                "Total": money(doc["total"]),
                **stamp_fields(self.updated(doc)),
                "CurrencyCode": doc["currency"],
            }
            contact = self.contact_ref(doc.get("contact_id"))
            if contact is not None:
                record["Contact"] = contact
            if doc["currency"] != self.home:
                record["CurrencyRate"] = self.rate(doc)
            out.append(record)
        return out

    def render_bank_transfers(self) -> list[dict[str, Any]]:
        out = []
        for doc in self.documents:
            if doc["doc_type"] != "transfer":
                continue
            created = doc["created_at"]
            source = self.ledger_of_bank.get(doc.get("from_bank_account_id") or "")
            target = self.ledger_of_bank.get(doc.get("bank_account_id") or "")
            out.append(
                {
                    "BankTransferID": doc["document_id"],
                    "CreatedDateUTCString": created.strftime("%Y-%m-%dT%H:%M:%S"),
                    "CreatedDateUTC": ms_date(created),
                    **date_fields(doc["issue_date"]),
                    "Status": CASH_STATUS.get(doc["status"], "AUTHORISED"),
                    "FromBankAccount": {
                        "AccountID": (source or {}).get("account_id"),
                        "Name": (source or {}).get("name"),
                    },
                    "ToBankAccount": {
                        "AccountID": (target or {}).get("account_id"),
                        "Name": (target or {}).get("name"),
                    },
                    "Amount": money(doc["total"]),
                    "FromBankTransactionID": derived_id(doc["document_id"], "from"),
                    "ToBankTransactionID": derived_id(doc["document_id"], "to"),
                    "FromIsReconciled": False,
                    "ToIsReconciled": False,
                    "Reference": doc.get("reference") or doc.get("number") or "",
                    "HasAttachments": False,
                    "CurrencyRate": self.rate(doc),
                    **stamp_fields(self.updated(doc)),
                }
            )
        return out

    def render_manual_journals(self) -> list[dict[str, Any]]:
        out = []
        for doc in self.documents:
            if doc["doc_type"] != "journal":
                continue
            lines = []
            for line in self.lines.get(doc["document_id"], []):
                account = self.account.get(line["account_id"])
                lines.append(
                    {
                        "LineAmount": money(line["amount"]),
                        "AccountCode": account["code"] if account else None,
                        "AccountID": line["account_id"],
                        "Description": line.get("description") or "",
                        "TaxType": line.get("tax_code") or "NONE",
                        "TaxAmount": money(line["tax_amount"]),
                        "IsBlank": False,
                        "Tracking": [],
                    }
                )
            out.append(
                {
                    "Date": ms_date(_midnight(doc["issue_date"])),
                    "Status": JOURNAL_STATUS.get(doc["status"], "POSTED"),
                    "LineAmountTypes": "NoTax",
                    **stamp_fields(self.updated(doc)),
                    "ManualJournalID": doc["document_id"],
                    "Narration": doc.get("reference") or doc.get("number") or "Journal",
                    "JournalLines": lines,
                    "ShowOnCashBasisReports": True,
                    "HasAttachments": False,
                }
            )
        return out

    def render_journals(self) -> list[dict[str, Any]]:
        """General-ledger journals, numbered in the order their documents were entered."""
        entries: dict[str, list[dict]] = defaultdict(list)
        for jl in self.journal_lines:
            entries[jl["entry_id"]].append(jl)

        def created(entry_id: str) -> tuple[dt.datetime, str]:
            doc = self.document.get(entries[entry_id][0].get("document_id") or "")
            when = doc["created_at"] if doc else _midnight(entries[entry_id][0]["date"])
            return when, entry_id

        out = []
        for entry_id in sorted(entries, key=created):
            lines = sorted(entries[entry_id], key=lambda r: r["line_no"])
            doc = self.document.get(lines[0].get("document_id") or "")
            journal_lines = []
            for jl in lines:
                account = self.account.get(jl["account_id"]) or {}
                amount = money(jl["amount"])
                journal_lines.append(
                    {
                        "JournalLineID": derived_id(entry_id, "line", str(jl["line_no"])),
                        "AccountID": jl["account_id"],
                        "AccountCode": account.get("code"),
                        "AccountType": account.get("account_type"),
                        "AccountName": account.get("name"),
                        "Description": jl.get("description") or "",
                        "NetAmount": amount,
                        "GrossAmount": amount,
                        "TaxAmount": Decimal("0.00"),
                        "TrackingCategories": [],
                    }
                )
            journal: dict[str, Any] = {
                "JournalID": entry_id,
                "JournalDate": ms_date(_midnight(lines[0]["date"])),
                "JournalNumber": 0,
                "CreatedDateUTC": ms_date(created(entry_id)[0]),
                "Reference": (doc or {}).get("reference") or (doc or {}).get("number") or "",
                "JournalLines": journal_lines,
            }
            if doc is not None:
                journal["SourceID"] = doc["document_id"]
                journal["SourceType"] = SOURCE_TYPE.get(doc["doc_type"], "MANJOURNAL")
            out.append(journal)
        return out

    def render(self) -> None:
        self._journal_by_doc: dict[str, list[dict]] = defaultdict(list)
        for jl in self.journal_lines:
            if jl.get("document_id"):
                self._journal_by_doc[jl["document_id"]].append(jl)
        store = self.store
        store.load("Organisation", [self.organisation()])
        store.load("Currencies", self.currencies())
        store.load("Accounts", self.render_accounts())
        store.load("Contacts", self.render_contacts())
        store.load("Items", self.render_items())
        store.load("Invoices", self.render_invoices())
        store.load("CreditNotes", self.render_credit_notes())
        payments, overpayments = self.render_payments()
        store.load("Payments", payments)
        store.load("Overpayments", overpayments)
        store.load("Prepayments", [])
        store.load("BankTransactions", self.render_bank_transactions())
        store.load("BankTransfers", self.render_bank_transfers())
        store.load("ManualJournals", self.render_manual_journals())
        for journal in self.render_journals():
            store.add_journal(journal)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def render_tenant(world: World, company: dict[str, Any], clock: SandboxClock) -> TenantStore:
    """The tenant of ``company`` (a ``world_companies`` row with a ``xero_tenant_id``)."""
    store = TenantStore(tenant_id=company["xero_tenant_id"], clock=clock)
    _Renderer(world, company, store).render()
    return store
