"""Warehouse.keep_open as the webhook receiver uses it: the file stays loaded across calls
during a burst and is let go when idle or held a slice, so other processes get its lock."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finpipe.warehouse import Warehouse
from finpipe.warehouse.backends import _kept
from finpipe.warehouse.tables.webhooks import WEBHOOK_REJECTIONS
from finpipe_tests.warehouse.duckdb_probe import other_process_can_open


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


def test_kept_across_calls_then_let_go_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(f"duckdb:///{path}") as wh, wh.keep_open(idle_seconds=0.3):
        wh.query("SELECT 1")
        kept = _kept[path.resolve()]
        loaded = kept.con
        assert loaded is not None
        wh.query("SELECT 2")
        assert kept.con is loaded, "calls in a burst share the loaded database"
        assert not other_process_can_open(path), "the file is held during the burst"
        time.sleep(1.0)
        assert kept.con is None
        assert other_process_can_open(path), "an idle receiver lets other processes in"
    assert path.resolve() not in _kept


def test_let_go_for_a_pause_after_each_slice(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(f"duckdb:///{path}") as wh, wh.keep_open(slice_seconds=0.2):
        wh.query("SELECT 1")
        kept = _kept[path.resolve()]
        assert kept.con is not None
        time.sleep(0.3)
        wh.query("SELECT 1")  # held longer than its slice: let go for a pause
        assert kept.con is None
        assert other_process_can_open(path), "free during the pause"
    assert other_process_can_open(path)


def test_a_failed_call_leaves_the_next_ones_working(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(f"duckdb:///{path}") as wh, wh.keep_open(idle_seconds=30):
        with pytest.raises(duckdb.CatalogException, match="no_such_table"):
            wh.query("SELECT * FROM no_such_table")
        wh.upsert(WEBHOOK_REJECTIONS, _counter(1))  # each call has its own transaction
        assert wh.read(WEBHOOK_REJECTIONS)["count"].to_list() == [1]
    assert other_process_can_open(path)


def test_writes_while_kept_are_durable(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse.open(f"duckdb:///{path}") as wh, wh.keep_open(idle_seconds=0.2):
        for n in range(5):
            wh.upsert(WEBHOOK_REJECTIONS, _counter(n))
    with Warehouse.open(f"duckdb:///{path}") as again:
        assert again.read(WEBHOOK_REJECTIONS)["count"].to_list() == [0, 1, 2, 3, 4]
