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
                "QBO realmId / Xero tenant id / bank account id the record belongs to",
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

# Bank sources. ``tenant_id`` is the bank account id at the provider (OBIE AccountId, Berlin
# Group resourceId, aggregator account_id; for ``accounts`` the account itself), so a renewed
# consent or a re-linked item keeps landing on the same rows.
OPENBANKING_ENTITIES: tuple[str, ...] = ("accounts", "balances", "transactions")
BERLINGROUP_ENTITIES: tuple[str, ...] = ("accounts", "balances", "transactions")
AGGREGATOR_ENTITIES: tuple[str, ...] = ("accounts", "transactions")

OPENBANKING_TABLES: dict[str, Table] = {
    e: landing_table("openbanking", e) for e in OPENBANKING_ENTITIES
}
BERLINGROUP_TABLES: dict[str, Table] = {
    e: landing_table("berlingroup", e) for e in BERLINGROUP_ENTITIES
}
AGGREGATOR_TABLES: dict[str, Table] = {
    e: landing_table("aggregator", e) for e in AGGREGATOR_ENTITIES
}
BANK_SOURCE_TABLES: dict[str, dict[str, Table]] = {
    "openbanking": OPENBANKING_TABLES,
    "berlingroup": BERLINGROUP_TABLES,
    "aggregator": AGGREGATOR_TABLES,
}

STATEMENT_FILES = Table(
    schema="raw",
    name="statement_files",
    doc="Statement files dropped into the company's inbox folder, one row per distinct content (imported once, keyed by content hash).",
    columns=(
        company_id_column(),
        col(
            "content_sha256",
            Kind.TEXT,
            "SHA-256 of the file's bytes (the import key)",
            nullable=False,
        ),
        col("file_name", Kind.TEXT, "name of the file as dropped", nullable=False),
        col("format", Kind.TEXT, "camt053 | ofx | mt940 | csv:<profile>", nullable=False),
        col("status", Kind.TEXT, "imported | rejected", nullable=False),
        col("reason", Kind.TEXT, "for rejected files: what is wrong (file, line/element, field)"),
        col("statements", Kind.INT, "account statements in the file", nullable=False),
        col("lines", Kind.INT, "lines in the file", nullable=False),
        col("size_bytes", Kind.INT, "file size", nullable=False),
        col("imported_at", Kind.TIMESTAMP, "when finpipe read it", nullable=False),
    ),
    primary_key=("company_id", "content_sha256"),
)

STATEMENT_LINES = landing_table("statement", "lines")
STATEMENT_BALANCES = landing_table("statement", "balances")

TABLES: tuple[Table, ...] = (
    *QUICKBOOKS_TABLES.values(),
    *XERO_TABLES.values(),
    *OPENBANKING_TABLES.values(),
    *BERLINGROUP_TABLES.values(),
    *AGGREGATOR_TABLES.values(),
    STATEMENT_FILES,
    STATEMENT_LINES,
    STATEMENT_BALANCES,
)
