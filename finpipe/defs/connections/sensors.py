"""Records failed syncs per connection and marks repeatedly failing connections degraded.

A run failure is charged to a (company, provider) when a provider's landing step
(``<provider>_raw``) failed in it, or, for a run that failed before any step did (a crashed
run worker), when the run was a sync of one provider (the inbox sensor's
``finpipe/provider`` tag). The company is the run's partition. A failure of a later step
(books, reconciliation) is not the connection's fault and is not charged.

Cursor-free and idempotent: rows are keyed by run id in ``ops.sync_runs`` and the degraded
transition is decided from those rows, so evaluating a failure twice changes nothing.
"""

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from finpipe.connections.sync_log import RunInfo, record_failure, trigger_of
from finpipe.connectors.banks import bank_providers
from finpipe.connectors.providers import accounting_providers
from finpipe.defs.connections.resources import ConnectionHealthResource
from finpipe.defs.resources import WarehouseResource

UTC = dt.UTC
# Error classes that only wrap the real one (Dagster's, and the landing's own dg.Failure).
WRAPPERS = frozenset(
    {"Failure", "DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"}
)


def landing_steps() -> dict[str, str]:
    """Landing step key -> provider, for every provider with a landing multi-asset."""
    names = [*accounting_providers(), *bank_providers()]
    return {f"{name}_raw": name for name in names}


LANDING_STEPS = landing_steps()


@dataclass(frozen=True)
class ChargedFailure:
    """A failure charged to one (company, provider)."""

    company_id: str
    provider: str
    error_class: str
    message: str


def error_of(error: object) -> tuple[str, str]:
    """(class name, message) of a serialized error, looking through wrappers to the cause;
    the message loses its ``Class: `` prefix."""
    chosen = error
    current = error
    while current is not None:
        name = getattr(current, "cls_name", None)
        if name and name not in WRAPPERS:
            chosen = current
            break
        current = getattr(current, "cause", None)
    name = getattr(chosen, "cls_name", None) or "Error"
    message = str(getattr(chosen, "message", "") or "").strip()
    message = message.removeprefix(f"{name}: ")
    for prefix in ("dagster._core.definitions.events.Failure: ", "dagster.Failure: "):
        message = message.removeprefix(prefix)
    return name, message


def charged_failures(context: dg.RunFailureSensorContext) -> list[ChargedFailure]:
    """The (company, provider) failures of the failed run of ``context``."""
    run = context.dagster_run
    company = run.tags.get("dagster/partition")
    if not company:
        return []
    step_failures = context.get_step_failure_events()
    charged: dict[str, ChargedFailure] = {}
    for event in step_failures:
        provider = LANDING_STEPS.get(event.step_key or "")
        if provider is None or provider in charged:
            continue
        data = event.event_specific_data
        cls, message = error_of(getattr(data, "error", None))
        charged[provider] = ChargedFailure(company, provider, cls, message)
    if not step_failures and run.tags.get("finpipe/provider") in LANDING_STEPS.values():
        provider = run.tags["finpipe/provider"]
        message = context.failure_event.message or "the run failed before its sync step ran"
        charged[provider] = ChargedFailure(company, provider, "RunFailure", message)
    return list(charged.values())


@dg.run_failure_sensor(
    name="connection_failure_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed sync in ops.sync_runs per connection (company from "
    "the run's partition, provider from the failed `<provider>_raw` step or the run's "
    "`finpipe/provider` tag), keyed by run id so a re-evaluation counts nothing twice, and "
    "marks a connection `degraded` after `degrade_after` (3) failed syncs in a row. A "
    "later successful sync puts it back to `active`.",
)
def connection_failure_sensor(
    context: dg.RunFailureSensorContext,
    warehouse: WarehouseResource,
    connection_health: ConnectionHealthResource,
) -> None:
    failures = charged_failures(context)
    if not failures:
        context.log.info(
            f"run {context.dagster_run.run_id} failed outside any sync step: no connection charged"
        )
        return
    run = context.dagster_run
    stats = context.instance.get_run_stats(run.run_id)
    started = dt.datetime.fromtimestamp(stats.start_time, UTC) if stats.start_time else None
    ended = dt.datetime.fromtimestamp(stats.end_time, UTC) if stats.end_time else None
    info = RunInfo(run.run_id, trigger_of(run.tags), started, ended or dt.datetime.now(UTC))
    with warehouse.open() as wh:
        for failure in failures:
            after = record_failure(
                wh,
                failure.company_id,
                failure.provider,
                info,
                failure.error_class,
                failure.message,
                degrade_after=connection_health.degrade_after,
            )
            for row in after.iter_rows(named=True):
                context.log.info(
                    f"{failure.provider} {row['external_id']} of {failure.company_id}: "
                    f"{failure.error_class}, {row['consecutive_failures']} failure(s) in a "
                    f"row, status {row['status']}"
                )
