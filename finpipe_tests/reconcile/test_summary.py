"""The per-company summary and the exceptions table, on a hand-built case."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.reconcile import (
    MATCH_SCHEMA,
    RULES,
    SUGGESTION_SCHEMA,
    exceptions_markdown,
    reconcile,
    summarize,
)
from finpipe_tests.reconcile.test_cascade import bank, day, movements

AS_OF = day(60)


@pytest.fixture(scope="module")
def case():
    b = bank(
        {"id": "b1", "amount": 1000, "day": 0},  # amount_date with m1
        {"id": "b2", "amount": -500, "day": 10},  # exact_id with m2
        {"id": "b3", "amount": -200, "day": 55, "description": "FEE | MONTHLY"},  # 5 days old
        {"id": "b4", "amount": -9900, "day": 20},  # b4, b5 vs m4, m5: a tie, suggested
        {"id": "b5", "amount": -9900, "day": 20},
        {"id": "b6", "amount": 4000, "day": 20, "status": "pending"},  # never counted
        {"id": "b7", "amount": 3000, "day": -40, "currency": "EUR"},  # 100 days old
    )
    m = movements(
        {"id": "m1", "amount": 1000, "day": 0},
        {"id": "m2", "amount": -500, "day": 30, "external_id": "src-b2"},
        {"id": "m4", "amount": -9900, "day": 19},
        {"id": "m5", "amount": -9900, "day": 19},
        {"id": "m6", "amount": -700, "day": -5},  # 65 days old
        {"id": "m7", "amount": 100, "day": 59, "currency": "EUR"},
        {"id": "m8", "amount": 250, "day": 60, "company_id": "cmp_b"},
    )
    return b, m, reconcile(b, m)


def test_summary_values_per_company_and_currency(case):
    b, m, r = case
    s = summarize(b, m, r, as_of=AS_OF)
    assert s.select("company_id", "currency").rows() == [
        ("cmp_a", "EUR"),
        ("cmp_a", "USD"),
        ("cmp_b", "USD"),
    ]
    usd = s.row(1, named=True)
    assert usd["bank_lines_booked"] == 5
    assert usd["bank_lines_matched"] == 2 and usd["matched_share"] == pytest.approx(0.4)
    assert {rule: usd[f"matched_{rule}"] for rule in RULES} == {
        "exact_id": 1,
        "reference": 0,
        "amount_date": 1,
        "tolerance": 0,
        "counterparty": 0,
        "subset_sum": 0,
    }
    assert usd["bank_lines_suggested"] == 2
    assert usd["bank_lines_unmatched"] == 3
    assert usd["bank_unmatched_amount"] == 20000
    assert [usd[f"bank_unmatched_{b}"] for b in ("0_7", "8_30", "31_60", "61_90", "over_90")] == [
        200,
        0,
        19800,
        0,
        0,
    ]
    assert usd["movements"] == 5 and usd["movements_unmatched"] == 3
    assert usd["movement_unmatched_amount"] == 20500
    assert [
        usd[f"movement_unmatched_{b}"] for b in ("0_7", "8_30", "31_60", "61_90", "over_90")
    ] == [0, 0, 19800, 700, 0]
    assert usd["auto_reconciled_amount_share"] == pytest.approx(1500 / 21500)

    eur = s.row(0, named=True)
    assert (eur["bank_lines_booked"], eur["bank_lines_unmatched"]) == (1, 1)
    assert eur["bank_unmatched_over_90"] == 3000 and eur["movement_unmatched_0_7"] == 100
    assert eur["auto_reconciled_amount_share"] == 0.0

    only_books = s.row(2, named=True)
    assert only_books["bank_lines_booked"] == 0 and only_books["movements"] == 1
    assert only_books["matched_share"] is None
    assert only_books["auto_reconciled_amount_share"] is None
    assert s.schema["bank_unmatched_amount"] == pl.Int64


def test_exceptions_markdown_lists_the_largest_items_with_their_suggestion(case):
    b, m, r = case
    md = exceptions_markdown(r, b, m, limit=3)
    lines = md.splitlines()
    assert lines[0] == (
        "**4** of 6 booked bank lines and **5** of 7 ledger movements unmatched; "
        "**2** suggestions await a decision."
    )
    table = [x for x in lines if x.startswith("| ")]
    assert table[0].startswith("| company | side | id | date | amount |")
    rows = table[1:]
    assert len(rows) == 3
    # the 9900 items first (the largest), each with its best suggestion
    assert rows[0].startswith("| cmp_a | bank line | b4 | 2026-03-22 | -99.00 USD |")
    assert rows[0].endswith(
        "| same amount -99.00 USD; bank 2026-03-22, books 2026-03-21 (1 day); "
        "one of 2 candidates for this bank line (score 0.44) |"
    )
    assert md.rstrip().endswith("… and 6 more unmatched items.")
    # a pipe inside a narration does not break the table
    full = exceptions_markdown(r, b, m, limit=50)
    assert r"FEE \| MONTHLY" in full


def test_exceptions_markdown_when_everything_matched():
    b = bank({"id": "b1", "amount": 1000})
    m = movements({"id": "m1", "amount": 1000})
    md = exceptions_markdown(reconcile(b, m), b, m)
    assert md == (
        "**0** of 1 booked bank lines and **0** of 1 ledger movements unmatched; "
        "**0** suggestions await a decision.\n"
    )


def test_empty_inputs_give_empty_results_and_summaries():
    for b, m in (
        (bank(), movements()),
        (bank({"id": "b1", "amount": 5}), movements()),
        (bank(), movements({"id": "m1", "amount": 5})),
    ):
        r = reconcile(b, m)
        assert r.matches.is_empty() and r.matches.schema == MATCH_SCHEMA
        assert r.suggestions.is_empty() and r.suggestions.schema == SUGGESTION_SCHEMA
        assert r.unmatched_bank_lines.height == b.height
        assert r.unmatched_movements.height == m.height
        s = summarize(b, m, r, as_of=dt.date(2026, 4, 1))
        assert s.height == (1 if b.height or m.height else 0)
