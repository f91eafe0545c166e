"""Xero rate-budget benchmark: how much of Xero's 60 calls/minute a backlogged sync uses.

A sandbox world is generated, the Xero tenant with the most records is connected through the
real OAuth flow, and its whole backlog is synced against the sandbox running Xero's
published limits (60/min, 5,000/day, 5 in flight) in real time. The page size is chosen so
the sync needs about ``--calls`` calls (the default, 150, takes about 2.5 minutes).

Measured from the sandbox's own log of admitted calls, starting at the first call:

* calls in each complete minute as a fraction of the 60/min budget; their mean is the
  figure (goal >= 0.9);
* the most calls the sandbox saw in any sliding 60-second window (must stay <= 60) and its
  count of calls rejected for exceeding a limit (must be 0).

Exits non-zero if any of the three misses.

    .venv/bin/python finpipe_tests/benchmarks/bench_xero.py [--calls N] [--companies N] [--months N]
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

from finpipe.config import generate_secret_key
from finpipe.connectors.oauth import TokenManager, TokenStore, exchange_code
from finpipe.connectors.xero import XeroClient, sync_xero, xero_oauth_app
from finpipe.connectors.xero.endpoints import ENDPOINTS, JOURNALS_PER_CALL
from finpipe.sandbox.server import Sandbox, SandboxCredentials, SandboxServer
from finpipe.sandbox.world import WorldSpec, generate_world, load_world
from finpipe.sandbox.xero.app import build
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse

GOAL = 0.9
BUDGET = 60


def estimate_calls(counts: dict[str, int], page_size: int) -> int:
    """Calls a first sync needs at ``page_size`` (paged endpoints: one more when a result
    set fills its last page; keyset overlap is ignored)."""
    calls = 0
    for endpoint, spec in ENDPOINTS.items():
        n = counts[endpoint]
        if spec.journal:
            calls += n // JOURNALS_PER_CALL + 1
        elif spec.paged:
            calls += n // page_size + 1
        else:
            calls += 1
    return calls


def page_size_for(counts: dict[str, int], calls: int) -> int:
    for size in range(1, 1001):
        if estimate_calls(counts, size) <= calls:
            return size
    return 1000


def minute_fractions(stamps: list[float]) -> list[float]:
    """Calls in each complete minute from the first call, over the budget."""
    if not stamps:
        return []
    start, end = stamps[0], stamps[-1]
    minutes = math.floor((end - start) / 60.0)
    buckets = [0] * minutes
    for stamp in stamps:
        index = int((stamp - start) // 60.0)
        if index < minutes:
            buckets[index] += 1
    return [count / BUDGET for count in buckets]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=150, help="calls the sync should need")
    parser.add_argument("--companies", type=int, default=4)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.calls < 2 * BUDGET + 1:
        parser.error(f"--calls must exceed {2 * BUDGET} to fill at least two minutes")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate_world(
            WorldSpec(companies=args.companies, months=args.months, seed=args.seed),
            folder / "world",
        )
        world = load_world(folder / "world")
        creds = SandboxCredentials()
        sandbox = build(world, creds)  # Xero's published limits, real time
        if not sandbox.tenant_ids():
            print("the world has no Xero tenant; try another --seed or more --companies")
            return 1
        counts = {
            t: {e: sandbox.store(t).count(e) for e in ENDPOINTS} for t in sandbox.tenant_ids()
        }
        tenant_id = max(counts, key=lambda t: sum(counts[t].values()))
        company = str(sandbox.companies[tenant_id]["company_id"])
        page_size = page_size_for(counts[tenant_id], args.calls)
        expected = estimate_calls(counts[tenant_id], page_size)
        print(
            f"tenant {tenant_id}: {sum(counts[tenant_id].values())} records; pageSize "
            f"{page_size} -> about {expected} calls (~{expected / BUDGET:.1f} min at 60/min)",
            flush=True,
        )

        server = SandboxServer(Sandbox(world=world, providers={"xero": sandbox}, credentials=creds))
        with server, Warehouse.open(f"duckdb:///{folder / 'warehouse.duckdb'}") as warehouse:
            base = server.url("xero")
            app = xero_oauth_app(
                base, creds.client_id, creds.client_secret, "http://127.0.0.1:9/cb"
            )
            url = app.authorization_url("bench") + f"&sandbox_company={company}"
            redirect = requests.get(url, allow_redirects=False, timeout=30).headers["location"]
            now = dt.datetime.now(dt.UTC)
            store = TokenStore(warehouse, SecretBox([generate_secret_key()]))
            store.save(company, "xero", exchange_code(app, redirect, now), now)
            tokens = TokenManager(app, store, company)
            client = XeroClient(base, tokens)
            started = time.monotonic()
            report = sync_xero(
                warehouse,
                tokens,
                company,
                [tenant_id],
                api_base=base,
                page_size=page_size,
                client=client,
            )
            elapsed = time.monotonic() - started

    counters = sandbox.counters_snapshot()[tenant_id]
    stamps = sorted(sandbox.call_times[tenant_id])
    fractions = minute_fractions(stamps)
    figure = sum(fractions) / len(fractions) if fractions else 0.0
    peak = counters["max_in_window"].get("minute", 0)
    rejected = counters["limit_rejections"]
    print(
        f"sync: {report.calls} calls, {report.totals()['inserted']} rows in {elapsed:.1f}s; "
        f"429s seen {report.rate_limited}"
    )
    print("calls per complete minute / 60: " + ", ".join(f"{f:.2f}" for f in fractions))
    print(f"budget used: {figure:.3f} of 60/min (goal >= {GOAL})")
    print(
        f"sandbox max calls in any 60 s window: {peak} (limit {BUDGET}); "
        f"max in flight {counters['max_concurrent']} (limit 5); "
        f"rejected for limits: {rejected}"
    )
    ok = bool(fractions) and figure >= GOAL and peak <= BUDGET and rejected == 0
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
