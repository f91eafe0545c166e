"""The two storage engines behind :class:`finpipe.warehouse.Warehouse`.

Both expose the same small set of primitives; the facade does all checking, so an engine
only moves Arrow data in and out and runs SQL inside one transaction per call:

* DuckDB: the Arrow table is registered as a view and inserted by the engine's own
  Arrow scan (zero copy).
* PostgreSQL: SQLAlchemy (psycopg 3) for DDL and statements; bulk data moves with
  ``COPY ... FROM STDIN`` / ``COPY ... TO STDOUT`` in CSV, encoded and decoded by Arrow's
  C++ CSV codec so no Python loop touches a row.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv

from finpipe.config import WarehouseURL
from finpipe.warehouse.errors import WarehouseConnectionError, WarehouseError
from finpipe.warehouse.schema import SCHEMAS, Table, quote


class Backend(Protocol):
    engine: str

    def ensure_tables(self, tables: Sequence[Table]) -> None: ...
    def read_arrow(self, table: Table, where: str, params: Sequence[Any]) -> pa.Table: ...
    def query_arrow(self, sql: str, params: Sequence[Any]) -> pa.Table: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def write_many(self, ops: Sequence[WriteOp]) -> list[tuple[int, int]]: ...
    def lock(self, name: str, timeout: float) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class WriteOp:
    """One table write inside a transaction: optionally delete rows (``delete_where``) or the
    rows whose keys are in ``data`` (``replace_keys``), then insert ``data``."""

    table: Table
    data: pa.Table
    delete_where: str | None = None
    delete_params: Sequence[Any] = ()
    replace_keys: bool = False


def _ident_list(names: Sequence[str]) -> str:
    return ", ".join(map(quote, names))


def _key_join(table: Table, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in table.primary_key)


# ----------------------------------------------------------------------------- DuckDB


# Hold the file at most this long, then go back to a connection per call for a pause, so
# other processes (the Dagster daemon's sensors, runs launched from the UI) still get its
# lock while a demo runs: they retry for a minute, polling at least once a second.
KEEP_SLICE_SECONDS = 5.0
KEEP_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class _Keeper:
    """One registration to keep a file loaded, with its terms."""

    slice_seconds: float
    pause_seconds: float
    idle_seconds: float | None


@dataclass
class _Kept:
    """A DuckDB file this process keeps loaded (keep_duckdb_open, DuckDBBackend.keep_open)
    for as long as any keeper is registered, on the strictest of their terms: held in
    slices of the shortest ``slice_seconds``, each followed by the longest
    ``pause_seconds`` of a connection per call, and let go after the shortest
    ``idle_seconds`` without a call."""

    path: Path  # as the kept connection opened it: DuckDB shares a database by its name
    lock_timeout: float
    keepers: list[_Keeper] = field(default_factory=list)
    con: Any = None
    opening: bool = False
    since: float = 0.0
    paused_until: float = 0.0
    used: float = 0.0

    @property
    def slice_seconds(self) -> float:
        return min(k.slice_seconds for k in self.keepers)

    @property
    def pause_seconds(self) -> float:
        return max(k.pause_seconds for k in self.keepers)

    @property
    def idle_seconds(self) -> float | None:
        return min(
            (k.idle_seconds for k in self.keepers if k.idle_seconds is not None), default=None
        )


# Resolved path -> the file this process keeps loaded.
_kept_lock = threading.Lock()
_kept: dict[Path, _Kept] = {}
_reaper: threading.Thread | None = None


@contextmanager
def _keeping(
    path: Path,
    lock_timeout: float,
    *,
    slice_seconds: float | None = None,
    pause_seconds: float | None = None,
    idle_seconds: float | None = None,
) -> Iterator[None]:
    """Keep ``path`` loaded while the block runs (slices and pauses default to
    :data:`KEEP_SLICE_SECONDS` / :data:`KEEP_PAUSE_SECONDS`, read at entry)."""
    global _reaper
    keeper = _Keeper(
        KEEP_SLICE_SECONDS if slice_seconds is None else slice_seconds,
        KEEP_PAUSE_SECONDS if pause_seconds is None else pause_seconds,
        idle_seconds,
    )
    key = path.resolve()
    with _kept_lock:
        kept = _kept.setdefault(key, _Kept(path, lock_timeout))
        kept.keepers.append(keeper)
        if idle_seconds is not None and _reaper is None:
            _reaper = threading.Thread(target=_reap, name="finpipe-duckdb-reaper", daemon=True)
            _reaper.start()
    try:
        yield
    finally:
        with _kept_lock:
            kept.keepers.remove(keeper)
            if not kept.keepers:
                del _kept[key]
                _let_go(kept)


def _let_go(kept: _Kept) -> None:
    # Connections opened from it stay usable: the database lives while any does.
    if kept.con is not None:
        kept.con.close()
        kept.con = None


def _reap() -> None:
    """Let go of the files kept with an idle limit once no call came for that long; ends
    when no keeper has an idle limit any more."""
    global _reaper
    while True:
        with _kept_lock:
            idles = [k.idle_seconds for k in _kept.values() if k.idle_seconds is not None]
            if not idles:
                _reaper = None
                return
            now = time.monotonic()
            for kept in _kept.values():
                idle = kept.idle_seconds
                if idle is not None and now - kept.used >= idle:
                    _let_go(kept)
        time.sleep(max(min(idles) / 2, 0.01))


def _connect_file(path: Path, lock_timeout: float) -> Any:
    """A new DuckDB connection to ``path``, retrying while another process holds its lock."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseConnectionError(
                    f"cannot open DuckDB warehouse {path}: {exc}. Another process may "
                    "hold it; DuckDB allows one writer process at a time"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


@contextmanager
def keep_duckdb_open(url: WarehouseURL, lock_timeout: float = 60.0) -> Iterator[None]:
    """Keep a DuckDB warehouse's database loaded in this process while the block runs, so
    the calls inside it (from any :class:`DuckDBBackend` on that file) get a connection in
    ~0.1 ms instead of opening the file (~15 ms: catalog load) and checkpointing it at
    close (~5 ms). Each call still has its own connection and transaction.

    For a process that makes many calls in one go (``finpipe demo``, in-process runs): the
    file is held in slices of :data:`KEEP_SLICE_SECONDS`, each followed by
    :data:`KEEP_PAUSE_SECONDS` of a connection per call, so other processes get its lock in
    between. Another process that must open the file right away (dbt, run by the demo
    after its runs) belongs outside the block. A PostgreSQL URL makes this a no-op (it
    pools its connections). Blocks nest."""
    if url.is_postgres or url.path is None:
        yield
        return
    with _keeping(url.path, lock_timeout):
        yield


def _kept_name(path: Path) -> Path | None:
    """The name to open ``path`` by while this process keeps it loaded (one name, so the
    connection joins the database held loaded), taking or releasing the slice as due; None
    when it is not kept. The file is opened outside the registry's lock: waiting for
    another process's lock must not stall every other thread."""
    with _kept_lock:
        kept = _kept.get(path.resolve())
        if kept is None:
            return None
        now = time.monotonic()
        kept.used = now
        if kept.con is not None and now - kept.since >= kept.slice_seconds:
            _let_go(kept)
            kept.paused_until = now + kept.pause_seconds
        take = kept.con is None and not kept.opening and now >= kept.paused_until
        if take:
            kept.opening = True
    if take:
        try:
            con = _connect_file(kept.path, kept.lock_timeout)
        finally:
            with _kept_lock:
                kept.opening = False
        with _kept_lock:
            if kept.con is None and kept.keepers:
                kept.con, kept.since = con, time.monotonic()
            else:
                con.close()
    return kept.path


class DuckDBBackend:
    """A DuckDB file. Connections are opened per call so other processes (the Dagster UI,
    parallel runs) can take the file's lock in between; a busy lock is retried."""

    engine = "duckdb"

    def __init__(self, url: WarehouseURL, lock_timeout: float = 60.0) -> None:
        assert url.path is not None
        self.path: Path = url.path
        self.lock_timeout = lock_timeout

    @contextmanager
    def keep_open(
        self, idle_seconds: float | None = None, slice_seconds: float | None = None
    ) -> Iterator[None]:
        """Keep the file loaded in this process while the block runs (see
        :func:`keep_duckdb_open`); with ``idle_seconds``, let go whenever no call came for
        that long, so other processes get the file between bursts."""
        with _keeping(
            self.path, self.lock_timeout, slice_seconds=slice_seconds, idle_seconds=idle_seconds
        ):
            yield

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        con = self._open_raw()
        try:
            yield con
        finally:
            con.close()

    def _open_raw(self) -> Any:
        # Opened by the kept connection's name, DuckDB hands out a new connection to the
        # database already loaded (see keep_duckdb_open); not a cursor of the kept one,
        # as cursors close with it.
        path = (_kept_name(self.path) if _kept else None) or self.path
        con = _connect_file(path, self.lock_timeout)
        try:
            con.execute("SET TimeZone = 'UTC'")
        except BaseException:
            con.close()
            raise
        return con

    def ensure_tables(self, tables: Sequence[Table]) -> None:
        with self._connect() as con:
            # One catalog read; DDL only for what is missing (the usual case: nothing). A
            # statement per declared table on every open cost ~0.15 s per Warehouse.open.
            schemas = {
                row[0]
                for row in con.execute(
                    "SELECT schema_name FROM information_schema.schemata "
                    "WHERE catalog_name = current_database()"
                ).fetchall()
            }
            catalog: dict[tuple[str, str], set[str]] = {}
            for schema, name, column in con.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE table_catalog = current_database()"
            ).fetchall():
                catalog.setdefault((schema, name), set()).add(column)
            for schema in SCHEMAS:
                if schema not in schemas:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for table in tables:
                known = catalog.get((table.schema, table.name))
                if known is not None:
                    for column in table.columns:
                        if column.name not in known:
                            con.execute(
                                f"ALTER TABLE {table.qualified_name} "
                                f"ADD COLUMN {quote(column.name)} {column.duckdb_type()}"
                            )
                    continue
                con.execute(table.ddl("duckdb"))
                existing = {
                    row[0]
                    for row in con.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = ? AND table_name = ?",
                        [table.schema, table.name],
                    ).fetchall()
                }
                for column in table.columns:
                    if column.name not in existing:
                        con.execute(
                            f"ALTER TABLE {table.qualified_name} "
                            f"ADD COLUMN {quote(column.name)} {column.duckdb_type()}"
                        )

    def read_arrow(self, table: Table, where: str, params: Sequence[Any]) -> pa.Table:
        sql = f"SELECT {_ident_list(table.column_names)} FROM {table.qualified_name} {where}"
        return self.query_arrow(sql, params)

    def query_arrow(self, sql: str, params: Sequence[Any]) -> pa.Table:
        with self._connect() as con:
            return con.sql(sql.replace("%s", "?"), params=list(params)).to_arrow_table()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._connect() as con:
            con.execute(sql.replace("%s", "?"), list(params))

    def write_many(self, ops: Sequence[WriteOp]) -> list[tuple[int, int]]:
        results: list[tuple[int, int]] = []
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            current = ops[0].table.qualified_name if ops else ""
            try:
                for op in ops:
                    current = op.table.qualified_name
                    results.append(self._write_one(con, op))
                con.execute("COMMIT")
            except Exception as exc:
                con.execute("ROLLBACK")
                raise WarehouseError(f"writing {current} failed: {exc}") from exc
        return results

    @staticmethod
    def _write_one(con: Any, op: WriteOp) -> tuple[int, int]:
        table = op.table
        cols = _ident_list(table.column_names)
        con.register("_finpipe_incoming", op.data)
        try:
            deleted = 0
            if op.delete_where is not None:
                sql = f"DELETE FROM {table.qualified_name} WHERE {op.delete_where}"
                deleted = con.execute(sql.replace("%s", "?"), list(op.delete_params)).fetchone()[0]
            if op.replace_keys:
                deleted = con.execute(
                    f"DELETE FROM {table.qualified_name} AS t USING _finpipe_incoming AS s "
                    f"WHERE {_key_join(table, 't', 's')}"
                ).fetchone()[0]
            con.execute(
                f"INSERT INTO {table.qualified_name} ({cols}) SELECT {cols} FROM _finpipe_incoming"
            )
        finally:
            con.unregister("_finpipe_incoming")
        return op.data.num_rows, int(deleted)

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        """An exclusive lock shared by every process using this DuckDB file (flock)."""
        import fcntl
        import hashlib

        folder = self.path.parent / f".{self.path.name}.locks"
        folder.mkdir(parents=True, exist_ok=True)
        lock_file = folder / (hashlib.sha256(name.encode()).hexdigest()[:24] + ".lock")
        deadline = time.monotonic() + timeout
        with open(lock_file, "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseError(
                            f"lock {name!r} still held by another process after {timeout:.0f}s"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        """Nothing is held open between calls (keep_open blocks release on exit)."""


# ------------------------------------------------------------------------- PostgreSQL


def arrow_to_csv(data: pa.Table) -> bytes:
    """Arrow → CSV bytes in the dialect ``COPY ... (FORMAT csv)`` reads.

    Every non-null value is quoted, so an empty string ("") and NULL (nothing) stay apart.
    """
    sink = io.BytesIO()
    pacsv.write_csv(data, sink, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return sink.getvalue()


def csv_to_arrow(payload: bytes, schema: pa.Schema) -> pa.Table:
    """CSV from ``COPY ... TO STDOUT (FORMAT csv)`` → Arrow with the declared types."""
    if not payload:
        return schema.empty_table()
    table = pacsv.read_csv(
        io.BytesIO(payload),
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
            timestamp_parsers=[pacsv.ISO8601],
        ),
    )
    return table.cast(schema)


class PostgresBackend:
    """A PostgreSQL database reached through SQLAlchemy + psycopg 3."""

    engine = "postgresql"

    def __init__(self, url: WarehouseURL) -> None:
        import sqlalchemy as sa

        self.url = url
        self._engine = sa.create_engine(
            url.sqlalchemy_url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5, "options": "-c TimeZone=UTC"},
        )

    @contextmanager
    def _raw(self) -> Iterator[Any]:
        """A psycopg connection in a transaction, committed on success."""
        try:
            conn = self._engine.raw_connection()
        except Exception as exc:
            raise WarehouseConnectionError(
                f"cannot reach the PostgreSQL warehouse {self.url.redacted()}: "
                f"{str(exc).splitlines()[0]}. Check FINPIPE_WAREHOUSE_URL and that the server "
                "is running and accepts connections"
            ) from None
        try:
            yield conn.driver_connection
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()

    def ensure_tables(self, tables: Sequence[Table]) -> None:
        if self._has_every_column(tables):
            # Nothing to create (the usual case): skip ~a statement per declared column,
            # each an ALTER TABLE that takes the table's exclusive lock.
            return
        with self._raw() as conn, conn.cursor() as cur:
            # Serialise concurrent first-time setups (parallel runs) on one advisory lock.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('finpipe.ensure_tables'))")
            for schema in SCHEMAS:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for table in tables:
                cur.execute(table.ddl("postgresql"))
                for column in table.columns:
                    cur.execute(
                        f"ALTER TABLE {table.qualified_name} ADD COLUMN IF NOT EXISTS "
                        f"{quote(column.name)} {column.postgres_type()}"
                    )

    def _has_every_column(self, tables: Sequence[Table]) -> bool:
        """Whether every schema in SCHEMAS and every declared column of ``tables`` exists."""
        with self._raw() as conn, conn.cursor() as cur:
            cur.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [list(SCHEMAS)])
            if len(cur.fetchall()) != len(set(SCHEMAS)):
                return False
            cur.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = ANY(%s)",
                [list(SCHEMAS)],
            )
            present = set(cur.fetchall())
        return all(
            (table.schema, table.name, column.name) in present
            for table in tables
            for column in table.columns
        )

    def read_arrow(self, table: Table, where: str, params: Sequence[Any]) -> pa.Table:
        sql = f"SELECT {_ident_list(table.column_names)} FROM {table.qualified_name} {where}"
        with self._raw() as conn, conn.cursor() as cur:
            buffer = io.BytesIO()
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", list(params) or None) as copy:
                for block in copy:
                    buffer.write(block)
        return csv_to_arrow(buffer.getvalue(), table.arrow_schema())

    def query_arrow(self, sql: str, params: Sequence[Any]) -> pa.Table:
        with self._raw() as conn, conn.cursor() as cur:
            cur.execute(sql, list(params))
            names = [d.name for d in cur.description or []]
            rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._raw() as conn, conn.cursor() as cur:
            cur.execute(sql, list(params))

    def write_many(self, ops: Sequence[WriteOp]) -> list[tuple[int, int]]:
        import psycopg

        current = ops[0].table.qualified_name if ops else ""
        try:
            with self._raw() as conn, conn.cursor() as cur:
                results = []
                for op in ops:
                    current = op.table.qualified_name
                    results.append(self._write_one(cur, op))
                return results
        except psycopg.Error as exc:
            # psycopg's message carries the offending line and column of the COPY.
            detail = " ".join(str(exc).split())
            raise WarehouseError(f"writing {current} failed: {detail}") from exc

    @staticmethod
    def _write_one(cur: Any, op: WriteOp) -> tuple[int, int]:
        table = op.table
        cols = _ident_list(table.column_names)
        payload = arrow_to_csv(op.data)
        deleted = 0
        if op.delete_where is not None:
            cur.execute(
                f"DELETE FROM {table.qualified_name} WHERE {op.delete_where}",
                list(op.delete_params),
            )
            deleted = cur.rowcount
        target = table.qualified_name
        if op.replace_keys:
            # Stage, then replace matching keys: one statement pair, no row loop.
            cur.execute("DROP TABLE IF EXISTS _finpipe_incoming")
            cur.execute(
                f"CREATE TEMP TABLE _finpipe_incoming (LIKE {table.qualified_name}) ON COMMIT DROP"
            )
            target = "_finpipe_incoming"
        with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            view = memoryview(payload)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        if op.replace_keys:
            cur.execute(
                f"DELETE FROM {table.qualified_name} AS t USING _finpipe_incoming AS s "
                f"WHERE {_key_join(table, 't', 's')}"
            )
            deleted = cur.rowcount
            cur.execute(
                f"INSERT INTO {table.qualified_name} ({cols}) SELECT {cols} FROM _finpipe_incoming"
            )
            cur.execute("DROP TABLE _finpipe_incoming")
        return op.data.num_rows, int(deleted)

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        """A session-level advisory lock, held on its own connection for the block."""
        with self._raw() as conn, conn.cursor() as cur:
            # LOCAL: ends with this block's transaction, never leaks into pooled connections.
            cur.execute(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
            try:
                cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [name])
            except Exception as exc:
                raise WarehouseError(
                    f"lock {name!r} still held by another process after {timeout:.0f}s"
                ) from exc
            try:
                yield
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])

    def close(self) -> None:
        self._engine.dispose()


def open_backend(url: WarehouseURL) -> Backend:
    """The backend for ``url``; PostgreSQL is checked for reachability right away."""
    if url.is_postgres:
        backend = PostgresBackend(url)
        backend.execute("SELECT 1")
        return backend
    return DuckDBBackend(url)
