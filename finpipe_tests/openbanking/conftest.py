"""Fixtures for the Open Banking sandbox and connector: a small world with companies of every
bank provider, the sandbox over real HTTP on loopback, and connected companies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finpipe.config import generate_secret_key
from finpipe.connectors.banks import BankContext, BankCredentials
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.openbanking import connect_openbanking, sync_openbanking
from finpipe.connectors.openbanking.sync import OpenBankingSyncReport
from finpipe.sandbox.openbanking.app import OpenBankingSandbox, build
from finpipe.sandbox.server import SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.raw import OPENBANKING_TABLES

UTC = dt.UTC
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="session")
def ob_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """6 companies x 3 months (seed 4): one of every bank provider, one on Open Banking."""
    out = tmp_path_factory.mktemp("ob_world")
    generate_world(WorldSpec(companies=6, months=3, seed=4), out)
    return load_world(Path(out))


@pytest.fixture(scope="session")
def ob_company(ob_world: World) -> str:
    companies = ob_world.table("companies").filter(pl.col("bank_provider") == "openbanking")
    return str(companies.collect().item(0, "company_id"))


@dataclass
class Running:
    """A running Open Banking sandbox and how to reach it."""

    sandbox: OpenBankingSandbox
    server: SandboxServer
    credentials: SandboxCredentials

    @property
    def base(self) -> str:
        return self.server.url("openbanking")

    def context(self, warehouse: Warehouse, company_id: str) -> BankContext:
        return BankContext(
            warehouse=warehouse,
            box=SecretBox([generate_secret_key()]),
            company_id=company_id,
            api_base=self.base,
            credentials=BankCredentials(self.credentials.client_id, self.credentials.client_secret),
        )

    def connect(self, ctx: BankContext) -> str:
        """The real flow (auto-approved); returns the ConsentId."""
        [(consent_id, _)] = connect_openbanking(ctx, True, lambda _: None, timeout=10)
        return consent_id

    def sync(self, ctx: BankContext, consent_id: str, **kwargs: Any) -> OpenBankingSyncReport:
        return sync_openbanking(ctx, [consent_id], policy=FAST, **kwargs)


StartSandbox = Callable[..., Running]


@pytest.fixture
def start_sandbox(ob_world: World, serve_provider: Callable[..., SandboxServer]) -> StartSandbox:
    """Start an Open Banking sandbox over HTTP (keyword arguments go to ``build``)."""

    def start(**kwargs: Any) -> Running:
        creds = SandboxCredentials()
        sandbox = build(ob_world, creds, **kwargs)
        return Running(sandbox, serve_provider(ob_world, sandbox, creds), creds)

    return start


@pytest.fixture
def ob(start_sandbox: StartSandbox) -> Running:
    return start_sandbox()


def raw_frames(warehouse: Warehouse, company_id: str) -> dict[str, pl.DataFrame]:
    """The company's landed rows of every Open Banking table, by entity."""
    return {e: warehouse.read(t, company_id=company_id) for e, t in OPENBANKING_TABLES.items()}
