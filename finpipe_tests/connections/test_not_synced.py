"""Paused and removed connections are not synced: the landing step (what the nightly and
weekly schedules run for every company) skips them, and the inbox routing does not turn
their webhooks into syncs. Degraded ones keep being synced by the landing step so that a
success can restore them."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from finpipe.defs.landing import active_connections
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.webhooks.routing import EVENT_COLUMNS, route
from finpipe_tests.connections.helpers import NOW, connection, connections, inbox, inbox_event


def test_landing_syncs_active_and_degraded_only(duck: Warehouse) -> None:
    duck.upsert(
        CONNECTIONS,
        connections(
            connection(external_id="r-active"),
            connection(external_id="r-degraded", status="degraded"),
            connection(external_id="r-paused", status="paused"),
            connection(external_id="r-removed", status="removed"),
            connection(external_id="r-pending", status="pending"),
            connection("cmp_b", external_id="b-paused", status="paused"),
            connection("cmp_c", external_id="c-reauth", status="needs_reauth", reason="refused"),
        ),
    )
    assert active_connections(duck, "quickbooks", "cmp_a") == ["r-active", "r-degraded"]
    # only paused: nothing to sync, the run goes on
    assert active_connections(duck, "quickbooks", "cmp_b") == []
    # only one needing a person: the step fails without retries
    with pytest.raises(dg.Failure) as failure:
        active_connections(duck, "quickbooks", "cmp_c")
    assert failure.value.allow_retries is False
    assert "c-reauth of cmp_c is needs_reauth: refused" in str(failure.value.description)


def test_webhooks_of_paused_or_removed_connections_are_not_routed() -> None:
    conns = connections(
        connection(external_id="r-active"),
        connection("cmp_b", external_id="r-paused", status="paused"),
        connection("cmp_c", external_id="r-removed", status="removed"),
    )
    tenants = ("r-active", "r-paused", "r-removed")
    events = inbox(*(inbox_event("quickbooks", t, NOW, f"e-{t}") for t in tenants)).select(
        list(EVENT_COLUMNS)
    )
    routing = route(events, conns)
    assert routing.routed["tenant_id"].to_list() == ["r-active"]
    reasons = dict(routing.unrouted.select("tenant_id", "reason").iter_rows())
    assert reasons == {
        "r-paused": "connection of cmp_b is paused",
        "r-removed": "connection of cmp_c is removed",
    }
    assert routing.unrouted.filter(pl.col("company_id").is_null()).is_empty()
