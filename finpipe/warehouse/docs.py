"""The table reference page (``docs/tables.md``), generated from the declarations."""

from __future__ import annotations

from finpipe.warehouse.schema import SCHEMAS
from finpipe.warehouse.tables import ALL_TABLES


def render_reference() -> str:
    """Markdown describing every declared table, grouped by schema."""
    out = [
        "# Warehouse tables",
        "",
        "Generated from `finpipe/warehouse/tables/` by `make docs`; a test fails when this",
        "page and the declarations disagree. Money is signed integer minor units of the row's",
        "currency. Keys marked PK are the primary key: enforced by the write path on both",
        "engines and by a constraint on PostgreSQL.",
        "",
    ]
    for schema in SCHEMAS:
        tables = [t for t in ALL_TABLES if t.schema == schema]
        if not tables:
            continue
        out += [f"## Schema `{schema}`", ""]
        for table in tables:
            partition = (
                f"partitioned by `{table.partition_column}`"
                if table.partition_column
                else "cross-company"
            )
            out += [
                f"### `{table.qualified_name}`",
                "",
                f"{table.doc} ({partition}; PK: {', '.join(table.primary_key)})",
                "",
                "| column | type | null | description |",
                "|---|---|---|---|",
            ]
            for c in table.columns:
                pk = " (PK)" if c.name in table.primary_key else ""
                null = "yes" if c.nullable else "no"
                out.append(f"| `{c.name}`{pk} | {c.type_label()} | {null} | {c.doc} |")
            out.append("")
    return "\n".join(out)
