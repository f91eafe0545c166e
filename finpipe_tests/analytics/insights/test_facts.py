"""Fact recipes recompute every number exactly on the hand-built warehouse (both engines),
and the facts hold the hand-computed values."""

from __future__ import annotations

import pytest

from finpipe.analytics.insights.build import company_facts
from finpipe.analytics.insights.facts import load_company
from finpipe.analytics.insights.verify import run_recipe
from finpipe.warehouse import Warehouse
from finpipe_tests.analytics.insights.seed import CID, seed


def test_every_recipe_recomputes_its_number(warehouse: Warehouse) -> None:
    seed(warehouse)
    facts = company_facts(load_company(warehouse, CID))
    assert sorted({f.kind for f in facts}) == [
        "anomalies",
        "cash_warning",
        "concentration",
        "health",
        "kpi_change",
        "overdue_receivables",
        "peer_position",
        "revenue_growth",
        "runway",
    ]
    checked = 0
    for fact in facts:
        for number in fact.numbers:
            got = run_recipe(warehouse, number.recipe)
            if number.unit in ("money", "count", "date", "month", "text"):
                assert got == number.value, (fact.kind, number.key)
            else:
                assert got == pytest.approx(number.value, rel=1e-12), (fact.kind, number.key)
            checked += 1
    assert checked == 77


def test_overdue_receivables_by_hand(seeded: Warehouse) -> None:
    fact = next(
        f for f in company_facts(load_company(seeded, CID)) if f.kind == "overdue_receivables"
    )
    values = {n.key: n.value for n in fact.numbers}
    # d1 5,000.00 + d2 7,400.00 (Acme) + d3 8,800.00 + d4 5,000.01 EUR * 0.85 = 4,250.01
    # + d5 3,000.00; d6 not due, d7 paid, d8 void, d9 not due, d10 a draft.
    assert values["as_of"] == "2026-04-20"  # the draft of 2026-04-25 is not live
    assert values["total"] == 2_845_001
    assert [values[f"customer_{i}"] for i in (1, 2, 3)] == [
        "Acme Ltd",
        "Studio 54 Ltd",
        "Brandt GmbH",
    ]
    assert [values[f"customer_{i}_amount"] for i in (1, 2, 3)] == [1_240_000, 880_000, 425_001]
    assert values["top_share"] == pytest.approx(2_545_001 / 2_845_001)
    assert [values[f"invoice_{i}"] for i in (1, 2, 3)] == ["INV-0001", "INV-0004", "INV-0003"]
    assert fact.rows[0]["ids"]["document_id"] == ["d1", "d2", "d3", "d4", "d5"]


def test_optional_sources_missing_give_no_such_facts(seeded_core: Warehouse) -> None:
    kinds = {f.kind for f in company_facts(load_company(seeded_core, CID))}
    assert kinds == {
        "kpi_change",
        "overdue_receivables",
        "health",
        "runway",
        "revenue_growth",
        "concentration",
    }


def test_company_without_books_has_no_facts(seeded: Warehouse) -> None:
    assert company_facts(load_company(seeded, "nobody")) == []
