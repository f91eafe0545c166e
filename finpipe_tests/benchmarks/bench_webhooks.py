"""Webhook benchmark: the receiver's verified events per second on loopback, against a bare
ASGI endpoint served the same way in the same run, and (``--latency``) the end-to-end
latency from a change in the sandbox to the updated row in the reconciled ledger.

Throughput: ``finpipe webhooks serve`` (the real command, in its own process, over a fresh
DuckDB file and, when ``FINPIPE_TEST_POSTGRES_URL`` is set, a fresh PostgreSQL database)
and ``finpipe.webhooks.server.bare_app`` (reads the body, answers 200; same uvicorn
settings) each receive the same pre-signed Xero deliveries from a keep-alive HTTP/1.1
load generator in this process (``--concurrency`` connections). Every delivery is checked
(200) and, for the receiver, the inbox must then hold exactly the events sent. Printed:
events/s and requests/s for each, the ratio receiver/bare, the goal (>= 1,000 verified
events/s). Deliveries carry ``--events-per-delivery`` events (Xero batches several
events per delivery; 1 is the worst case and the default).

    .venv/bin/python finpipe_tests/benchmarks/bench_webhooks.py [--deliveries N]
        [--events-per-delivery K] [--concurrency C] [--skip-throughput] [--latency]
        [--changes N]

Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

THROUGHPUT_GOAL = 1_000.0  # verified events per second
LATENCY_P95_GOAL = 30.0  # seconds
XERO_KEY = "bench-xero-webhook-key"
QBO_TOKEN = "bench-qbo-verifier-token"
ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@contextmanager
def server(argv: Sequence[str], port: int, env: dict[str, str]) -> Iterator[None]:
    proc = subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for_port(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- deliveries and the load generator ---------------------------------------------------


def signed_xero_request(events: list[dict], first_sequence: int) -> bytes:
    """One Xero delivery of ``events`` (fresh entropy), signed, as a raw HTTP/1.1 request."""
    from finpipe.sandbox.webhooks import xero_body
    from finpipe.webhooks import hmac_base64

    body = xero_body(events, first_sequence, first_sequence + len(events) - 1)
    head = (
        "POST /webhooks/xero HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        "content-type: application/json\r\n"
        f"x-xero-signature: {hmac_base64(XERO_KEY, body)}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def xero_events(count: int, tenants: int = 50) -> list[dict]:
    """``count`` distinct Xero invoice events spread over ``tenants`` organisations."""
    from finpipe.sandbox.webhooks import xero_event

    now = dt.datetime.now(dt.UTC)
    return [
        xero_event(
            str(uuid.UUID(int=i % tenants + 1)), "Invoices", str(uuid.uuid4()), i % 2 == 0, now
        )
        for i in range(count)
    ]


def xero_deliveries(count: int, per_delivery: int, tenants: int = 50) -> list[tuple[bytes, int]]:
    """``count`` signed Xero deliveries of ``per_delivery`` distinct events each, as raw
    HTTP/1.1 requests, with the number of events each carries."""
    events = xero_events(count * per_delivery, tenants)
    return [
        (signed_xero_request(events[i : i + per_delivery], i + 1), per_delivery)
        for i in range(0, len(events), per_delivery)
    ]


@dataclass
class Blast:
    seconds: float
    requests: int
    events: int
    statuses: dict[int, int]

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


async def _blast(port: int, requests: Sequence[tuple[bytes, int]], concurrency: int) -> Blast:
    statuses: dict[int, int] = {}
    events_ok = 0
    position = 0

    async def worker() -> None:
        nonlocal position, events_ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while position < len(requests):
                raw, events = requests[position]
                position += 1
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    events_ok += events
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Blast(time.perf_counter() - started, len(requests), events_ok, statuses)


def blast(port: int, requests: Sequence[tuple[bytes, int]], concurrency: int) -> Blast:
    """Send every request over ``concurrency`` keep-alive connections; time the whole."""
    return asyncio.run(_blast(port, requests, concurrency))


# --- throughput ---------------------------------------------------------------------------


def _postgres_database(admin_url: str) -> str:
    import psycopg

    name = f"finpipe_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rpartition('/')[0]}/{name}"


def _drop_postgres_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _inbox_count(url: str) -> int:
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX

    with Warehouse.open(url, create=False) as wh:
        return wh.count(WEBHOOK_INBOX)


def measure_throughput(args: argparse.Namespace) -> bool:
    requests = xero_deliveries(args.deliveries, args.events_per_delivery)
    warm = xero_deliveries(min(200, args.deliveries), args.events_per_delivery)
    sent_events = sum(n for _, n in requests) + sum(n for _, n in warm)
    env = dict(os.environ)
    targets: list[tuple[str, str | None]] = [("bare ASGI", None)]
    tmp = Path(tempfile.mkdtemp(prefix="finpipe-bench-webhooks-"))
    targets.append(("receiver, DuckDB", f"duckdb:///{tmp / 'warehouse.duckdb'}"))
    admin = os.environ.get("FINPIPE_TEST_POSTGRES_URL")
    pg_url = _postgres_database(admin) if admin else None
    if pg_url:
        targets.append(("receiver, PostgreSQL", pg_url))
    else:
        print("(PostgreSQL skipped: set FINPIPE_TEST_POSTGRES_URL to include it)")
    print(
        f"{args.deliveries} Xero deliveries x {args.events_per_delivery} event(s), "
        f"{args.concurrency} keep-alive connections, after {len(warm)} warm-up deliveries"
    )
    results: dict[str, Blast] = {}
    ok = True
    try:
        for label, url in targets:
            port = free_port()
            if url is None:
                argv = [
                    sys.executable,
                    "-c",
                    "from finpipe.webhooks.server import bare_app, run; "
                    f"run(bare_app, '127.0.0.1', {port})",
                ]
                run_env = env
            else:
                argv = [str(VENV_BIN / "finpipe"), "webhooks", "serve", "--port", str(port)]
                run_env = {
                    **env,
                    "FINPIPE_HOME": str(tmp / "home"),
                    "FINPIPE_WAREHOUSE_URL": url,
                    "FINPIPE_XERO_WEBHOOK_KEY": XERO_KEY,
                    "FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER": QBO_TOKEN,
                }
            with server(argv, port, run_env):
                blast(port, warm, args.concurrency)
                result = blast(port, requests, args.concurrency)
            results[label] = result
            line = (
                f"  {label:<22} {result.events_per_second:>9,.0f} events/s "
                f"{result.requests_per_second:>9,.0f} requests/s  ({result.seconds:.2f} s, "
                f"statuses {dict(sorted(result.statuses.items()))})"
            )
            print(line, flush=True)
            if result.statuses != {200: len(requests)}:
                print(f"    FAIL: not every delivery was answered 200 by {label}")
                ok = False
            if url is not None:
                stored = _inbox_count(url)
                exact = stored == sent_events
                print(
                    f"    inbox holds {stored:,} events of {sent_events:,} sent: "
                    f"{'exact' if exact else 'MISMATCH'}"
                )
                ok &= exact
    finally:
        if pg_url and admin:
            _drop_postgres_database(admin, pg_url)
    bare = results["bare ASGI"]
    for label, result in results.items():
        if label == "bare ASGI":
            continue
        ratio = result.events_per_second / bare.events_per_second
        passed = result.events_per_second >= THROUGHPUT_GOAL
        ok &= passed
        print(
            f"  {label}: {ratio:.2f}x the bare endpoint; goal >= {THROUGHPUT_GOAL:,.0f} verified "
            f"events/s: {'PASS' if passed else 'FAIL'}"
        )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5_000)
    parser.add_argument("--events-per-delivery", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    ok = True
    if not args.skip_throughput:
        print("== receiver throughput")
        ok &= measure_throughput(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
