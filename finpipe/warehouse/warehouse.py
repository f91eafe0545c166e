"""The warehouse facade: one API over DuckDB and PostgreSQL.

Every write is checked against the table's declaration first (:mod:`.frames`), then
handed to the engine as Arrow in a single transaction. Writes are idempotent:

* :meth:`Warehouse.replace_partition` deletes a company's rows and inserts the new ones;
* :meth:`Warehouse.replace_all` does the same for a whole cross-company table;
* :meth:`Warehouse.upsert` replaces rows whose primary key is in the frame, inserts the rest.

Reads return Polars frames with the declared dtypes on both engines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from finpipe.config import Settings, WarehouseURL, parse_warehouse_url
from finpipe.warehouse.backends import Backend, WriteOp, open_backend
from finpipe.warehouse.errors import WarehouseError
from finpipe.warehouse.frames import check_partition, conform, to_arrow
from finpipe.warehouse.schema import Table, quote
from finpipe.warehouse.tables import ALL_TABLES


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows written, rows it replaced, and the split for upserts."""

    table: str
    rows_written: int
    rows_replaced: int

    @property
    def inserted(self) -> int:
        """Rows whose key was not there before (for upserts)."""
        return self.rows_written - self.rows_replaced


class Warehouse:
    """finpipe's analytical store. Build with :meth:`open` or :meth:`from_settings`."""

    def __init__(self, url: WarehouseURL, backend: Backend) -> None:
        self.url = url
        self._backend = backend

    @classmethod
    def open(cls, url: str | WarehouseURL, *, create: bool = True) -> Warehouse:
        """Open the warehouse at ``url``, creating every declared table unless ``create`` is
        false. Raises :class:`~finpipe.config.ConfigError` for a malformed URL and
        :class:`~finpipe.warehouse.errors.WarehouseConnectionError` for an unreachable one."""
        parsed = parse_warehouse_url(url) if isinstance(url, str) else url
        warehouse = cls(parsed, open_backend(parsed))
        if create:
            warehouse.ensure_tables()
        return warehouse

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> Warehouse:
        return cls.open(settings.warehouse, create=create)

    @property
    def engine(self) -> str:
        """``"duckdb"`` or ``"postgresql"``."""
        return self._backend.engine

    def ensure_tables(self, tables: Sequence[Table] = ALL_TABLES) -> None:
        """Create schemas and tables that do not exist; add declared columns that are missing."""
        self._backend.ensure_tables(tables)

    def close(self) -> None:
        self._backend.close()

    @contextmanager
    def keep_open(
        self, idle_seconds: float | None = None, slice_seconds: float | None = None
    ) -> Iterator[None]:
        """While the block runs, keep a DuckDB file loaded in this process so calls get a
        connection in ~0.1 ms instead of opening the file (~15 ms) and checkpointing it at
        close; it is let go in turns (every ``slice_seconds``, default 5 s, for a second) and,
        with ``idle_seconds``, whenever no call came for that long, so other processes
        (Dagster runs, the UI) still get the file. For a process that makes many small
        calls (the webhook receiver, a demo). PostgreSQL pools its connections already:
        nothing changes there."""
        keep = getattr(self._backend, "keep_open", None)
        if keep is None:
            yield
            return
        with keep(idle_seconds=idle_seconds, slice_seconds=slice_seconds):
            yield

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _arrow(self, table: Table, frame: pl.DataFrame) -> pa.Table:
        return to_arrow(table, frame, exact=self._backend.engine != "duckdb")

    # ------------------------------------------------------------------ reads

    def read(
        self,
        table: Table,
        *,
        company_id: str | None = None,
        where: str | None = None,
        params: Sequence[Any] = (),
        order_by: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows of ``table`` (optionally one company's, optionally filtered by a SQL ``where``
        with ``%s`` placeholders) as a Polars frame with the declared dtypes."""
        clauses: list[str] = []
        args: list[Any] = []
        if company_id is not None:
            if table.partition_column is None:
                raise WarehouseError(f"{table.qualified_name} is not partitioned by company")
            clauses.append(f"{quote(table.partition_column)} = %s")
            args.append(company_id)
        if where:
            clauses.append(f"({where})")
            args.extend(params)
        sql = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        keys = list(order_by) if order_by is not None else list(table.primary_key)
        if keys:
            sql += f" ORDER BY {', '.join(map(quote, keys))}"
        arrow = self._backend.read_arrow(table, sql, args)
        frame = pl.from_arrow(arrow)
        assert isinstance(frame, pl.DataFrame)
        return frame.cast(dict(table.polars_schema()), strict=True)  # type: ignore[arg-type]

    def query(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        """Run a read-only SQL query (``%s`` placeholders) and return a Polars frame."""
        frame = pl.from_arrow(self._backend.query_arrow(sql, params))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def count(self, table: Table, company_id: str | None = None) -> int:
        """Row count of ``table``, or of one company's partition."""
        sql = f"SELECT count(*) AS n FROM {table.qualified_name}"
        params: list[Any] = []
        if company_id is not None:
            sql += f" WHERE {quote(table.partition_column or '')} = %s"
            params.append(company_id)
        return int(self.query(sql, params).item())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one SQL statement in its own transaction (DDL or a small write)."""
        self._backend.execute(sql, params)

    # ----------------------------------------------------------------- writes

    def _partition_op(self, table: Table, company_id: str, frame: pl.DataFrame) -> WriteOp:
        shaped = conform(table, frame)
        check_partition(table, company_id, shaped)
        return WriteOp(
            table,
            self._arrow(table, shaped),
            delete_where=f"{quote(table.partition_column or '')} = %s",
            delete_params=[company_id],
        )

    def _all_op(self, table: Table, frame: pl.DataFrame) -> WriteOp:
        return WriteOp(table, self._arrow(table, conform(table, frame)), delete_where="TRUE")

    def _upsert_op(self, table: Table, frame: pl.DataFrame, key: Sequence[str] | None) -> WriteOp:
        if key is not None and tuple(key) != table.primary_key:
            raise WarehouseError(
                f"{table.qualified_name}: upsert key {tuple(key)} differs from the declared "
                f"primary key {table.primary_key}; declare the key on the table instead"
            )
        return WriteOp(table, self._arrow(table, conform(table, frame)), replace_keys=True)

    def _run(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results = self._backend.write_many(ops)
        return [
            WriteResult(op.table.qualified_name, written, replaced)
            for op, (written, replaced) in zip(ops, results, strict=True)
        ]

    def replace_partition(self, table: Table, company_id: str, frame: pl.DataFrame) -> WriteResult:
        """Replace every row of ``company_id`` in ``table`` with ``frame``, atomically."""
        return self._run([self._partition_op(table, company_id, frame)])[0]

    def replace_all(self, table: Table, frame: pl.DataFrame) -> WriteResult:
        """Replace the whole content of ``table`` with ``frame``, atomically."""
        return self._run([self._all_op(table, frame)])[0]

    def upsert(
        self, table: Table, frame: pl.DataFrame, key: Sequence[str] | None = None
    ) -> WriteResult:
        """Insert ``frame``'s rows, replacing any row with the same primary key.

        ``key`` defaults to the table's primary key and, if given, must equal it: the key is
        what makes a re-run idempotent, so it is part of the table's declaration.
        """
        op = self._upsert_op(table, frame, key)
        if op.data.num_rows == 0:
            return WriteResult(table.qualified_name, 0, 0)
        return self._run([op])[0]

    def lock(self, name: str, timeout: float = 60.0) -> AbstractContextManager[None]:
        """An exclusive named lock across every process using this warehouse (e.g. one
        OAuth refresh per connection at a time)."""
        return self._backend.lock(name, timeout)

    @contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """Several writes committed in one transaction (e.g. synced rows and the cursor that
        covers them): all land, or none does. Writes run when the block exits cleanly."""
        pending = WriteBatch(self)
        yield pending
        pending.results = self._run(pending.ops) if pending.ops else []


class WriteBatch:
    """Writes collected by :meth:`Warehouse.batch`; each is checked when it is added."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        self.ops: list[WriteOp] = []
        self.results: list[WriteResult] = []

    def replace_partition(self, table: Table, company_id: str, frame: pl.DataFrame) -> None:
        self.ops.append(self._warehouse._partition_op(table, company_id, frame))

    def replace_all(self, table: Table, frame: pl.DataFrame) -> None:
        self.ops.append(self._warehouse._all_op(table, frame))

    def upsert(self, table: Table, frame: pl.DataFrame) -> None:
        op = self._warehouse._upsert_op(table, frame, None)
        if op.data.num_rows:
            self.ops.append(op)
