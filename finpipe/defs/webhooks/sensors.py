"""Turns the webhook inbox (``ops.webhook_inbox``) into syncs: one run of a provider's raw
landing assets per company that received events, however many it received, carrying the
company's ledger and reconciliation assets downstream of them (the "ledger chain").

Why the chain rides in the same run rather than waiting for declarative automation: those
assets are ``eager()``, which holds an asset back while any of its dependencies is being
materialized; a company sending webhooks every few seconds always has a sync in flight, so
its ledger would never be rebuilt until the stream paused (measured: every change of a
20-change stream reached the ledger only after the last one). In one run the ledger is
rebuilt right after each sync, and one run launch is saved. Analytics and everything else
downstream still follow through automation, as do syncs started by schedules or people.

The routing rules live in :mod:`finpipe.webhooks.routing`; this module only reads the
inbox after the sensor's cursor, asks for the missing ``company`` partitions and emits the
run requests.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finpipe.connectors.banks import bank_providers
from finpipe.connectors.providers import accounting_providers
from finpipe.defs.landing import landing_key
from finpipe.defs.partitions import company_partitions
from finpipe.defs.reconcile.writeback import WRITEBACK_KEY
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS
from finpipe.webhooks.events import PROVIDERS
from finpipe.webhooks.routing import (
    Burst,
    InboxCursor,
    coalesce,
    pending_events,
    route,
)

UTC = dt.UTC
# Events younger than this are left for the next tick: a receiver commit still in flight
# stamps its rows with the instant it started, so reading only settled rows keeps the
# cursor from passing events that are not visible yet. Commits take milliseconds; the rest
# of the margin covers clock skew between the receiver's host and the daemon's.
SETTLE = dt.timedelta(seconds=2)
# At most this many events per tick; a larger backlog continues on the next ticks.
MAX_EVENTS_PER_TICK = 10_000
# Runs in these statuses have not begun to sync: the changes of newer events are still
# ahead of them, so they cover those events too.
WAITING_STATUSES = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)


def webhook_landing_keys() -> dict[str, list[dg.AssetKey]]:
    """The raw landing asset keys a webhook of each provider syncs (the whole multi-asset:
    ``quickbooks_raw``, ``xero_raw``, ``aggregator_raw`` cannot be subset)."""
    accounting = accounting_providers()
    sources = {
        "quickbooks": accounting["quickbooks"],
        "xero": accounting["xero"],
        "aggregator": bank_providers()["aggregator"],
    }
    assert set(sources) == set(PROVIDERS), "a webhook provider has no landing assets"
    return {name: [landing_key(src, e) for e in src.tables] for name, src in sources.items()}


LANDING_KEYS = webhook_landing_keys()
# Downstream assets in these groups are the ledger chain a webhook sync carries; write-back
# is not (it writes to the provider, and only when an operator runs it).
CHAIN_GROUPS = ("ledger", "reconciliation")


def webhook_target() -> dg.AssetSelection:
    """Everything a webhook run may select: every provider's landing assets and their ledger
    chain (the sensor's job is built from this)."""
    landing = dg.AssetSelection.assets(*(k for keys in LANDING_KEYS.values() for k in keys))
    return landing | _chain(landing)


def _chain(landing: dg.AssetSelection) -> dg.AssetSelection:
    """The ledger chain downstream of ``landing``."""
    return (
        landing.downstream(include_self=False) & dg.AssetSelection.groups(*CHAIN_GROUPS)
    ) - dg.AssetSelection.assets(WRITEBACK_KEY)


def run_selection(provider: str, asset_graph: object | None) -> list[dg.AssetKey]:
    """The assets one webhook run of ``provider`` materializes: its landing assets, then
    (when the code location's asset graph is at hand, as in the daemon) their ledger chain."""
    landing = LANDING_KEYS[provider]
    if asset_graph is None:
        return list(landing)
    chain = _chain(dg.AssetSelection.assets(*landing)).resolve(asset_graph)  # type: ignore[arg-type]
    return [*landing, *sorted(chain)]


def _cursor_text(cursor: InboxCursor | None) -> str:
    if cursor is None:
        return "the start of the inbox"
    return f"{cursor.received_at.isoformat()} {cursor.provider}/{cursor.event_id}"


def _asset_graph(context: dg.SensorEvaluationContext) -> object | None:
    repository = getattr(context, "repository_def", None)
    return repository.asset_graph if repository is not None else None


def waiting_syncs(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """(company, provider) of the webhook syncs queued and not started yet."""
    runs = instance.get_runs(
        dg.RunsFilter(statuses=list(WAITING_STATUSES), tags={"finpipe/trigger": "webhook"})
    )
    return {
        (run.tags.get("dagster/partition", ""), run.tags.get("finpipe/provider", ""))
        for run in runs
    }


def _run_request(burst: Burst, asset_graph: object | None) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=burst.key,
        asset_selection=run_selection(burst.provider, asset_graph),
        partition_key=burst.company_id,
        tags={
            "finpipe/trigger": "webhook",
            "finpipe/provider": burst.provider,
            "finpipe/webhook_events": str(burst.events),
            "finpipe/webhook_entities": ",".join(burst.entities)[:200],
            "finpipe/webhook_newest": burst.newest.received_at.isoformat(),
            "finpipe/webhook_events_sha256": burst.event_ids_sha256[:16],
        },
    )


@dg.sensor(
    name="webhook_inbox_sensor",
    target=webhook_target(),
    # A webhook should end in a fresh ledger within seconds (issue 6 aims at p95 <= 30 s).
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the verified webhook events in ops.webhook_inbox after its cursor and "
    "starts one sync of the provider's raw landing assets (quickbooks_raw, xero_raw, "
    "aggregator_raw) per company that received events, however many, followed in the same "
    "run by the company's ledger and reconciliation assets downstream of them (run key: company, "
    "provider and newest event, so a re-evaluation launches nothing twice). Adds the "
    "`company` partition of a registered company that has none yet. Events of tenants no "
    "active connection of an active company knows are skipped and listed in the tick's log "
    "(the nightly sync catches up once the connection exists). Events for a company and "
    "provider whose webhook sync is still queued are left to that sync. Running by default: "
    "without a receiver the inbox stays empty and every tick is a skip.",
)
def webhook_inbox_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    """One tick: pending events -> routed -> coalesced -> run requests; the cursor moves to
    the last event read (every one of them is either requested or reported as skipped)."""
    after = InboxCursor.parse(context.cursor)
    settled_before = dt.datetime.now(UTC) - SETTLE
    with warehouse.open() as wh:
        events = pending_events(
            wh, after, received_before=settled_before, limit=MAX_EVENTS_PER_TICK
        )
        if events.is_empty():
            return dg.SkipReason(f"no webhook events after {_cursor_text(after)}")
        connections = wh.read(CONNECTIONS)
        companies = wh.read(COMPANIES)
    routing = route(events, connections, companies, providers=list(LANDING_KEYS))
    bursts = coalesce(routing.routed)
    cursor = InboxCursor.of_row(events.row(events.height - 1, named=True))
    # A burst spread over several ticks: a sync still waiting in the queue covers it.
    waiting = waiting_syncs(context.instance)
    covered = [b for b in bursts if (b.company_id, b.provider) in waiting]
    bursts = [b for b in bursts if (b.company_id, b.provider) not in waiting]
    more = " (more pending: continuing next tick)" if events.height >= MAX_EVENTS_PER_TICK else ""
    context.log.info(
        f"{events.height} webhook event(s) up to {_cursor_text(cursor)}{more}: "
        f"{len(bursts)} new sync(s), {len(covered)} covered by a queued sync, "
        f"{routing.unrouted.height} skipped"
    )
    for burst in covered:
        context.log.info(
            f"{burst.events} {burst.provider} event(s) of {burst.company_id}: "
            "a queued sync will fetch them"
        )
    skipped = routing.unrouted_summary()
    for line in skipped:
        context.log.warning(f"skipped {line}")
    if not bursts:
        reasons = list(skipped)
        if covered:
            reasons.insert(0, f"{len(covered)} company/provider sync(s) already queued")
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{events.height} webhook event(s), no new sync: " + "; ".join(reasons)
            ),
            cursor=cursor.serialize(),
        )
    assert company_partitions.name is not None
    graph = _asset_graph(context)
    partitions = set(context.instance.get_dynamic_partitions(company_partitions.name))
    missing = sorted({b.company_id for b in bursts} - partitions)
    if missing:
        context.log.info(f"adding company partition(s): {', '.join(missing)}")
    return dg.SensorResult(
        run_requests=[_run_request(b, graph) for b in bursts],
        dynamic_partitions_requests=[company_partitions.build_add_request(missing)]
        if missing
        else [],
        cursor=cursor.serialize(),
    )
