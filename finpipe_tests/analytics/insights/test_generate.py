"""Templates write the hand-computed numbers, and the ranking follows impact x confidence."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.insights.build import build_insights, company_facts
from finpipe.analytics.insights.facts import load_company
from finpipe.analytics.insights.generate import generate
from finpipe.analytics.insights.rank import (
    dso_impact,
    health_impact,
    margin_impact,
    peer_impact,
    runway_impact,
    warning_estimate,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import BALANCE_SHEET
from finpipe.warehouse.tables.analytics_forecast import CASH_WARNINGS
from finpipe.warehouse.tables.analytics_peers import PEER_BENCHMARKS
from finpipe_tests.analytics.insights.seed import CID, MONTHS, REVENUE_TTM, frame


@pytest.fixture
def generated(seeded: Warehouse) -> dict:
    """The seeded company's insights by id."""
    return {i.insight_id: i for i in generate(company_facts(load_company(seeded, CID)))}


def test_collections_text(generated: dict) -> None:
    insight = generated["collections:receivables"]
    assert insight.title == "DSO up to 52 days; 28,450.01 GBP overdue"
    assert insight.text == (
        "DSO rose from 38 to 52 days since 2026-01. Three customers account for 89 % of the "
        "28,450.01 GBP of receivables overdue at 2026-04-20: Acme Ltd (12,400.00 GBP), "
        "Studio 54 Ltd (8,800.00 GBP), Brandt GmbH (4,250.01 GBP). Chase the oldest invoices "
        "first: invoice INV-0001 (due 2026-02-04, 5,000.00 GBP), invoice INV-0004 (due "
        "2026-02-19, 4,250.01 GBP), invoice INV-0003 (due 2026-03-03, 8,800.00 GBP)."
    )
    assert (insight.impact_minor, insight.confidence) == (2_545_001, 0.8)


def test_other_texts(generated: dict) -> None:
    by_id = generated
    assert by_id["health:composite"].text == (
        "The health score fell 6.3 points to 48.3. The biggest mover was liquidity (-4.1 points "
        "of contribution): look at it first. Altman Z″ is 0.85, distress zone."
    )
    assert by_id["runway:runway_months"].text.startswith(
        "Cash of 8,500.00 GBP covers 4.3 months at the current burn of 2,000.00 GBP a month."
    )
    assert by_id["cash_warning:balance_may_cross_zero:weekly"].text.startswith(
        "The cash forecast's 80 % lower bound falls to -3,200.00 GBP in the period starting "
        "2026-05-11, from 8,500.00 GBP on 2026-04-30."
    )
    assert by_id["anomalies:flags"].text.startswith(
        "Two transactions look suspicious (11,150.00 GBP in all): duplicate_payment on bill "
        "BILL-7 dated 2026-02-27 (1,250.00 GBP, score 0.93); split_payment on bill dated "
        "2026-03-14, Northern Paper 2 Ltd (9,900.00 GBP, score 0.75)."
    )
    assert by_id["peer_position:gross_margin"].text.startswith(
        "Gross margin of 40 % is in the bottom quartile of your peers: percentile 18, median 45 %."
    )
    assert "kpi_change:net_margin" not in by_id  # fell half a point: below the threshold
    assert "kpi_change:dso" not in by_id  # told in the collections insight


def test_ranking_is_impact_times_confidence(generated: dict) -> None:
    ranked = sorted(generated.values(), key=lambda i: i.rank)
    expected = [
        ("kpi_change:gross_margin", 8_400_000, 0.6),  # 7 points of margin x 1.2M revenue
        ("peer_position:gross_margin", 6_240_000, 0.5),  # (0.452 - 0.40) x 1.2M
        # 30,000.00 less revenue in two months x 38 % gross margin x 12 / 2
        ("revenue_growth:revenue", 6_840_000, 0.4),
        ("collections:receivables", 2_545_001, 0.8),  # the top three customers' overdue
        ("anomalies:flags", 1_115_000, (0.93 + 0.75) / 2),
        ("health:composite", 1_260_000, 0.4),  # 100,000.00 x 6.3 % x 2 (distress)
        ("runway:runway_months", 350_000, 0.8),  # 2,000.00 x (6 - 4.25)
        ("cash_warning:balance_may_cross_zero:weekly", 320_000, 0.5),  # 80 % band crossing
        ("concentration:customers", 456_000, 0.3),  # Acme's 12,000.00 x 38 % gross margin
        ("kpi_change:current_ratio", 0, 0.6),
    ]
    assert [(i.insight_id, i.impact_minor) for i in ranked] == [(e[0], e[1]) for e in expected]
    assert [i.confidence for i in ranked] == pytest.approx([e[2] for e in expected])
    assert [i.rank for i in ranked] == list(range(1, 11))
    scores = [i.score for i in ranked]
    assert scores == sorted(scores, reverse=True)


def test_impact_rules_by_hand() -> None:
    assert dso_impact(2_630_000, 52.4, 38.2) == round(2_630_000 * 14.2 / 52.4)
    assert dso_impact(2_630_000, 30.0, 38.2) == 0
    assert margin_impact(0.07, REVENUE_TTM) == 8_400_000
    assert runway_impact(200_000, 7.0) == 0
    assert health_impact(10_000_000, 2.0, "safe") == 0  # a rise is no loss
    assert warning_estimate(-5_000, None, None, None) == (5_000, 0.9)
    assert warning_estimate(850_000, -320_000, 120_000, 95) == (320_000, 0.3)


def test_without_optional_sources(seeded_core: Warehouse) -> None:
    result = build_insights(seeded_core, CID)
    assert result.frame["kind"].to_list() == [
        "kpi_change",
        "revenue_growth",
        "collections",
        "health",
        "runway",
        "concentration",
        "kpi_change",
    ]
    assert result.frame["verified"].all()


def test_book_cash_below_zero(seeded: Warehouse) -> None:
    duck = seeded
    warning = {
        "company_id": CID,
        "warning_id": "cash_negative:all",
        "kind": "cash_negative",
        "severity": "critical",
        "as_of": dt.date(2026, 4, 30),
        "currency": "GBP",
        "cash_balance": -12_345,
        "reason": "r",
    }
    duck.replace_partition(CASH_WARNINGS, CID, frame(CASH_WARNINGS, [warning]))
    result = build_insights(duck, CID)
    row = result.frame.filter(pl.col("kind") == "cash_warning").row(0, named=True)
    assert row["text"] == (
        "Book cash is -123.45 GBP on 2026-04-30. Fund the account or hold payments to avoid "
        "overdraft fees."
    )
    assert (row["impact_minor"], row["confidence"], row["verified"]) == (12_345, 0.9, True)


def test_liquidity_and_leverage_peer_positions(seeded: Warehouse) -> None:
    duck = seeded
    balance = [
        {
            "company_id": CID,
            "month": m,
            "currency": "GBP",
            "cash": 850_000,
            "accounts_receivable": 2_630_000,
            "current_liabilities": 4_000_000,
            "total_assets": 10_000_000,
        }
        for m in MONTHS
    ]
    duck.replace_partition(BALANCE_SHEET, CID, frame(BALANCE_SHEET, balance))
    peer = {"company_id": CID, "month": MONTHS[2], "higher_is_better": True}
    rows = [
        *duck.read(PEER_BENCHMARKS).iter_rows(named=True),
        {
            **peer,
            "kpi": "current_ratio",
            "group_id": "naics4:5412",
            "source": "peers",
            "level": "naics4",
            "value": 1.4,
            "percentile": 20.0,
            "group_median": 1.9,
        },
        {
            **peer,
            "kpi": "equity_ratio",
            "group_id": "reference:54",
            "source": "reference",
            "level": "reference",
            "value": -0.05,
            "percentile": 0.0,
            "group_median": 0.2,
        },
    ]
    duck.replace_all(PEER_BENCHMARKS, frame(PEER_BENCHMARKS, rows))
    result = build_insights(duck, CID)
    assert result.frame["verified"].all()
    by_id = {r["insight_id"]: r for r in result.frame.iter_rows(named=True)}
    current = by_id["peer_position:current_ratio"]
    assert current["text"].startswith(
        "Current ratio of 1.40 is in the bottom quartile of your peers: percentile 20, median "
        "1.90. Short-term assets cover"
    )
    # Liquid assets missing to reach the median: (1.9 - 1.4) x 40,000.00 of current liabilities.
    assert (current["impact_minor"], current["confidence"]) == (2_000_000, 0.5)
    equity = by_id["peer_position:equity_ratio"]
    assert equity["text"].startswith(
        "Equity ratio of -5 % is in the bottom quartile of the industry reference: percentile "
        "0, median 20 %. More of the business runs on borrowed money"
    )
    assert equity["impact_minor"] == 2_500_000  # (0.2 + 0.05) x 100,000.00 of total assets
    assert peer_impact("current_ratio", 2.0, 1.5, None, current_liabilities=10) == 0  # above
