"""Schedules that keep every company current without a person: a nightly incremental run
(catches whatever a missed webhook did not report) and a weekly full refresh (every
accounting entity read again, not since the cursor), one run per company partition.

Times are UTC. Both start STOPPED: an operator turns them on in the UI (Automation) once the
connections are authorised; the demo runs the jobs directly."""

from datetime import datetime

import dagster as dg

from finpipe.defs.jobs import main_job
from finpipe.defs.landing import FULL_REFRESH_TAG
from finpipe.defs.partitions import company_partitions


def company_run_requests(
    companies: list[str], scheduled: datetime, kind: str, tags: dict[str, str]
) -> dg.SkipReason | list[dg.RunRequest]:
    """One run request per company partition for the run scheduled at ``scheduled``."""
    if not companies:
        return dg.SkipReason("no company partitions yet: run register_companies first")
    stamp = scheduled.strftime("%Y-%m-%dT%H:%M")
    return [
        dg.RunRequest(
            # one run per company and scheduled time: a re-evaluation starts nothing twice
            run_key=f"{kind}:{company}:{stamp}",
            partition_key=company,
            tags={"finpipe/trigger": kind, **tags},
        )
        for company in sorted(companies)
    ]


def _per_company(
    context: dg.ScheduleEvaluationContext, kind: str, tags: dict[str, str]
) -> dg.SkipReason | list[dg.RunRequest]:
    companies = context.instance.get_dynamic_partitions(company_partitions.name)
    return company_run_requests(list(companies), context.scheduled_execution_time, kind, tags)


@dg.schedule(
    name="nightly_incremental_sync",
    job=main_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every night at 02:00 UTC: finpipe_main for every company (incremental syncs "
    "of every active connection, then books, reconciliation and checks). Catches changes a "
    "missed webhook did not report.",
)
def nightly_incremental_sync(context: dg.ScheduleEvaluationContext):
    return _per_company(context, "nightly", {})


@dg.schedule(
    name="weekly_full_refresh",
    job=main_job,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays at 03:00 UTC: finpipe_main for every company with the accounting "
    "cursors reset, so every QuickBooks and Xero entity is read again (landing upserts by "
    "key: nothing is duplicated). Bank APIs stay incremental: they allow a few pulls a day.",
)
def weekly_full_refresh(context: dg.ScheduleEvaluationContext):
    return _per_company(context, "weekly_full_refresh", {FULL_REFRESH_TAG: "true"})
