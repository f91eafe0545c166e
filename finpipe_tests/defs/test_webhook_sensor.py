"""The webhook inbox sensor, evaluated with build_sensor_context on an ephemeral instance."""

from __future__ import annotations

import datetime as dt
import itertools

import dagster as dg
import polars as pl
import pytest

from finpipe.defs.resources import WarehouseResource
from finpipe.defs.webhooks.sensors import LANDING_KEYS, webhook_inbox_sensor
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS
from finpipe.webhooks.events import WebhookEvent
from finpipe.webhooks.inbox import Inbox
from finpipe.webhooks.routing import InboxCursor

UTC = dt.UTC
# Settled events: older than the sensor's settle delay.
EARLIER = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
# cmp_a and cmp_b have partitions; cmp_new is registered but has none yet.
CONNECTIONS_ROWS = [
    ("cmp_a", "quickbooks", "realm-a"),
    ("cmp_a", "aggregator", "item-a"),
    ("cmp_b", "xero", "tenant-b"),
    ("cmp_new", "quickbooks", "realm-new"),
]
_bodies = itertools.count(1)


@pytest.fixture
def registry(warehouse: Warehouse) -> Warehouse:
    """ops.companies and ops.connections of three active companies."""
    companies = sorted({row[0] for row in CONNECTIONS_ROWS})
    n = len(companies)
    warehouse.upsert(
        COMPANIES,
        pl.DataFrame(
            {
                "company_id": companies,
                "name": companies,
                "naics_code": ["541211"] * n,
                "country": ["GB"] * n,
                "home_currency": ["GBP"] * n,
                "fiscal_year_start_month": [1] * n,
                "status": ["active"] * n,
                "created_at": [EARLIER] * n,
                "updated_at": [EARLIER] * n,
            },
            schema=COMPANIES.polars_schema(),
        ),
    )
    m = len(CONNECTIONS_ROWS)
    warehouse.upsert(
        CONNECTIONS,
        pl.DataFrame(
            {
                "company_id": [r[0] for r in CONNECTIONS_ROWS],
                "provider": [r[1] for r in CONNECTIONS_ROWS],
                "external_id": [r[2] for r in CONNECTIONS_ROWS],
                "display_name": [None] * m,
                "status": ["active"] * m,
                "status_reason": [None] * m,
                "created_at": [EARLIER] * m,
                "updated_at": [EARLIER] * m,
                "last_synced_at": [None] * m,
            },
            schema=CONNECTIONS.polars_schema(),
        ),
    )
    return warehouse


@pytest.fixture
def instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("company", ["cmp_a", "cmp_b"])
    return instance


def deliver(
    wh: Warehouse,
    provider: str,
    tenant: str,
    count: int,
    *,
    at: dt.datetime | None = None,
    entity: str = "invoice",
) -> list[str]:
    """One delivery of ``count`` events, committed to the inbox at ``at`` (by default a
    second after the previous delivery: commits do not share an instant); their ids."""
    delivery = next(_bodies)
    at = at or EARLIER + dt.timedelta(seconds=delivery)
    events = [
        WebhookEvent(
            provider=provider,
            event_id=f"{provider}-{tenant}-{delivery}-{i}",
            tenant_id=tenant,
            entity=entity,
            entity_id=str(i),
            operation="update",
            occurred_at=at,
            payload={"i": i},
        )
        for i in range(count)
    ]
    Inbox(wh, clock=lambda: at).store(provider, events, body_sha256=f"body-{delivery}")
    return [e.event_id for e in events]


def tick(
    instance: dg.DagsterInstance, wh: Warehouse, cursor: str | None = None
) -> dg.SensorResult | dg.SkipReason:
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": WarehouseResource(url=wh.url.raw)},
    ) as context:
        result = webhook_inbox_sensor(context)
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


def requests_by_target(result: dg.SensorResult) -> dict[tuple[str, str], dg.RunRequest]:
    return {(r.partition_key or "", r.tags["finpipe/provider"]): r for r in result.run_requests}


def test_first_tick_without_cursor(registry: Warehouse, instance: dg.DagsterInstance) -> None:
    ids = deliver(registry, "quickbooks", "realm-a", 3, at=EARLIER)
    result = tick(instance, registry)
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests
    assert request.partition_key == "cmp_a"
    assert request.asset_selection == LANDING_KEYS["quickbooks"]
    assert request.tags["finpipe/trigger"] == "webhook"
    assert request.tags["finpipe/webhook_events"] == "3"
    assert request.run_key and request.run_key.startswith("webhook:quickbooks:cmp_a:")
    assert result.dynamic_partitions_requests == []
    cursor = InboxCursor.parse(result.cursor)
    assert cursor == InboxCursor(EARLIER, "quickbooks", max(ids))


def test_no_new_events(registry: Warehouse, instance: dg.DagsterInstance) -> None:
    empty = tick(instance, registry)
    assert isinstance(empty, dg.SkipReason)
    assert "no webhook events after the start of the inbox" in (empty.skip_message or "")
    deliver(registry, "xero", "tenant-b", 2)
    first = tick(instance, registry)
    assert isinstance(first, dg.SensorResult) and first.cursor
    # Nothing after the cursor: skip, and the cursor stays (a SkipReason keeps it).
    again = tick(instance, registry, first.cursor)
    assert isinstance(again, dg.SkipReason)
    # An event committed a moment ago waits until it has settled.
    deliver(registry, "xero", "tenant-b", 1, at=dt.datetime.now(UTC))
    assert isinstance(tick(instance, registry, first.cursor), dg.SkipReason)


def test_burst_is_coalesced_into_one_run_per_company_and_provider(
    registry: Warehouse, instance: dg.DagsterInstance
) -> None:
    # 50 events for two companies in 6 deliveries, some committed at the same instant.
    for _ in range(3):
        deliver(registry, "quickbooks", "realm-a", 10, at=EARLIER)
    later = EARLIER + dt.timedelta(seconds=2)
    deliver(registry, "xero", "tenant-b", 12, at=later, entity="contact")
    deliver(registry, "xero", "tenant-b", 8, at=later)
    result = tick(instance, registry)
    assert isinstance(result, dg.SensorResult)
    requests = requests_by_target(result)
    assert set(requests) == {("cmp_a", "quickbooks"), ("cmp_b", "xero")}
    assert requests["cmp_a", "quickbooks"].tags["finpipe/webhook_events"] == "30"
    assert requests["cmp_b", "xero"].tags["finpipe/webhook_events"] == "20"
    assert requests["cmp_b", "xero"].tags["finpipe/webhook_entities"] == "contact,invoice"
    assert requests["cmp_b", "xero"].asset_selection == LANDING_KEYS["xero"]
    cursor = InboxCursor.parse(result.cursor)
    assert cursor is not None and cursor.received_at == later and cursor.provider == "xero"
    # A second wave for one company only: one more run, for that company.
    deliver(registry, "aggregator", "item-a", 5, at=later + dt.timedelta(seconds=1))
    deliver(registry, "aggregator", "item-a", 5, at=later + dt.timedelta(seconds=2))
    wave = tick(instance, registry, result.cursor)
    assert isinstance(wave, dg.SensorResult)
    [request] = wave.run_requests
    assert (request.partition_key, request.tags["finpipe/webhook_events"]) == ("cmp_a", "10")
    assert request.asset_selection == LANDING_KEYS["aggregator"]


def test_unknown_tenant_is_skipped_reported_and_passed(
    registry: Warehouse, instance: dg.DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    deliver(registry, "xero", "tenant-nobody", 4)
    only_unknown = tick(instance, registry)
    assert isinstance(only_unknown, dg.SensorResult)
    assert only_unknown.run_requests == []
    assert only_unknown.skip_reason is not None
    message = only_unknown.skip_reason.skip_message or ""
    assert "4 xero event(s) of tenant tenant-nobody: unknown tenant" in message
    assert "skipped 4 xero event(s) of tenant tenant-nobody" in capfd.readouterr().err
    # The cursor moved past them: they do not come back.
    assert isinstance(tick(instance, registry, only_unknown.cursor), dg.SkipReason)
    # Mixed with known ones: the known company still gets its run.
    deliver(registry, "quickbooks", "realm-unknown", 2)
    deliver(registry, "quickbooks", "realm-a", 1)
    mixed = tick(instance, registry, only_unknown.cursor)
    assert isinstance(mixed, dg.SensorResult)
    assert list(requests_by_target(mixed)) == [("cmp_a", "quickbooks")]
    assert mixed.skip_reason is None
    before, now = InboxCursor.parse(only_unknown.cursor), InboxCursor.parse(mixed.cursor)
    assert before is not None and now is not None and now > before


def test_registered_company_without_partition_gets_one(
    registry: Warehouse, instance: dg.DagsterInstance
) -> None:
    deliver(registry, "quickbooks", "realm-new", 2)
    deliver(registry, "quickbooks", "realm-a", 2)
    result = tick(instance, registry)
    assert isinstance(result, dg.SensorResult)
    [partitions] = result.dynamic_partitions_requests
    assert isinstance(partitions, dg.AddDynamicPartitionsRequest)
    assert list(partitions.partition_keys) == ["cmp_new"]
    assert set(requests_by_target(result)) == {("cmp_a", "quickbooks"), ("cmp_new", "quickbooks")}


def test_cursor_resume_after_a_crash_asks_for_the_same_runs(
    registry: Warehouse, instance: dg.DagsterInstance
) -> None:
    deliver(registry, "quickbooks", "realm-a", 5)
    deliver(registry, "xero", "tenant-b", 5)
    first = tick(instance, registry)
    assert isinstance(first, dg.SensorResult)
    # The tick died before its cursor was stored: the next one starts from the old cursor
    # and asks for the same runs under the same keys (Dagster launches each key once).
    replay = tick(instance, registry)
    assert isinstance(replay, dg.SensorResult)
    assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]
    assert replay.cursor == first.cursor
    # From the stored cursor, only what came after.
    deliver(registry, "xero", "tenant-b", 1, at=EARLIER + dt.timedelta(minutes=5))
    resumed = tick(instance, registry, first.cursor)
    assert isinstance(resumed, dg.SensorResult)
    [request] = resumed.run_requests
    assert request.partition_key == "cmp_b"
    assert request.tags["finpipe/webhook_events"] == "1"
    assert request.run_key not in {r.run_key for r in first.run_requests}


def test_run_requests_resolve_against_the_code_location(registry: Warehouse) -> None:
    """What the daemon does with the requests: each resolves to the sensor's asset job, with
    the landing checks, on a partition that exists once the tick's additions are made."""
    from finpipe.definitions import defs as load_defs

    deliver(registry, "aggregator", "item-a", 1, entity="transactions")
    deliver(registry, "quickbooks", "realm-new", 1)
    defs = load_defs()
    # A persistent test instance: resolving partitions needs an instance ref.
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("company", ["cmp_a", "cmp_b"])
        with dg.build_sensor_context(
            instance_ref=instance.get_ref(),
            resources={"warehouse": WarehouseResource(url=registry.url.raw)},
            definitions=defs,
        ) as context:
            data = webhook_inbox_sensor.evaluate_tick(context)
    assert data.run_requests is not None
    assert sorted(r.partition_key or "" for r in data.run_requests) == ["cmp_a", "cmp_new"]
    job = defs.get_repository_def().get_job(webhook_inbox_sensor.job_name)
    assert job.partitions_def is not None and job.partitions_def.name == "company"
    for request in data.run_requests:
        # The partition was validated against the sensor's job (cmp_new through the tick's
        # own partition request) and tagged.
        assert request.tags["dagster/partition"] == request.partition_key
        assert set(request.asset_selection or []) <= job.asset_layer.selected_asset_keys
    # Each run carries the company's ledger chain downstream of the synced provider, and
    # every asset of it is one declarative automation would run next anyway.
    by_provider = {
        r.tags["finpipe/provider"]: set(r.asset_selection or []) for r in data.run_requests
    }
    journal = dg.AssetKey(["ledger", "journal_lines"])
    matches = dg.AssetKey(["recon", "matches"])
    writeback = dg.AssetKey(["recon", "writeback_log"])
    bank_lines = dg.AssetKey(["ledger", "bank_lines"])
    qbo = by_provider["quickbooks"]
    assert set(LANDING_KEYS["quickbooks"]) <= qbo
    assert {journal, matches, dg.AssetKey(["ledger", "account_map"])} <= qbo
    assert writeback not in qbo and bank_lines not in qbo
    bank = by_provider["aggregator"]
    assert {bank_lines, matches} <= bank and writeback not in bank
    graph = defs.get_repository_def().asset_graph
    for key in (qbo | bank) - set(LANDING_KEYS["quickbooks"]) - set(LANDING_KEYS["aggregator"]):
        assert graph.get(key).automation_condition is not None, key


@dg.op
def _noop() -> None:
    """Stands in for a sync in the run storage."""


@dg.job
def _stand_in_job() -> None:
    _noop()


def test_a_queued_sync_covers_later_events(
    registry: Warehouse, instance: dg.DagsterInstance
) -> None:
    deliver(registry, "quickbooks", "realm-a", 3)
    first = tick(instance, registry)
    assert isinstance(first, dg.SensorResult) and first.run_requests
    # The run it asked for has not started (NOT_STARTED here: a QUEUED run needs a code
    # location origin; the sensor treats both alike).
    queued = instance.create_run_for_job(
        _stand_in_job,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={**first.run_requests[0].tags, "dagster/partition": "cmp_a"},
    )
    deliver(registry, "quickbooks", "realm-a", 4)
    deliver(registry, "xero", "tenant-b", 1)
    second = tick(instance, registry, first.cursor)
    assert isinstance(second, dg.SensorResult)
    # cmp_a's queued sync has not started: it fetches the new changes too.
    assert list(requests_by_target(second)) == [("cmp_b", "xero")]
    assert second.cursor != first.cursor
    # Only the covered company: nothing new, the cursor still moves.
    deliver(registry, "quickbooks", "realm-a", 1)
    third = tick(instance, registry, second.cursor)
    assert isinstance(third, dg.SensorResult) and third.run_requests == []
    assert third.skip_reason is not None
    assert "1 company/provider sync(s) already queued" in (third.skip_reason.skip_message or "")
    assert third.cursor != second.cursor
    # Once it has started, new events need a new sync.
    instance.report_run_canceled(queued)  # any status other than waiting
    deliver(registry, "quickbooks", "realm-a", 1)
    fourth = tick(instance, registry, third.cursor)
    assert isinstance(fourth, dg.SensorResult)
    assert list(requests_by_target(fourth)) == [("cmp_a", "quickbooks")]
