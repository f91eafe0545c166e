"""Benford first-digit tests: a log-uniform sample conforms, digits 5-9 only do not, the
conformity ranges, the minimum sample size and which vendors get flagged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from finpipe.analytics.anomalies.benford import (
    EXPECTED,
    BenfordConfig,
    benford_flags,
    benford_test,
    conformity,
    vendor_tests,
)

from .helpers import d, transactions


def _counts(amounts: np.ndarray) -> np.ndarray:
    first = np.array([int(str(int(a))[0]) for a in amounts])
    return np.bincount(first, minlength=10)[1:]


def test_expected_proportions_are_benfords() -> None:
    assert EXPECTED[0] == pytest.approx(0.30103, abs=1e-5)
    assert EXPECTED[8] == pytest.approx(0.04576, abs=1e-5)
    assert EXPECTED.sum() == pytest.approx(1.0)


def test_a_log_uniform_sample_conforms_closely() -> None:
    rng = np.random.default_rng(3)
    amounts = 10 ** rng.uniform(3, 7, 20_000)  # four full orders of magnitude
    r = benford_test(_counts(amounts))
    assert r.n == 20_000
    assert r.mad < 0.006
    assert r.conformity == "close"
    assert r.p_value > 0.001


def test_digits_five_to_nine_only_are_nonconforming() -> None:
    rng = np.random.default_rng(4)
    amounts = rng.uniform(5, 10, 500) * 1000
    r = benford_test(_counts(amounts))
    assert r.conformity == "nonconformity"
    assert r.mad > 0.1
    assert r.p_value < 1e-30
    assert r.counts[:4] == (0, 0, 0, 0)


def test_conformity_ranges_are_nigrinis() -> None:
    assert [conformity(x) for x in (0.0, 0.006, 0.0061, 0.012, 0.0121, 0.015, 0.0151)] == [
        "close",
        "close",
        "acceptable",
        "acceptable",
        "marginal",
        "marginal",
        "nonconformity",
    ]


def test_exact_mad_and_chi_square_of_a_hand_computed_sample() -> None:
    # 10 amounts, all with first digit 1: observed (1, 0, ..., 0)
    r = benford_test(np.array([10, 0, 0, 0, 0, 0, 0, 0, 0]))
    expected_mad = (abs(1 - EXPECTED[0]) + EXPECTED[1:].sum()) / 9
    assert r.mad == pytest.approx(expected_mad)
    # digit 1: (10 - 3.0103)^2 / 3.0103 = 16.2296; digits 2-9: sum of 10 p_d = 6.9897
    assert r.chi2 == pytest.approx(23.2193, abs=1e-4)


def _vendor_rows(vendor: str, amounts: list[int]) -> list[dict]:
    return [
        {
            "document_id": f"{vendor}-{i}",
            "doc_type": "bill",
            "contact_id": vendor,
            "contact_name": vendor.upper(),
            "issue_date": d(1, 1 + i % 28),
            "amount": a,
        }
        for i, a in enumerate(amounts)
    ]


def test_minimum_sample_size_and_flags() -> None:
    rng = np.random.default_rng(5)
    fake = [int(x) for x in rng.uniform(5, 10, 40) * 100_000]  # 5,000.00-9,999.99
    small = fake[:29]  # one short of the minimum
    natural = [int(x) for x in 10 ** rng.uniform(4, 8, 200)]
    tx = transactions(
        *_vendor_rows("fake", fake), *_vendor_rows("small", small), *_vendor_rows("ok", natural)
    )
    tests = vendor_tests(tx, BenfordConfig(min_sample=30))
    assert sorted(tests["scope_id"]) == ["fake", "ok"]  # "small" has 29 amounts: not tested
    row = tests.filter(pl.col("scope_id") == "fake").row(0, named=True)
    assert row["n"] == 40 and row["conformity"] == "nonconformity"
    assert row["mean_digit"] > 5
    flags = benford_flags(tx, tests)
    assert set(flags["document_id"]) == {f"fake-{i}" for i in range(40)}
    assert set(flags["type"]) == {"benford_vendor"}
    assert flags["score"].is_between(0.0, 1.0).all()
    reason = flags["reason"][0]
    assert reason.startswith("vendor FAKE: first digits of 40 purchase amounts depart from")
    assert f"MAD {row['mad']:.4f}" in reason and "digit 1-9 counts 0,0,0,0," in reason
