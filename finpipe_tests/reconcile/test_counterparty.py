"""Pass 5, counterparty: account number first, then a fuzzy name; a name tie is no match."""

from __future__ import annotations

import polars as pl

from finpipe.reconcile import ReconConfig, reconcile
from finpipe.reconcile.counterparty import account_key, name_key, name_pairs
from finpipe_tests.reconcile.test_cascade import bank, movements, pairs


def test_name_key_keeps_what_names_the_party():
    names = pl.Series(
        [
            "ACH CREDIT MYERS FITNESS 20260301",
            "Myers Fitness, LLC",
            "The Harbor Studios Inc.",
            "POS 5877",
            None,
        ]
    )
    keys = pl.select(name_key(pl.lit(names))).to_series().to_list()
    assert keys == ["FITNESS MYERS", "FITNESS MYERS", "HARBOR STUDIOS", None, None]
    accounts = pl.select(account_key(pl.lit(pl.Series(["de89 3704-0044", "", None])))).to_series()
    assert accounts.to_list() == ["DE8937040044", None, None]


def test_name_pairs_score_within_a_company_only():
    left = pl.DataFrame(
        {"company_id": ["a", "a", "b"], "name": ["HARBOUR STUDIOS", "SMITH", "HARBOR STUDIOS"]}
    )
    right = pl.DataFrame(
        {"company_id": ["a", "a", "a"], "name": ["HARBOR STUDIOS", "JANE SMITH", "JOHN SMITH"]}
    )
    got = name_pairs(left, right, threshold=90).sort("b_name", "m_name")
    assert got.select("company_id", "b_name", "m_name").rows() == [
        ("a", "HARBOUR STUDIOS", "HARBOR STUDIOS"),
        ("a", "SMITH", "JANE SMITH"),
        ("a", "SMITH", "JOHN SMITH"),
    ]
    assert 95 < got["name_score"][0] < 100  # one letter off
    assert got["name_score"][1:].to_list() == [100.0, 100.0]  # every word of SMITH found


def test_fuzzy_name_matches_outside_the_amount_date_window():
    # 15 days apart: too far for pass 3, inside the counterparty window
    b = bank({"id": "b1", "amount": -45000, "day": 15, "counterparty_name": "HARBOUR STUDIOS"})
    m = movements(
        {"id": "m1", "amount": -45000, "counterparty_name": "Harbor Studios Inc."},
        {"id": "m2", "amount": -45000, "day": 2, "counterparty_name": "Myers Fitness"},
    )
    r = reconcile(b, m)
    assert pairs(r) == {("b1", "m1", "counterparty")}
    row = r.matches.row(0, named=True)
    assert (row["match_type"], row["group_id"]) == ("1:1", row["match_id"])
    assert 0.65 < row["confidence"] < 0.8  # below a pass-3 match (0.9)
    assert r.counts["counterparty"] == 1
    # a narrower window leaves it alone
    assert reconcile(b, m, ReconConfig(counterparty_window_max_days=10)).matches.is_empty()


def test_iban_wins_over_a_name():
    b = bank(
        {
            "id": "b1",
            "amount": 120000,
            "day": 20,
            "counterparty_name": "ACME",
            "counterparty_account": "DE89 3704 0044 0532 0130 00",
        }
    )
    m = movements(
        # the books know the payer by another name, but the same IBAN
        {
            "id": "m1",
            "amount": 120000,
            "counterparty_name": "Foo Holdings Ltd",
            "counterparty_account": "DE89370400440532013000",
        },
        # same name, no account, even closer in date
        {"id": "m2", "amount": 120000, "day": 5, "counterparty_name": "Acme GmbH"},
    )
    r = reconcile(b, m)
    assert pairs(r) == {("b1", "m1", "counterparty")}
    assert r.unmatched_movements["movement_id"].to_list() == ["m2"]


def test_a_different_account_number_blocks_a_name_match():
    b = bank(
        {
            "id": "b1",
            "amount": 5000,
            "day": 20,
            "counterparty_name": "ACME",
            "counterparty_account": "GB29NWBK60161331926819",
        }
    )
    m = movements(
        {
            "id": "m1",
            "amount": 5000,
            "counterparty_name": "Acme Ltd",
            "counterparty_account": "GB94BARC10201530093459",
        }
    )
    assert reconcile(b, m).matches.is_empty()


def test_amount_must_agree():
    b = bank({"id": "b1", "amount": -45000, "day": 15, "counterparty_name": "HARBOR STUDIOS"})
    m = movements({"id": "m1", "amount": -46000, "counterparty_name": "Harbor Studios"})
    assert reconcile(b, m).matches.is_empty()
    # a fee withheld from a settlement is within pass 4's rules
    b = bank({"id": "b1", "amount": 9715, "day": 15, "counterparty_name": "STRIPE"})
    m = movements(
        {"id": "m1", "amount": 10000, "document_type": "deposit", "counterparty_name": "Stripe"}
    )
    row = reconcile(b, m).matches.row(0, named=True)
    assert (row["rule"], row["amount_difference"], row["difference_kind"]) == (
        "counterparty",
        285,
        "fee",
    )


def test_fuzzy_name_tie_is_a_suggestion_not_a_match():
    b = bank({"id": "b1", "amount": -30000, "day": 20, "counterparty_name": "SMITH"})
    m = movements(
        {"id": "m1", "amount": -30000, "counterparty_name": "John Smith"},
        # closer in date: must not decide between two different people
        {"id": "m2", "amount": -30000, "day": 8, "counterparty_name": "Jane Smith"},
    )
    r = reconcile(b, m)
    assert r.matches.is_empty()
    assert r.unmatched_bank_lines["line_id"].to_list() == ["b1"]
    s = r.suggestions.sort("movement_id")
    assert s["movement_id"].to_list() == ["m1", "m2"]
    assert s["rule"].unique().to_list() == ["counterparty"]
    assert s["suggestion_id"].n_unique() == 1 and s["group_id"].n_unique() == 2
    assert "JOHN SMITH" in s["reason"][0] and "-300.00 USD" in s["reason"][0]
    assert r.suggestion_counts["counterparty"] == 1


def test_same_party_twice_is_ranked_by_date():
    # one party, two invoices of the same amount: not a tie of names, the date decides
    b = bank({"id": "b1", "amount": -30000, "day": 20, "counterparty_name": "JOHN SMITH"})
    m = movements(
        {"id": "m1", "amount": -30000, "counterparty_name": "John Smith"},
        {"id": "m2", "amount": -30000, "day": 8, "counterparty_name": "John Smith"},
    )
    assert pairs(reconcile(b, m)) == {("b1", "m2", "counterparty")}
