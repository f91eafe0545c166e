"""Revenue growth and customer concentration facts: the hand-computed values, their texts and
ranking inputs, and the checker catching a wrong number in each (text, stored fact, or the
warehouse changing after the insight was written). Also the anomaly labels a person can use
when a flagged document has no number."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import polars as pl
import pytest

from finpipe.analytics.insights.build import (
    build_insights,
    company_facts,
    verify_stored,
    write_insights,
)
from finpipe.analytics.insights.facts import Fact, load_company
from finpipe.analytics.insights.generate import concentration, generate, revenue_growth
from finpipe.analytics.insights.rank import concentration_impact, growth_estimate
from finpipe.analytics.insights.recipes import read
from finpipe.analytics.insights.verify import RecipeError, run_recipe
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_anomalies import ANOMALY_FLAGS
from finpipe.warehouse.tables.analytics_financials import INCOME_STATEMENT
from finpipe.warehouse.tables.ledger import DOCUMENTS
from finpipe_tests.analytics.insights.seed import APR, CID, DOCUMENT_ROWS, document, frame, tamper

GROWTH = "revenue_growth:revenue"
CONCENTRATION = "concentration:customers"


def _fact(wh: Warehouse, kind: str) -> Fact:
    return next(f for f in company_facts(load_company(wh, CID)) if f.kind == kind)


def _values(fact: Fact) -> dict:
    return {n.key: n.value for n in fact.numbers}


def _insight(wh: Warehouse, insight_id: str) -> dict:
    result = build_insights(wh, CID)
    write_insights(wh, result)
    return result.frame.filter(pl.col("insight_id") == insight_id).row(0, named=True)


def _verdict(wh: Warehouse, insight_id: str):
    return next(v for v in verify_stored(wh, CID) if v.insight_id == insight_id)


# --- concentration ------------------------------------------------------------------------------


def test_concentration_by_hand(seeded: Warehouse) -> None:
    fact = _fact(seeded, "concentration")
    v = _values(fact)
    # Twelve months to 2026-04: Acme d1 5,000 + d2 7,400 + d7 0 - credit d11 400 = 12,000.00;
    # Studio 54 d3 8,800.00 (d8 void, d12 of 2025-04 outside the window); Brandt d4
    # 4,250.01 (home total) + d9 10.00; Dee 3,000 + 999.99; the anonymous receipt 1,000.00
    # counts in the total only; the draft d10 not at all.
    assert v["to"] == "2026-04-01"
    assert v["total"] == 3_006_000
    assert [v[f"customer_{i}"] for i in (1, 2, 3)] == ["Acme Ltd", "Studio 54 Ltd", "Brandt GmbH"]
    assert [v[f"customer_{i}_sales"] for i in (1, 2, 3)] == [1_200_000, 880_000, 426_001]
    assert v["top_share"] == pytest.approx(1_200_000 / 3_006_000)
    assert v["top3_share"] == pytest.approx(2_506_001 / 3_006_000)
    assert fact.rows[0]["ids"]["document_id"] == ["d1", "d11", "d2", "d3", "d4", "d7", "d9"]


def test_concentration_text_and_ranking(seeded: Warehouse) -> None:
    insight = concentration(_fact(seeded, "concentration"))
    assert insight is not None
    assert insight.title == "Top customer 40 % of sales; top three 83 %"
    assert insight.text.startswith(
        "Acme Ltd bought 40 % of your sales in the twelve months to 2026-04 (12,000.00 GBP of "
        "30,060.00 GBP); your top three customers 83 %: Acme Ltd (12,000.00 GBP), Studio 54 Ltd "
        "(8,800.00 GBP), Brandt GmbH (4,260.01 GBP)."
    )
    # Acme's gross profit at the 38 % gross margin, at the confidence of a risk.
    assert (insight.impact_minor, insight.confidence) == (456_000, 0.3)
    assert concentration_impact(1_200_000, None) == 1_200_000  # no margin: all of the sales


def test_spread_sales_give_no_concentration_insight(seeded: Warehouse) -> None:
    fact = _fact(seeded, "concentration")
    spread = dataclasses.replace(fact, attrs={**fact.attrs, "top_share": 0.19, "top3_share": 0.49})
    assert concentration(spread) is None


def test_a_wrong_share_is_caught(seeded: Warehouse) -> None:
    row = _insight(seeded, CONCENTRATION)
    assert row["verified"]
    facts = json.loads(row["facts"])
    for number in facts:
        if number["key"] == "top3_share":
            number["value"] = 0.84  # the text still says 83 %: the stored fact is wrong
    tamper(seeded, CONCENTRATION, facts=json.dumps(facts))
    verdict = _verdict(seeded, CONCENTRATION)
    assert not verdict.verified
    assert [m["key"] for m in verdict.mismatches] == ["top3_share"]
    assert verdict.mismatches[0]["recomputed"] == pytest.approx(2_506_001 / 3_006_000)


def test_a_wrong_percentage_in_the_text_is_caught(seeded: Warehouse) -> None:
    row = _insight(seeded, CONCENTRATION)
    tamper(seeded, CONCENTRATION, text=row["text"].replace("bought 40 %", "bought 41 %"))
    verdict = _verdict(seeded, CONCENTRATION)
    assert not verdict.verified and verdict.stray == ["41"]


def test_a_new_sale_after_writing_is_caught(seeded: Warehouse) -> None:
    _insight(seeded, CONCENTRATION)
    late = document("d20", "k1", "2026-04-22", "2026-05-22", 0, status="paid", total=50_000)
    seeded.replace_partition(DOCUMENTS, CID, frame(DOCUMENTS, [*DOCUMENT_ROWS, late]))
    verdict = _verdict(seeded, CONCENTRATION)
    assert not verdict.verified
    problems = {m["key"]: m["problem"] for m in verdict.mismatches}
    assert {"total", "customer_1_sales", "top_share", "top3_share"} <= set(problems)
    # Acme's sales cite their documents: d20 is not one of them.
    assert "cited document_ids" in problems["customer_1_sales"]
    assert "d20" in problems["customer_1_sales"]


# --- revenue growth -----------------------------------------------------------------------------


def test_revenue_growth_by_hand(seeded: Warehouse) -> None:
    fact = _fact(seeded, "revenue_growth")
    v = _values(fact)
    # Four months of books: two against two. Mar + Apr 95,000 + 90,000; Jan + Feb 110,000 +
    # 105,000.
    assert (v["now"], v["before"]) == (18_500_000, 21_500_000)
    assert v["change"] == pytest.approx(3_000_000 / 21_500_000)
    assert (v["from"], v["to"], v["before_from"], v["before_to"]) == (
        "2026-03-01",
        "2026-04-01",
        "2026-01-01",
        "2026-02-01",
    )
    assert fact.attrs["window"] == 2 and fact.attrs["difference"] == -3_000_000


def test_revenue_growth_text(seeded: Warehouse) -> None:
    insight = revenue_growth(_fact(seeded, "revenue_growth"))
    assert insight is not None and insight.title == "Revenue down 14 %"
    assert insight.text.startswith(
        "Revenue over the last two months (2026-03 to 2026-04) is down 14 % on the two months "
        "before (2026-01 to 2026-02): 185,000.00 GBP against 215,000.00 GBP. Find out which "
        "customers or products fell away"
    )


def test_one_month_against_one_with_two_months_of_income(seeded: Warehouse) -> None:
    months = {dt.date(2026, 3, 1): 10_000_000, APR: 12_000_000}
    rows = [
        {"company_id": CID, "month": m, "currency": "GBP", "revenue": r} for m, r in months.items()
    ]
    seeded.replace_partition(INCOME_STATEMENT, CID, frame(INCOME_STATEMENT, rows))
    row = _insight(seeded, GROWTH)
    assert row["title"] == "Revenue up 20 %"
    assert row["text"].startswith(
        "Revenue in 2026-04 is up 20 % on 2026-03: 120,000.00 GBP against 100,000.00 GBP. "
        "Growth ties up cash"
    )
    # A rise: the gross profit it brought (20,000.00 x 38 %), not annualised; one month
    # against one is the noisier window.
    assert (row["impact_minor"], row["confidence"], row["verified"]) == (760_000, 0.4, True)


def test_growth_estimates_by_hand() -> None:
    assert growth_estimate(-3_000_000, 0.38, 2, months=3) == (6_840_000, 0.4)
    assert growth_estimate(-3_000_000, 0.38, 3, months=3) == (4_560_000, 0.6)
    assert growth_estimate(1_000_000, None, 3, months=3) == (1_000_000, 0.6)
    assert growth_estimate(1_000_000, 1.7, 1, months=3) == (1_000_000, 0.4)  # margin clipped


def test_small_moves_and_short_books_give_no_growth_insight(seeded: Warehouse) -> None:
    fact = _fact(seeded, "revenue_growth")
    flat = dataclasses.replace(fact, attrs={**fact.attrs, "growth": -0.09})
    assert revenue_growth(flat) is None
    one = [{"company_id": CID, "month": APR, "currency": "GBP", "revenue": 9_000_000}]
    seeded.replace_partition(INCOME_STATEMENT, CID, frame(INCOME_STATEMENT, one))
    assert "revenue_growth" not in {f.kind for f in company_facts(load_company(seeded, CID))}


def test_a_wrong_revenue_is_caught(seeded: Warehouse) -> None:
    row = _insight(seeded, GROWTH)
    facts = json.loads(row["facts"])
    for number in facts:
        if number["key"] == "now":
            number["value"] = 18_500_001
    tamper(seeded, GROWTH, facts=json.dumps(facts))
    verdict = _verdict(seeded, GROWTH)
    assert not verdict.verified
    assert [m["key"] for m in verdict.mismatches] == ["now"]
    assert verdict.mismatches[0]["problem"] == "stored 18500001, warehouse gives 18500000"


def test_a_restated_month_is_caught(seeded: Warehouse) -> None:
    _insight(seeded, GROWTH)
    revenue = [11_000_000, 10_500_000, 9_500_000, 9_100_000]
    months = [dt.date(2026, m, 1) for m in (1, 2, 3, 4)]
    rows = [
        {"company_id": CID, "month": m, "currency": "GBP", "revenue": r}
        for m, r in zip(months, revenue, strict=True)
    ]
    seeded.replace_partition(INCOME_STATEMENT, CID, frame(INCOME_STATEMENT, rows))
    verdict = _verdict(seeded, GROWTH)
    assert {m["key"] for m in verdict.mismatches} == {"now", "change"}


# --- anomaly labels -----------------------------------------------------------------------------


def _flags(wh: Warehouse, **f2: object) -> None:
    flags = wh.read(ANOMALY_FLAGS, company_id=CID)
    rows = [{**r, **f2} if r["flag_id"] == "f2" else r for r in flags.iter_rows(named=True)]
    wh.replace_partition(ANOMALY_FLAGS, CID, frame(ANOMALY_FLAGS, rows))


def test_a_flag_without_number_or_date_falls_back_to_the_document_id(seeded: Warehouse) -> None:
    _flags(seeded, issue_date=None)
    anomalies = next(
        i for i in generate(company_facts(load_company(seeded, CID))) if i.kind == "anomalies"
    )
    assert "split_payment on bill b2, Northern Paper 2 Ltd (9,900.00 GBP, score 0.75)" in (
        anomalies.text
    )


def test_a_flagged_document_changing_contact_is_caught(seeded: Warehouse) -> None:
    row = _insight(seeded, "anomalies:flags")
    assert (
        row["verified"]
        and "split_payment on bill dated 2026-03-14, Northern Paper" in (row["text"])
    )
    moved = [{**r, "contact_id": "k4"} if r["document_id"] == "b2" else r for r in DOCUMENT_ROWS]
    seeded.replace_partition(DOCUMENTS, CID, frame(DOCUMENTS, moved))
    verdict = _verdict(seeded, "anomalies:flags")
    assert [(m["key"], m["recomputed"]) for m in verdict.mismatches] == [
        ("flag_2_contact", "Dee & Co")
    ]


# --- recipe forms -------------------------------------------------------------------------------


def test_range_and_lookup_filters(seeded: Warehouse) -> None:
    docs = DOCUMENTS.qualified_name
    march = {"company_id": CID, "issue_date": {"ge": "2026-03-01", "lt": "2026-04-01"}}
    assert run_recipe(seeded, read(docs, march, "document_id", "count")) == 4  # d5 d11 d13 b2
    of_b2 = {"company_id": CID, "document_id": "b2"}
    contact = read(
        "ledger.contacts",
        {"company_id": CID, "contact_id": {"of": read(docs, of_b2, "contact_id")}},
        "name",
    )
    assert run_recipe(seeded, contact) == "Northern Paper 2 Ltd"
    of_b1 = {"company_id": CID, "document_id": "b1"}  # no contact: the lookup matches nothing
    nobody = read(
        "ledger.contacts",
        {"company_id": CID, "contact_id": {"of": read(docs, of_b1, "contact_id")}},
        "name",
    )
    with pytest.raises(RecipeError, match="matched 0 rows"):
        run_recipe(seeded, nobody)
