"""A tiny generated world and a prepared FINPIPE_HOME for the Dagster tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from finpipe.sandbox.world import WorldSpec, generate_world

TINY = WorldSpec(companies=4, months=3, seed=11)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "world"
    generate_world(TINY, out)
    return out


@pytest.fixture
def finpipe_home(
    tmp_path: Path, tiny_world: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """FINPIPE_HOME in a temp folder, the tiny world in it, the warehouse of ``warehouse_url``."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "world").symlink_to(tiny_world)
    monkeypatch.setenv("FINPIPE_HOME", str(home))
    monkeypatch.setenv("FINPIPE_WAREHOUSE_URL", warehouse_url)
    monkeypatch.delenv("FINPIPE_DAGSTER_POSTGRES_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home
