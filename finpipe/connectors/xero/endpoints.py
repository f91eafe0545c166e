"""The Xero Accounting API endpoints finpipe reads, and how each one is read.

Facts used (Xero developer docs, the XeroAPI/Xero-OpenAPI spec and its SDKs):

* Paged with ``page`` + ``pageSize`` (1..1000, default 100) and answered with a
  ``pagination`` block: Invoices, Contacts, CreditNotes, BankTransactions, ManualJournals,
  Payments, Prepayments, Overpayments. Results are ordered ``UpdatedDateUTC ASC`` then by
  id, so pages are stable.
* Not paged (one call returns everything modified since ``If-Modified-Since``): Accounts,
  Items, BankTransfers.
* Journals: at most 100 per call, oldest first, ``offset`` = return journals whose
  ``JournalNumber`` is greater than it. Journals never change once written (a void adds a
  reversing journal), so the offset is the whole cursor.
* Organisation and Currencies have no ``UpdatedDateUTC``: re-read in full each run, and
  only records whose content changed are written.
* The envelope key is the endpoint name except Organisation, which answers
  ``{"Organisations": [...]}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from finpipe.warehouse.tables.raw import XERO_ENDPOINTS


@dataclass(frozen=True)
class EndpointSpec:
    """How one endpoint is addressed, paged and keyed."""

    name: str
    id_field: str
    envelope_key: str
    paged: bool = False
    journal: bool = False  # offset paging by JournalNumber
    incremental: bool = True  # honours If-Modified-Since and carries UpdatedDateUTC
    status_field: str | None = "Status"


ENDPOINTS: dict[str, EndpointSpec] = {
    spec.name: spec
    for spec in (
        EndpointSpec("Accounts", "AccountID", "Accounts"),
        EndpointSpec("Contacts", "ContactID", "Contacts", paged=True, status_field="ContactStatus"),
        EndpointSpec("Items", "ItemID", "Items", status_field=None),
        EndpointSpec("Invoices", "InvoiceID", "Invoices", paged=True),
        EndpointSpec("CreditNotes", "CreditNoteID", "CreditNotes", paged=True),
        EndpointSpec("Payments", "PaymentID", "Payments", paged=True),
        EndpointSpec("BankTransactions", "BankTransactionID", "BankTransactions", paged=True),
        EndpointSpec("BankTransfers", "BankTransferID", "BankTransfers"),
        EndpointSpec("ManualJournals", "ManualJournalID", "ManualJournals", paged=True),
        EndpointSpec(
            "Journals", "JournalID", "Journals", journal=True, incremental=False, status_field=None
        ),
        EndpointSpec("Overpayments", "OverpaymentID", "Overpayments", paged=True),
        EndpointSpec("Prepayments", "PrepaymentID", "Prepayments", paged=True),
        EndpointSpec(
            "Organisation",
            "OrganisationID",
            "Organisations",
            incremental=False,
            status_field="OrganisationStatus",
        ),
        EndpointSpec("Currencies", "Code", "Currencies", incremental=False, status_field=None),
    )
}
assert tuple(ENDPOINTS) == XERO_ENDPOINTS, "keep ENDPOINTS in step with raw.XERO_ENDPOINTS"

# Other Xero endpoints the parser understands (conformance corpus, future syncs):
# name -> (id field, envelope key).
OTHER_ENDPOINTS: dict[str, tuple[str, str]] = {
    "BatchPayments": ("BatchPaymentID", "BatchPayments"),
    "BrandingThemes": ("BrandingThemeID", "BrandingThemes"),
    "ContactGroups": ("ContactGroupID", "ContactGroups"),
    "LinkedTransactions": ("LinkedTransactionID", "LinkedTransactions"),
    "PurchaseOrders": ("PurchaseOrderID", "PurchaseOrders"),
    "Receipts": ("ReceiptID", "Receipts"),
    "Reports": ("ReportType", "Reports"),  # ReportID is not always present
    "TaxRates": ("TaxType", "TaxRates"),
    "TrackingCategories": ("TrackingCategoryID", "TrackingCategories"),
    "Users": ("UserID", "Users"),
}

# Statuses that mean "this record is gone" in Xero. VOIDED is not one of them: a voided
# invoice is still a document with a status; DELETED drafts and ARCHIVED contacts/accounts
# are how Xero removes things.
DELETED_STATUSES = frozenset({"DELETED", "ARCHIVED"})

# Endpoints finpipe can write (the write scopes they need are in client.WRITE_SCOPES).
WRITABLE = ("Invoices", "Contacts", "BankTransactions")

MAX_PAGE_SIZE = 1000
JOURNALS_PER_CALL = 100
