"""QuickBooks sync throughput benchmark: how much of QBO's 500 requests/minute budget a
backlogged company's first sync uses.

A world is generated, the QBO sandbox serves it over HTTP, and the company with the most
QuickBooks records is synced into a DuckDB warehouse with a page size small enough that the
sync needs more than two minutes of budget (``--target-calls`` calls, > 1000). Reported:

* calls per minute achieved during the sync, as a fraction of 500/min (goal >= 0.9): the
  mean number of calls in every 60-second window that lies inside the sync (a plain
  calls / elapsed average can read above 1 without any minute exceeding the budget, because
  the first minute starts full);
* the busiest 60-second window, counted by the client and by the sandbox
  (``max_in_window``), as a fraction of 500 (must never exceed 1), and the sandbox's limit
  rejections (must be 0).

Exits non-zero when a goal is missed. Takes about three minutes.

    .venv/bin/python finpipe_tests/benchmarks/bench_quickbooks.py [--target-calls 1250]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from finpipe.connectors.oauth import TokenManager, TokenStore, exchange_code
from finpipe.connectors.quickbooks import (
    QuickBooksClient,
    quickbooks_oauth_app,
    sync_quickbooks,
)
from finpipe.sandbox.quickbooks.app import QuickBooksSandbox
from finpipe.sandbox.server import SandboxServer, build_sandbox
from finpipe.sandbox.world import WorldSpec, generate_world
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse

BUDGET_PER_MINUTE = 500
GOAL = 0.9
WINDOW = 60.0


class RecordingSession(requests.Session):
    """Notes when each API call was sent (the token endpoint is not an API call)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.sent.append(time.monotonic())
        return super().request(method, url, *args, **kwargs)


def minute_windows(stamps: list[float], step: float = 1.0) -> tuple[float, int]:
    """(mean, max) number of calls over every 60 s window inside [first call, last call]."""
    if not stamps or stamps[-1] - stamps[0] < WINDOW:
        return float(len(stamps)), len(stamps)
    counts = []
    start, lo, hi = stamps[0], 0, 0
    while start + WINDOW <= stamps[-1]:
        while lo < len(stamps) and stamps[lo] < start:
            lo += 1
        while hi < len(stamps) and stamps[hi] < start + WINDOW:
            hi += 1
        counts.append(hi - lo)
        start += step
    return sum(counts) / len(counts), max(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=3)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--target-calls",
        type=int,
        default=1250,
        help="API calls the sync should need (> 1000: more than two minutes of budget)",
    )
    parser.add_argument("--page-size", type=int, default=None, help="override the page size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_qbo_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate_world(WorldSpec(args.companies, args.months, args.seed), root / "world")
        sandbox = build_sandbox(root / "world", providers=("quickbooks",))
        qbo = sandbox.provider("quickbooks")
        assert isinstance(qbo, QuickBooksSandbox)
        sizes = {
            company: sum(len(t.rows) for t in qbo.store(realm).tables.values())
            for company, realm in qbo.realm_by_company.items()
        }
        if not sizes:
            print("the world has no QuickBooks company; try another --seed")
            return 1
        company = max(sizes, key=lambda c: sizes[c])
        realm = qbo.realm_of(company)
        tables = qbo.store(realm).tables
        # keyset paging re-reads the last instant of a full page: ~page-1 new records a call
        page = args.page_size or max(2, sizes[company] // args.target_calls + 1)
        expected_calls = sum(math.ceil(len(t.rows) / (page - 1)) + 1 for t in tables.values())
        print(
            f"world: {args.companies} companies x {args.months} months in "
            f"{time.perf_counter() - t0:.1f}s; company {company} (realm {realm}) has "
            f"{sizes[company]} QuickBooks records; page size {page} -> ~{expected_calls} calls "
            f"(~{expected_calls / BUDGET_PER_MINUTE:.1f} min of budget)",
            flush=True,
        )
        with SandboxServer(sandbox) as server:
            base = server.url("quickbooks")
            app = quickbooks_oauth_app(
                base,
                sandbox.credentials.client_id,
                sandbox.credentials.client_secret,
                "http://127.0.0.1:9/callback",
            )
            url = app.authorization_url("bench") + f"&sandbox_company={company}"
            location = requests.get(url, allow_redirects=False, timeout=10).headers["location"]
            with Warehouse.open(f"duckdb:///{root / 'bench.duckdb'}") as warehouse:
                store = TokenStore(warehouse, SecretBox([Fernet.generate_key()]))
                now = dt.datetime.now(dt.UTC)
                store.save(company, "quickbooks", exchange_code(app, location, now=now), now)
                tokens = TokenManager(app, store, company)
                session = RecordingSession()
                client = QuickBooksClient.connect(tokens, realm, api_base=base, session=session)
                started = time.perf_counter()
                report = sync_quickbooks(
                    warehouse, tokens, company, realm, api_base=base, page_size=page, client=client
                )
                elapsed = time.perf_counter() - started
        counters = qbo.counters_snapshot()[realm]

    calls = int(counters["calls"])  # type: ignore[arg-type]
    per_minute, client_busiest = minute_windows(session.sent)
    fraction = per_minute / BUDGET_PER_MINUTE
    busiest = max(int(counters["max_in_window"]["minute"]), client_busiest)  # type: ignore[index]
    peak = busiest / BUDGET_PER_MINUTE
    rejections = int(counters["limit_rejections"])  # type: ignore[arg-type]
    print(
        f"sync: {report.totals()['inserted']} records, {calls} calls in {elapsed:.1f}s "
        f"(plain average {calls / elapsed * 60:.1f}/min)"
    )
    print(
        f"calls per minute achieved (mean of every 60 s window): {per_minute:.1f} = "
        f"{fraction:.3f} of the 500/min budget (goal >= {GOAL}, never above 1)"
    )
    print(
        f"busiest 60 s window: client {client_busiest}, sandbox max_in_window "
        f"{counters['max_in_window']['minute']} = {peak:.3f} of budget "
        f"(must be <= 1); per-second peak {counters['max_in_window'].get('second')}; "  # type: ignore[union-attr]
        f"limit rejections {rejections}"
    )
    failures = []
    if calls <= 1000:
        failures.append(f"only {calls} calls: the sync did not need two minutes of budget")
    if fraction < GOAL:
        failures.append(f"used {fraction:.3f} of the budget, below the goal {GOAL}")
    if peak > 1 or fraction > 1 or rejections:
        failures.append("went over the published limit")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
