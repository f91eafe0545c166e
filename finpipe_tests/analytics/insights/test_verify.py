"""The checker verifies every stored insight, and catches a wrong number wherever it is:
in the text, in a stored fact, or in the warehouse after the insight was written."""

from __future__ import annotations

import json

import polars as pl
import pytest

from finpipe.analytics.insights.build import (
    UnverifiedInsightsError,
    build_insights,
    read_insights,
    top_insights,
    verify_stored,
    write_insights,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import DOCUMENTS
from finpipe_tests.analytics.insights.seed import CID, DOCUMENT_ROWS, frame, seed, tamper

COLLECTIONS = "collections:receivables"


def _built(wh: Warehouse) -> pl.DataFrame:
    seed(wh)
    return _written(wh)


def _written(wh: Warehouse) -> pl.DataFrame:
    result = build_insights(wh, CID)
    write_insights(wh, result)
    return read_insights(wh, CID)


def _verdict(wh: Warehouse, insight_id: str):
    return next(v for v in verify_stored(wh, CID) if v.insight_id == insight_id)


def test_every_insight_verifies(warehouse: Warehouse) -> None:
    stored = _built(warehouse)
    assert stored.height == 10 and stored["verified"].all()
    verdicts = verify_stored(warehouse, CID)
    assert all(v.verified for v in verdicts)
    # collections 21, health 6, anomalies 13, concentration 10, cash warning 5, revenue 7,
    # 3 each: two KPI changes, the peer position and the runway
    assert sum(v.numbers for v in verdicts) == 21 + 6 + 13 + 10 + 5 + 7 + 4 * 3
    lines = top_insights(warehouse, CID, limit=3)
    assert lines[0].startswith("1. Gross margin down to 38 %: Gross margin fell from 45 %")
    assert len(lines) == 3


def test_a_wrong_number_in_the_text_is_caught(seeded: Warehouse) -> None:
    duck = seeded
    stored = _written(duck)
    text = stored.filter(pl.col("insight_id") == COLLECTIONS).item(0, "text")
    tamper(duck, COLLECTIONS, text=text.replace("to 52 days", "to 53 days"))
    verdict = _verdict(duck, COLLECTIONS)
    assert not verdict.verified
    assert verdict.stray == ["53"]
    assert [m["key"] for m in verdict.mismatches] == ["dso_now"]
    assert "text does not say '52'" in verdict.mismatches[0]["problem"]
    with pytest.raises(UnverifiedInsightsError, match="number '53' in the text is not a cited"):
        top_insights(duck, CID)


def test_a_wrong_stored_fact_is_caught(seeded: Warehouse) -> None:
    duck = seeded
    stored = _written(duck)
    facts = json.loads(stored.filter(pl.col("insight_id") == COLLECTIONS).item(0, "facts"))
    for number in facts:
        if number["key"] == "customer_1_amount":
            number["value"] = 1_240_001
    tamper(duck, COLLECTIONS, facts=json.dumps(facts))
    verdict = _verdict(duck, COLLECTIONS)
    assert not verdict.verified
    assert verdict.mismatches == [
        {
            "key": "customer_1_amount",
            "stored": 1_240_001,
            "recomputed": 1_240_000,
            "problem": "stored 1240001, warehouse gives 1240000",
        }
    ]
    assert "customer_1_amount: stored 1240001" in verdict.describe()


def test_a_number_invented_in_the_text_is_caught(seeded: Warehouse) -> None:
    duck = seeded
    stored = _written(duck)
    text = stored.filter(pl.col("insight_id") == "runway:runway_months").item(0, "text")
    tamper(duck, "runway:runway_months", text=text + " About 12 suppliers wait.")
    verdict = _verdict(duck, "runway:runway_months")
    assert (verdict.verified, verdict.mismatches, verdict.stray) == (False, [], ["12"])


def test_a_changed_warehouse_is_caught(seeded: Warehouse) -> None:
    duck = seeded
    _written(duck)
    # Acme pays 1,000.00 of its oldest invoice after the insights were written.
    rows = [{**r, "amount_due": 400_000} if r["document_id"] == "d1" else r for r in DOCUMENT_ROWS]
    duck.replace_partition(DOCUMENTS, CID, frame(DOCUMENTS, rows))
    verdict = _verdict(duck, COLLECTIONS)
    assert not verdict.verified
    keys = {m["key"] for m in verdict.mismatches}
    assert {"total", "customer_1_amount", "invoice_1_amount", "top_share"} <= keys
