"""Pass 6, subset sum: batched deposits (1:n), split payments (n:1), and the bounds."""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from finpipe.reconcile import MATCH_SCHEMA, ReconConfig, reconcile
from finpipe.reconcile.subset import BLOCK_SCHEMA, exact_subsets, search_blocks
from finpipe_tests.reconcile.test_cascade import bank, movements


def test_exact_subsets_finds_every_exact_solution_of_two_or_more_items():
    found = exact_subsets(np.array([100, 200, 300, 50, 250]), 300)
    assert found.complete
    # 300 alone is a single item (a 1:1 pair, not a subset); 50 + 250 and 100 + 200 are
    assert sorted(s.tolist() for s in found.solutions) == [[0, 1], [3, 4]]
    assert exact_subsets(np.array([100, 200]), 301).solutions == []
    # negative amounts (money out) work the same
    assert [s.tolist() for s in exact_subsets(np.array([-70, -30, -5]), -100).solutions] == [[0, 1]]


def test_exact_subsets_stops_at_its_time_budget():
    found = exact_subsets(np.arange(1, 21), 30, budget_s=0.0)
    assert not found.complete and found.solutions == []


def test_search_blocks_marks_truncated_blocks_incomplete():
    blocks = pl.DataFrame(
        {
            "block": [1, 1, 1, 2, 2],
            "item": [10, 11, 12, 20, 21],
            "amount": [40, 60, 7, 5, 5],
            "target": [100, 100, 100, 10, 10],
            "truncated": [False, False, False, True, True],
        },
        schema=BLOCK_SCHEMA,
    )
    got = search_blocks(blocks).sort("block", "item")
    assert got.select("block", "item", "n_solutions", "complete").rows() == [
        (1, 10, 1, True),
        (1, 11, 1, True),
        (2, 20, 1, False),
        (2, 21, 1, False),
    ]


def test_vectorised_blocks_agree_with_the_block_by_block_search():
    rng = np.random.default_rng(5)
    rows = []
    for block in range(300):
        k = int(rng.integers(2, 13))  # both paths: <= 10 vectorised, 11-12 one by one
        amounts = rng.integers(1, 40, size=k) * 100  # small values: many exact solutions
        pick = rng.random(k) < 0.5
        target = int(amounts[pick].sum()) if pick.sum() >= 2 else int(amounts[:2].sum())
        rows += [(block, 1000 + i, int(a), target, block % 7 == 0) for i, a in enumerate(amounts)]
    blocks = pl.DataFrame(rows, schema=BLOCK_SCHEMA, orient="row")
    got = search_blocks(blocks, max_solutions=3)
    expected = []
    for (block,), part in blocks.partition_by("block", as_dict=True).items():
        found = exact_subsets(part["amount"].to_numpy(), part["target"][0], max_solutions=3)
        for n, positions in enumerate(found.solutions[:3]):
            for p in positions:
                expected.append(
                    (block, n, part["item"][int(p)], len(found.solutions), not part["truncated"][0])
                )
    assert sorted(got.rows()) == sorted(expected)
    assert got["n_solutions"].max() == 4  # capped at max_solutions + 1


def test_batch_deposit_of_five_payments_is_one_to_many():
    parts = [125000, 48050, 9999, 310000, 77777]
    b = bank({"id": "b1", "amount": sum(parts), "day": 3, "description": "MOBILE DEPOSIT"})
    m = movements(
        *[{"id": f"m{i}", "amount": a, "day": i % 3} for i, a in enumerate(parts)],
        # same direction, same window, not part of the deposit
        {"id": "x1", "amount": 5000, "day": 1},
        {"id": "x2", "amount": 123456, "day": 2},
    )
    r = reconcile(b, m)
    assert r.matches.schema == MATCH_SCHEMA
    got = r.matches.sort("movement_id")
    assert got["movement_id"].to_list() == [f"m{i}" for i in range(5)]
    assert set(got["bank_line_id"]) == {"b1"}
    assert set(got["rule"]) == {"subset_sum"} and set(got["match_type"]) == {"1:n"}
    assert got["group_id"].n_unique() == 1 and got["match_id"].n_unique() == 5
    assert got["amount_difference"].to_list() == [0] * 5
    assert r.counts["subset_sum"] == 5
    assert sorted(r.unmatched_movements["movement_id"].to_list()) == ["x1", "x2"]
    assert r.suggestions.is_empty()


def test_split_payment_is_many_to_one():
    b = bank(
        {"id": "b1", "amount": -60000, "day": 1, "description": "ACME NET"},
        {"id": "b2", "amount": -40000, "day": 2, "description": "ACME TAX"},
        {"id": "b3", "amount": -15000, "day": 2, "description": "RENT"},
    )
    m = movements({"id": "m1", "amount": -100000, "document_type": "journal"})
    r = reconcile(b, m)
    got = r.matches.sort("bank_line_id")
    assert got.select("bank_line_id", "movement_id", "rule", "match_type").rows() == [
        ("b1", "m1", "subset_sum", "n:1"),
        ("b2", "m1", "subset_sum", "n:1"),
    ]
    assert got["group_id"].n_unique() == 1
    assert r.unmatched_bank_lines["line_id"].to_list() == ["b3"]


def test_two_subsets_summing_to_the_line_are_a_suggestion():
    b = bank({"id": "b1", "amount": 100000, "day": 2})
    m = movements(
        {"id": "m1", "amount": 30000},
        {"id": "m2", "amount": 70000},
        {"id": "m3", "amount": 40000, "day": 1},
        {"id": "m4", "amount": 60000, "day": 1},
    )
    r = reconcile(b, m)
    assert r.matches.is_empty()
    s = r.suggestions
    assert set(s["rule"]) == {"subset_sum"} and s["suggestion_id"].n_unique() == 1
    groups = s.group_by("group_id").agg(pl.col("movement_id").sort()).sort("movement_id")
    assert groups["movement_id"].to_list() == [["m1", "m2"], ["m3", "m4"]]
    assert "2 exact subsets" in s["reason"][0] and "1000.00 USD" in s["reason"][0]
    assert s["score"].max() < 0.5
    assert r.unmatched_bank_lines.height == 1 and r.unmatched_movements.height == 4


def test_a_subset_sharing_items_with_another_block_is_not_accepted():
    # two identical deposit lines, one set of payments: which line has them is unproven
    b = bank({"id": "b1", "amount": 50000, "day": 2}, {"id": "b2", "amount": 50000, "day": 2})
    m = movements({"id": "m1", "amount": 20000}, {"id": "m2", "amount": 30000})
    r = reconcile(b, m)
    assert r.matches.is_empty()
    assert r.suggestions["suggestion_id"].n_unique() == 2
    assert "shares an item" in r.suggestions["reason"][0]


def test_a_subset_with_a_same_amount_rival_is_not_accepted():
    # m3 is 9 days off: outside pass 3's window, inside this (wider) subset window
    b = bank({"id": "b1", "amount": 50000, "day": 9})
    m = movements(
        {"id": "m1", "amount": 20000, "day": 5},
        {"id": "m2", "amount": 30000, "day": 5},
        {"id": "m3", "amount": 50000},
    )
    r = reconcile(b, m, ReconConfig(subset_window_max_days=10))
    assert r.matches.is_empty()
    s = r.suggestions.filter(pl.col("rule") == "subset_sum")
    assert sorted(s["movement_id"]) == ["m1", "m2"]
    assert "one item of the same amount is also in the window" in s["reason"][0]
    # without the rival the same subset is accepted
    r = reconcile(
        b, m.filter(pl.col("movement_id") != "m3"), ReconConfig(subset_window_max_days=10)
    )
    assert r.counts["subset_sum"] == 2


def test_a_block_of_forty_candidates_stays_bounded_and_is_never_automatic():
    amounts = [1000 + 37 * i for i in range(40)]
    target = amounts[0] + amounts[1]  # solvable within the closest candidates
    b = bank({"id": "b1", "amount": target, "day": 5})
    m = movements(*[{"id": f"m{i:02d}", "amount": a, "day": i % 7} for i, a in enumerate(amounts)])
    started = time.perf_counter()
    r = reconcile(b, m, ReconConfig(subset_max_candidates=14))
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0
    assert r.matches.filter(pl.col("rule") == "subset_sum").is_empty()
    if not r.suggestions.is_empty():
        assert "uniqueness not proven" in r.suggestions["reason"][0]
    # the cap is a config value: a cap of 40 searches 2**40 subsets no more, it is time-boxed
    started = time.perf_counter()
    r = reconcile(b, m, ReconConfig(subset_max_candidates=40, subset_time_budget_ms=20))
    assert time.perf_counter() - started < 5.0
    assert r.matches.filter(pl.col("rule") == "subset_sum").is_empty()


def test_subset_respects_window_direction_and_account():
    b = bank({"id": "b1", "amount": 50000, "day": 12})  # 12 days after: outside -2..7
    m = movements({"id": "m1", "amount": 20000}, {"id": "m2", "amount": 30000})
    assert reconcile(b, m).matches.is_empty()
    b = bank({"id": "b1", "amount": -50000, "day": 2})  # money out vs payments in
    assert reconcile(b, m).matches.is_empty()
    b = bank({"id": "b1", "amount": 50000, "day": 2, "bank_account_id": "acct-2"})
    assert reconcile(b, m).matches.is_empty()
