"""Builds the raw landing assets of an accounting provider (QuickBooks, Xero): one
multi-asset per provider, partitioned by company, in the provider's concurrency pool, with
its Great Expectations checks declared on it (``multi_asset_check`` takes no partitions, so
the checks run in the sync step, on the partition it has just written)."""

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import dagster as dg
import polars as pl

from finpipe.config import load_settings
from finpipe.connections.retry import failure_kind
from finpipe.connections.sync_log import SYNCED_STATUSES, RunInfo, record_success, trigger_of
from finpipe.connectors.landing import reset_cursors
from finpipe.connectors.oauth import TokenManager, TokenStore
from finpipe.connectors.providers import AccountingProvider
from finpipe.connectors.report import SyncReport
from finpipe.connectors.trial_balances import fetch_trial_balances
from finpipe.defs.compliance.audit import record_sync
from finpipe.defs.metadata import markdown_preview, table_schema
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import ProviderAppResource, WarehouseResource
from finpipe.quality.expectations import validate_frame
from finpipe.quality.reuse import (
    StoredResult,
    partition_fingerprints,
    reusable,
    save_results,
    stored_results,
)
from finpipe.secrets import SecretBox
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS

CONNECTIONS_KEY = dg.AssetKey(["ops", "connections"])
# A run tagged with this reads every accounting entity again instead of since the cursor.
FULL_REFRESH_TAG = "finpipe/full_refresh"
# Step retries of a landing sync: 30 s, 60 s, 120 s (each +/- up to the delay, so the
# companies that failed together do not come back together). Only transient errors get
# them: :func:`transient_errors_only` fails everything else with ``allow_retries=False``.
LANDING_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@contextmanager
def transient_errors_only(provider: str, company_id: str) -> Iterator[None]:
    """Let transient sync errors (5xx, timeouts, 429s, a dropped warehouse connection)
    through to the retry policy; turn every other error into a ``dg.Failure`` that is not
    retried (a refused refresh token needs a person, a 4xx or a parse error needs a fix)."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        kind = failure_kind(exc)
        if kind == "transient":
            raise
        raise dg.Failure(
            f"{provider} sync of {company_id} failed ({kind}, not retried): "
            f"{type(exc).__name__}: {exc}",
            allow_retries=False,
        ) from exc


def record_synced(
    context: dg.AssetExecutionContext,
    wh: Warehouse,
    report: SyncReport,
    external_ids: Sequence[str],
    started_at: dt.datetime,
) -> None:
    """Log the successful sync in ``ops.sync_runs`` (keyed by this run: a retried step or a
    re-run writes it once); a degraded connection goes back to active."""
    record_success(wh, report, external_ids, run_info(context, started_at))


def run_info(context: dg.AssetExecutionContext, started_at: dt.datetime) -> RunInfo:
    """This run as the sync log keys it: id, trigger, started and (now) finished."""
    return RunInfo(
        context.run.run_id, trigger_of(context.run.tags), started_at, dt.datetime.now(dt.UTC)
    )


class LandingSource(Protocol):
    """What the landing helpers need of a source: its name and landing tables (accounting
    providers, bank providers and the statement drop folder all have them)."""

    name: str
    tables: dict[str, Table]


def landing_key(provider: LandingSource, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", provider.tables[entity].name])


def build_landing_assets(provider: AccountingProvider) -> dg.AssetsDefinition:
    """The provider's raw landing tables as one partitioned multi-asset."""
    specs = landing_specs(provider)

    @dg.multi_asset(
        name=f"{provider.name}_raw",
        specs=specs,
        check_specs=landing_check_specs(provider),
        partitions_def=company_partitions,
        can_subset=False,
        pool=provider.name,
        retry_policy=LANDING_RETRY_POLICY,
        description=f"Incremental sync of every {provider.name} entity of one company.",
    )
    def _assets(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        provider_apps: ProviderAppResource,
    ):
        company_id = context.partition_key
        started_at = dt.datetime.now(dt.UTC)
        settings = load_settings()
        with warehouse.open() as wh:
            external_ids = active_connections(wh, provider.name, company_id)
            if not external_ids:
                # Nothing to sync: the company's slice of every landing table is (rightly)
                # empty, and the metadata says why.
                context.log.info(f"{company_id} has no active {provider.name} connection")
                report = SyncReport(provider.name, company_id, sync_id="-")
                note = f"no active {provider.name} connection"
            else:
                api_base = provider.api_base(settings)
                app = provider_apps.app(provider, settings)
                tokens = TokenManager(
                    app, TokenStore(wh, SecretBox.from_settings(settings)), company_id
                )
                if context.run.tags.get(FULL_REFRESH_TAG) == "true":
                    dropped = reset_cursors(wh, company_id, provider.name)
                    context.log.info(
                        f"full refresh of {provider.name} for {company_id}: "
                        f"{dropped} cursor(s) dropped, every entity is read again"
                    )
                with transient_errors_only(provider.name, company_id):
                    report = provider.sync(wh, tokens, company_id, external_ids, api_base)
                    # The source's own trial balance, which the books are held to.
                    tb = fetch_trial_balances(
                        provider.name,
                        wh,
                        tokens,
                        company_id,
                        external_ids,
                        api_base,
                        as_of=dt.datetime.now(dt.UTC).date(),
                    )
                record_synced(context, wh, report, external_ids, started_at)
                context.log.info(
                    f"{provider.name} trial balance of {company_id}: {tb.height} account(s)"
                )
                note = f"synced {', '.join(external_ids)}"
            record_sync(wh, report, note)
            counts = {
                entity: wh.count(table, company_id) for entity, table in provider.tables.items()
            }
            checks = list(landing_check_results(wh, provider, company_id))
        context.log.info(
            f"{provider.name} sync {report.sync_id} of {company_id}: {report.totals()}"
        )
        yield from landing_results(provider, report, counts, note)
        yield from checks

    return _assets


def landing_specs(provider: LandingSource) -> list[dg.AssetSpec]:
    """The asset specs of ``provider``'s landing tables (group ``raw_<provider>``)."""
    return [
        dg.AssetSpec(
            landing_key(provider, entity),
            description=table.doc,
            group_name=f"raw_{provider.name}",
            kinds={provider.name, "duckdb", "postgres"},
            deps=[CONNECTIONS_KEY],
            metadata={
                "dagster/table_name": table.qualified_name,
                "dagster/column_schema": table_schema(table),
            },
        )
        for entity, table in provider.tables.items()
    ]


def active_connections(wh: Warehouse, provider: str, company_id: str) -> list[str]:
    """External ids of the company's connections to ``provider`` that are synced: active
    ones and degraded ones (failing lately: still tried, so a success can restore them).
    When none is but one needs a person (``needs_reauth``), the run fails without retries:
    retrying would only hammer the provider. Paused, removed and pending connections are
    never synced."""
    connections = wh.read(
        CONNECTIONS,
        where="company_id = %s AND provider = %s",
        params=[company_id, provider],
    )
    active = connections.filter(pl.col("status").is_in(SYNCED_STATUSES))
    broken = connections.filter(pl.col("status") == "needs_reauth")
    if active.is_empty() and not broken.is_empty():
        row = broken.row(0, named=True)
        raise dg.Failure(
            f"{provider} connection {row['external_id']} of {company_id} is "
            f"{row['status']}: {row['status_reason'] or 'see ops.connections'}",
            allow_retries=False,
        )
    return active.get_column("external_id").to_list()


def landing_results(
    provider: LandingSource, report: SyncReport, counts: dict[str, int], note: str
) -> Iterator[dg.MaterializeResult]:
    """One materialization per landing table of ``provider``, with what the sync did."""
    for entity in provider.tables:
        parts = report.entity(entity)
        yield dg.MaterializeResult(
            asset_key=landing_key(provider, entity),
            metadata={
                "dagster/row_count": counts[entity],
                "inserted": sum(p.inserted for p in parts),
                "updated": sum(p.updated for p in parts),
                "deleted": sum(p.deleted for p in parts),
                "api_calls": sum(p.calls for p in parts),
                "rate_limited_429s": sum(p.rate_limited for p in parts),
                "cursor_before": ", ".join(str(p.cursor_before) for p in parts) or "-",
                "cursor_after": ", ".join(str(p.cursor_after) for p in parts) or "-",
                "sync_id": report.sync_id,
                "note": note,
                "sync_calls_total": report.calls,
                "token_refreshes": report.token_refreshes,
            },
        )


CHECK_NAME = "landing_expectations"


def landing_check_specs(provider: LandingSource) -> list[dg.AssetCheckSpec]:
    """Great Expectations on every landing table, evaluated inside the sync step (so they
    see exactly the partition just written): declared columns in order, non-null keys and
    payloads, unique (tenant, source id)."""
    return [
        dg.AssetCheckSpec(
            name=CHECK_NAME,
            asset=landing_key(provider, entity),
            description="declared columns in order, non-null keys, unique (tenant, source id)",
        )
        for entity in provider.tables
    ]


def landing_check_results(
    wh: Warehouse, provider: LandingSource, company_id: str
) -> Iterator[dg.AssetCheckResult]:
    """The expectations of every landing table of ``provider`` on ``company_id``'s
    partition. A partition unchanged since its last validation (same rows, newest
    extraction and payload bytes) reuses that result (``finpipe.quality.reuse``); the
    others are validated and their results stored."""
    tables = list(provider.tables.values())
    fingerprints = partition_fingerprints(wh, tables, company_id)
    stored = stored_results(wh, company_id)
    fresh: list[StoredResult] = []
    now = dt.datetime.now(dt.UTC)
    for entity, table in provider.tables.items():
        result = reusable(fingerprints, stored, table)
        reused = result is not None
        if result is None:
            frame = wh.read(table, company_id=company_id)
            outcomes = validate_frame(table, frame)
            report = pl.DataFrame(
                {
                    "expectation": [o.expectation for o in outcomes],
                    "column": [o.column for o in outcomes],
                    "success": [o.success for o in outcomes],
                    "unexpected": [o.unexpected_count for o in outcomes],
                    "examples": [str(o.examples) for o in outcomes],
                }
            )
            failed = sum(not o.success for o in outcomes)
            result = StoredResult(
                table_name=table.qualified_name,
                fingerprint=fingerprints.get(table.qualified_name, "-"),
                passed=not failed,
                rows=frame.height,
                failed_expectations=failed,
                results=markdown_preview(report, rows=50),
                validated_at=now,
            )
            if table.qualified_name in fingerprints:
                fresh.append(result)
        yield dg.AssetCheckResult(
            asset_key=landing_key(provider, entity),
            check_name=CHECK_NAME,
            passed=result.passed,
            metadata={
                "rows": result.rows,
                "failed_expectations": result.failed_expectations,
                "results": dg.MetadataValue.md(result.results),
                "validated_at": dg.MetadataValue.timestamp(result.validated_at),
                "revalidated": not reused,
            },
        )
    save_results(wh, company_id, fresh)
