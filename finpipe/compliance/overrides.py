"""Manual overrides into the audit chain (no Dagster).

A person changes finpipe's decisions through override tables: an account's standard code
(``ops.account_map_overrides``), the book of record of a company on both sources
(``ops.source_policies``), write-back (``ops.writeback_settings``). Each version of an
override row (identified by its key and ``updated_at``) is recorded once as a
``manual_override`` entry when the step that applies it first sees it; seeing it again adds
nothing, so re-runs keep the chain short and the first application stays the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from finpipe.compliance.audit import AuditKind, append
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG


def record_overrides(
    warehouse: Warehouse,
    company_id: str,
    table: str,
    rows: pl.DataFrame,
    key: Sequence[str],
) -> int:
    """Append one ``manual_override`` entry per row of ``rows`` (an override table's rows of
    ``company_id``, with ``updated_at``) not recorded before; returns how many were added.
    The subject is ``<table>:<key values>@<updated_at>``."""
    if rows.height == 0:
        return 0
    subjects = rows.select(
        pl.concat_str(
            [
                pl.lit(f"{table}:"),
                pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator="/"),
                pl.lit("@"),
                pl.col("updated_at").cast(pl.String),
            ],
        ).alias("subject")
    )["subject"]
    seen = warehouse.read(
        AUDIT_LOG,
        where="company_id = %s AND kind = %s",
        params=[company_id, AuditKind.MANUAL_OVERRIDE.value],
    )["subject"]
    known = set(seen)
    added = 0
    for subject, row in zip(subjects, rows.iter_rows(named=True), strict=True):
        if subject in known:
            continue
        known.add(subject)
        details = {k: (str(v) if v is not None else None) for k, v in row.items()}
        append(
            warehouse,
            company_id,
            AuditKind.MANUAL_OVERRIDE,
            subject=subject,
            details={"table": table, **details},
            actor="operator",
        )
        added += 1
    return added
