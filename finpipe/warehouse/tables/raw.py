"""Schema ``raw``: one landing table per provider entity, one row per source record.

Every table has the same shape: the record's payload kept verbatim (JSON text as the
provider sent it), the provider's last-updated instant, when finpipe extracted it, and a
deleted flag (QBO CDC ``status: Deleted``, Xero ``Status: DELETED``/archived, aggregator
``removed``). Keys are (company, tenant, source id): re-landing a record replaces it.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

QUICKBOOKS_ENTITIES: tuple[str, ...] = (
    "Account",
    "Customer",
    "Vendor",
    "Item",
    "Invoice",
    "Bill",
    "Payment",
    "BillPayment",
    "Purchase",
    "Deposit",
    "JournalEntry",
    "CreditMemo",
    "SalesReceipt",
    "RefundReceipt",
    "Transfer",
    "VendorCredit",
    "CompanyInfo",
    "Preferences",
)

XERO_ENDPOINTS: tuple[str, ...] = (
    "Accounts",
    "Contacts",
    "Items",
    "Invoices",
    "CreditNotes",
    "Payments",
    "BankTransactions",
    "BankTransfers",
    "ManualJournals",
    "Journals",
    "Overpayments",
    "Prepayments",
    "Organisation",
    "Currencies",
)


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def landing_table(provider: str, entity: str) -> Table:
    """The declared landing table of ``entity`` from ``provider`` (e.g. raw.quickbooks_invoice)."""
    return Table(
        schema="raw",
        name=f"{provider}_{_snake(entity)}",
        doc=f"{provider} {entity} records as received (payload verbatim), one row per source id.",
        columns=(
            company_id_column(),
            col(
                "tenant_id",
                Kind.TEXT,
                "QBO realmId / Xero tenant id the record belongs to",
                nullable=False,
            ),
            col("source_id", Kind.TEXT, "the record's id at the provider", nullable=False),
            col(
                "source_updated_at",
                Kind.TIMESTAMP,
                "the provider's last-updated instant (QBO MetaData.LastUpdatedTime, Xero UpdatedDateUTC)",
            ),
            col("payload", Kind.JSON, "the record exactly as the provider sent it", nullable=False),
            col(
                "deleted",
                Kind.BOOL,
                "true once the provider reports the record deleted",
                nullable=False,
            ),
            col(
                "extracted_at", Kind.TIMESTAMP, "when finpipe fetched this version", nullable=False
            ),
            col("sync_id", Kind.TEXT, "the sync run that landed this version", nullable=False),
        ),
        primary_key=("company_id", "tenant_id", "source_id"),
    )


QUICKBOOKS_TABLES: dict[str, Table] = {
    e: landing_table("quickbooks", e) for e in QUICKBOOKS_ENTITIES
}
XERO_TABLES: dict[str, Table] = {e: landing_table("xero", e) for e in XERO_ENDPOINTS}

TABLES: tuple[Table, ...] = (*QUICKBOOKS_TABLES.values(), *XERO_TABLES.values())
