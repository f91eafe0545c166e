"""Validate a landing partition only when it changed since its last validation.

A webhook-driven sync changes one or two entities of a company; validating the other
fifteen unchanged partitions again with Great Expectations costs seconds each and tells
nothing new. Each validation is stored in ``ops.quality_results`` with the partition's
fingerprint at that moment (row count, newest ``extracted_at``, total payload bytes, and a
digest of the table's declaration the expectations come from); a
partition whose fingerprint is unchanged reuses the stored result, pass or fail alike. A
table without those columns is always validated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from finpipe.warehouse import Warehouse
from finpipe.warehouse.schema import Table, quote
from finpipe.warehouse.tables.ops import QUALITY_RESULTS

FINGERPRINT_COLUMNS = ("extracted_at", "payload")


@dataclass(frozen=True)
class StoredResult:
    """A validation as stored in ``ops.quality_results``."""

    table_name: str
    fingerprint: str
    passed: bool
    rows: int
    failed_expectations: int
    results: str
    validated_at: dt.datetime


def _declaration_digest(table: Table) -> str:
    declared = (table.column_names, [c.nullable for c in table.columns], table.primary_key)
    return hashlib.sha256(repr(declared).encode()).hexdigest()[:12]


def _fingerprintable(table: Table) -> bool:
    return all(c in table.column_names for c in FINGERPRINT_COLUMNS) and bool(
        table.partition_column
    )


def partition_fingerprints(
    wh: Warehouse, tables: Sequence[Table], company_id: str
) -> dict[str, str]:
    """``{table name: fingerprint}`` of ``company_id``'s partition of each table that has
    the fingerprint columns, in one query."""
    usable = [t for t in tables if _fingerprintable(t)]
    if not usable:
        return {}
    parts = []
    params: list[str] = []
    for table in usable:
        parts.append(
            f"SELECT '{table.qualified_name}' AS table_name, count(*) AS n, "
            "CAST(max(extracted_at) AS VARCHAR) AS newest, "
            "coalesce(sum(length(CAST(payload AS VARCHAR))), 0) AS bytes "
            f"FROM {table.qualified_name} WHERE {quote(table.partition_column or '')} = %s"
        )
        params.append(company_id)
    frame = wh.query(" UNION ALL ".join(parts), params)
    # The expectations are derived from the declaration: a changed one re-validates.
    declared = {t.qualified_name: _declaration_digest(t) for t in usable}
    return {
        name: f"{int(n)}|{newest or '-'}|{int(size)}|{declared[name]}"
        for name, n, newest, size in frame.select("table_name", "n", "newest", "bytes").rows()
    }


def stored_results(wh: Warehouse, company_id: str) -> dict[str, StoredResult]:
    """The stored validations of ``company_id``'s partitions, by table name."""
    frame = wh.read(QUALITY_RESULTS, company_id=company_id)
    return {
        row["table_name"]: StoredResult(
            table_name=row["table_name"],
            fingerprint=row["fingerprint"],
            passed=bool(row["passed"]),
            rows=int(row["rows"]),
            failed_expectations=int(row["failed_expectations"]),
            results=row["results"],
            validated_at=row["validated_at"],
        )
        for row in frame.iter_rows(named=True)
    }


def reusable(
    fingerprints: dict[str, str], stored: dict[str, StoredResult], table: Table
) -> StoredResult | None:
    """The stored validation of ``table`` if its partition has not changed since."""
    fingerprint = fingerprints.get(table.qualified_name)
    previous = stored.get(table.qualified_name)
    if fingerprint is None or previous is None or previous.fingerprint != fingerprint:
        return None
    return previous


def save_results(wh: Warehouse, company_id: str, results: Sequence[StoredResult]) -> None:
    """Store fresh validations (one upsert)."""
    if not results:
        return
    frame = pl.DataFrame(
        {
            "company_id": [company_id] * len(results),
            "table_name": [r.table_name for r in results],
            "fingerprint": [r.fingerprint for r in results],
            "passed": [r.passed for r in results],
            "rows": [r.rows for r in results],
            "failed_expectations": [r.failed_expectations for r in results],
            "results": [r.results for r in results],
            "validated_at": [r.validated_at for r in results],
        },
        schema=QUALITY_RESULTS.polars_schema(),
    )
    wh.upsert(QUALITY_RESULTS, frame)
