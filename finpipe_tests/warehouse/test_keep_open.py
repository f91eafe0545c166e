"""keep_duckdb_open: the DuckDB file stays loaded for a block (the demo's in-process runs),
each call still on its own connection; other processes get the file when the block ends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from finpipe.config import parse_warehouse_url
from finpipe.warehouse import Warehouse, backends
from finpipe.warehouse.backends import _kept, keep_duckdb_open
from finpipe_tests.warehouse.duckdb_probe import other_process_can_open


def test_kept_file_is_shared_by_every_warehouse_and_released_after(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    url = parse_warehouse_url(f"duckdb:///{path}")
    with keep_duckdb_open(url):
        with keep_duckdb_open(url):  # blocks nest
            assert len(_kept) == 1
        assert len(_kept) == 1
        with Warehouse.open(url) as first, Warehouse.open(url) as second:
            first.execute("CREATE TABLE main.probe AS SELECT 42 AS x")
            # Another handle, another connection: it sees the committed table.
            assert second.query("SELECT x FROM main.probe").item() == 42
        assert not other_process_can_open(path), "the file is held for the block"
    assert _kept == {}
    assert other_process_can_open(path), "released when the block ends"
    with Warehouse.open(url) as wh:
        assert wh.query("SELECT x FROM main.probe").item() == 42


def test_nested_keepers_apply_the_strictest_terms_and_leave_the_others_intact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    url = parse_warehouse_url(f"duckdb:///{path}")
    with Warehouse.open(url) as wh, keep_duckdb_open(url):
        kept = _kept[path.resolve()]
        outer = (kept.slice_seconds, kept.pause_seconds, kept.idle_seconds)
        assert outer == (backends.KEEP_SLICE_SECONDS, backends.KEEP_PAUSE_SECONDS, None)
        with wh.keep_open(idle_seconds=0.25, slice_seconds=2.0):
            # Shortest slice and idle limit, longest pause, of the two keepers.
            assert (kept.slice_seconds, kept.pause_seconds, kept.idle_seconds) == (
                2.0,
                backends.KEEP_PAUSE_SECONDS,
                0.25,
            )
            assert wh.query("SELECT 1 AS x").item() == 1
        assert (kept.slice_seconds, kept.pause_seconds, kept.idle_seconds) == outer
        assert wh.query("SELECT 2 AS x").item() == 2
    assert _kept == {}
    assert other_process_can_open(path)


def test_postgres_url_is_a_no_op() -> None:
    with keep_duckdb_open(parse_warehouse_url("postgresql://u@127.0.0.1:1/x")):
        assert _kept == {}


def test_file_is_held_in_slices_so_other_processes_get_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "KEEP_SLICE_SECONDS", 0.5)
    monkeypatch.setattr(backends, "KEEP_PAUSE_SECONDS", 2.0)
    path = tmp_path / "w.duckdb"
    url = parse_warehouse_url(f"duckdb:///{path}")
    with keep_duckdb_open(url), Warehouse.open(url) as wh:
        assert not other_process_can_open(path), "held during its slice"
        time.sleep(0.6)
        wh.query("SELECT 1")  # the first call after the slice lets go of the file
        assert other_process_can_open(path), "free during the pause"
        time.sleep(2.0)
        wh.query("SELECT 1")  # the first call after the pause takes it again
        assert not other_process_can_open(path)
    assert other_process_can_open(path)
