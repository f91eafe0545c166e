"""Books of a generated world in a warehouse, without HTTP: every record the QuickBooks and
Xero sandboxes would serve, landed in the ``raw`` tables as a sync lands it, mapped to the
standard chart (``ledger.account_map``) and expanded into ``ledger.*`` by the production code
(``build_books`` + ``write_books``).

Shared by the financials, forecast and anomalies end-to-end tests, the ledger's books tests
and the ``bench_health`` / ``bench_forecast`` / ``bench_anomalies`` benchmarks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.xero.endpoints import ENDPOINTS
from finpipe.ledger.account_mapping import (
    map_accounts,
    provider_accounts,
)
from finpipe.ledger.books_build import build_books, write_books
from finpipe.sandbox.quickbooks.render import collect_realm, render_realm
from finpipe.sandbox.world import World
from finpipe.sandbox.xero.render import render_tenant
from finpipe.sandbox.xero.store import SandboxClock
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
"""Extraction time of the landed rows, the sandbox clock and the books' build time."""

SYNC_ID = "world-books"


def raw_frame(
    table: Table, company_id: str, tenant: str, records: list[tuple[str, Any]]
) -> pl.DataFrame:
    """Landing rows of ``records`` ((source id, payload)) for ``table``, as a sync writes
    them: live (not deleted), extracted at ``NOW``."""
    n = len(records)
    return pl.DataFrame(
        {
            "company_id": [company_id] * n,
            "tenant_id": [tenant] * n,
            "source_id": [sid for sid, _ in records],
            "source_updated_at": [None] * n,
            "payload": [payloads.dumps(p) for _, p in records],
            "deleted": [False] * n,
            "extracted_at": [NOW] * n,
            "sync_id": [SYNC_ID] * n,
        },
        schema=table.polars_schema(),
    )


def _land(
    warehouse: Warehouse, table: Table, company_id: str, tenant: str, records: list[tuple]
) -> None:
    if records:
        warehouse.upsert(table, raw_frame(table, company_id, tenant, records))


def land_company(warehouse: Warehouse, world: World, company: dict[str, Any]) -> None:
    """Land every live record the sandboxes serve for ``company`` (a ``companies`` row)
    into ``raw``."""
    cid = company["company_id"]
    if company["qbo_realm_id"] is not None:
        live, _ = render_realm(collect_realm(world, company))
        by_entity: dict[str, list[tuple]] = {}
        for entity, payload in live:
            by_entity.setdefault(entity, []).append((str(payload["Id"]), payload))
        for entity, records in by_entity.items():
            _land(warehouse, QUICKBOOKS_TABLES[entity], cid, company["qbo_realm_id"], records)
    if company["xero_tenant_id"] is not None:
        store = render_tenant(world, company, SandboxClock(NOW))
        tenant = company["xero_tenant_id"]
        for endpoint, records in store.records.items():
            field = ENDPOINTS[endpoint].id_field
            rows = [(str(r[field]), r) for r in records.values()]
            _land(warehouse, XERO_TABLES[endpoint], cid, tenant, rows)
        field = ENDPOINTS["Journals"].id_field
        rows = [(str(r[field]), r) for r in store.journals]
        _land(warehouse, XERO_TABLES["Journals"], cid, tenant, rows)


def map_company(warehouse: Warehouse, company_id: str) -> None:
    """``ledger.account_map`` of the company, as the account_map asset writes it."""
    accounts = provider_accounts(warehouse, company_id)
    warehouse.replace_partition(ACCOUNT_MAP, company_id, map_accounts(accounts))


def build_company_books(warehouse: Warehouse, company_id: str) -> None:
    """``ledger.account_map`` then the books of an already landed company, as the
    account_map and books assets do."""
    map_company(warehouse, company_id)
    write_books(warehouse, build_books(warehouse, company_id), now=NOW)


def build_world_books(warehouse: Warehouse, world: World, company: dict[str, Any]) -> None:
    """Land, map and build the books of one world company into ``warehouse``."""
    land_company(warehouse, world, company)
    build_company_books(warehouse, company["company_id"])


def world_companies(world: World) -> list[dict[str, Any]]:
    """The world's companies as dicts, in id order."""
    return world.table("companies").collect().sort("company_id").to_dicts()


def land_world(world: World, warehouse: Warehouse, only: Iterable[str] | None = None) -> list[str]:
    """Land the records of every company (or ``only`` those) into ``raw``, without building
    the books; returns the company ids landed, sorted."""
    wanted = set(only) if only is not None else None
    companies = [c for c in world_companies(world) if wanted is None or c["company_id"] in wanted]
    if wanted is not None and len(companies) != len(wanted):
        unknown = sorted(wanted - {c["company_id"] for c in companies})
        raise ValueError(f"companies {unknown} are not in the world; pass ids of its companies")
    for company in companies:
        land_company(warehouse, world, company)
    return [c["company_id"] for c in companies]


def land_world_books(
    warehouse: Warehouse, world: World, company_ids: Iterable[str] | None = None
) -> list[str]:
    """Land the records of ``company_ids`` (every company by default) and build their books;
    returns the company ids built, sorted."""
    built = land_world(world, warehouse, company_ids)
    for cid in built:
        build_company_books(warehouse, cid)
    return built
