"""Table declarations: every warehouse table is declared once, here-style, and the DDL for
DuckDB and PostgreSQL, the Polars and Arrow schemas and the reference page
(``docs/tables.md``) are all derived from that one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import polars as pl
import pyarrow as pa

SCHEMAS: tuple[str, ...] = ("raw", "ledger", "recon", "analytics", "compliance", "ops")


def quote(name: str) -> str:
    """A column name as a quoted SQL identifier (column names such as ``date`` are reserved)."""
    return '"' + name.replace('"', '""') + '"'


class Kind(Enum):
    """Logical column types. Money is always integer minor units (cents), never a float."""

    TEXT = "text"
    INT = "int"
    MONEY = "money"  # signed integer minor units of the row's currency
    DECIMAL = "decimal"  # exact NUMERIC(precision, scale): rates, quantities
    FLOAT = "float"  # only for statistics (scores, ratios), never for amounts
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"  # UTC instant
    JSON = "json"  # source payloads kept verbatim


@dataclass(frozen=True)
class Column:
    """One column of a declared table."""

    name: str
    kind: Kind
    doc: str
    nullable: bool = True
    precision: int = 18
    scale: int = 6

    def duckdb_type(self) -> str:
        return {
            Kind.TEXT: "VARCHAR",
            Kind.INT: "BIGINT",
            Kind.MONEY: "BIGINT",
            Kind.DECIMAL: f"DECIMAL({self.precision},{self.scale})",
            Kind.FLOAT: "DOUBLE",
            Kind.BOOL: "BOOLEAN",
            Kind.DATE: "DATE",
            Kind.TIMESTAMP: "TIMESTAMPTZ",
            Kind.JSON: "JSON",
        }[self.kind]

    def postgres_type(self) -> str:
        return {
            Kind.TEXT: "TEXT",
            Kind.INT: "BIGINT",
            Kind.MONEY: "BIGINT",
            Kind.DECIMAL: f"NUMERIC({self.precision},{self.scale})",
            Kind.FLOAT: "DOUBLE PRECISION",
            Kind.BOOL: "BOOLEAN",
            Kind.DATE: "DATE",
            Kind.TIMESTAMP: "TIMESTAMPTZ",
            Kind.JSON: "JSONB",
        }[self.kind]

    def polars_dtype(self) -> pl.DataType:
        return {
            Kind.TEXT: pl.String(),
            Kind.INT: pl.Int64(),
            Kind.MONEY: pl.Int64(),
            Kind.DECIMAL: pl.Decimal(self.precision, self.scale),
            Kind.FLOAT: pl.Float64(),
            Kind.BOOL: pl.Boolean(),
            Kind.DATE: pl.Date(),
            Kind.TIMESTAMP: pl.Datetime("us", "UTC"),
            Kind.JSON: pl.String(),
        }[self.kind]

    def arrow_type(self) -> pa.DataType:
        return {
            Kind.TEXT: pa.large_string(),
            Kind.INT: pa.int64(),
            Kind.MONEY: pa.int64(),
            Kind.DECIMAL: pa.decimal128(self.precision, self.scale),
            Kind.FLOAT: pa.float64(),
            Kind.BOOL: pa.bool_(),
            Kind.DATE: pa.date32(),
            Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
            Kind.JSON: pa.large_string(),
        }[self.kind]

    def type_label(self) -> str:
        if self.kind is Kind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        if self.kind is Kind.MONEY:
            return "money (int minor units)"
        return self.kind.value


@dataclass(frozen=True)
class Table:
    """A declared warehouse table.

    ``partition_column`` is the column a Dagster partition (a company) owns: writes replace
    exactly that company's rows. Cross-company tables set it to ``None``.
    """

    schema: str
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    partition_column: str | None = "company_id"
    _by_name: dict[str, Column] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schema not in SCHEMAS:
            raise ValueError(f"table {self.name}: schema {self.schema!r} is not one of {SCHEMAS}")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.qualified_name}: duplicate column names")
        self._by_name.update({c.name: c for c in self.columns})
        for key in (*self.primary_key, *([self.partition_column] if self.partition_column else [])):
            if key not in self._by_name:
                raise ValueError(f"table {self.qualified_name}: key column {key!r} not declared")

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.polars_dtype() for c in self.columns})

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.arrow_type(), nullable=c.nullable) for c in self.columns]
        )

    def ddl(self, engine: str) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for ``engine`` ("duckdb" or "postgresql").

        DuckDB gets no PRIMARY KEY constraint on purpose: its ART index makes bulk loads
        about 7x slower and rejects a delete-then-reinsert of the same keys in one
        transaction, which is exactly how partitions are replaced. Key uniqueness is
        enforced by the write path (every frame is checked before it is written) and by
        asset checks; PostgreSQL keeps the constraint as a second guard.
        """
        cols = []
        for c in self.columns:
            typ = c.duckdb_type() if engine == "duckdb" else c.postgres_type()
            cols.append(f"    {quote(c.name)} {typ}{'' if c.nullable else ' NOT NULL'}")
        if engine == "postgresql" and self.primary_key:
            cols.append(f"    PRIMARY KEY ({', '.join(map(quote, self.primary_key))})")
        body = ",\n".join(cols)
        return f"CREATE TABLE IF NOT EXISTS {self.qualified_name} (\n{body}\n)"


def col(name: str, kind: Kind, doc: str, *, nullable: bool = True, **kw: int) -> Column:
    """Shorthand used by the table catalog."""
    return Column(name=name, kind=kind, doc=doc, nullable=nullable, **kw)


def company_id_column() -> Column:
    return col(
        "company_id", Kind.TEXT, "finpipe company id (the Dagster partition key)", nullable=False
    )
