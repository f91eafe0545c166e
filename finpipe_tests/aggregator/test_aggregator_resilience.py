"""The aggregator connector under trouble: data changing while it pages, a run killed
half way, 429 storms and 5xx answers. Each ends with the same rows as a clean run."""

from __future__ import annotations

import polars as pl
import pytest
from aggregator_helpers import Running, live_booked, raw, sync

from finpipe.connectors.aggregator import SyncKilled
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse


def test_mutation_during_pagination_restarts_and_matches_a_clean_run(
    agg: Running, duck: Warehouse, other_duck: Warehouse, box: SecretBox
) -> None:
    item_id = agg.link(duck, box)
    agg.sandbox.mutate_during_pagination(item_id, after_pages=1)
    report = sync(agg, duck, box, item_id, count=500)
    [transactions] = report.entity("transactions")

    clean_item = agg.link(other_duck, box)
    clean = sync(agg, other_duck, box, clean_item, count=500)
    # One page, the error, then every page again from the cursor the pagination began with.
    [clean_transactions] = clean.entity("transactions")
    assert transactions.pages == clean_transactions.pages + 1
    assert raw(duck, agg.company_id).equals(raw(other_duck, agg.company_id))
    corrected = raw(duck, agg.company_id).filter(pl.col("payload").str.contains("(CORRECTED)"))
    assert corrected.height == 1


def test_a_killed_sync_resumes_from_its_committed_page(
    agg: Running, duck: Warehouse, other_duck: Warehouse, box: SecretBox
) -> None:
    item_id = agg.link(duck, box)
    with pytest.raises(SyncKilled):
        sync(agg, duck, box, item_id, count=500, kill_after_pages=1)
    resumed = sync(agg, duck, box, item_id, count=500)
    # It went on from the committed page: only the rest was read.
    assert [e.pages for e in resumed.entity("transactions")] == [1]
    clean_item = agg.link(other_duck, box)
    sync(agg, other_duck, box, clean_item)
    assert raw(duck, agg.company_id).equals(raw(other_duck, agg.company_id))


def test_429_storms_and_5xx_are_survived(agg: Running, duck: Warehouse, box: SecretBox) -> None:
    item_id = agg.link(duck, box)
    agg.sandbox.faults.configure(storm_429=3, error_rate=0.2, seed=7)
    report = sync(agg, duck, box, item_id, count=200)
    agg.sandbox.faults.configure(storm_429=0, error_rate=0.0)
    assert report.rate_limited >= 3
    assert report.retries >= 3
    assert live_booked(duck, agg.company_id).equals(agg.booked_truth())
