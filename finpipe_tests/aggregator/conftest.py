"""Fixtures for the aggregator sandbox and connector: a small world with companies of every
bank provider, the sandbox over real HTTP loopback, and Items linked through the
connector's own connect flow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aggregator_helpers import ROOMY, Running, StartSandbox

from finpipe.config import generate_secret_key
from finpipe.sandbox.aggregator.app import build
from finpipe.sandbox.server import SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse


@pytest.fixture(scope="session")
def agg_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """6 companies x 3 months, seed 4: one banks through the aggregator (two accounts)."""
    out = tmp_path_factory.mktemp("aggregator_world")
    generate_world(WorldSpec(companies=6, months=3, seed=4), out)
    return load_world(Path(out))


@pytest.fixture
def start_sandbox(agg_world: World, serve_provider: Callable[..., SandboxServer]) -> StartSandbox:
    """Start an aggregator sandbox over HTTP; limits are roomy unless ``published=True``;
    ``start`` sets the bank clock (default: the day after the world's last day)."""

    def start(*, published: bool = False, start: dt.datetime | None = None) -> Running:
        creds = SandboxCredentials()
        sandbox = build(agg_world, creds, limits=None if published else ROOMY, start=start)
        return Running(sandbox, serve_provider(agg_world, sandbox, creds), creds)

    return start


@pytest.fixture
def agg(start_sandbox: StartSandbox) -> Running:
    """A sandbox with a roomy budget."""
    return start_sandbox()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([generate_secret_key()])


@pytest.fixture
def other_duck(tmp_path: Path) -> Iterator[Warehouse]:
    """A second, independent warehouse (a clean run to compare with)."""
    with Warehouse.open(f"duckdb:///{tmp_path / 'other.duckdb'}") as wh:
        yield wh
