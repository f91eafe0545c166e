"""Determinism, atomic replacement, loading, and clear errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from finpipe.errors import FinpipeError
from finpipe.sandbox.world import WorldError, WorldSpec, generate_world, load_world

TINY = WorldSpec(companies=4, months=3, seed=5)


def _hashes(root: Path) -> dict[str, str]:
    return json.loads((root / "manifest.json").read_text())["sha256"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate_world(TINY, tmp_path / "a")
    second = generate_world(TINY, tmp_path / "b")
    assert first.sha256 == second.sha256
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "manifest.json"
    ).read_bytes()
    for name in first.sha256:
        assert (tmp_path / "a" / f"{name}.parquet").read_bytes() == (
            tmp_path / "b" / f"{name}.parquet"
        ).read_bytes()
    other = generate_world(WorldSpec(companies=4, months=3, seed=6), tmp_path / "c")
    assert all(other.sha256[name] != first.sha256[name] for name in first.sha256)


def test_same_bytes_in_another_process(tmp_path: Path) -> None:
    """Nothing may depend on process state (hash seeds, thread counts)."""
    here = generate_world(TINY, tmp_path / "here")
    code = (
        "import sys; from pathlib import Path; "
        "from finpipe.sandbox.world import WorldSpec, generate_world; "
        "generate_world(WorldSpec(companies=4, months=3, seed=5), Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "POLARS_MAX_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env)
    assert _hashes(tmp_path / "there") == here.sha256


def test_regenerating_replaces_the_world(tmp_path: Path) -> None:
    root = tmp_path / "world"
    generate_world(TINY, root)
    (root / "stale.parquet").write_bytes(b"old")
    manifest = generate_world(WorldSpec(companies=3, months=2, seed=9), root)
    assert not (root / "stale.parquet").exists()
    assert _hashes(root) == manifest.sha256
    assert load_world(root).manifest.spec.companies == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]  # no temp folders left


def test_progress_reports_every_step(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    generate_world(TINY, tmp_path / "w", progress=lambda s, d, t: seen.append((s, d, t)))
    assert seen and all(t == seen[0][2] for _, _, t in seen)
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[-1] == seen[0][2]


def test_load_world_gives_lazy_tables(tmp_path: Path) -> None:
    generate_world(TINY, tmp_path / "w")
    world = load_world(tmp_path / "w")
    lazy = world.table("bank_lines")
    assert isinstance(lazy, pl.LazyFrame)
    assert (
        world.table("world_bank_lines").collect().height == world.manifest.row_counts["bank_lines"]
    )
    with pytest.raises(WorldError, match="no table 'nope'"):
        world.table("nope")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (WorldSpec(companies=0), "companies=0 is out of range"),
        (WorldSpec(companies=10_000), "companies=10000 is out of range"),
        (WorldSpec(months=0), "months=0 is out of range"),
        (WorldSpec(months=121), "months=121 is out of range"),
        (WorldSpec(seed=-1), "seed=-1 is out of range"),
        (WorldSpec(companies="3"), "companies must be an integer"),  # type: ignore[arg-type]
        (WorldSpec(end_month=dt.date(2026, 10, 15)), "must be the first day of a month"),
        (WorldSpec(end_month=dt.datetime(2026, 10, 1)), "must be a datetime.date"),
        (WorldSpec(end_month=dt.date(1990, 1, 1)), "out of range"),
    ],
)
def test_bad_specs_are_refused(tmp_path: Path, spec: WorldSpec, message: str) -> None:
    with pytest.raises(WorldError, match=message):
        generate_world(spec, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_world(tmp_path: Path) -> None:
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.txt").write_text("do not delete")
    with pytest.raises(WorldError, match="not a generated world"):
        generate_world(TINY, other)
    assert (other / "thesis.txt").read_text() == "do not delete"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(WorldError, match="is not a folder"):
        generate_world(TINY, a_file)
    assert issubclass(WorldError, FinpipeError)


def test_load_world_errors(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="is not a folder"):
        load_world(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorldError, match=r"holds no manifest\.json"):
        load_world(tmp_path / "empty")
    root = tmp_path / "w"
    generate_world(TINY, root)
    (root / "bank_lines.parquet").unlink()
    with pytest.raises(WorldError, match=r"missing file bank_lines\.parquet"):
        load_world(root)
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(WorldError, match="not a valid world manifest"):
        load_world(root)
