"""Schema ``compliance``: the append-only, hash-chained audit trail.

One chain per company (``company_id`` is the partition column): a company's sequence numbers
are gap-free from 1, each entry commits to the previous entry's hash, and the chain is
verified per company, so a per-company Dagster asset check owns exactly its partition.
Per-company chains also keep appends of different companies from contending on one lock,
and let one tenant's trail be exported or removed without breaking every other tenant's.

The table is written ONLY through :func:`finpipe.compliance.audit.append` (a plain INSERT
under a named lock). Never write it with ``replace_partition`` / ``replace_all`` /
``upsert``: those delete rows, which is exactly the tampering the chain exists to expose.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

T = Kind.TEXT

AUDIT_LOG = Table(
    schema="compliance",
    name="audit_log",
    doc="Append-only, hash-chained audit trail per company: every sync batch, write-back, conflict resolution and manual override. Written only by finpipe.compliance.audit.append; checked by finpipe.compliance.audit.verify.",
    columns=(
        company_id_column(),
        col(
            "sequence",
            Kind.INT,
            "position in the company's chain: 1, 2, 3, ... with no gaps",
            nullable=False,
        ),
        col("recorded_at", Kind.TIMESTAMP, "when the entry was appended (UTC)", nullable=False),
        col(
            "kind",
            T,
            "sync_batch | write_back | conflict_resolution | manual_override",
            nullable=False,
        ),
        col(
            "actor",
            T,
            "who or what acted: a user id, or a job such as 'dagster:run:<run id>'",
            nullable=False,
        ),
        col(
            "subject",
            T,
            "what was acted on, e.g. 'quickbooks:Invoice:1042' or 'raw.xero_invoices'",
            nullable=False,
        ),
        col(
            "details",
            T,
            "canonical JSON of the entry's details (sorted keys, exact decimals); stored as text, not JSON/JSONB, because the hash covers these exact bytes and JSONB would reorder keys",
            nullable=False,
        ),
        col(
            "prev_hash",
            T,
            "hash of the previous entry (hex SHA-256); the first entry carries the fixed genesis value",
            nullable=False,
        ),
        col(
            "hash",
            T,
            "hex SHA-256 of prev_hash followed by the entry's canonical content (company, sequence, time, kind, actor, subject, details)",
            nullable=False,
        ),
    ),
    primary_key=("company_id", "sequence"),
)

TABLES: tuple[Table, ...] = (AUDIT_LOG,)
