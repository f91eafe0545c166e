"""Shared fixtures: warehouses on both engines, the PostgreSQL server, the conformance corpus.

Tests that need PostgreSQL read ``FINPIPE_TEST_POSTGRES_URL`` and those that need the
conformance corpus read ``FINPIPE_CONFORMANCE_DIR``; without them they skip with a message
saying how to enable them. ``.ci/run`` sets both and ``FINPIPE_FORBID_SKIPS=1``, which
turns any skip into a failed run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from finpipe.sandbox.provider import ProviderSandbox
from finpipe.sandbox.server import Sandbox, SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World
from finpipe.warehouse import Warehouse
from finpipe.warehouse.schema import SCHEMAS

POSTGRES_HINT = (
    "PostgreSQL tests are off: set FINPIPE_TEST_POSTGRES_URL="
    "postgresql://postgres@127.0.0.1:5432/test (a server where that user may create databases)"
)
CONFORMANCE_HINT = (
    "conformance tests are off: set FINPIPE_CONFORMANCE_DIR to the shared/conformance folder"
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("FINPIPE_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"FINPIPE_FORBID_SKIPS=1: {len(skipped)} test(s) were skipped; in CI every test "
            "must run (is PostgreSQL up, is the conformance folder there?)",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _admin_url() -> str:
    url = os.environ.get("FINPIPE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(POSTGRES_HINT)
    return url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The admin URL of the test server (skips when not configured)."""
    return _admin_url()


def _with_database(admin_url: str, database: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for this test session (and xdist worker), dropped afterwards."""
    import psycopg

    name = f"finpipe_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres_server_url, name)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_warehouse_url(postgres_database: str) -> str:
    """The session database, emptied of finpipe's schemas before the test."""
    import psycopg

    with psycopg.connect(postgres_database, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return postgres_database


@pytest.fixture
def duckdb_warehouse_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per engine."""
    if request.param == "duckdb":
        return request.getfixturevalue("duckdb_warehouse_url")
    return request.getfixturevalue("postgres_warehouse_url")


@pytest.fixture
def duck(duckdb_warehouse_url: str) -> Iterator[Warehouse]:
    """A DuckDB warehouse in the test's temp folder (tests that are about one engine)."""
    with Warehouse.open(duckdb_warehouse_url) as wh:
        yield wh


ServeProvider = Callable[[World, ProviderSandbox, SandboxCredentials], SandboxServer]


@pytest.fixture
def serve_provider() -> Iterator[ServeProvider]:
    """Serve one sandbox provider over real HTTP on loopback; every server started through
    it stops when the test ends."""
    started: list[SandboxServer] = []

    def serve(
        world: World, provider: ProviderSandbox, credentials: SandboxCredentials
    ) -> SandboxServer:
        sandbox = Sandbox(world=world, providers={provider.name: provider}, credentials=credentials)
        server = SandboxServer(sandbox).start()
        started.append(server)
        return server

    yield serve
    for server in started:
        server.stop()


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_url) as wh:
        yield wh


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The shared conformance corpus; a configured but missing folder is a failure."""
    configured = os.environ.get("FINPIPE_CONFORMANCE_DIR")
    if not configured:
        pytest.skip(CONFORMANCE_HINT)
    path = Path(configured)
    if not path.is_dir():
        pytest.fail(f"FINPIPE_CONFORMANCE_DIR={configured} is not a folder")
    return path
