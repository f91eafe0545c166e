"""Fixtures for the Berlin Group sandbox and connector: the 6-company world (it has
companies of every bank provider), the sandbox over real HTTP on loopback, and bank
contexts on a temporary warehouse."""

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
from finpipe.connectors.berlingroup import connect_berlingroup
from finpipe.connectors.http import RetryPolicy
from finpipe.sandbox.berlingroup.app import BerlinGroupSandbox, build
from finpipe.sandbox.server import SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse

UTC = dt.UTC
# Retries without real waiting: fault tests stay fast.
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01, timeout=10)


@pytest.fixture(scope="session")
def bg_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """6 companies x 3 months, seed 4: two of them bank at Berlin Group ASPSPs."""
    out = tmp_path_factory.mktemp("berlingroup_world")
    generate_world(WorldSpec(companies=6, months=3, seed=4), out)
    return load_world(Path(out))


@dataclass
class Running:
    """A running Berlin Group sandbox and how to reach it."""

    sandbox: BerlinGroupSandbox
    server: SandboxServer
    credentials: SandboxCredentials

    @property
    def base(self) -> str:
        return self.server.url("berlingroup")

    @property
    def bank_credentials(self) -> BankCredentials:
        return BankCredentials(self.credentials.client_id, self.credentials.client_secret)

    def companies(self) -> list[str]:
        """Companies with Berlin Group accounts, largest first (most lines)."""
        lines = self.sandbox.view.lines()
        counts = lines.group_by("company_id").len().sort("len", descending=True)
        return counts.get_column("company_id").to_list()

    def context(self, warehouse: Warehouse, company_id: str) -> BankContext:
        return BankContext(
            warehouse=warehouse,
            box=SecretBox([generate_secret_key()]),
            company_id=company_id,
            api_base=self.base,
            credentials=self.bank_credentials,
        )

    def connect(self, ctx: BankContext, **kwargs: Any) -> str:
        """The real flow (consent, OAuth SCA auto-approved); returns the consent id."""
        connected = connect_berlingroup(ctx, True, lambda message: None, **kwargs)
        return connected[0][0]


StartSandbox = Callable[..., Running]


@pytest.fixture
def start_sandbox(bg_world: World, serve_provider: Callable[..., SandboxServer]) -> StartSandbox:
    """Start a Berlin Group sandbox over HTTP (``start``: the bank's clock; ``page_size``)."""

    def start(**kwargs: Any) -> Running:
        creds = SandboxCredentials()
        sandbox = build(bg_world, creds, **kwargs)
        return Running(sandbox, serve_provider(bg_world, sandbox, creds), creds)

    return start


@pytest.fixture
def bg(start_sandbox: StartSandbox) -> Running:
    """A sandbox with the default page size (100 entries)."""
    return start_sandbox()


def world_booked(running: Running, account_id: str) -> pl.DataFrame:
    """The booked lines the bank reports now for ``account_id`` (the ground truth)."""
    lines = running.sandbox.view.lines(account_id)
    return lines.filter(pl.col("status") == "booked")
