"""The hand-built company seeded once per session into a DuckDB file; each test gets its own
copy (creating ~80 tables and seeding takes most of a second, copying the file a millisecond)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from finpipe.warehouse import Warehouse
from finpipe_tests.analytics.insights.seed import seed


def _template(tmp_path_factory: pytest.TempPathFactory, optional: bool) -> Path:
    path = tmp_path_factory.mktemp("insights-template") / "warehouse.duckdb"
    with Warehouse.open(f"duckdb:///{path}") as wh:
        seed(wh, optional=optional)
    return path


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory, True)


@pytest.fixture(scope="session")
def core_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory, False)


def _copy(template: Path, tmp_path: Path) -> Iterator[Warehouse]:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(template, path)
    with Warehouse.open(f"duckdb:///{path}", create=False) as wh:
        yield wh


@pytest.fixture
def seeded(seeded_template: Path, tmp_path: Path) -> Iterator[Warehouse]:
    """A DuckDB warehouse holding the whole hand-built company (seed.seed)."""
    yield from _copy(seeded_template, tmp_path)


@pytest.fixture
def seeded_core(core_template: Path, tmp_path: Path) -> Iterator[Warehouse]:
    """The hand-built company without anomaly, forecast and peer rows."""
    yield from _copy(core_template, tmp_path)
