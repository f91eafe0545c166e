"""The connector under Xero's published limits, faults and token trouble.

Limit tests use Xero's real budget (60/min, 5,000/day, 5 in flight) with a fake monotonic
clock shared by the sandbox and the client: the client "sleeps" by moving the clock, so
minutes of pacing take milliseconds and nothing is loosened for the test.
"""

from __future__ import annotations

import threading

import pytest
from xero_helpers import FakeClock, landed_summary, world_expectations

from finpipe.connectors.errors import NeedsReauth
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.xero import XeroClient, sync_xero
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS

FAST_RETRIES = RetryPolicy(base_delay=0.01, max_delay=0.05, max_attempts=12)


def _within_published_limits(counters: dict) -> None:
    assert counters["limit_rejections"] == 0
    assert counters["max_in_window"]["minute"] <= 60
    assert counters["max_in_window"]["day"] <= 5000
    assert counters["max_concurrent"] <= 5


@pytest.mark.slow
def test_pacing_keeps_inside_the_published_minute(start_sandbox, duck: Warehouse) -> None:
    clock = FakeClock()
    running = start_sandbox(published=True, clock=clock)
    tenant_id = running.sandbox.tenant_ids()[0]
    company = running.company_of(tenant_id)
    client = XeroClient(
        running.base, running.connect(duck, company), clock=clock, sleep=clock.sleep
    )
    start = clock()
    report = sync_xero(
        duck,
        client.tokens,
        company,
        [tenant_id],
        api_base=running.base,
        page_size=10,
        client=client,
    )
    counters = running.sandbox.counters_snapshot()[tenant_id]
    _within_published_limits(counters)
    assert report.calls == counters["calls"] > 120  # over two minutes of budget
    assert counters["max_in_window"]["minute"] == 60  # the budget was used, not wasted
    minutes = (clock() - start) / 60
    assert report.calls / 60 - 1 <= minutes <= report.calls / 60 + 1
    assert report.rate_limited == 0


def test_calls_made_by_someone_else_slow_the_client_down(start_sandbox, duck: Warehouse):
    """Another process used 50 of the tenant's 60 calls this minute: X-MinLimit-Remaining
    tells the client, which waits instead of running into 429s."""
    clock = FakeClock()
    running = start_sandbox(published=True, clock=clock)
    tenant_id = running.sandbox.tenant_ids()[0]
    company = running.company_of(tenant_id)
    tokens = running.connect(duck, company)
    neighbour = XeroClient(running.base, tokens, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        neighbour.get(tenant_id, "Currencies")
    client = XeroClient(running.base, tokens, clock=clock, sleep=clock.sleep)
    report = sync_xero(
        duck,
        tokens,
        company,
        [tenant_id],
        api_base=running.base,
        endpoints=["Contacts", "Invoices"],
        page_size=20,
        client=client,
    )
    assert report.calls > 10
    assert report.rate_limited == 0
    _within_published_limits(running.sandbox.counters_snapshot()[tenant_id])
    assert client.http(tenant_id).limiter.others_seen >= 50


def test_sync_completes_under_errors_and_a_429_storm(start_sandbox, duck: Warehouse, xero_world):
    clock = FakeClock()
    running = start_sandbox(published=True, clock=clock)
    running.sandbox.faults.configure(error_rate=0.2, storm_429=4, storm_retry_after=2, seed=7)
    tenant_id = running.sandbox.tenant_ids()[0]
    company = running.company_of(tenant_id)
    tokens = running.connect(duck, company)
    client = XeroClient(running.base, tokens, clock=clock, sleep=clock.sleep, policy=FAST_RETRIES)
    report = sync_xero(
        duck, tokens, company, [tenant_id], api_base=running.base, page_size=50, client=client
    )
    assert landed_summary(duck, company) == world_expectations(xero_world, company)
    counters = running.sandbox.counters_snapshot()[tenant_id]
    _within_published_limits(counters)
    assert counters["fault_5xx"] > 0 and counters["fault_429s"] == 4
    assert report.rate_limited == 4 and report.retries >= counters["fault_5xx"] + 4


def test_concurrent_callers_stay_within_five_in_flight(start_sandbox, duck: Warehouse) -> None:
    running = start_sandbox(published=True)
    running.sandbox.processing_seconds = 0.05
    tenant_id = running.sandbox.tenant_ids()[0]
    tokens = running.connect(duck, running.company_of(tenant_id))
    client = XeroClient(running.base, tokens)
    tokens.access_token()  # load once, before the threads share the manager
    statuses: list[int] = []

    def call() -> None:
        for _ in range(2):
            statuses.append(client.get(tenant_id, "Currencies").status_code)

    threads = [threading.Thread(target=call) for _ in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 18
    counters = running.sandbox.counters_snapshot()[tenant_id]
    _within_published_limits(counters)
    assert counters["max_concurrent"] == 5  # the cap was reached, and held


def test_access_token_expiring_mid_sync_is_refreshed_once(xero, duck: Warehouse, xero_world):
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    tokens = xero.connect(duck, company)
    xero.sandbox.mutate_while_paging(tenant_id, "Invoices", xero.sandbox.oauth.expire_access_tokens)
    report = sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    assert report.token_refreshes == 1 and tokens.refreshes == 1
    assert xero.sandbox.oauth.refresh_calls == 1
    assert landed_summary(duck, company) == world_expectations(xero_world, company)


def test_revoked_grant_needs_reauth(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    tokens = xero.connect(duck, company)

    def disconnect() -> None:
        xero.sandbox.oauth.revoke(company)

    xero.sandbox.mutate_while_paging(tenant_id, "Invoices", disconnect)
    with pytest.raises(NeedsReauth, match="invalid_grant"):
        sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    connection = duck.read(CONNECTIONS).row(0, named=True)
    assert (connection["external_id"], connection["status"]) == (tenant_id, "needs_reauth")
    assert "invalid_grant" in connection["status_reason"]
    assert xero.sandbox.oauth.refresh_calls == 1  # tried once, not in a loop
    # What was committed before the grant went away stays.
    assert landed_summary(duck, company)["Invoices"][0] > 0


def test_spent_daily_budget_stops_the_sync_resumably(start_sandbox, duck: Warehouse) -> None:
    """A 429 for the *day* is not waited out (Retry-After can be hours): the sync stops with
    DailyLimitReached and what it committed stays, ready for the next run."""
    from finpipe.connectors.xero import DailyLimitReached
    from finpipe.sandbox.provider import Limit

    running = start_sandbox(published=True)
    running.sandbox.limits = (Limit("minute", 60, 60.0), Limit("day", 3, 86_400.0))
    tenant_id = running.sandbox.tenant_ids()[0]
    company = running.company_of(tenant_id)
    tokens = running.connect(duck, company)
    with pytest.raises(DailyLimitReached, match="retry after"):
        sync_xero(duck, tokens, company, [tenant_id], api_base=running.base)
    assert running.sandbox.counters_snapshot()[tenant_id]["limit_rejections"] == 1
    assert landed_summary(duck, company)["Items"][0] > 0  # the first three endpoints landed
