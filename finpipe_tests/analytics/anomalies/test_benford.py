"""Benford first-digit tests: a log-uniform sample conforms, digits 5-9 only do not, the
conformity ranges, the minimum sample size, when amounts spread widely enough for the law to
apply and which vendors get flagged."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from finpipe.analytics.anomalies.benford import (
    EXPECTED,
    BenfordConfig,
    account_tests,
    applicability,
    benford_flags,
    benford_test,
    conformity,
    log10_spread,
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


def _wide_fake(rng: np.random.Generator, n: int) -> list[int]:
    """Invented amounts over two decades (500.00-99,999.99), leading digit 5-9 only."""
    return [int(x) for x in rng.uniform(5, 10, n) * 10 ** rng.integers(5, 7, n)]


def test_minimum_sample_size_and_flags() -> None:
    rng = np.random.default_rng(5)
    fake = _wide_fake(rng, 40)
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
    assert row["applicable"] and row["not_applicable_reason"] is None
    assert row["log10_spread"] > 0.5
    ok = tests.filter(pl.col("scope_id") == "ok").row(0, named=True)
    assert ok["applicable"] and ok["log10_spread"] > 1.0
    flags = benford_flags(tx, tests)
    assert set(flags["document_id"]) == {f"fake-{i}" for i in range(40)}
    assert set(flags["type"]) == {"benford_vendor"}
    assert flags["score"].is_between(0.0, 1.0).all()
    reason = flags["reason"][0]
    assert reason.startswith("vendor FAKE: first digits of 40 purchase amounts depart from")
    assert f"MAD {row['mad']:.4f}" in reason and "digit 1-9 counts 0,0,0,0," in reason
    assert f"log10 spread {row['log10_spread']:.2f}" in reason


def test_log_normal_conformity_depends_on_its_spread() -> None:
    """The ground for the applicability limit: natural (log-normal) amounts conform closely
    once log10 spreads by 0.5 (well inside close conformity), and can be nonconforming at
    0.3, wherever centred."""
    rng = np.random.default_rng(6)
    centres = np.linspace(4.0, 5.0, 11)  # every position of the band within a decade
    narrow = [benford_test(_counts(10 ** rng.normal(c, 0.30, 100_000))).mad for c in centres]
    wide = [benford_test(_counts(10 ** rng.normal(c, 0.50, 100_000))).mad for c in centres]
    assert max(narrow) > 0.015  # nonconformity with nothing wrong
    assert max(wide) < 0.003  # close conformity (<= 0.006) with room to spare


def test_log10_spread_is_a_log_normals_sigma_and_ignores_a_few_outliers() -> None:
    rng = np.random.default_rng(7)
    amounts = 10 ** rng.normal(5, 0.3, 20_000)
    with_outliers = np.r_[amounts[:19_000], amounts[19_000:] * 100]  # 5 % a hundred times larger
    frame = pl.DataFrame({"a": amounts, "b": with_outliers})
    spread = frame.select(log10_spread(pl.col("a")), log10_spread(pl.col("b")).alias("b")).row(0)
    assert spread[0] == pytest.approx(0.30, abs=0.01)
    assert spread[1] < 0.4  # still too narrow: the outliers do not make it a Benford set
    assert np.log10(with_outliers).std() > 0.5  # (a plain standard deviation would say wide)


def test_applicability_limit() -> None:
    assert applicability(0.50) is None
    reason = applicability(0.49)
    assert reason is not None and reason.startswith("amounts too narrow for Benford's law")
    assert "0.49 < 0.50" in reason
    assert applicability(0.49, BenfordConfig(min_log_spread=0.4)) is None


def test_a_narrow_band_vendor_is_not_applicable_and_not_flagged() -> None:
    # A regular supplier's price band: log-normal, log10 sigma 0.25 centred on 6,300.00. Its
    # digits depart from Benford's law (towards 5-7, high) and with 2,000 amounts the
    # chi-square is certain, yet nothing is wrong: such a band cannot follow the law.
    rng = np.random.default_rng(8)
    band = [int(x) for x in 10 ** rng.normal(5.8, 0.25, 2_000)]
    tx = transactions(*_vendor_rows("band", band), *_vendor_rows("fake", _wide_fake(rng, 60)))
    tests = vendor_tests(tx)
    row = tests.filter(pl.col("scope_id") == "band").row(0, named=True)
    assert row["conformity"] == "nonconformity" and row["p_value"] < 1e-10
    assert row["mean_digit"] > 3.44  # every other flag condition holds
    assert not row["applicable"]
    assert row["log10_spread"] == pytest.approx(0.25, abs=0.02)
    assert row["not_applicable_reason"].startswith("amounts too narrow for Benford's law")
    flags = benford_flags(tx, tests)
    assert set(flags["document_id"]) == {f"fake-{i}" for i in range(60)}  # the wide 5-9 one


def test_a_single_decade_of_digits_five_to_nine_is_not_applicable() -> None:
    # Amounts all within 5,000.00-9,999.99 are one narrow band: whatever their digits, the
    # first-digit test cannot tell invention from a price range.
    rng = np.random.default_rng(9)
    one_decade = [int(x) for x in rng.uniform(5, 10, 300) * 100_000]
    tests = vendor_tests(transactions(*_vendor_rows("one", one_decade)))
    assert tests["conformity"].to_list() == ["nonconformity"]
    assert tests["applicable"].to_list() == [False]
    assert benford_flags(transactions(*_vendor_rows("one", one_decade)), tests).is_empty()


def test_accounts_spanning_decades_are_applicable() -> None:
    rng = np.random.default_rng(10)
    mixed = 10 ** rng.normal(5.0, 0.7, 500)  # many vendors' lines: several decades
    rent = np.full(40, 250_000.0)  # one fixed amount: no spread at all
    lines = pl.DataFrame(
        {
            "account_id": ["mixed"] * 500 + ["rent"] * 40,
            "standard_code": ["opex.supplies"] * 500 + ["opex.rent"] * 40,
            "amount": np.r_[-mixed, rent].astype(np.int64),
        }
    )
    tests = account_tests(lines, home_currency="EUR").sort("scope_id")
    assert tests["scope"].to_list() == ["account", "account"]
    assert tests["applicable"].to_list() == [True, False]
    assert tests["log10_spread"][1] == 0.0
