"""Helpers of the aggregator tests: a running sandbox and how to reach it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import requests

from finpipe.connectors.aggregator import PROVIDER, AggregatorClient, connect, sync_items
from finpipe.connectors.banks import BankContext, BankCredentials
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.report import SyncReport
from finpipe.sandbox.aggregator.app import AggregatorSandbox
from finpipe.sandbox.provider import Limit
from finpipe.sandbox.server import SandboxCredentials, SandboxServer
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.raw import AGGREGATOR_TABLES

UTC = dt.UTC
TRANSACTIONS = AGGREGATOR_TABLES["transactions"]
# Where limits are not what a test is about, a budget no sync here comes near.
ROOMY: dict[str, tuple[Limit, ...]] = {
    path: (Limit("minute", 100_000, 60.0),)
    for path in ("/transactions/sync", "/accounts/get", "/item/get", "/item/remove")
}


@dataclass
class Running:
    """A running aggregator sandbox and how to reach it."""

    sandbox: AggregatorSandbox
    server: SandboxServer
    credentials: SandboxCredentials

    @property
    def base(self) -> str:
        return self.server.url("aggregator")

    @property
    def company_id(self) -> str:
        """The world's (first) aggregator company."""
        return str(self.sandbox.bank.companies.item(0, "company_id"))

    @property
    def keys(self) -> dict[str, str]:
        return {"client_id": self.credentials.client_id, "secret": self.credentials.client_secret}

    def post(self, path: str, **body: object) -> requests.Response:
        """A raw call with the sandbox's keys in the body."""
        return requests.post(f"{self.base}{path}", json={**self.keys, **body}, timeout=10)

    def client(self, *, fast_retries: bool = True) -> AggregatorClient:
        """The connector's client; ``fast_retries`` shrinks the backoff so faults cost little."""
        policy = RetryPolicy(base_delay=0.01, max_delay=0.05) if fast_retries else None
        return AggregatorClient(
            self.base,
            BankCredentials(self.credentials.client_id, self.credentials.client_secret),
            policy=policy,
        )

    def context(self, warehouse: Warehouse, box: SecretBox) -> BankContext:
        return BankContext(
            warehouse=warehouse,
            box=box,
            company_id=self.company_id,
            api_base=self.base,
            credentials=BankCredentials(self.credentials.client_id, self.credentials.client_secret),
        )

    def link(self, warehouse: Warehouse, box: SecretBox) -> str:
        """Link the company's Item through the connector (sandbox auto-approve); its id."""
        [(item_id, _)] = connect(self.context(warehouse, box), True, lambda _: None)
        return item_id

    def booked_truth(self) -> pl.DataFrame:
        """Per account: count and sum of the booked lines the bank reports now."""
        return (
            self.sandbox.bank.lines()
            .filter(pl.col("company_id") == self.company_id, pl.col("status") == "booked")
            .group_by("bank_account_id")
            .agg(pl.len().alias("n"), pl.col("amount").sum().alias("total"))
            .sort("bank_account_id")
        )


StartSandbox = Callable[..., Running]


def frames(warehouse: Warehouse, company_id: str) -> dict[str, pl.DataFrame]:
    """The company's landed rows, per entity (what ``to_bank_lines`` takes)."""
    return {e: warehouse.read(t, company_id=company_id) for e, t in AGGREGATOR_TABLES.items()}


def live_booked(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    """Per account: count and sum of the booked, not deleted, canonical lines."""
    lines = PROVIDER.to_bank_lines(frames(warehouse, company_id))
    return (
        lines.filter(~pl.col("deleted"), pl.col("status") == "booked")
        .group_by("bank_account_id")
        .agg(pl.len().alias("n"), pl.col("amount").sum().alias("total"))
        .sort("bank_account_id")
    )


def connections(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    return warehouse.read(CONNECTIONS, where="company_id = %s", params=[company_id])


def raw(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    """The landed transactions as (account, id, payload, deleted), in key order."""
    return (
        warehouse.read(TRANSACTIONS, company_id=company_id)
        .select("tenant_id", "source_id", "payload", "deleted")
        .sort("tenant_id", "source_id")
    )


def sync(agg: Running, warehouse: Warehouse, box: SecretBox, item_id: str, **kw: Any) -> SyncReport:
    """One sync of ``item_id`` with the test client (fast retries)."""
    return sync_items(
        warehouse, box, agg.company_id, [item_id], client=kw.pop("client", agg.client()), **kw
    )
