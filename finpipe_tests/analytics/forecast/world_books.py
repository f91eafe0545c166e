"""Books of a generated world in a warehouse, without HTTP: every record the QuickBooks and
Xero sandboxes would serve, landed in the ``raw`` tables as a sync lands it, mapped to the
standard chart and expanded into ``ledger.*`` by the production code (``build_books``).

Used by the forecast's end-to-end test and by ``benchmarks/bench_forecast.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
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
from finpipe.sandbox.quickbooks.render import iter_realms, render_realm
from finpipe.sandbox.world import World
from finpipe.sandbox.xero.render import render_tenant
from finpipe.sandbox.xero.store import SandboxClock
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


def _landing(
    table: Table, company_id: str, tenant: str, records: list[tuple[str, Any]]
) -> pl.DataFrame:
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
            "sync_id": ["world-books"] * n,
        },
        schema=table.polars_schema(),
    )


def _land(wh: Warehouse, table: Table, cid: str, tenant: str, recs: list[tuple[str, Any]]) -> None:
    if recs:
        wh.upsert(table, _landing(table, cid, tenant, recs))


def land_world_books(
    wh: Warehouse, world: World, company_ids: Iterable[str] | None = None
) -> list[str]:
    """Land the accounting records of ``company_ids`` (every company by default) and build
    their books; returns the company ids built."""
    companies = {c["company_id"]: c for c in world.table("companies").collect().to_dicts()}
    wanted = set(company_ids) if company_ids is not None else set(companies)
    for realm in iter_realms(world):
        company = realm.company
        if company["company_id"] not in wanted:
            continue
        live, _ = render_realm(realm)
        by_entity: dict[str, list[tuple[str, Any]]] = {}
        for entity, payload in live:
            by_entity.setdefault(entity, []).append((str(payload["Id"]), payload))
        for entity, recs in by_entity.items():
            _land(
                wh, QUICKBOOKS_TABLES[entity], company["company_id"], company["qbo_realm_id"], recs
            )
    clock = SandboxClock(NOW)
    for cid in sorted(wanted):
        company = companies[cid]
        if company["xero_tenant_id"] is None:
            continue
        store = render_tenant(world, company, clock)
        tenant = company["xero_tenant_id"]
        for endpoint, records in store.records.items():
            field = ENDPOINTS[endpoint].id_field
            _land(
                wh,
                XERO_TABLES[endpoint],
                cid,
                tenant,
                [(str(r[field]), r) for r in records.values()],
            )
        field = ENDPOINTS["Journals"].id_field
        _land(
            wh, XERO_TABLES["Journals"], cid, tenant, [(str(r[field]), r) for r in store.journals]
        )
    for cid in sorted(wanted):
        accounts = pl.concat(
            [
                accounts_from_quickbooks(wh.read(QUICKBOOKS_TABLES["Account"], company_id=cid)),
                accounts_from_xero(
                    wh.read(XERO_TABLES["Accounts"], company_id=cid),
                    wh.read(XERO_TABLES["Organisation"], company_id=cid),
                ),
            ]
        )
        wh.replace_partition(ACCOUNT_MAP, cid, map_accounts(accounts))
        write_books(wh, build_books(wh, cid), now=NOW)
    return sorted(wanted)
