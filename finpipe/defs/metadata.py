"""Materialization metadata helpers so an operator understands an asset from the UI alone."""

from __future__ import annotations

import dagster as dg
import polars as pl

from finpipe.defs.automation import analytics_condition, ledger_condition
from finpipe.warehouse import Table, WriteResult

# Groups of derived tables that refresh at most every few minutes (see analytics_condition);
# the others (ledger, reconciliation) follow every upstream change at once.
RATE_LIMITED_GROUPS = frozenset({"analytics", "benchmarks"})


def derived_table_spec(
    key: dg.AssetKey, table: Table, group: str, deps: list[dg.AssetKey]
) -> dg.AssetSpec:
    """The spec of a table derived from upstream assets: its declaration as description and
    column schema, rebuilt by declarative automation when an upstream partition changes (a
    webhook-driven sync, say): at once for the ledger and reconciliation, at most every few
    minutes for the analytics groups."""
    condition = analytics_condition() if group in RATE_LIMITED_GROUPS else ledger_condition()
    return dg.AssetSpec(
        key,
        automation_condition=condition,
        description=table.doc,
        group_name=group,
        kinds={"polars", "duckdb", "postgres"},
        deps=deps,
        metadata={
            "dagster/table_name": table.qualified_name,
            "dagster/column_schema": table_schema(table),
        },
    )


def table_schema(table: Table) -> dg.TableSchema:
    """The declared table as a Dagster table schema (column names, types, docs)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.type_label(),
                description=c.doc,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in table.columns
        ]
    )


def markdown_preview(frame: pl.DataFrame, rows: int = 10, columns: list[str] | None = None) -> str:
    """The first ``rows`` rows of ``frame`` as a Markdown table."""
    view = frame.select(columns) if columns else frame
    view = view.head(rows)
    if view.is_empty():
        return "_no rows_"
    header = "| " + " | ".join(view.columns) + " |"
    rule = "|" + "---|" * len(view.columns)
    body = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in view.rows()
    ]
    return "\n".join([header, rule, *body])


def write_metadata(table: Table, result: WriteResult, frame: pl.DataFrame) -> dict[str, object]:
    """Standard metadata for an asset that wrote ``frame`` into ``table``."""
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/table_name": table.qualified_name,
        "dagster/column_schema": table_schema(table),
        "rows_replaced": dg.MetadataValue.int(result.rows_replaced),
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
    }
