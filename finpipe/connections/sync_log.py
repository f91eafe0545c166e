"""The sync run log (``ops.sync_runs``) and the connection status it drives (no Dagster).

Every sync attempt of a connection is one row keyed by ``(company, provider, external id,
run id)``: the landing step records its successes with :func:`record_success`, the
run-failure sensor its failures with :func:`record_failure`. Because the run id is the key, a
re-evaluation or a re-run of either writes the same row again and counts nothing twice;
there is no cursor to lose.

Status transitions, decided from the log itself (so they are idempotent too):

* ``active`` -> ``degraded`` once the connection's newest ``threshold`` attempts all failed
  (default 3): the connection keeps being synced, the operator is told;
* ``degraded`` -> ``active`` at the next successful sync.

``needs_reauth``, ``paused``, ``removed`` and ``pending`` are a person's business and are
never changed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from finpipe.connectors.report import SyncReport
from finpipe.logsafe import redact
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.ops_health import SYNC_RUNS

UTC = dt.UTC
DEFAULT_DEGRADE_AFTER = 3
MAX_MESSAGE = 1_000
# Connections a landing step syncs: a degraded one keeps being tried, so it can recover.
SYNCED_STATUSES = ("active", "degraded")
COUNTERS = ("calls", "rate_limited", "retries", "token_refreshes", "rows_written")


@dataclass(frozen=True)
class RunInfo:
    """The Dagster run a sync attempt belongs to (what the log needs of it)."""

    run_id: str
    trigger: str
    started_at: dt.datetime | None
    finished_at: dt.datetime


def trigger_of(tags: Mapping[str, str]) -> str:
    """``webhook | schedule | sensor | manual`` from a run's tags (``finpipe/trigger`` set
    by the inbox sensor and the schedules, Dagster's own schedule/sensor tags otherwise)."""
    kind = tags.get("finpipe/trigger")
    if kind == "webhook":
        return "webhook"
    if kind in ("nightly", "weekly_full_refresh") or "dagster/schedule_name" in tags:
        return "schedule"
    if "dagster/sensor_name" in tags or any(k.startswith("dagster/auto") for k in tags):
        return "sensor"
    return "manual"


def _allocate(
    total: int, per_tenant: Mapping[str, int], external_ids: Sequence[str]
) -> dict[str, int]:
    """Split a report total over the connections: each gets what its own tenant's entities
    counted, the first (sorted) also gets what no tenant claimed (token calls, discovery,
    client-level retries), so the connections' rows add up to the report exactly."""
    ids = sorted(external_ids)
    shares = {e: int(per_tenant.get(e, 0)) for e in ids}
    shares[ids[0]] += total - sum(shares.values())
    return shares


def _rows(
    company_id: str,
    provider: str,
    ids: list[str],
    run: RunInfo,
    now: dt.datetime,
    *,
    status: str,
    counters: Mapping[str, Mapping[str, int]],
    sync_id: str | None = None,
    error: tuple[str, str] | None = None,
) -> pl.DataFrame:
    """``ops.sync_runs`` rows, one per connection of ``ids``; ``counters`` maps each counter
    column to its value per connection (missing: 0)."""
    n = len(ids)
    error_class, message = error if error else (None, None)
    return pl.DataFrame(
        {
            "company_id": [company_id] * n,
            "provider": [provider] * n,
            "external_id": ids,
            "run_id": [run.run_id] * n,
            "sync_id": [sync_id] * n,
            "trigger": [run.trigger] * n,
            "status": [status] * n,
            "started_at": [run.started_at] * n,
            "finished_at": [run.finished_at] * n,
            **{c: [counters.get(c, {}).get(e, 0) for e in ids] for c in COUNTERS},
            "error_class": [error_class] * n,
            "error_message": [message] * n,
            "recorded_at": [now] * n,
        },
        schema=SYNC_RUNS.polars_schema(),
    )


def success_rows(
    report: SyncReport,
    external_ids: Sequence[str],
    run: RunInfo,
    now: dt.datetime,
) -> pl.DataFrame:
    """``ops.sync_runs`` rows of a successful sync of ``external_ids`` described by
    ``report`` (one row per connection)."""
    if not external_ids:
        return pl.DataFrame(schema=SYNC_RUNS.polars_schema())
    ids = sorted(external_ids)
    calls: dict[str, int] = {}
    limited: dict[str, int] = {}
    written: dict[str, int] = {}
    for e in report.entities:
        calls[e.tenant_id] = calls.get(e.tenant_id, 0) + e.calls
        limited[e.tenant_id] = limited.get(e.tenant_id, 0) + e.rate_limited
        written[e.tenant_id] = written.get(e.tenant_id, 0) + e.written + e.deleted
    totals = report.totals()
    rows_total = totals["inserted"] + totals["updated"] + totals["deleted"]
    counters = {
        "calls": _allocate(report.calls, calls, ids),
        "rate_limited": _allocate(report.rate_limited, limited, ids),
        "retries": _allocate(report.retries, {}, ids),
        "token_refreshes": _allocate(report.token_refreshes, {}, ids),
        "rows_written": _allocate(rows_total, written, ids),
    }
    sync_id = None if report.sync_id == "-" else report.sync_id
    return _rows(
        report.company_id,
        report.provider,
        ids,
        run,
        now,
        status="success",
        counters=counters,
        sync_id=sync_id,
    )


def failure_rows(
    company_id: str,
    provider: str,
    external_ids: Sequence[str],
    run: RunInfo,
    error_class: str,
    error_message: str,
    now: dt.datetime,
) -> pl.DataFrame:
    """``ops.sync_runs`` rows of a failed attempt (counters 0: a failed step reports none);
    the message is redacted and cut to :data:`MAX_MESSAGE` characters."""
    message = redact(error_message)[:MAX_MESSAGE]
    return _rows(
        company_id,
        provider,
        sorted(external_ids),
        run,
        now,
        status="failed",
        counters={},
        error=(error_class, message),
    )


def _connections(wh: Warehouse, company_id: str, provider: str) -> pl.DataFrame:
    return wh.read(
        CONNECTIONS, where="company_id = %s AND provider = %s", params=[company_id, provider]
    )


def consecutive_failures(runs: pl.DataFrame) -> pl.DataFrame:
    """Per connection of ``runs`` (``ops.sync_runs`` rows): ``consecutive_failures`` (failed
    attempts after the newest success), ``failing_since`` (the first of them),
    ``last_success_at`` and ``last_error`` (class: message of the newest failure)."""
    keys = ["company_id", "provider", "external_id"]
    ordered = runs.sort([*keys, "finished_at", "run_id"])
    last_ok = (
        ordered.filter(pl.col("status") == "success")
        .group_by(keys)
        .agg(pl.col("finished_at").max().alias("last_success_at"))
    )
    with_ok = ordered.join(last_ok, on=keys, how="left")
    after = with_ok.filter(
        (pl.col("status") == "failed")
        & (
            pl.col("last_success_at").is_null()
            | (pl.col("finished_at") > pl.col("last_success_at"))
        )
    )
    streak = after.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("consecutive_failures"),
        pl.col("finished_at").min().alias("failing_since"),
        pl.concat_str(
            [pl.col("error_class").fill_null("error"), pl.col("error_message").fill_null("")],
            separator=": ",
        )
        .last()
        .alias("last_error"),
    )
    return (
        ordered.select(keys)
        .unique(maintain_order=True)
        .join(last_ok, on=keys, how="left")
        .join(streak, on=keys, how="left")
        .with_columns(pl.col("consecutive_failures").fill_null(0))
    )


def record_success(
    wh: Warehouse,
    report: SyncReport,
    external_ids: Sequence[str],
    run: RunInfo,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """Log a successful sync of ``external_ids`` and, in the same transaction, stamp their
    ``last_synced_at`` and put a ``degraded`` one back to ``active``. Returns the rows
    written (none when nothing was synced)."""
    now = now or dt.datetime.now(UTC)
    rows = success_rows(report, external_ids, run, now)
    if rows.is_empty():
        return rows
    current = _connections(wh, report.company_id, report.provider).filter(
        pl.col("external_id").is_in(list(external_ids))
    )
    stamp = pl.lit(run.finished_at, dtype=pl.Datetime("us", "UTC"))
    recovered = pl.col("status") == "degraded"
    updated = current.with_columns(
        pl.when(recovered).then(pl.lit("active")).otherwise(pl.col("status")).alias("status"),
        pl.when(recovered)
        .then(pl.lit(f"recovered: run {run.run_id} synced at {run.finished_at:%Y-%m-%d %H:%M} UTC"))
        .otherwise(pl.col("status_reason"))
        .alias("status_reason"),
        stamp.alias("last_synced_at"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
    )
    with wh.batch() as batch:
        batch.upsert(SYNC_RUNS, rows)
        batch.upsert(CONNECTIONS, updated)
    return rows


def failed_connections(connections: pl.DataFrame) -> list[str]:
    """The external ids a failed sync of these connections (one company, one provider) is
    charged to: those the landing step syncs (active, degraded); when there is none, those
    waiting for a reconnection (the step failed because of them). Paused, removed and
    pending connections were not tried."""
    tried = connections.filter(pl.col("status").is_in(SYNCED_STATUSES))
    if tried.is_empty():
        tried = connections.filter(pl.col("status") == "needs_reauth")
    return sorted(tried.get_column("external_id").to_list())


def record_failure(
    wh: Warehouse,
    company_id: str,
    provider: str,
    run: RunInfo,
    error_class: str,
    error_message: str,
    *,
    degrade_after: int = DEFAULT_DEGRADE_AFTER,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """Log a failed sync of the company's ``provider`` connections and mark ``degraded``
    each active one whose newest ``degrade_after`` attempts all failed. Returns the
    connections' rows as they are afterwards, with ``consecutive_failures`` (empty when no
    connection was tried)."""
    if degrade_after < 1:
        raise ValueError(f"degrade_after must be at least 1, got {degrade_after}")
    now = now or dt.datetime.now(UTC)
    connections = _connections(wh, company_id, provider)
    ids = failed_connections(connections)
    if not ids:
        return connections.clear().with_columns(pl.lit(0).alias("consecutive_failures"))
    wh.upsert(
        SYNC_RUNS,
        failure_rows(company_id, provider, ids, run, error_class, error_message, now),
    )
    runs = wh.read(
        SYNC_RUNS, where="company_id = %s AND provider = %s", params=[company_id, provider]
    ).filter(pl.col("external_id").is_in(ids))
    streaks = consecutive_failures(runs).select(
        "external_id", "consecutive_failures", "failing_since", "last_error"
    )
    tried = connections.filter(pl.col("external_id").is_in(ids)).join(
        streaks, on="external_id", how="left"
    )
    degrade = (pl.col("status") == "active") & (pl.col("consecutive_failures") >= degrade_after)
    to_degrade = tried.filter(degrade)
    if to_degrade.height:
        reason = pl.format(
            "{} consecutive failed syncs since {} UTC (last: {})",
            pl.col("consecutive_failures"),
            pl.col("failing_since").dt.strftime("%Y-%m-%d %H:%M"),
            pl.col("last_error").str.slice(0, 300),
        )
        wh.upsert(
            CONNECTIONS,
            to_degrade.with_columns(
                pl.lit("degraded").alias("status"),
                reason.alias("status_reason"),
                pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
            ).select(CONNECTIONS.column_names),
        )
    return tried.with_columns(
        pl.when(degrade).then(pl.lit("degraded")).otherwise(pl.col("status")).alias("status")
    )
