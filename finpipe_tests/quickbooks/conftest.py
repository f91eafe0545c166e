"""Fixtures for the QuickBooks sandbox and connector tests.

* ``qbo_world_dir``: a small generated world (4 companies × 3 months), once per session.
* ``qbo``: a fresh QBO sandbox served over real HTTP on a free port, with helpers to connect
  a company the way a person would (authorize → redirect → code exchange → token store).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
import requests
from cryptography.fernet import Fernet

from finpipe.connectors import payloads
from finpipe.connectors.oauth import OAuthApp, TokenManager, TokenStore, exchange_code
from finpipe.connectors.quickbooks import parse_entity, quickbooks_limiter, quickbooks_oauth_app
from finpipe.connectors.ratelimit import RateLimiter
from finpipe.sandbox.quickbooks.app import QuickBooksSandbox
from finpipe.sandbox.quickbooks.render import DOC_TYPE_ENTITY
from finpipe.sandbox.server import Sandbox, SandboxServer, build_sandbox
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES

REDIRECT_URI = "http://127.0.0.1:9/qbo/callback"  # never listened on: the test reads Location
UTC = dt.UTC


@pytest.fixture(scope="session")
def qbo_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qbo_world") / "world"
    generate_world(WorldSpec(companies=4, months=3, seed=42), out)
    return out


@pytest.fixture(scope="session")
def qbo_world(qbo_world_dir: Path) -> World:
    return load_world(qbo_world_dir)


@dataclass
class QBO:
    """A running QBO sandbox and what a test needs to talk to it."""

    sandbox: Sandbox
    server: SandboxServer
    app: OAuthApp
    box: SecretBox = field(default_factory=lambda: SecretBox([Fernet.generate_key()]))
    # direct HTTP calls in tests stay within QBO's 10/s, like a client would
    limiter: RateLimiter = field(default_factory=quickbooks_limiter)

    @property
    def provider(self) -> QuickBooksSandbox:
        provider = self.sandbox.provider("quickbooks")
        assert isinstance(provider, QuickBooksSandbox)
        return provider

    @property
    def base(self) -> str:
        return self.server.url("quickbooks")

    @property
    def companies(self) -> list[tuple[str, str]]:
        """(company_id, realm_id) of every QuickBooks company, in a stable order."""
        return sorted(self.provider.realm_by_company.items())

    def authorize(self, company_id: str) -> str:
        """GET authorize as the person approving ``company_id``; the redirect's Location."""
        url = self.app.authorization_url("state-1") + f"&sandbox_company={company_id}"
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    def bearer(self, company_id: str) -> dict[str, str]:
        """Headers with a fresh access token for ``company_id`` (no warehouse involved)."""
        tokens = exchange_code(self.app, self.authorize(company_id))
        return {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"}

    def api(self, realm_id: str, path: str) -> str:
        return f"{self.base}/v3/company/{realm_id}/{path}"

    def connect(self, warehouse: Warehouse, company_id: str) -> TokenManager:
        """The real flow: authorize → redirect (read, not followed) → exchange → store; plus
        the ops.connections row a registered connection has."""
        location = self.authorize(company_id)
        realm = parse_qs(urlparse(location).query)["realmId"][0]
        assert realm == self.provider.realm_of(company_id)
        now = dt.datetime.now(UTC)
        tokens = exchange_code(self.app, location, now=now)
        store = TokenStore(warehouse, self.box)
        store.save(company_id, "quickbooks", tokens, now)
        warehouse.upsert(
            CONNECTIONS,
            pl.DataFrame(
                {
                    "company_id": [company_id],
                    "provider": ["quickbooks"],
                    "external_id": [realm],
                    "display_name": [company_id],
                    "status": ["active"],
                    "status_reason": [None],
                    "created_at": [now],
                    "updated_at": [now],
                    "last_synced_at": [None],
                },
                schema=CONNECTIONS.polars_schema(),
            ),
        )
        return TokenManager(self.app, store, company_id)

    # ---------------------------------------------------------- expectations

    @staticmethod
    def world_expectations(world: World, company_id: str) -> dict[str, tuple[int, int]]:
        """Per QBO entity: (live record count, sum of TotalAmt in cents) the sandbox must serve."""
        docs = (
            world.table("documents")
            .filter(
                (pl.col("company_id") == company_id)
                & (pl.col("provider") == "quickbooks")
                & (pl.col("status") != "deleted")
            )
            .with_columns(
                pl.col("doc_type").replace_strict(DOC_TYPE_ENTITY).alias("entity"),
                # QBO keeps a voided transaction with every amount zero.
                pl.when(pl.col("status") == "void").then(0).otherwise(pl.col("total")).alias("t"),
            )
            .group_by("entity")
            .agg(pl.len().alias("n"), pl.col("t").sum().alias("total"))
            .collect()
        )
        out = {row["entity"]: (row["n"], row["total"]) for row in docs.iter_rows(named=True)}
        contacts = (
            world.table("contacts")
            .filter((pl.col("company_id") == company_id) & (pl.col("provider") == "quickbooks"))
            .group_by("kind")
            .len()
            .collect()
        )
        for row in contacts.iter_rows(named=True):
            if row["kind"] in ("customer", "vendor"):
                out[row["kind"].capitalize()] = (row["len"], 0)
        for name, entity in (("accounts", "Account"), ("items", "Item")):
            n = (
                world.table(name)
                .filter((pl.col("company_id") == company_id) & (pl.col("provider") == "quickbooks"))
                .select(pl.len())
                .collect()
                .item()
            )
            out[entity] = (n, 0)
        out["CompanyInfo"] = (1, 0)
        out["Preferences"] = (1, 0)
        return out

    @staticmethod
    def landed_totals(warehouse: Warehouse, company_id: str) -> dict[str, tuple[int, int]]:
        """Per entity: (live landed rows, sum of TotalAmt in cents) from raw.quickbooks_*."""
        out: dict[str, tuple[int, int]] = {}
        for entity, table in QUICKBOOKS_TABLES.items():
            rows = warehouse.read(table, company_id=company_id, where="deleted = false")
            total = Decimal(0)
            for text in rows["payload"]:
                record = parse_entity(entity, payloads.loads(text))
                if record.total is not None and entity not in (
                    "Account",
                    "Customer",
                    "Vendor",
                    "Item",
                ):
                    total += record.total
            out[entity] = (rows.height, int(total * 100))
        return out

    @staticmethod
    def landed_state(warehouse: Warehouse, company_id: str) -> dict[str, pl.DataFrame]:
        """The landing tables without the per-run columns, sorted (for run-vs-run comparison)."""
        out = {}
        for entity, table in QUICKBOOKS_TABLES.items():
            frame = warehouse.read(table, company_id=company_id)
            out[entity] = (
                frame.drop("extracted_at", "sync_id")
                .with_columns(
                    pl.col("payload").map_elements(
                        lambda t: payloads.dumps(QBO._sorted(payloads.loads(t))),
                        return_dtype=pl.String,
                    )
                )
                .sort("source_id")
            )
        return out

    @staticmethod
    def _sorted(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: QBO._sorted(value[k]) for k in sorted(value)}
        if isinstance(value, list):
            return [QBO._sorted(v) for v in value]
        return value


@pytest.fixture
def qbo(qbo_world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[QBO]:
    sandbox = build_sandbox(qbo_world, providers=("quickbooks",))
    server = SandboxServer(sandbox).start()
    app = quickbooks_oauth_app(
        server.url("quickbooks"),
        sandbox.credentials.client_id,
        sandbox.credentials.client_secret,
        REDIRECT_URI,
    )
    try:
        yield QBO(sandbox=sandbox, server=server, app=app)
    finally:
        server.stop()
