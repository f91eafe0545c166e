"""World generator benchmark: a world of 1M+ bank lines must generate in under 30 s.

Generates ``WorldSpec(companies, months)`` into a temporary folder and prints the wall time,
bank lines per second, rows per table, peak RSS, and the ratio to a baseline measured in the
same run: writing the same number of rows as bare random columns shaped like
``raw.world_bank_lines`` to Parquet with the generator's writer settings. The ratio says
what the realism costs over raw I/O. Exits non-zero when the goal is missed.

    .venv/bin/python finpipe_tests/benchmarks/bench_world.py [--companies N] [--months M]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from finpipe.sandbox.world import WorldSpec, generate_world
from finpipe.sandbox.world.writer import PARQUET_OPTIONS
from finpipe.warehouse.tables.world import WORLD_BANK_LINES

GOAL_SECONDS = 30.0
MIN_BANK_LINES = 1_000_000


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_bank_lines(rows: int, seed: int = 1) -> pl.DataFrame:
    """Random columns with the shape and types of ``raw.world_bank_lines`` (no realism)."""
    rng = np.random.default_rng(seed)
    words = pl.Series(
        [
            "POS 4411 SQ *CAFE",
            "ACH CREDIT ACME CORP PAYMENT INV-1043",
            "FASTER PAYMENT REF 88123",
            "MONTHLY SERVICE FEE",
            "DEPOSIT",
        ]
    )
    pick = pl.Series(rng.integers(0, len(words), rows))
    ids = pl.Series(rng.integers(0, 2**62, rows)).cast(pl.String)
    days = pl.Series(rng.integers(19_000, 20_100, rows).astype(np.int32)).cast(pl.Date)
    frame = pl.DataFrame(
        {
            "company_id": pl.Series(rng.integers(0, 300, rows)).cast(pl.String),
            "bank_account_id": pl.Series(rng.integers(0, 700, rows)).cast(pl.String),
            "line_id": ids,
            "booked_date": days,
            "value_date": days,
            "amount": rng.integers(-500_000, 500_000, rows),
            "currency": pl.Series(["USD", "GBP", "EUR"]).gather(
                pl.Series(rng.integers(0, 3, rows))
            ),
            "status": pl.Series(["booked", "pending"]).gather(pl.Series(rng.integers(0, 2, rows))),
            "description": words.gather(pick),
            "counterparty_name": words.gather(pick),
            "counterparty_account": ids,
            "reference": ids,
            "bank_transaction_code": pl.Series(["PMNT-CCRD-POSD"] * rows),
            "pending_line_id": ids,
            "running_balance": rng.integers(-(10**8), 10**8, rows),
            "created_at": pl.Series(rng.integers(0, 10**15, rows)).cast(pl.Datetime("us", "UTC")),
            "truth_kind": pl.Series(["ledger_cash"] * rows),
        }
    )
    return frame.select(WORLD_BANK_LINES.column_names).cast(WORLD_BANK_LINES.polars_schema())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=180)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    spec = WorldSpec(companies=args.companies, months=args.months, seed=args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="finpipe-bench-world-"))
    try:
        print(f"generating {spec} into {tmp}", flush=True)
        start = time.perf_counter()
        manifest = generate_world(spec, tmp / "world")
        elapsed = time.perf_counter() - start
        rss = peak_rss_mb()
        bank_lines = manifest.row_counts["bank_lines"]
        total_rows = sum(manifest.row_counts.values())

        base_frame = random_bank_lines(bank_lines)
        start = time.perf_counter()
        base_frame.write_parquet(tmp / "baseline.parquet", **PARQUET_OPTIONS)
        baseline = time.perf_counter() - start
        # The same number of rows as the whole world, written bare (all tables' rows).
        start = time.perf_counter()
        for k in range(int(np.ceil(total_rows / bank_lines))):
            base_frame.write_parquet(tmp / f"baseline-{k}.parquet", **PARQUET_OPTIONS)
        baseline_all = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("\nrows per table")
    for name, rows in manifest.row_counts.items():
        print(f"  {name:<18} {rows:>12,}")
    print(f"  {'total':<18} {total_rows:>12,}")
    print()
    print(f"wall time            {elapsed:8.2f} s   (goal < {GOAL_SECONDS:.0f} s)")
    print(f"bank lines           {bank_lines:>12,}   (goal >= {MIN_BANK_LINES:,})")
    print(f"bank lines / s       {bank_lines / elapsed:>12,.0f}")
    print(f"all rows / s         {total_rows / elapsed:>12,.0f}")
    print(f"peak RSS             {rss:8.0f} MB")
    print(
        f"baseline: bare random bank-line frame to Parquet, {bank_lines:,} rows: "
        f"{baseline:.2f} s -> world / baseline = {elapsed / baseline:.1f}x"
    )
    print(
        f"baseline: bare random frames to Parquet, {total_rows:,} rows (all tables' worth): "
        f"{baseline_all:.2f} s -> world / baseline = {elapsed / baseline_all:.1f}x"
    )
    ok = elapsed < GOAL_SECONDS and bank_lines >= MIN_BANK_LINES
    print("goal met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
