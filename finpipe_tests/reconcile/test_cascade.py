"""The reconciliation cascade, passes 1-4, on small hand-built frames and on a generated
world measured against its ground truth."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import polars as pl
import pytest

from finpipe.reconcile import (
    BANK_LINE_SCHEMA,
    MATCH_SCHEMA,
    MOVEMENT_SCHEMA,
    ReconcileError,
    ReconConfig,
    reconcile,
)
from finpipe.sandbox.world.recon_view import world_bank_lines, world_movements

CO = "cmp_a"
ACCT = "acct-1"
D0 = dt.date(2026, 3, 2)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def bank(*rows: dict) -> pl.DataFrame:
    """Bank lines from partial rows: ``id``, ``amount``, ``day`` and any column to set."""
    full = []
    for r in rows:
        r = dict(r)
        line = r.pop("id")
        full.append(
            {
                "company_id": CO,
                "line_id": line,
                "bank_account_id": ACCT,
                "source_id": f"src-{line}",
                "booked_date": day(r.pop("day", 0)),
                "amount": r.pop("amount"),
                "currency": "USD",
                "status": "booked",
                "description": "ONLINE PAYMENT",
                "counterparty_name": None,
                "counterparty_account": None,
                "reference": None,
                **r,
            }
        )
    return pl.DataFrame(full, schema=BANK_LINE_SCHEMA)


def movements(*rows: dict) -> pl.DataFrame:
    """Ledger movements from partial rows: ``id``, ``amount``, ``day`` and any column."""
    full = []
    for r in rows:
        r = dict(r)
        mid = r.pop("id")
        full.append(
            {
                "company_id": CO,
                "movement_id": mid,
                "document_id": f"doc-{mid}",
                "document_number": None,
                "document_type": "customer_payment",
                "bank_account_id": ACCT,
                "date": day(r.pop("day", 0)),
                "amount": r.pop("amount"),
                "currency": "USD",
                "document_currency": None,
                "counterparty_name": None,
                "counterparty_account": None,
                "reference": None,
                "external_id": None,
                **r,
            }
        )
    return pl.DataFrame(full, schema=MOVEMENT_SCHEMA)


def pairs(result) -> set[tuple[str, str, str]]:
    return {
        (r["bank_line_id"], r["movement_id"], r["rule"])
        for r in result.matches.iter_rows(named=True)
    }


# --- each rule on its own --------------------------------------------------------------------


def test_exact_id_matches_source_id_or_reference_even_far_apart_in_amount_and_date():
    b = bank(
        {"id": "b1", "amount": 5000, "day": 20},
        {"id": "b2", "amount": 7000, "reference": "po_abc123"},
    )
    m = movements(
        {"id": "m1", "amount": 5100, "external_id": "src-b1"},
        {"id": "m2", "amount": 7000, "external_id": "po_abc123", "day": 1},
    )
    r = reconcile(b, m)
    assert pairs(r) == {("b1", "m1", "exact_id"), ("b2", "m2", "exact_id")}
    row = r.matches.filter(pl.col("bank_line_id") == "b1").row(0, named=True)
    assert row["amount_difference"] == 100
    assert r.matches.schema == MATCH_SCHEMA
    assert r.counts == {
        "exact_id": 2,
        "reference": 0,
        "amount_date": 0,
        "tolerance": 0,
        "counterparty": 0,
        "subset_sum": 0,
    }
    assert r.unmatched_bank_lines.is_empty() and r.unmatched_movements.is_empty()


def test_reference_token_matches_document_number_with_equal_amount():
    b = bank(
        {"id": "b1", "amount": 12000, "day": 20, "description": "ACH CREDIT ACME PAYMENT INV-1042"},
        {"id": "b2", "amount": 4500, "description": "FASTER PAYMENT X REF SI-162993"},
        {"id": "b3", "amount": 3300, "reference": "F2340500"},
    )
    m = movements(
        # 20 days apart: outside the amount/date window, found by its reference only
        {"id": "m1", "amount": 12000, "document_number": "INV1042"},
        {"id": "m2", "amount": 4500, "day": -40, "reference": "Payment SI-162993"},
        {"id": "m3", "amount": 3300, "day": -25, "document_number": "F2340500"},
        {"id": "m4", "amount": 12000, "day": 19, "document_number": "INV-1043"},
    )
    r = reconcile(b, m, ReconConfig())
    assert pairs(r) == {
        ("b1", "m1", "reference"),
        ("b2", "m2", "reference"),
        ("b3", "m3", "reference"),
    }
    assert r.unmatched_movements["movement_id"].to_list() == ["m4"]


def test_reference_within_tolerance_records_the_difference():
    b = bank({"id": "b1", "amount": 9715, "description": "STRIPE PAYOUT INV-2001"})
    m = movements({"id": "m1", "amount": 10000, "day": -10, "document_number": "INV-2001"})
    r = reconcile(b, m)
    row = r.matches.row(0, named=True)
    assert (row["rule"], row["amount_difference"], row["difference_kind"]) == (
        "reference",
        285,
        "fee",
    )


def test_amount_date_matches_inside_the_window_only():
    b = bank(
        {"id": "b1", "amount": -2500, "day": 3},
        {"id": "b2", "amount": -4000, "day": 9},  # 9 days after: outside -2..+7
        {"id": "b3", "amount": 6000, "day": -2},  # bank 2 days before the books: inside
    )
    m = movements(
        {"id": "m1", "amount": -2500},
        {"id": "m2", "amount": -4000},
        {"id": "m3", "amount": 6000},
    )
    r = reconcile(b, m)
    assert pairs(r) == {("b1", "m1", "amount_date"), ("b3", "m3", "amount_date")}
    assert r.unmatched_bank_lines["line_id"].to_list() == ["b2"]
    assert r.unmatched_movements["movement_id"].to_list() == ["m2"]
    wider = reconcile(b, m, ReconConfig(window_max_days=10))
    assert ("b2", "m2", "amount_date") in pairs(wider)


def test_amount_date_respects_bank_account_and_currency():
    b = bank(
        {"id": "b1", "amount": 1000, "bank_account_id": "acct-2"},
        {"id": "b2", "amount": 1000, "currency": "EUR"},
    )
    m = movements({"id": "m1", "amount": 1000})  # books say acct-1, USD
    assert reconcile(b, m).matches.is_empty()
    anywhere = movements({"id": "m1", "amount": 1000, "bank_account_id": None})
    assert pairs(reconcile(b, anywhere)) == {("b1", "m1", "amount_date")}


def test_pending_lines_are_never_matched():
    b = bank({"id": "b1", "amount": 1000, "status": "pending"})
    r = reconcile(b, movements({"id": "m1", "amount": 1000}))
    assert r.matches.is_empty()
    assert r.unmatched_bank_lines.is_empty()  # only booked lines are listed
    assert r.unmatched_movements["movement_id"].to_list() == ["m1"]


# --- the traps ---------------------------------------------------------------------------------


def test_same_amount_twice_pairs_by_date_distance():
    b = bank({"id": "b1", "amount": -9900, "day": 1}, {"id": "b2", "amount": -9900, "day": 4})
    m = movements({"id": "m1", "amount": -9900, "day": 0}, {"id": "m2", "amount": -9900, "day": 3})
    assert pairs(reconcile(b, m)) == {("b1", "m1", "amount_date"), ("b2", "m2", "amount_date")}


def test_same_amount_twice_second_round_takes_the_runner_up():
    # b1 is best for m1 and m2; once b1-m1 is taken, b2-m2 is the only pair left
    b = bank({"id": "b1", "amount": 500, "day": 1}, {"id": "b2", "amount": 500, "day": 6})
    m = movements({"id": "m1", "amount": 500, "day": 1}, {"id": "m2", "amount": 500, "day": 2})
    assert pairs(reconcile(b, m)) == {("b1", "m1", "amount_date"), ("b2", "m2", "amount_date")}


def test_same_amount_exact_tie_is_not_matched():
    b = bank({"id": "b1", "amount": -9900, "day": 1}, {"id": "b2", "amount": -9900, "day": 1})
    m = movements({"id": "m1", "amount": -9900}, {"id": "m2", "amount": -9900})
    r = reconcile(b, m)
    assert r.matches.is_empty()
    assert r.unmatched_bank_lines.height == 2 and r.unmatched_movements.height == 2


def test_counterparty_breaks_a_date_tie():
    b = bank(
        {"id": "b1", "amount": 800, "day": 1, "counterparty_name": "Harbor Studios Inc."},
        {"id": "b2", "amount": 800, "day": 1, "description": "ACH CREDIT MYERS FITNESS"},
    )
    m = movements(
        {"id": "m1", "amount": 800, "counterparty_name": "HARBOR STUDIOS"},
        {"id": "m2", "amount": 800, "counterparty_name": "Myers Fitness LLC"},
    )
    assert pairs(reconcile(b, m)) == {("b1", "m1", "amount_date"), ("b2", "m2", "amount_date")}


def test_value_date_ranks_card_purchases_booked_days_later():
    # two card purchases of the same amount, booked 4 and 2 days after they happened: by
    # booking date b1 (15th) is closest to m2 (14th); by the purchase day it is m1 (11th)
    b = bank(
        {"id": "b1", "amount": -2308, "day": 15, "value_date": day(11)},
        {"id": "b2", "amount": -2308, "day": 16, "value_date": day(14)},
    )
    m = movements(
        {"id": "m1", "amount": -2308, "day": 11}, {"id": "m2", "amount": -2308, "day": 14}
    )
    assert pairs(reconcile(b, m)) == {("b1", "m1", "amount_date"), ("b2", "m2", "amount_date")}


def test_optional_columns_may_be_left_out():
    b = bank({"id": "b1", "amount": 300}).drop("value_date")
    m = movements({"id": "m1", "amount": 300}).drop("document_currency")
    assert pairs(reconcile(b, m)) == {("b1", "m1", "amount_date")}


def test_fee_netted_card_settlement_is_a_tolerance_match():
    b = bank({"id": "b1", "amount": 9715, "day": 1, "description": "SQUARE TRANSFER"})
    m = movements({"id": "m1", "amount": 10000, "document_type": "deposit"})
    r = reconcile(b, m)
    row = r.matches.row(0, named=True)
    assert (row["rule"], row["amount_difference"], row["difference_kind"]) == (
        "tolerance",
        285,
        "fee",
    )
    assert row["confidence"] < 0.9
    # beyond 3.5 % + 0.30 it is not a match
    assert reconcile(bank({"id": "b1", "amount": 9600, "day": 1}), m).matches.is_empty()
    # a bank amount larger than the books is no fee
    assert reconcile(bank({"id": "b1", "amount": 10100, "day": 1}), m).matches.is_empty()


def test_fx_payment_is_a_tolerance_match():
    # books: a GBP bill paid from the EUR account, converted at the book rate to -11500 EUR;
    # the bank converted at its own rate
    b = bank({"id": "b1", "amount": -11680, "day": 2, "currency": "EUR"})
    m = movements(
        {"id": "m1", "amount": -11500, "currency": "EUR", "document_currency": "GBP"},
        {"id": "m2", "amount": -11500, "day": 1, "currency": "EUR"},  # domestic: no fx
    )
    r = reconcile(b, m)
    row = r.matches.row(0, named=True)
    assert (row["movement_id"], row["rule"], row["difference_kind"]) == ("m1", "tolerance", "fx")
    assert row["amount_difference"] == 180
    # more than 2 % off: no match
    far = bank({"id": "b1", "amount": -11800, "day": 2, "currency": "EUR"})
    assert reconcile(far, m).matches.is_empty()


def test_reference_naming_two_invoices_is_not_auto_matched():
    b = bank({"id": "b1", "amount": 5000, "day": 1, "reference": "INV-1042"})
    m = movements(
        {"id": "m1", "amount": 5000, "reference": "INV-1042"},
        {"id": "m2", "amount": 5000, "reference": "INV-1042"},
    )
    r = reconcile(b, m)
    assert r.matches.is_empty()  # reference ambiguous, amount/date an exact tie


def test_reference_token_on_several_lines_is_not_used():
    b = bank(
        {"id": "b1", "amount": 5000, "day": 30, "description": "POS 5877 CAFE"},
        {"id": "b2", "amount": 700, "day": 31, "description": "POS 5877 DINER"},
    )
    m = movements({"id": "m1", "amount": 5000, "document_number": "5877"})
    assert reconcile(b, m).matches.is_empty()


def test_a_line_matched_by_id_is_not_reused_by_amount():
    b = bank({"id": "b1", "amount": 4200, "day": 1})
    m = movements(
        {"id": "m1", "amount": 4200, "day": 9, "external_id": "src-b1"},  # far, but same id
        {"id": "m2", "amount": 4200, "day": 1},  # perfect amount/date candidate
    )
    r = reconcile(b, m)
    assert pairs(r) == {("b1", "m1", "exact_id")}
    assert r.unmatched_movements["movement_id"].to_list() == ["m2"]


def test_passes_in_sequence_keep_ids_around_pending_lines_and_far_amounts():
    # pending lines between booked ones, each booked line taken by a different pass, and a
    # window full of amounts far from any tolerance: row positions must stay right after
    # every pass narrows the open lines and movements
    b = bank(
        {"id": "p0", "amount": 4200, "status": "pending"},
        {"id": "b1", "amount": 4200, "day": 1},
        {"id": "p1", "amount": 9715, "day": 1, "status": "pending"},
        {"id": "b2", "amount": 5000, "day": 20, "reference": "INV-1042"},
        {"id": "b3", "amount": 9715, "day": 1, "description": "SQUARE TRANSFER"},
        {"id": "b4", "amount": -300, "day": 2, "description": "NO DIGITS HERE"},
        {"id": "b5", "amount": 777, "day": 3},
    )
    m = movements(
        {"id": "m1", "amount": 4200, "day": 9, "external_id": "src-b1"},
        {"id": "m2", "amount": 5000, "document_number": "INV-1042"},
        {"id": "m3", "amount": 10000, "document_type": "deposit"},
        {"id": "m4", "amount": -300, "day": 1},
        *({"id": f"far{i}", "amount": 20000 + 5000 * i, "day": i % 5} for i in range(6)),
    )
    r = reconcile(b, m)
    assert pairs(r) == {
        ("b1", "m1", "exact_id"),
        ("b2", "m2", "reference"),
        ("b4", "m4", "amount_date"),
        ("b3", "m3", "tolerance"),
    }
    assert r.unmatched_bank_lines["line_id"].to_list() == ["b5"]
    assert r.unmatched_movements["movement_id"].to_list() == [f"far{i}" for i in range(6)]


def test_counterparty_breaks_a_tie_between_two_reference_candidates():
    # one line naming two invoices, each token naming one movement: the two candidates tie
    # on amount and days, the counterparty decides (scored for shared candidates only)
    b = bank(
        {"id": "b1", "amount": 5000, "day": 1, "description": "ACME LTD INV-1001 INV-1002"},
        {"id": "b2", "amount": 800, "day": 1, "description": "SOLO INV-2001"},
    )
    m = movements(
        {"id": "m1", "amount": 5000, "document_number": "INV-1001", "counterparty_name": "Acme"},
        {"id": "m2", "amount": 5000, "document_number": "INV-1002", "counterparty_name": "Zeta"},
        {"id": "m3", "amount": 800, "document_number": "INV-2001", "counterparty_name": "Solo"},
    )
    r = reconcile(b, m, ReconConfig(rules=("reference",)))
    assert pairs(r) == {("b1", "m1", "reference"), ("b2", "m3", "reference")}


def test_a_candidate_without_a_score_is_never_taken():
    # no ledger date: the day distance (the exact-id score) is unknown, even for a lone pair
    m = movements({"id": "m1", "amount": 4200, "external_id": "src-b1"})
    m = m.with_columns(pl.lit(None, pl.Date).alias("date"))
    r = reconcile(bank({"id": "b1", "amount": 4200, "day": 1}), m)
    assert r.matches.is_empty()


def test_companies_never_mix():
    b = bank({"id": "b1", "amount": 100, "company_id": "cmp_b"})
    m = movements({"id": "m1", "amount": 100})
    assert reconcile(b, m).matches.is_empty()


def test_missing_column_is_named():
    with pytest.raises(ReconcileError, match="external_id"):
        reconcile(bank({"id": "b1", "amount": 1}), movements().drop("external_id"))


def test_rules_select_the_passes_and_timings_are_reported():
    b = bank(
        {"id": "b1", "amount": 4200, "day": 1},
        {"id": "b2", "amount": 50000, "day": 2},
    )
    m = movements(
        {"id": "m1", "amount": 4200},
        {"id": "m2", "amount": 20000},
        {"id": "m3", "amount": 30000},
    )
    full = reconcile(b, m)
    assert full.counts["amount_date"] == 1 and full.counts["subset_sum"] == 2
    assert set(full.timings) == {
        "prepare", "exact_id", "reference", "amount_date", "tolerance", "counterparty",
        "subset_sum", "suggestions", "finish",
    }  # fmt: skip
    assert all(v >= 0 for v in full.timings.values())
    first_four = reconcile(
        b, m, ReconConfig(rules=("exact_id", "reference", "amount_date", "tolerance"))
    )
    assert pairs(first_four) == {("b1", "m1", "amount_date")}
    assert "subset_sum" not in first_four.timings
    with pytest.raises(ReconcileError, match="fuzzy"):
        reconcile(b, m, ReconConfig(rules=("fuzzy",)))


# --- a generated world against its ground truth ---------------------------------------------


def score_against_truth(result, b: pl.DataFrame, m: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Precision of automatic matches (per pair) and recall per truth match type, automatic
    and automatic + suggested; per rule, matches and correct ones."""
    keys = ["company_id", "source_id", "document_id"]
    truth = truth.select(
        "company_id", pl.col("bank_line_id").alias("source_id"), "document_id", "match_type"
    ).unique(keys)

    def to_truth_keys(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(
            b.select("company_id", pl.col("line_id").alias("bank_line_id"), "source_id"),
            on=["company_id", "bank_line_id"],
        ).join(
            m.select("company_id", "movement_id", "document_id"), on=["company_id", "movement_id"]
        )

    got = to_truth_keys(result.matches).join(
        truth.select(*keys, pl.col("match_type").alias("truth_type")), on=keys, how="left"
    )
    ok = pl.col("truth_type").is_not_null()
    suggested = to_truth_keys(result.suggestions).select(keys).unique()
    auto = got.select(keys).unique()
    t = truth.with_columns(
        pl.struct(keys).is_in(auto.select(pl.struct(keys)).to_series().implode()).alias("auto"),
        pl.struct(keys).is_in(suggested.select(pl.struct(keys)).to_series().implode()).alias("sug"),
    )
    recall = {
        mt: (
            int(g["auto"].sum()) / g.height,
            int((g["auto"] | g["sug"]).sum()) / g.height,
            g.height,
        )
        for (mt,), g in t.group_by("match_type")
    }
    by_rule = (
        got.group_by("rule", "match_type")
        .agg(pl.len().alias("n"), ok.sum().alias("correct"))
        .sort("rule", "match_type")
    )
    return {
        "n": got.height,
        "precision": int(got.select(ok.sum()).item()) / max(got.height, 1),
        "recall_auto": int(t["auto"].sum()) / t.height,
        "recall_auto_suggested": int((t["auto"] | t["sug"]).sum()) / t.height,
        "recall_by_type": recall,
        "by_rule": by_rule,
        "suggestions": result.suggestions["suggestion_id"].n_unique(),
    }


@pytest.mark.parametrize(("companies", "months", "seed"), [(4, 3, 11), (6, 3, 4)])
def test_world_precision_and_recall_against_ground_truth(
    tmp_path: Path, companies: int, months: int, seed: int
):
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    generate_world(WorldSpec(companies=companies, months=months, seed=seed), tmp_path / "world")
    world = load_world(tmp_path / "world")
    b = world_bank_lines(world)
    m = world_movements(world)
    started = time.perf_counter()
    result = reconcile(b, m)
    elapsed = time.perf_counter() - started
    score = score_against_truth(result, b, m, world.table("truth_matches").collect())

    print(
        f"\nworld {companies}x{months} seed {seed}: {score['n']} auto match rows, precision "
        f"{score['precision']:.4f}, recall auto {score['recall_auto']:.4f}, auto+suggested "
        f"{score['recall_auto_suggested']:.4f}, {score['suggestions']} suggestions, "
        f"reconcile {elapsed:.2f}s"
    )
    for mt, (auto, both, n) in sorted(score["recall_by_type"].items()):
        print(f"  truth {mt}: {n} pairs, recall auto {auto:.4f}, auto+suggested {both:.4f}")
    print(score["by_rule"])
    assert score["precision"] >= 0.995
    assert score["recall_auto_suggested"] >= 0.97
    assert score["recall_by_type"]["1:1"][0] >= 0.97
    # the batched deposits and split payments are found too, not only the 1:1 pairs
    assert score["recall_by_type"]["1:n"][1] >= 0.9
    assert score["recall_by_type"]["n:1"][1] >= 0.9
    assert result.matches.filter(pl.col("rule") == "subset_sum").height > 0
