"""DuckDB's held-connection mode (the webhook receiver's): one connection across calls
during a burst, released when idle or too old so other processes get the file's lock."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.webhooks import WEBHOOK_REJECTIONS

PROBE = (
    "import sys, duckdb\n"
    "try:\n"
    "    duckdb.connect(sys.argv[1]).close()\n"
    "except duckdb.IOException:\n"
    "    sys.exit(3)\n"
)


def _other_process_can_open(path: Path) -> bool:
    code = subprocess.run([sys.executable, "-c", PROBE, str(path)], timeout=60).returncode
    assert code in (0, 3)
    return code == 0


def _counter(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "provider": ["xero"],
            "reason": [f"reason-{n}"],
            "day": [dt.date(2026, 12, 7)],
            "count": [n],
            "updated_at": [dt.datetime(2026, 12, 7, tzinfo=dt.UTC)],
        },
        schema=WEBHOOK_REJECTIONS.polars_schema(),
    )


def test_held_connection_is_reused_then_released_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    wh = Warehouse.open(f"duckdb:///{path}")
    wh.hold_connection(idle_seconds=0.3, max_seconds=60)
    wh.query("SELECT 1")
    backend = wh._backend
    held = backend._held  # type: ignore[attr-defined]
    assert held is not None
    wh.query("SELECT 2")
    assert backend._held is held, "calls in a burst share one connection"  # type: ignore[attr-defined]
    assert not _other_process_can_open(path), "the file is held during the burst"
    time.sleep(1.0)
    assert backend._held is None  # type: ignore[attr-defined]
    assert _other_process_can_open(path), "an idle receiver lets other processes in"
    wh.close()


def test_held_connection_is_released_after_max_seconds_and_after_a_failure(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    wh = Warehouse.open(f"duckdb:///{path}")
    wh.hold_connection(idle_seconds=30, max_seconds=0.2)
    wh.query("SELECT 1")
    first = wh._backend._held  # type: ignore[attr-defined]
    time.sleep(0.3)
    wh.query("SELECT 1")  # older than max_seconds: closed at the end of this call
    assert wh._backend._held is None  # type: ignore[attr-defined]
    assert first is not None
    wh.hold_connection(idle_seconds=30, max_seconds=60)
    try:
        wh.query("SELECT * FROM no_such_table")
    except Exception:
        pass
    else:
        raise AssertionError("the query should have failed")
    assert wh._backend._held is None, "a failed call does not leave a dirty connection"  # type: ignore[attr-defined]
    wh.close()
    assert _other_process_can_open(path)


def test_writes_through_a_held_connection_are_durable(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    wh = Warehouse.open(f"duckdb:///{path}")
    wh.hold_connection(idle_seconds=0.2, max_seconds=60)
    for n in range(5):
        wh.upsert(WEBHOOK_REJECTIONS, _counter(n))
    wh.close()
    with Warehouse.open(f"duckdb:///{path}") as again:
        assert again.read(WEBHOOK_REJECTIONS)["count"].to_list() == [0, 1, 2, 3, 4]
