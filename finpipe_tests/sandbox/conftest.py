"""Worlds shared by the sandbox tests: a small one written to disk (and read back through
``load_world``) and a medium one kept in memory for rates and distributions."""

from __future__ import annotations

import pytest
from world_helpers import Loaded

from finpipe.sandbox.world import WorldSpec, build_frames, generate_world, load_world

SMALL = WorldSpec(companies=6, months=9, seed=7)
MEDIUM = WorldSpec(companies=40, months=12, seed=2024)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    root = tmp_path_factory.mktemp("small") / "world"
    manifest = generate_world(SMALL, root)
    world = load_world(root)
    tables = {name: world.table(name).collect() for name in world.table_names}
    return Loaded(SMALL, root, manifest, tables)


@pytest.fixture(scope="session")
def medium_world() -> Loaded:
    return Loaded(MEDIUM, None, None, build_frames(MEDIUM))


@pytest.fixture(scope="session", params=["small", "medium"])
def world(request: pytest.FixtureRequest) -> Loaded:
    """Each test using this runs on both worlds."""
    return request.getfixturevalue(f"{request.param}_world")
