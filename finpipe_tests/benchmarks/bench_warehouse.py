"""Warehouse bulk-load benchmark: finpipe's write path against each engine's native load.

For each engine, 1M rows shaped like bank lines are loaded
  * natively: DuckDB ``INSERT ... SELECT`` from the registered Arrow table; PostgreSQL
    ``COPY ... FROM STDIN (FORMAT csv)`` of the same Arrow table encoded by Arrow's CSV
    writer (the fastest load PostgreSQL offers without extensions);
  * through ``Warehouse.replace_partition`` (checks + Arrow + one transaction), both into an
    empty table and as a re-run that replaces the same 1M rows;
  * through ``Warehouse.upsert`` of the same rows (all keys already present).
Each figure is the best of ``--repeat`` runs; the ratio printed is native time / finpipe time
(1.0 = as fast as native; the goal for the load is >= 0.8).

    .venv/bin/python finpipe_tests/benchmarks/bench_warehouse.py [--rows N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.csv as pacsv

from finpipe.warehouse import Kind, Table, Warehouse
from finpipe.warehouse.frames import conform, to_arrow
from finpipe.warehouse.schema import col, company_id_column

GOAL = 0.8

BENCH = Table(
    schema="raw",
    name="bench_bank_lines",
    doc="benchmark table shaped like bank lines",
    columns=(
        company_id_column(),
        col("line_id", Kind.TEXT, "key", nullable=False),
        col("booked_date", Kind.DATE, "date", nullable=False),
        col("amount", Kind.MONEY, "cents", nullable=False),
        col("currency", Kind.TEXT, "ccy", nullable=False),
        col("description", Kind.TEXT, "narration"),
        col("fx_rate", Kind.DECIMAL, "rate", precision=18, scale=8),
        col("created_at", Kind.TIMESTAMP, "instant", nullable=False),
    ),
    primary_key=("company_id", "line_id"),
)


def make_frame(rows: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["POS 4411 SQ *CAFE", "ACH CREDIT ACME CORP", "FASTER PAYMENT", "FEE", ""])
    frame = pl.DataFrame(
        {
            "company_id": ["cmp_bench"] * rows,
            "line_id": [f"L{i:09d}" for i in range(rows)],
            "booked_date": pl.Series(rng.integers(19_000, 20_000, rows), dtype=pl.Int32).cast(
                pl.Date
            ),
            "amount": rng.integers(-500_000, 500_000, rows),
            "currency": rng.choice(np.array(["USD", "GBP", "EUR"]), rows),
            "description": rng.choice(words, rows),
            "created_at": pl.Series(rng.integers(0, 10**9, rows) * 1_000_000)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
        }
    )
    rates = pl.Series("fx_rate", rng.integers(50_000_000, 200_000_000, rows)).cast(
        pl.Decimal(18, 0)
    ) / Decimal(100_000_000)
    frame = frame.with_columns(rates.cast(pl.Decimal(18, 8)))
    return frame.select(BENCH.column_names)


def best(fn: Callable[[], None], repeat: int, before: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_duckdb(frame: pl.DataFrame, repeat: int, folder: Path) -> dict[str, float]:
    import duckdb

    url = f"duckdb:///{folder / 'bench.duckdb'}"
    wh = Warehouse.open(url, create=False)
    wh.ensure_tables([BENCH])
    arrow = to_arrow(BENCH, conform(BENCH, frame))

    def clear() -> None:
        wh.execute(f"DELETE FROM {BENCH.qualified_name}")

    def native() -> None:
        con = duckdb.connect(str(folder / "bench.duckdb"))
        con.register("incoming", arrow)
        con.execute(f"INSERT INTO {BENCH.qualified_name} SELECT * FROM incoming")
        con.close()

    out = {"native": best(native, repeat, clear)}
    out["load"] = best(lambda: wh.replace_partition(BENCH, "cmp_bench", frame), repeat, clear)
    out["rerun"] = best(
        lambda: wh.replace_partition(BENCH, "cmp_bench", frame), repeat, lambda: None
    )
    out["upsert"] = best(lambda: wh.upsert(BENCH, frame), repeat, lambda: None)
    assert wh.count(BENCH) == frame.height
    return out


def bench_postgres(frame: pl.DataFrame, repeat: int, admin_url: str) -> dict[str, float]:
    import psycopg

    name = f"finpipe_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rpartition("/")[0] + "/" + name
    try:
        wh = Warehouse.open(url, create=False)
        wh.ensure_tables([BENCH])
        arrow = to_arrow(BENCH, conform(BENCH, frame))

        def clear() -> None:
            wh.execute(f"TRUNCATE {BENCH.qualified_name}")

        def native() -> None:
            sink = io.BytesIO()
            pacsv.write_csv(
                arrow, sink, pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
            )
            with psycopg.connect(url) as conn, conn.cursor() as cur:
                with cur.copy(f"COPY {BENCH.qualified_name} FROM STDIN (FORMAT csv)") as copy:
                    copy.write(sink.getvalue())
                conn.commit()

        out = {"native": best(native, repeat, clear)}
        out["load"] = best(lambda: wh.replace_partition(BENCH, "cmp_bench", frame), repeat, clear)
        out["rerun"] = best(
            lambda: wh.replace_partition(BENCH, "cmp_bench", frame), repeat, lambda: None
        )
        out["upsert"] = best(lambda: wh.upsert(BENCH, frame), repeat, lambda: None)
        assert wh.count(BENCH) == frame.height
        wh.close()
        return out
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(engine: str, rows: int, times: dict[str, float]) -> bool:
    native = times["native"]
    print(
        f"\n{engine}: {rows:,} rows, native bulk load {native:.2f}s ({rows / native:,.0f} rows/s)"
    )
    for label in ("load", "rerun", "upsert"):
        seconds = times[label]
        print(
            f"  finpipe {label:<7} {seconds:6.2f}s  {rows / seconds:>12,.0f} rows/s  "
            f"ratio native/finpipe = {native / seconds:.2f}"
        )
    ok = native / times["load"] >= GOAL
    print(f"  goal: load ratio >= {GOAL}: {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "FINPIPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="admin URL of a PostgreSQL server ('' to skip PostgreSQL)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    frame = make_frame(args.rows)
    print(f"generated {frame.height:,} rows in {time.perf_counter() - started:.1f}s")
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        ok &= report("DuckDB", frame.height, bench_duckdb(frame, args.repeat, Path(folder)))
    if args.postgres:
        ok &= report("PostgreSQL", frame.height, bench_postgres(frame, args.repeat, args.postgres))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
