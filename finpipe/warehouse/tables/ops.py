"""Schema ``ops``: the tenants, their connections, and the operational bookkeeping."""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

COMPANIES = Table(
    schema="ops",
    name="companies",
    doc="The tenants: one row per company finpipe serves. Drives the `company` partitions.",
    columns=(
        company_id_column(),
        col("name", Kind.TEXT, "trading name", nullable=False),
        col(
            "naics_code",
            Kind.TEXT,
            "NAICS 2022 code (2-6 digits) of the main activity",
            nullable=False,
        ),
        col("country", Kind.TEXT, "ISO 3166-1 alpha-2 country of incorporation", nullable=False),
        col(
            "home_currency", Kind.TEXT, "ISO 4217 functional currency of the books", nullable=False
        ),
        col(
            "fiscal_year_start_month",
            Kind.INT,
            "month (1-12) the fiscal year starts",
            nullable=False,
        ),
        col("status", Kind.TEXT, "active | paused | removed", nullable=False),
        col(
            "created_at",
            Kind.TIMESTAMP,
            "when finpipe first registered the company",
            nullable=False,
        ),
        col("updated_at", Kind.TIMESTAMP, "last change of this row", nullable=False),
    ),
    primary_key=("company_id",),
    partition_column=None,
)

CONNECTIONS = Table(
    schema="ops",
    name="connections",
    doc="One row per link between a company and a data provider (an accounting file, a bank consent).",
    columns=(
        company_id_column(),
        col(
            "provider",
            Kind.TEXT,
            "quickbooks | xero | openbanking | berlingroup | aggregator | statement",
            nullable=False,
        ),
        col(
            "external_id",
            Kind.TEXT,
            "the provider's id: QBO realmId, Xero tenantId, consent id, item id, bank account",
            nullable=False,
        ),
        col("display_name", Kind.TEXT, "what the provider calls this file or account"),
        col(
            "status",
            Kind.TEXT,
            "active | needs_reauth | degraded | paused | removed",
            nullable=False,
        ),
        col("status_reason", Kind.TEXT, "why the status is what it is (no secrets)"),
        col("created_at", Kind.TIMESTAMP, "when the connection was made", nullable=False),
        col("updated_at", Kind.TIMESTAMP, "last change of this row", nullable=False),
        col("last_synced_at", Kind.TIMESTAMP, "end of the last successful sync"),
    ),
    primary_key=("company_id", "provider", "external_id"),
    partition_column=None,
)

QUARANTINE = Table(
    schema="ops",
    name="quarantine",
    doc="Records rejected by a parser or a load, with the reason; never silently dropped.",
    columns=(
        company_id_column(),
        col(
            "source",
            Kind.TEXT,
            "where the record came from (provider/entity or file)",
            nullable=False,
        ),
        col("record_id", Kind.TEXT, "the record's id in its source, or file:line", nullable=False),
        col("field", Kind.TEXT, "the offending field, if one is to blame"),
        col("reason", Kind.TEXT, "what is wrong and what to do", nullable=False),
        col("payload", Kind.JSON, "the record as received"),
        col("quarantined_at", Kind.TIMESTAMP, "when it was rejected", nullable=False),
    ),
    primary_key=("company_id", "source", "record_id"),
)

SYNC_CURSORS = Table(
    schema="ops",
    name="sync_cursors",
    doc="Where each incremental sync stands, committed in the same transaction as the rows it covers.",
    columns=(
        company_id_column(),
        col("provider", Kind.TEXT, "quickbooks | xero | ...", nullable=False),
        col(
            "tenant_id", Kind.TEXT, "QBO realmId / Xero tenant id / consent / item", nullable=False
        ),
        col("entity", Kind.TEXT, "entity or endpoint the cursor belongs to", nullable=False),
        col(
            "cursor",
            Kind.TEXT,
            "provider-specific position: an instant, an offset, an opaque cursor",
            nullable=False,
        ),
        col("updated_at", Kind.TIMESTAMP, "when the cursor last moved", nullable=False),
    ),
    primary_key=("company_id", "provider", "tenant_id", "entity"),
)

OAUTH_TOKENS = Table(
    schema="ops",
    name="oauth_tokens",
    doc="OAuth2 token sets per connection, encrypted at rest (Fernet); never logged.",
    columns=(
        company_id_column(),
        col("provider", Kind.TEXT, "quickbooks | xero | ...", nullable=False),
        col(
            "ciphertext",
            Kind.TEXT,
            "Fernet token of the JSON token set (access, refresh, scope)",
            nullable=False,
        ),
        col("access_expires_at", Kind.TIMESTAMP, "when the access token expires", nullable=False),
        col(
            "refresh_issued_at",
            Kind.TIMESTAMP,
            "when the current refresh token was issued",
            nullable=False,
        ),
        col("refresh_expires_at", Kind.TIMESTAMP, "when the refresh token expires if unused"),
        col("version", Kind.INT, "increments at every rotation", nullable=False),
        col("updated_at", Kind.TIMESTAMP, "last change", nullable=False),
    ),
    primary_key=("company_id", "provider"),
)

SOURCE_POLICIES = Table(
    schema="ops",
    name="source_policies",
    doc="Per company on both QuickBooks and Xero: which source is the book of record before and from the cut-over date (a migration). Without a row the policy is inferred and recon.conflicts says so.",
    columns=(
        company_id_column(),
        col(
            "cutover_date",
            Kind.DATE,
            "first day the after_provider is the book of record",
            nullable=False,
        ),
        col(
            "before_provider", Kind.TEXT, "quickbooks | xero: book of record before", nullable=False
        ),
        col(
            "after_provider",
            Kind.TEXT,
            "quickbooks | xero: book of record from the cut-over",
            nullable=False,
        ),
        col("updated_at", Kind.TIMESTAMP, "last change (the latest row wins)", nullable=False),
    ),
    primary_key=("company_id", "updated_at"),
)

WRITEBACK_SETTINGS = Table(
    schema="ops",
    name="writeback_settings",
    doc="Per company: whether finpipe may create bank fees and interest in the books (off unless a row enables it) and whether it only rehearses (dry_run, the default).",
    columns=(
        company_id_column(),
        col("enabled", Kind.BOOL, "write-back on for this company", nullable=False),
        col("dry_run", Kind.BOOL, "log what would be written, write nothing (null: true)"),
        col("provider", Kind.TEXT, "restrict to one set of books (quickbooks | xero); null: all"),
        col("updated_at", Kind.TIMESTAMP, "last change", nullable=False),
    ),
    primary_key=("company_id",),
)

QUALITY_RESULTS = Table(
    schema="ops",
    name="quality_results",
    doc="The last Great Expectations validation of each company's partition of each landing table, with the partition's fingerprint (rows, newest extraction, payload bytes) at that moment: a sync that did not change a partition reuses its result instead of validating the same rows again.",
    columns=(
        company_id_column(),
        col("table_name", Kind.TEXT, "the landing table, schema.name", nullable=False),
        col(
            "fingerprint",
            Kind.TEXT,
            "rows, newest extracted_at and payload bytes of the partition when validated",
            nullable=False,
        ),
        col("passed", Kind.BOOL, "every expectation held", nullable=False),
        col("rows", Kind.INT, "rows validated", nullable=False),
        col("failed_expectations", Kind.INT, "expectations that did not hold", nullable=False),
        col("results", Kind.TEXT, "the expectations' outcomes as a Markdown table", nullable=False),
        col("validated_at", Kind.TIMESTAMP, "when the validation ran", nullable=False),
    ),
    primary_key=("company_id", "table_name"),
)

TABLES = (
    COMPANIES,
    CONNECTIONS,
    QUARANTINE,
    SYNC_CURSORS,
    OAUTH_TOKENS,
    SOURCE_POLICIES,
    WRITEBACK_SETTINGS,
    QUALITY_RESULTS,
)
