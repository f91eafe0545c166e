"""A burst of 10,000 valid events over loopback HTTP loses none and stores duplicates once.

The receiver runs under uvicorn exactly as ``finpipe webhooks serve`` runs it (same server
settings, the DuckDB file held open between commits); the load generator is the webhook
benchmark's (keep-alive HTTP/1.1, 64 connections). Deliveries arrive shuffled, so
replays race their originals inside and across group commits.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX
from finpipe.webhooks import WebhookSecrets, create_app
from finpipe_tests.bench_scripts import load_bench

bench = load_bench("bench_webhooks")


@pytest.fixture
def receiver(wh: Warehouse) -> Iterator[tuple[int, Warehouse]]:
    """The receiver app under uvicorn in a thread on a free port, over ``wh`` kept open as
    ``finpipe webhooks serve`` keeps it."""
    app = create_app(wh, WebhookSecrets(xero_webhook_key=bench.XERO_KEY))
    port = bench.free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    with wh.keep_open(idle_seconds=0.25):
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.02)
        try:
            yield port, wh
        finally:
            server.should_exit = True
            thread.join(15)


@pytest.mark.slow
def test_burst_of_10000_events_loses_none_and_stores_duplicates_once(
    receiver: tuple[int, Warehouse],
) -> None:
    port, warehouse = receiver
    events = bench.xero_events(10_000, tenants=40)
    per = 4
    originals = [
        bench.signed_xero_request(events[i : i + per], i + 1) for i in range(0, len(events), per)
    ]
    rng = random.Random(7)
    # 400 byte-identical replays of deliveries, and 300 new deliveries (new body, new
    # sequences) carrying events already sent: Xero retries and re-batches both ways.
    replays = rng.sample(originals, 400)
    rebatched = [
        bench.signed_xero_request(rng.sample(events, 3), 20_000 + 3 * n) for n in range(300)
    ]
    requests = [(raw, 0) for raw in originals + replays + rebatched]
    rng.shuffle(requests)

    result = bench.blast(port, requests, 64)

    assert result.statuses == {200: len(requests)}, "every valid delivery is acknowledged"
    stored = warehouse.read(WEBHOOK_INBOX)
    assert stored.height == 10_000
    assert stored["event_id"].n_unique() == 10_000
    assert sorted(stored["entity_id"].to_list()) == sorted(e["resourceId"] for e in events)
    per_tenant = dict(stored.group_by("tenant_id").len().iter_rows())
    assert len(per_tenant) == 40 and set(per_tenant.values()) == {250}
    # Nothing about the valid burst was rejected.
    assert warehouse.query("SELECT count(*) AS n FROM ops.webhook_rejections").item() == 0
