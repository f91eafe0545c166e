"""Injected anomalies appear at their documented rates, only in affected companies, and
look like what their labels say."""

from __future__ import annotations

import math

import polars as pl
import pytest
from world_helpers import Loaded

from finpipe.sandbox.world.anomalies import ANOMALY_TYPES, RATES

AUTOMATED = ["Bank feed rule", "Payroll sync", "Card processor sync", "Migration tool"]


def _affected(w: Loaded) -> set[str]:
    """Every affected company has exactly one Benford vendor: that identifies them."""
    a = w["truth_anomalies"]
    return set(a.filter(pl.col("anomaly_type") == "benford_vendor")["company_id"])


def _within(observed: float, expected: float) -> bool:
    return abs(observed - expected) <= 3.5 * math.sqrt(expected) + 1


def test_every_type_present_and_clean_companies_exist(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"]
    assert set(a["anomaly_type"]) == set(ANOMALY_TYPES)
    affected = _affected(medium_world)
    companies = set(medium_world["companies"]["company_id"])
    clean = companies - affected
    assert clean and affected
    assert set(a["company_id"]) == affected
    assert a["detail"].str.len_chars().min() > 10
    docs = medium_world["documents"]
    with_doc = a.filter(pl.col("document_id").is_not_null())
    assert with_doc.join(docs, on=["company_id", "provider", "document_id"], how="anti").height == 0
    assert a.filter(pl.col("anomaly_type") != "cash_crunch")["document_id"].null_count() == 0


@pytest.mark.parametrize("kind", [k for k, r in RATES.items() if r.unit == "company_month"])
def test_poisson_rates(medium_world: Loaded, kind: str) -> None:
    a = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == kind)
    company_months = len(_affected(medium_world)) * medium_world.spec.months
    expected = RATES[kind].value * company_months
    observed = a.select("company_id", "anomaly_id").n_unique()
    assert _within(observed, expected), (kind, observed, expected)


def test_duplicate_payment_rate_and_shape(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "duplicate_payment")
    docs = medium_world["documents"]
    pays = docs.filter(
        (pl.col("doc_type") == "bill_payment")
        & pl.col("company_id").is_in(list(_affected(medium_world)))
    )
    anomalies = a.select("company_id", "anomaly_id").n_unique()
    expected = RATES["duplicate_payment"].value * (pays.height - anomalies)
    assert _within(anomalies, expected), (anomalies, expected)
    pairs = (
        a.join(docs, on=["company_id", "provider", "document_id"])
        .group_by("company_id", "anomaly_id")
        .agg(
            pl.len(),
            pl.col("total").n_unique().alias("totals"),
            pl.col("contact_id").n_unique().alias("vendors"),
            (pl.col("issue_date").max() - pl.col("issue_date").min()).dt.total_days().alias("gap"),
        )
    )
    assert (pairs["len"] == 2).all() and (pairs["totals"] == 1).all()
    assert (pairs["vendors"] == 1).all() and (pairs["gap"] <= 6).all()


def test_off_hours_rate(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "off_hours_posting")
    docs = medium_world["documents"].filter(
        pl.col("company_id").is_in(list(_affected(medium_world)))
        & pl.col("doc_type").is_in(["bill_payment", "expense", "customer_payment"])
        & ~pl.col("status").is_in(["void", "deleted"])
        & pl.col("truth_duplicate_of").is_null()
    )
    people = docs.filter(~pl.col("created_by").is_in(AUTOMATED))
    expected = RATES["off_hours_posting"].value * people.height
    assert _within(a.height, expected), (a.height, expected)


def test_split_and_round_amounts(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"].join(
        medium_world["documents"], on=["company_id", "provider", "document_id"]
    )
    split = (
        a.filter(pl.col("anomaly_type") == "split_payment")
        .group_by("company_id", "anomaly_id")
        .agg(pl.len(), pl.col("contact_id").n_unique().alias("v"), pl.col("total").max())
    )
    assert (split["len"] >= 1).all() and (split["len"] <= 4).all() and (split["v"] == 1).all()
    assert ((split["total"] < 1_000_000) & (split["total"] > 400_000)).all()
    limit_words = a.filter(pl.col("anomaly_type") == "split_payment")["detail"]
    assert limit_words.str.contains("approval limit").all()
    rounds = a.filter(pl.col("anomaly_type") == "round_amount")
    assert (rounds["total"] % 50_000 == 0).all()  # whole hundreds / five hundreds


def test_new_vendor_and_bank_change(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"]
    docs = medium_world["documents"]
    contacts = medium_world["contacts"]
    key = ["company_id", "provider"]
    new = (
        a.filter(pl.col("anomaly_type") == "new_vendor_large_payment")
        .join(docs, on=[*key, "document_id"])
        .join(
            contacts.select(*key, "contact_id", pl.col("created_at").alias("vendor_created")),
            left_on=[*key, "contact_id_right"],
            right_on=[*key, "contact_id"],
        )
    )
    gap = (new["issue_date"] - new["vendor_created"].dt.date()).dt.total_days()
    assert new.height > 0 and gap.max() <= 8 and gap.min() >= 0
    changed = (
        a.filter(pl.col("anomaly_type") == "bank_details_changed")
        .join(docs, on=[*key, "document_id"])
        .join(
            contacts.select(*key, "contact_id", "bank_details_changed_at"),
            left_on=[*key, "contact_id_right"],
            right_on=[*key, "contact_id"],
        )
    )
    assert changed.height > 0
    days = (changed["issue_date"] - changed["bank_details_changed_at"].dt.date()).dt.total_days()
    assert days.min() >= 0 and days.max() <= 8
    # the impersonated supplier is an established one: at least three bill payments to it
    # before its bank details changed (never a vendor another injection just created)
    earlier = (
        changed.select(
            *key, pl.col("contact_id_right").alias("contact_id"), "bank_details_changed_at"
        )
        .join(docs.filter(pl.col("doc_type") == "bill_payment"), on=[*key, "contact_id"])
        .filter(pl.col("issue_date") < pl.col("bank_details_changed_at").dt.date())
        .group_by(*key, "contact_id")
        .agg(pl.len(), pl.col("total").max().alias("largest"))
    )
    assert earlier.height == changed.select(*key, "contact_id_right").unique().height
    assert earlier["len"].min() >= 3
    # ...and the redirected payment is larger than any it received before
    paid = changed.join(earlier, left_on=[*key, "contact_id_right"], right_on=[*key, "contact_id"])
    assert (paid["total"] >= 1.2 * paid["largest"]).all()


def _leading_digit(values: pl.Series) -> pl.Series:
    return values.abs().cast(pl.String).str.slice(0, 1).cast(pl.Int64)


def test_benford_vendor_breaks_benford(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "benford_vendor")
    docs = medium_world["documents"]
    bills = a.join(docs, on=["company_id", "provider", "document_id"])
    assert (bills["doc_type"] == "bill").all()
    # the totals (what the books record and Benford tests read) avoid leading digits 1-4
    assert _leading_digit(bills["total"]).is_in([5, 6, 7, 8, 9]).all()
    assert (bills["total"] >= 50_00).all()
    per_file = a.group_by("company_id", "provider").agg(pl.col("contact_id").n_unique())
    assert per_file["contact_id"].max() == 1
    # ...but spread like a real vendor's over two orders of magnitude, not one price band
    # (a single decade of 5-9 leading digits has a log10 SD under 0.1)
    spread = bills.group_by("company_id").agg(
        (pl.col("total").max() / pl.col("total").min()).log10().alias("decades"),
        pl.col("total").log10().std().alias("log_sd"),
    )
    assert (spread["decades"] > 1.0).all() and (spread["log_sd"] > 0.3).all(), spread
    # it hides in a main cost category, never in one whose month an expense spike inflates
    spikes = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "expense_spike")
    keys = ["company_id", "provider", "contact_id"]
    assert a.select(keys).unique().join(spikes.select(keys), on=keys).is_empty()
    normal = docs.filter(pl.col("doc_type").is_in(["bill", "expense"])).join(
        a, on=["company_id", "provider", "document_id"], how="anti"
    )
    share_one = (_leading_digit(normal["subtotal"].filter(normal["subtotal"] > 0)) == 1).mean()
    assert 0.22 <= share_one <= 0.4  # Benford: 30.1%


def test_expense_spikes(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "expense_spike")
    spikes = a.join(medium_world["documents"], on=["company_id", "provider", "document_id"])
    assert (spikes["doc_type"] == "expense").all()
    per = spikes.group_by("company_id", "anomaly_id").agg(
        pl.col("issue_date").dt.month().n_unique().alias("months")
    )
    assert (per["months"] == 1).all()
