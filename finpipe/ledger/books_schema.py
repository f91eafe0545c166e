"""Frame shapes of the canonical books: what every accounting source (QuickBooks Online,
Xero) is expanded into, whatever its own document model.

Money is signed integer minor units of the currency's ISO 4217 exponent (a JPY amount of
1500 is 1500, a GBP amount of 15.00 is 1500). ``provider`` is
``quickbooks`` or ``xero``; ids are the provider's own ids, so (company_id, provider, id) is
a key everywhere.

``CONTACT_SCHEMA``  (``ledger.contacts``)
    Customers, vendors and (QBO) employees. ``kind``: customer | vendor | employee;
    a Xero contact that is both is ``customer`` when ``IsCustomer``, else ``vendor``
    (``is_customer``/``is_supplier`` carry both flags).

``DOCUMENT_SCHEMA``  (``ledger.documents``)
    One row per source document, live or not. ``doc_type`` is one of :data:`DOC_TYPES`.
    ``total``/``subtotal``/``tax`` are in the document currency; ``home_total`` in the
    company's home currency at ``fx_rate`` (home per unit of document currency, read from the
    document: QBO ``ExchangeRate``, Xero ``CurrencyRate``; a foreign document without a rate is
    an error, never a rate of 1). ``amount_due`` is the open balance the provider reports
    (invoices, bills, credit notes, overpayments, prepayments; null elsewhere).
    ``status`` is one of :data:`STATUSES`. ``cash_account_id`` is the books account the cash
    moved through (a bank, card or clearing account of the chart; for a transfer the
    receiving account), ``from_cash_account_id`` the paying account of a transfer.
    ``external_id`` a payment id the bank also knows (a payout id, a cheque number) when the
    document carries one.

``JOURNAL_LINE_SCHEMA``  (``ledger.journal_lines``)
    Every live document expanded into balanced double-entry lines in home currency, debit
    positive: ``sum(amount) == 0`` per ``entry_id``. Voided and deleted documents have no
    lines. ``currency``/``foreign_amount`` keep the document-currency figure (0 on an
    exchange-difference line). ``account_id`` is the provider account id (map it to the
    standard chart through ``ledger.account_map``).

``ALLOCATION_SCHEMA``  (``ledger.allocations``)
    Payments and credits applied to invoices and bills as the books record them
    (QBO ``LinkedTxn``, Xero ``Payments``/``Allocations``): amount in the target's currency.

``BANK_LINK_SCHEMA``  (``ledger.bank_account_links``)
    Which books account (a bank or card account of the chart) each ``ledger.bank_accounts``
    account is, per provider: ``method`` says how it was decided (``account_number``,
    ``only_candidate``, ``name``, ``override``).

``TRIAL_BALANCE_SCHEMA``
    A provider's own trial balance (QBO ``reports/TrialBalance``, Xero
    ``Reports/TrialBalance``) per account at ``as_of``, home currency, debit positive.
"""

from __future__ import annotations

import polars as pl

UTC = pl.Datetime("us", "UTC")

DOC_TYPES = (
    "invoice",
    "bill",
    "customer_payment",
    "bill_payment",
    "expense",
    "deposit",
    "transfer",
    "journal",
    "credit_note",
    "vendor_credit",
    "sales_receipt",
    "refund",
    "overpayment",
    "prepayment",
)
STATUSES = ("open", "partially_paid", "paid", "posted", "draft", "void", "deleted")
# Documents that are not in the books: no journal lines, no cash movement.
DEAD_STATUSES = ("void", "deleted", "draft")

CONTACT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "contact_id": pl.String,
        "name": pl.String,
        "kind": pl.String,
        "is_customer": pl.Boolean,
        "is_supplier": pl.Boolean,
        "email": pl.String,
        "tax_number": pl.String,
        "bank_account_number": pl.String,
        "currency": pl.String,
        "is_active": pl.Boolean,
        "updated_at": UTC,
    }
)

DOCUMENT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "document_id": pl.String,
        "doc_type": pl.String,
        "source_type": pl.String,  # the provider's own type: QBO entity / Xero Type
        "number": pl.String,
        "reference": pl.String,
        "contact_id": pl.String,
        "issue_date": pl.Date,
        "due_date": pl.Date,
        "currency": pl.String,
        "fx_rate": pl.Decimal(18, 8),
        "subtotal": pl.Int64,
        "tax": pl.Int64,
        "total": pl.Int64,
        "home_total": pl.Int64,
        "amount_due": pl.Int64,
        "status": pl.String,
        "cash_account_id": pl.String,
        "from_cash_account_id": pl.String,
        "external_id": pl.String,
        "updated_at": UTC,
        "sync_version": pl.String,
    }
)

JOURNAL_LINE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "entry_id": pl.String,
        "line_no": pl.Int32,
        "document_id": pl.String,
        "doc_type": pl.String,
        "date": pl.Date,
        "account_id": pl.String,
        "amount": pl.Int64,
        "currency": pl.String,
        "foreign_amount": pl.Int64,
        "contact_id": pl.String,
        "description": pl.String,
    }
)

ALLOCATION_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "allocation_id": pl.String,
        "source_document_id": pl.String,
        "target_document_id": pl.String,
        "date": pl.Date,
        "amount": pl.Int64,
        "currency": pl.String,
    }
)

BANK_LINK_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "bank_account_id": pl.String,
        "provider": pl.String,
        "cash_account_id": pl.String,
        "method": pl.String,
    }
)

TRIAL_BALANCE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "as_of": pl.Date,
        "account_id": pl.String,
        "account_name": pl.String,
        "balance": pl.Int64,
        "currency": pl.String,
    }
)


def empty(schema: pl.Schema) -> pl.DataFrame:
    """An empty frame of ``schema``."""
    return pl.DataFrame(schema=schema)
