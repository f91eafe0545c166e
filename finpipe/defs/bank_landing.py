"""Builds the raw landing assets of a bank provider (Open Banking, Berlin Group, the
aggregator): one multi-asset per provider, partitioned by company, in the provider's
concurrency pool, with the same metadata and Great Expectations checks as the accounting
providers' landing assets (:mod:`finpipe.defs.landing`).

Unlike an accounting file, a bank consent lapses as a matter of routine (Open Banking every
90 days): a connection that needs a person is reported by the ``connections_active`` check
(ERROR, not blocking) instead of failing the run, so the company's other bank sources and
its canonical bank tables keep being rebuilt meanwhile.
"""

import datetime as dt

import dagster as dg
import polars as pl

from finpipe.config import load_settings
from finpipe.connections.sync_log import SYNCED_STATUSES, record_failure
from finpipe.connectors.banks import BankProvider
from finpipe.connectors.errors import NeedsReauth
from finpipe.connectors.report import SyncReport
from finpipe.defs.compliance.audit import record_sync
from finpipe.defs.connections.resources import ConnectionHealthResource
from finpipe.defs.landing import (
    LANDING_RETRY_POLICY,
    landing_check_results,
    landing_check_specs,
    landing_key,
    landing_results,
    landing_specs,
    record_synced,
    run_info,
    transient_errors_only,
)
from finpipe.defs.metadata import markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.ops import CONNECTIONS

CONNECTIONS_CHECK = "connections_active"
NEEDS_A_PERSON = ("needs_reauth", "degraded")


def build_bank_landing_assets(provider: BankProvider) -> dg.AssetsDefinition:
    """The provider's raw landing tables as one partitioned multi-asset."""
    accounts_key = landing_key(provider, "accounts")

    @dg.multi_asset(
        name=f"{provider.name}_raw",
        specs=landing_specs(provider),
        check_specs=[
            *landing_check_specs(provider),
            dg.AssetCheckSpec(
                CONNECTIONS_CHECK,
                asset=accounts_key,
                description=f"Every {provider.name} connection of the company is usable; a "
                "lapsed or revoked consent needs `finpipe connect` by a person.",
            ),
        ],
        partitions_def=company_partitions,
        can_subset=False,
        pool=provider.name,
        retry_policy=LANDING_RETRY_POLICY,
        description=(
            f"Incremental sync of every {provider.name} account of one company: accounts, "
            "balances and transactions (pending lines as a snapshot, booked lines by date)."
        ),
    )
    def _assets(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        connection_health: ConnectionHealthResource,
    ):
        company_id = context.partition_key
        started_at = dt.datetime.now(dt.UTC)
        settings = load_settings()
        with warehouse.open() as wh:
            connections = wh.read(
                CONNECTIONS,
                where="company_id = %s AND provider = %s",
                params=[company_id, provider.name],
            )
            # Degraded connections are still tried: a success puts them back to active.
            external_ids = connections.filter(pl.col("status").is_in(SYNCED_STATUSES))[
                "external_id"
            ].to_list()
            report = SyncReport(provider.name, company_id, sync_id="-")
            note = f"no active {provider.name} connection"
            if external_ids:
                with transient_errors_only(provider.name, company_id):
                    try:
                        report = provider.sync(
                            provider.context(wh, settings, company_id), external_ids
                        )
                    except NeedsReauth as exc:
                        # The connector marked the connection; the check below reports it,
                        # the sync log keeps the failed attempt (the run itself succeeds).
                        context.log.error(str(exc))
                        note = f"not synced: {exc}"
                        run = run_info(context, started_at)
                        record_failure(
                            wh,
                            company_id,
                            provider.name,
                            run,
                            "NeedsReauth",
                            str(exc),
                            degrade_after=connection_health.degrade_after,
                        )
                    else:
                        record_synced(context, wh, report, external_ids, started_at)
                        note = f"synced {', '.join(external_ids)}"
                if report.stopped:
                    # Not a failure: the bank's access budget is spent until resume_at.
                    context.log.warning(report.stopped)
                    note += f"; stopped early: {report.stopped}"
            record_sync(wh, report, note)
            counts = {
                entity: wh.count(table, company_id) for entity, table in provider.tables.items()
            }
            checks = list(landing_check_results(wh, provider, company_id))
            connections = wh.read(
                CONNECTIONS,
                where="company_id = %s AND provider = %s",
                params=[company_id, provider.name],
            )
        context.log.info(
            f"{provider.name} sync {report.sync_id} of {company_id}: {report.totals()}"
        )
        yield from landing_results(provider, report, counts, note)
        yield from checks
        broken = connections.filter(pl.col("status").is_in(NEEDS_A_PERSON))
        yield dg.AssetCheckResult(
            asset_key=accounts_key,
            check_name=CONNECTIONS_CHECK,
            passed=broken.is_empty(),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "connections": connections.height,
                "needing_a_person": broken.height,
                "detail": dg.MetadataValue.md(
                    markdown_preview(
                        connections, columns=["external_id", "status", "status_reason"]
                    )
                ),
            },
        )

    return _assets
