"""The nightly and weekly schedules: one run per company partition, safe to re-evaluate;
the weekly one resets the accounting cursors."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from finpipe.connectors.landing import reset_cursors
from finpipe.defs.landing import FULL_REFRESH_TAG
from finpipe.defs.schedules import (
    company_run_requests,
    nightly_incremental_sync,
    weekly_full_refresh,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import SYNC_CURSORS

WHEN = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)


def test_schedules_skip_without_companies() -> None:
    result = company_run_requests([], WHEN, "nightly", {})
    assert isinstance(result, dg.SkipReason)
    assert "register_companies" in (result.skip_message or "")


def test_one_run_per_company_with_stable_keys_and_the_full_refresh_tag() -> None:
    nightly = company_run_requests(["cmp_b", "cmp_a"], WHEN, "nightly", {})
    weekly = company_run_requests(
        ["cmp_b", "cmp_a"], WHEN, "weekly_full_refresh", {FULL_REFRESH_TAG: "true"}
    )
    assert isinstance(nightly, list) and isinstance(weekly, list)
    assert [r.partition_key for r in nightly] == ["cmp_a", "cmp_b"]
    assert [r.run_key for r in nightly] == [
        "nightly:cmp_a:2026-11-29T03:00",
        "nightly:cmp_b:2026-11-29T03:00",
    ]
    assert FULL_REFRESH_TAG not in nightly[0].tags
    assert all(r.tags[FULL_REFRESH_TAG] == "true" for r in weekly)
    again = company_run_requests(["cmp_a", "cmp_b"], WHEN, "weekly_full_refresh", {})
    assert [r.run_key for r in weekly] == [r.run_key for r in again]
    assert weekly[0].run_key != nightly[0].run_key


def test_schedules_target_the_main_job_and_start_stopped() -> None:
    for schedule, cron in (
        (nightly_incremental_sync, "0 2 * * *"),
        (weekly_full_refresh, "0 3 * * 0"),
    ):
        assert schedule.job_name == "finpipe_main"
        assert schedule.cron_schedule == cron
        assert schedule.execution_timezone == "UTC"
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert schedule.description


def test_reset_cursors_drops_one_provider_of_one_company(warehouse: Warehouse) -> None:
    now = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    rows = pl.DataFrame(
        {
            "company_id": ["cmp_a", "cmp_a", "cmp_a", "cmp_b"],
            "provider": ["quickbooks", "quickbooks", "xero", "quickbooks"],
            "tenant_id": ["r1", "r1", "t1", "r2"],
            "entity": ["Invoice", "Bill", "Invoices", "Invoice"],
            "cursor": ["c1", "c2", "c3", "c4"],
            "updated_at": [now] * 4,
        }
    )
    warehouse.upsert(SYNC_CURSORS, rows)
    assert reset_cursors(warehouse, "cmp_a", "quickbooks") == 2
    left = warehouse.read(SYNC_CURSORS).sort("cursor")
    assert left["cursor"].to_list() == ["c3", "c4"]
    assert reset_cursors(warehouse, "cmp_a", "quickbooks") == 0
