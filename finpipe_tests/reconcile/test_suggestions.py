"""Pass 7: what stays ambiguous is a suggestion for a person, never a match."""

from __future__ import annotations

import polars as pl

from finpipe.reconcile import SUGGESTION_SCHEMA, reconcile
from finpipe.reconcile.suggestions import money
from finpipe_tests.reconcile.test_cascade import bank, movements


def test_money_is_shown_in_major_units_without_floats():
    got = pl.select(
        money(
            pl.lit(pl.Series([-1234, 5, 100000000000001, 500, -12005, 7])),
            pl.lit(pl.Series(["USD", "EUR", "GBP", "JPY", "KWD", "bhd"])),
        )
    ).to_series()
    assert got.to_list() == [
        "-12.34 USD",
        "0.05 EUR",
        "1000000000000.01 GBP",
        "500 JPY",
        "-12.005 KWD",
        "0.007 bhd",
    ]


def test_exact_tie_of_amount_and_date_is_suggested_both_ways():
    b = bank({"id": "b1", "amount": -9900, "day": 1}, {"id": "b2", "amount": -9900, "day": 1})
    m = movements({"id": "m1", "amount": -9900}, {"id": "m2", "amount": -9900})
    r = reconcile(b, m)
    assert r.matches.is_empty()
    s = r.suggestions
    assert s.schema == SUGGESTION_SCHEMA
    assert sorted(s.select("bank_line_id", "movement_id").rows()) == [
        ("b1", "m1"),
        ("b1", "m2"),
        ("b2", "m1"),
        ("b2", "m2"),
    ]
    assert set(s["rule"]) == {"amount_date"}
    # one question per bank line, one answer per candidate movement
    assert s["suggestion_id"].n_unique() == 2 and s["group_id"].n_unique() == 4
    assert s["score"].to_list() == [s["score"][0]] * 4 and 0.4 < s["score"][0] <= 0.5
    reason = s["reason"][0]
    assert "same amount -99.00 USD" in reason and "2026-03-03" in reason and "(1 day)" in reason
    # a suggestion is not a match: everything stays unmatched
    assert r.unmatched_bank_lines.height == 2 and r.unmatched_movements.height == 2
    assert r.suggestion_counts["amount_date"] == 2


def test_reference_naming_two_invoices_is_suggested_with_its_token():
    b = bank({"id": "b1", "amount": 5000, "day": 30, "reference": "INV-1042"})
    m = movements(
        {"id": "m1", "amount": 5000, "reference": "INV-1042"},
        {"id": "m2", "amount": 5000, "day": 2, "reference": "INV-1042"},
    )
    r = reconcile(b, m)
    assert r.matches.is_empty()
    s = r.suggestions.sort("movement_id")
    assert s["movement_id"].to_list() == ["m1", "m2"]
    assert set(s["rule"]) == {"reference"}
    assert "reference token INV1042 names 1 bank lines and 2 movements" in s["reason"][0]


def test_tolerance_candidates_that_are_not_unique_are_suggested():
    # a settlement netted of fees, two payouts in the books it could be
    b = bank({"id": "b1", "amount": 9715, "day": 1, "description": "SQUARE TRANSFER"})
    m = movements(
        {"id": "m1", "amount": 10000, "document_type": "deposit"},
        {"id": "m2", "amount": 10000, "document_type": "deposit"},
    )
    r = reconcile(b, m)
    assert r.matches.is_empty()
    s = r.suggestions
    assert set(s["rule"]) == {"tolerance"} and s.height == 2
    assert "bank 97.15 USD vs books 100.00 USD (fee difference)" in s["reason"][0]


def test_unambiguous_matches_leave_no_suggestions():
    b = bank({"id": "b1", "amount": 1000, "day": 1}, {"id": "b2", "amount": 2000, "day": 1})
    m = movements({"id": "m1", "amount": 1000}, {"id": "m2", "amount": 2000})
    r = reconcile(b, m)
    assert r.matches.height == 2
    assert r.suggestions.is_empty() and r.suggestions.schema == SUGGESTION_SCHEMA
    assert set(r.suggestion_counts.values()) == {0}


def test_a_pair_proposed_by_two_rules_is_suggested_once_with_the_stronger_reason():
    # same amount twice in the window and the reference naming both movements
    b = bank({"id": "b1", "amount": 700, "day": 1, "reference": "PO-55501"})
    m = movements(
        {"id": "m1", "amount": 700, "reference": "PO-55501"},
        {"id": "m2", "amount": 700, "reference": "PO-55501"},
    )
    s = reconcile(b, m).suggestions
    assert s.height == 2 and set(s["rule"]) == {"reference"}
