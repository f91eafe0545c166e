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
    assert r.counts == {"exact_id": 2, "reference": 0, "amount_date": 0, "tolerance": 0}
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


def test_companies_never_mix():
    b = bank({"id": "b1", "amount": 100, "company_id": "cmp_b"})
    m = movements({"id": "m1", "amount": 100})
    assert reconcile(b, m).matches.is_empty()


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="external_id"):
        reconcile(bank({"id": "b1", "amount": 1}), movements().drop("external_id"))


# --- a generated world against its ground truth ---------------------------------------------


def test_world_precision_against_ground_truth(tmp_path: Path):
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    generate_world(WorldSpec(companies=4, months=3, seed=11), tmp_path / "world")
    world = load_world(tmp_path / "world")
    b = world_bank_lines(world)
    m = world_movements(world)
    started = time.perf_counter()
    result = reconcile(b, m)
    elapsed = time.perf_counter() - started

    truth = world.table("truth_matches").collect()
    one_to_one = truth.filter(pl.col("match_type") == "1:1").select(
        "company_id", pl.col("bank_line_id").alias("source_id"), "document_id"
    )
    got = (
        result.matches.join(
            b.select("company_id", pl.col("line_id").alias("bank_line_id"), "source_id"),
            on=["company_id", "bank_line_id"],
        )
        .join(
            m.select("company_id", "movement_id", "document_id"), on=["company_id", "movement_id"]
        )
        .join(
            one_to_one.with_columns(pl.lit(True).alias("ok")),
            on=["company_id", "source_id", "document_id"],
            how="left",
        )
        .with_columns(pl.col("ok").fill_null(False))
    )
    correct = int(got["ok"].sum())
    precision = correct / max(got.height, 1)
    recall = correct / one_to_one.height
    by_rule = got.group_by("rule").agg(pl.len().alias("n"), pl.col("ok").sum().alias("correct"))
    print(
        f"\nworld 4x3 seed 11: {got.height} auto matches, precision {precision:.4f}, "
        f"recall of 1:1 truth {recall:.4f} ({correct}/{one_to_one.height}), "
        f"reconcile {elapsed:.2f}s"
    )
    print(by_rule.sort("rule"))
    assert precision >= 0.99
    assert recall >= 0.9
