"""Fixtures for the Xero sandbox and connector: a small world, the sandbox over real HTTP,
and connections made through the real OAuth flow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import requests

from finpipe.config import generate_secret_key
from finpipe.connectors.oauth import TokenManager, TokenStore, exchange_code
from finpipe.connectors.xero import xero_oauth_app
from finpipe.sandbox.provider import Limit
from finpipe.sandbox.server import Sandbox, SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.sandbox.xero.app import XeroSandbox, build
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS

UTC = dt.UTC
# Where limits are not what a test is about, a budget no sync here comes near.
ROOMY = (Limit("minute", 100_000, 60.0), Limit("day", 1_000_000, 86_400.0))
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="session")
def xero_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """4 companies x 3 months: two of them keep their books in Xero (one mid-migration)."""
    out = tmp_path_factory.mktemp("xero_world")
    generate_world(WorldSpec(companies=4, months=3), out)
    return load_world(Path(out))


@dataclass
class Running:
    """A running Xero sandbox and how to reach it."""

    sandbox: XeroSandbox
    server: SandboxServer
    credentials: SandboxCredentials

    @property
    def base(self) -> str:
        return self.server.url("xero")

    def company_of(self, tenant_id: str) -> str:
        return str(self.sandbox.companies[tenant_id]["company_id"])

    def connect(self, warehouse: Warehouse, company_id: str, write: bool = False) -> TokenManager:
        """The real flow: authorize (auto-approved for ``company_id``), read the redirect,
        exchange the code, store the tokens; plus the ops.connections rows."""
        app = xero_oauth_app(
            self.base,
            self.credentials.client_id,
            self.credentials.client_secret,
            REDIRECT,
            write=write,
        )
        url = app.authorization_url("state-1") + f"&sandbox_company={company_id}"
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        now = dt.datetime.now(UTC)
        tokens = exchange_code(app, answer.headers["location"], now)
        store = TokenStore(warehouse, SecretBox([generate_secret_key()]))
        store.save(company_id, "xero", tokens, now)
        tenants = self.sandbox.tenants_of[company_id]
        warehouse.upsert(
            CONNECTIONS,
            pl.DataFrame(
                {
                    "company_id": [company_id] * len(tenants),
                    "provider": ["xero"] * len(tenants),
                    "external_id": tenants,
                    "display_name": [self.sandbox.companies[t]["name"] for t in tenants],
                    "status": ["active"] * len(tenants),
                    "status_reason": [None] * len(tenants),
                    "created_at": [now] * len(tenants),
                    "updated_at": [now] * len(tenants),
                    "last_synced_at": [None] * len(tenants),
                },
                schema=CONNECTIONS.polars_schema(),
            ),
        )
        return TokenManager(app, store, company_id)


StartSandbox = Callable[..., Running]


@pytest.fixture
def start_sandbox(xero_world: World) -> Iterator[StartSandbox]:
    """Start a Xero sandbox over HTTP; ``limits`` default to a roomy budget, pass
    ``published=True`` for Xero's real 60/min, 5,000/day, 5 concurrent."""
    started: list[SandboxServer] = []

    def start(*, published: bool = False, clock: Callable[[], float] | None = None) -> Running:
        creds = SandboxCredentials()
        kwargs: dict = {}
        if not published:
            kwargs["limits"] = ROOMY
        if clock is not None:
            kwargs["clock"] = clock
        sandbox = build(xero_world, creds, **kwargs)
        server = SandboxServer(
            Sandbox(world=xero_world, providers={"xero": sandbox}, credentials=creds)
        ).start()
        started.append(server)
        return Running(sandbox, server, creds)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def xero(start_sandbox: StartSandbox) -> Running:
    """A sandbox with a roomy budget."""
    return start_sandbox()
