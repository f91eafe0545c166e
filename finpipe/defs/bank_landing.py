"""Builds the raw landing assets of a bank provider (Open Banking, Berlin Group, the
aggregator): one multi-asset per provider, partitioned by company, in the provider's
concurrency pool, with the same metadata and Great Expectations checks as the accounting
providers' landing assets (:mod:`finpipe.defs.landing`)."""

import dagster as dg

from finpipe.config import load_settings
from finpipe.connectors.banks import BankProvider
from finpipe.connectors.errors import NeedsReauth
from finpipe.connectors.report import SyncReport
from finpipe.defs.landing import (
    active_connections,
    landing_check_results,
    landing_check_specs,
    landing_results,
    landing_specs,
)
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource


def build_bank_landing_assets(provider: BankProvider) -> dg.AssetsDefinition:
    """The provider's raw landing tables as one partitioned multi-asset."""

    @dg.multi_asset(
        name=f"{provider.name}_raw",
        specs=landing_specs(provider),
        check_specs=landing_check_specs(provider),
        partitions_def=company_partitions,
        can_subset=False,
        pool=provider.name,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        description=(
            f"Incremental sync of every {provider.name} account of one company: accounts, "
            "balances and transactions (pending lines as a snapshot, booked lines by date)."
        ),
    )
    def _assets(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        company_id = context.partition_key
        settings = load_settings()
        with warehouse.open() as wh:
            external_ids = active_connections(wh, provider.name, company_id)
            if not external_ids:
                # Banks are per company: most companies have no account at this provider.
                report = SyncReport(provider.name, company_id, sync_id="-")
                note = f"no active {provider.name} connection"
            else:
                try:
                    report = provider.sync(provider.context(wh, settings, company_id), external_ids)
                except NeedsReauth as exc:
                    # A consent to renew is a person's job; retries cannot fix it.
                    raise dg.Failure(str(exc), allow_retries=False) from exc
                note = f"synced {', '.join(external_ids)}"
                if report.stopped:
                    # Not a failure: the bank's access budget is spent until resume_at.
                    context.log.warning(report.stopped)
                    note += f"; stopped early: {report.stopped}"
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
