"""Books of a generated world's companies, built the way the pipeline builds them, without
HTTP: the sandbox renderers' records landed into the ``raw`` tables, the accounts mapped,
``build_books`` + ``write_books`` run. Used by the e2e test and ``bench_health.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.xero.endpoints import ENDPOINTS
from finpipe.ledger.account_mapping import (
    accounts_from_quickbooks,
    accounts_from_xero,
    map_accounts,
)
from finpipe.ledger.books_build import build_books, write_books
from finpipe.sandbox.quickbooks.render import collect_realm, render_realm
from finpipe.sandbox.world import World
from finpipe.sandbox.xero.render import render_tenant
from finpipe.sandbox.xero.store import SandboxClock
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


def _land(
    warehouse: Warehouse, table: Any, company_id: str, tenant: str, records: list[tuple]
) -> None:
    if not records:
        return
    frame = pl.DataFrame(
        {
            "company_id": [company_id] * len(records),
            "tenant_id": [tenant] * len(records),
            "source_id": [sid for sid, _ in records],
            "source_updated_at": [None] * len(records),
            "payload": [payloads.dumps(p) for _, p in records],
            "deleted": [False] * len(records),
            "extracted_at": [NOW] * len(records),
            "sync_id": ["sync-1"] * len(records),
        },
        schema=table.polars_schema(),
    )
    warehouse.upsert(table, frame)


def land_company(warehouse: Warehouse, world: World, company: dict[str, Any]) -> None:
    """Land every live record the sandboxes serve for ``company`` into ``raw``."""
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
        for endpoint, records in store.records.items():
            field = ENDPOINTS[endpoint].id_field
            rows = [(str(r[field]), r) for r in records.values()]
            _land(warehouse, XERO_TABLES[endpoint], cid, company["xero_tenant_id"], rows)
        field = ENDPOINTS["Journals"].id_field
        rows = [(str(r[field]), r) for r in store.journals]
        _land(warehouse, XERO_TABLES["Journals"], cid, company["xero_tenant_id"], rows)


def map_company(warehouse: Warehouse, company_id: str) -> None:
    """``ledger.account_map`` of the company, as the account_map asset writes it."""
    accounts = pl.concat(
        [
            accounts_from_quickbooks(
                warehouse.read(QUICKBOOKS_TABLES["Account"], company_id=company_id)
            ),
            accounts_from_xero(
                warehouse.read(XERO_TABLES["Accounts"], company_id=company_id),
                warehouse.read(XERO_TABLES["Organisation"], company_id=company_id),
            ),
        ]
    )
    warehouse.replace_partition(ACCOUNT_MAP, company_id, map_accounts(accounts))


def build_world_books(warehouse: Warehouse, world: World, company: dict[str, Any]) -> None:
    """Land, map and build the books of one world company into ``warehouse``."""
    land_company(warehouse, world, company)
    map_company(warehouse, company["company_id"])
    write_books(warehouse, build_books(warehouse, company["company_id"]), now=NOW)


def world_companies(world: World) -> list[dict[str, Any]]:
    """The world's companies as dicts, in id order."""
    return world.table("companies").collect().sort("company_id").to_dicts()
