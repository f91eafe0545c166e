"""The inbox routing without Dagster: reading after a cursor, mapping events to companies,
coalescing bursts."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS
from finpipe.webhooks.events import WebhookEvent
from finpipe.webhooks.inbox import Inbox
from finpipe.webhooks.routing import (
    CursorError,
    InboxCursor,
    coalesce,
    empty_events,
    pending_events,
    route,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def event(provider: str, tenant: str, n: int, entity: str = "invoice") -> WebhookEvent:
    return WebhookEvent(
        provider=provider,
        event_id=f"{provider}-{tenant}-{n:05d}",
        tenant_id=tenant,
        entity=entity,
        entity_id=str(n),
        operation="update",
        occurred_at=T0,
        payload={"n": n},
    )


def store(wh: Warehouse, at: dt.datetime, provider: str, events: list[WebhookEvent]) -> None:
    """Commit ``events`` as one delivery stamped ``at`` (one group commit: tied instants)."""
    inbox = Inbox(wh, clock=lambda: at)
    inbox.store(provider, events, body_sha256=f"body-{provider}-{at.isoformat()}-{events[0]}")


def connections_frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """(company_id, provider, external_id, status) rows as ops.connections."""
    return pl.DataFrame(
        {
            "company_id": [r[0] for r in rows],
            "provider": [r[1] for r in rows],
            "external_id": [r[2] for r in rows],
            "display_name": [None] * len(rows),
            "status": [r[3] for r in rows],
            "status_reason": [None] * len(rows),
            "created_at": [T0] * len(rows),
            "updated_at": [T0] * len(rows),
            "last_synced_at": [None] * len(rows),
        },
        schema=CONNECTIONS.polars_schema(),
    )


def companies_frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    """(company_id, status) rows as ops.companies."""
    n = len(rows)
    return pl.DataFrame(
        {
            "company_id": [r[0] for r in rows],
            "name": [r[0].title() for r in rows],
            "naics_code": ["541211"] * n,
            "country": ["GB"] * n,
            "home_currency": ["GBP"] * n,
            "fiscal_year_start_month": [4] * n,
            "status": [r[1] for r in rows],
            "created_at": [T0] * n,
            "updated_at": [T0] * n,
        },
        schema=COMPANIES.polars_schema(),
    )


def events_frame(events: list[WebhookEvent], at: dt.datetime = T0) -> pl.DataFrame:
    frame = empty_events()
    return pl.concat(
        [
            frame,
            pl.DataFrame(
                {
                    "provider": [e.provider for e in events],
                    "event_id": [e.event_id for e in events],
                    "tenant_id": [e.tenant_id for e in events],
                    "entity": [e.entity for e in events],
                    "entity_id": [e.entity_id for e in events],
                    "operation": [e.operation for e in events],
                    "occurred_at": [e.occurred_at for e in events],
                    "received_at": [at] * len(events),
                },
                schema=frame.schema,
            ),
        ]
    )


# ------------------------------------------------------------------ cursor


def test_cursor_round_trip_and_bad_cursor() -> None:
    cursor = InboxCursor(T0 + dt.timedelta(microseconds=7), "xero", "xero-abc")
    assert InboxCursor.parse(cursor.serialize()) == cursor
    assert InboxCursor.parse(None) is None
    assert InboxCursor.parse("") is None
    with pytest.raises(CursorError, match="reset the sensor's cursor"):
        InboxCursor.parse('{"received_at": "yesterday"}')
    # Cursors order like the inbox reads: instant, then provider, then event id.
    assert InboxCursor(T0, "aggregator", "z") < InboxCursor(T0, "quickbooks", "a")
    assert InboxCursor(T0, "xero", "z") < InboxCursor(T0 + dt.timedelta(seconds=1), "a", "a")


# ---------------------------------------------------------------- pending


def test_pending_events_after_cursor_with_ties_and_pages(warehouse: Warehouse) -> None:
    # Two group commits at the same instant (ties) and a later one.
    store(warehouse, T0, "quickbooks", [event("quickbooks", "realm-1", i) for i in range(5)])
    store(warehouse, T0, "xero", [event("xero", "tenant-1", i) for i in range(5)])
    later = T0 + dt.timedelta(seconds=3)
    store(warehouse, later, "aggregator", [event("aggregator", "item-1", 0)])

    everything = pending_events(warehouse, None)
    assert everything.height == 11
    assert everything.columns == list(empty_events().columns)
    keys = list(
        zip(everything["received_at"], everything["provider"], everything["event_id"], strict=True)
    )
    assert keys == sorted(keys)

    # After a cursor in the middle of the tie: the rest of it, then the later commit.
    middle = InboxCursor.of_row(everything.row(3, named=True))
    rest = pending_events(warehouse, middle)
    assert rest["event_id"].to_list() == everything["event_id"].to_list()[4:]

    # Pages of 3 read every event once, in order.
    seen: list[str] = []
    cursor = None
    while True:
        page = pending_events(warehouse, cursor, limit=3)
        if page.is_empty():
            break
        seen += page["event_id"].to_list()
        cursor = InboxCursor.of_row(page.row(page.height - 1, named=True))
    assert seen == everything["event_id"].to_list()

    # Events not yet settled are left for later.
    settled = pending_events(warehouse, None, received_before=later)
    assert settled.height == 10
    assert pending_events(warehouse, cursor).is_empty()


# ------------------------------------------------------------------- route


def test_route_maps_tenants_and_lists_the_rest() -> None:
    events = events_frame(
        [
            event("quickbooks", "realm-a", 1),
            event("quickbooks", "realm-a", 2),
            event("xero", "tenant-b", 1),
            event("xero", "tenant-unknown", 1),
            event("quickbooks", "realm-paused", 1),
            event("quickbooks", "realm-shared", 1),
            event("xero", "tenant-orphan", 1),
            event("xero", "tenant-c", 1),
            # Same external id at another provider: not a match.
            event("aggregator", "realm-a", 1),
        ]
    )
    connections = connections_frame(
        [
            ("cmp_a", "quickbooks", "realm-a", "active"),
            ("cmp_b", "xero", "tenant-b", "active"),
            ("cmp_a", "quickbooks", "realm-paused", "paused"),
            ("cmp_a", "quickbooks", "realm-shared", "active"),
            ("cmp_b", "quickbooks", "realm-shared", "active"),
            ("cmp_orphan", "xero", "tenant-orphan", "active"),
            ("cmp_c", "xero", "tenant-c", "active"),
        ]
    )
    companies = companies_frame([("cmp_a", "active"), ("cmp_b", "active"), ("cmp_c", "removed")])
    routing = route(events, connections, companies)
    routed = sorted(zip(routing.routed["company_id"], routing.routed["event_id"], strict=True))
    assert routed == [
        ("cmp_a", "quickbooks-realm-a-00001"),
        ("cmp_a", "quickbooks-realm-a-00002"),
        ("cmp_a", "quickbooks-realm-shared-00001"),
        ("cmp_b", "quickbooks-realm-shared-00001"),
        ("cmp_b", "xero-tenant-b-00001"),
    ]
    reasons = dict(zip(routing.unrouted["event_id"], routing.unrouted["reason"], strict=True))
    assert reasons == {
        "xero-tenant-unknown-00001": "unknown tenant: no xero connection in ops.connections "
        "has this external_id",
        "aggregator-realm-a-00001": "unknown tenant: no aggregator connection in "
        "ops.connections has this external_id",
        "quickbooks-realm-paused-00001": "connection of cmp_a is paused",
        "xero-tenant-orphan-00001": "company cmp_orphan is not in ops.companies",
        "xero-tenant-c-00001": "company cmp_c is removed",
    }
    summary = routing.unrouted_summary(limit=2)
    assert len(summary) == 3 and summary[-1] == "... and 3 more tenant(s)"

    # Without the companies, only the connections decide; a provider filter applies too.
    loose = route(events, connections, providers=["quickbooks"])
    assert set(loose.routed["provider"]) == {"quickbooks"}
    assert "no landing assets for provider xero" in loose.unrouted["reason"].to_list()


def test_route_of_nothing() -> None:
    routing = route(empty_events(), connections_frame([]))
    assert routing.routed.is_empty() and routing.unrouted.is_empty()
    assert coalesce(routing.routed) == []
    assert routing.unrouted_summary() == []


# ---------------------------------------------------------------- coalesce


def test_coalesce_one_entry_per_company_and_provider() -> None:
    burst = [
        event("quickbooks", "realm-a", i, entity=("invoice", "customer")[i % 2]) for i in range(30)
    ]
    burst += [event("xero", "tenant-b", i) for i in range(20)]
    burst += [event("aggregator", "item-a", 0, entity="transactions")]
    connections = connections_frame(
        [
            ("cmp_a", "quickbooks", "realm-a", "active"),
            ("cmp_b", "xero", "tenant-b", "active"),
            ("cmp_a", "aggregator", "item-a", "active"),
        ]
    )
    later = T0 + dt.timedelta(seconds=1)
    frame = pl.concat([events_frame(burst[:40]), events_frame(burst[40:], at=later)])
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    bursts = coalesce(route(shuffled, connections).routed)
    assert [(b.company_id, b.provider, b.events) for b in bursts] == [
        ("cmp_a", "aggregator", 1),
        ("cmp_a", "quickbooks", 30),
        ("cmp_b", "xero", 20),
    ]
    qbo, xero = bursts[1], bursts[2]
    assert qbo.entities == ("customer", "invoice")
    assert qbo.newest == InboxCursor(T0, "quickbooks", "quickbooks-realm-a-00029")
    assert xero.newest == InboxCursor(later, "xero", "xero-tenant-b-00019")
    # The same events in another order: the same entries and keys.
    again = coalesce(route(frame, connections).routed)
    assert again == bursts
    assert len({b.key for b in bursts}) == 3
    assert qbo.key.startswith("webhook:quickbooks:cmp_a:")
    # One more event: a new key for that company and provider only.
    more = pl.concat([frame, events_frame([event("xero", "tenant-b", 99)], at=later)])
    grown = coalesce(route(more, connections).routed)
    assert grown[2].events == 21 and grown[2].key != xero.key
    assert grown[2].event_ids_sha256 != xero.event_ids_sha256
    assert grown[:2] == bursts[:2]
