"""Benford's law first-digit tests per vendor and per account (Nigrini's MAD thresholds).

The first significant digit ``d`` of naturally occurring amounts has probability
``log10(1 + 1/d)``. Per scope (a vendor's purchase documents, an account's journal lines)
the test reports:

* ``mad``: mean absolute deviation of the observed from the expected digit proportions;
  Nigrini's first-digit conformity ranges (*Benford's Law*, 2012, table 7.1): below 0.006
  close conformity, 0.006-0.012 acceptable, 0.012-0.015 marginally acceptable, above
  0.015 nonconformity;
* ``chi2`` (8 degrees of freedom) with its p-value, and the largest per-digit ``z``
  (Nigrini's z with continuity correction) as supporting statistics.

MAD has no sample-size term, and small samples drift far from the expected proportions by
chance (a conforming sample of 50 has an expected MAD near 0.03, "nonconformity"). So a
scope is tested only with at least ``min_sample`` amounts (default 30, amounts under 10.00
left out as Nigrini advises), and a vendor's documents are flagged only when

* its amounts spread widely enough for the law to apply (``applicable``, below),
* the MAD says nonconformity,
* the chi-square rejects conformity at ``alpha`` divided by the number of applicable vendors
  in the company (Bonferroni: with 30 vendors a few would fail by chance at 0.001), and
* the departure is towards high digits (mean first digit above Benford's 3.44): invented
  amounts lean to uniform or high leading digits (Hill 1988; Nigrini 2012), while a vendor
  with a narrow price range of small amounts (fuel, postage) over-represents 1s and 2s
  legitimately.

The MAD says how far, the chi-square whether the sample is large enough to tell.

Applicability. Benford's law is a property of amounts spread over several orders of
magnitude; amounts in a narrow band (a vendor's regular price range) do not follow it even
when nothing is wrong (Nigrini 2012, ch. 1 "When should data conform to Benford's law?";
Durtschi, Hillison & Pacini 2004). Smith (1997, *The Scientist and Engineer's Guide to
Digital Signal Processing*, ch. 34) quantifies it for the log-normal: the first-digit
departure is governed by the width sigma of log10(amount), falling like exp(-2 pi^2
sigma^2); at sigma = 0.25 the law fails badly, at 0.5 the share of leading 1s stays within
1 % of Benford's wherever the band sits. Against Nigrini's own scale, a log-normal's MAD from
Benford at its worst centring is 0.024 (nonconformity) at sigma = 0.30, 0.013 at 0.35, 0.006
(the close-conformity limit) at 0.40 and 0.001 at 0.50. So a scope is *applicable* only when
the log10 spread of its amounts is at least ``min_log_spread`` = 0.50, Smith's value:
narrower, even perfectly natural amounts can score "nonconformity", and a test of thousands
of them would reject with certainty. The limit is not the break-even 0.40 because amounts
are seldom log-normal: a vendor's routine bills plus a cluster of larger ones is two narrow
bands whose distance, not smoothness, makes the spread, and at 0.50 a shape that departs
from the log-normal still has room before it reaches nonconformity. The spread is the
standard deviation of the middle 90 % of log10 amounts divided by 0.789 (which makes it the
sigma of a log-normal, while a few outlying amounts cannot widen a narrow vendor). Scopes
that are not applicable keep their statistics in ``analytics.benford_tests`` with
``applicable = false`` and the reason, and are never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from finpipe.analytics.anomalies.features import PURCHASE_TYPES
from finpipe.analytics.anomalies.flags import empty_flags, finish
from finpipe.analytics.formats import scaled_threshold

DIGITS = np.arange(1, 10)
EXPECTED = np.log10(1 + 1 / DIGITS)
EXPECTED_MEAN_DIGIT = float((DIGITS * EXPECTED).sum())  # 3.44
CONFORMITY = ((0.006, "close"), (0.012, "acceptable"), (0.015, "marginal"))
NONCONFORMITY = "nonconformity"
# Amounts outside the middle 90 % are left out of the spread; the standard deviation of the
# middle 90 % of a normal is this fraction of its sigma (1 - 2 z phi(z) / 0.9 = its variance).
_TRIM = 0.05
_Z = NormalDist().inv_cdf(1 - _TRIM)
TRIMMED_SD = float(np.sqrt(1 - 2 * _Z * NormalDist().pdf(_Z) / (1 - 2 * _TRIM)))  # 0.789

TEST_SCHEMA = pl.Schema(
    {
        "scope": pl.String,
        "scope_id": pl.String,
        "scope_name": pl.String,
        "n": pl.Int64,
        "mad": pl.Float64,
        "conformity": pl.String,
        "chi2": pl.Float64,
        "p_value": pl.Float64,
        "max_z": pl.Float64,
        "mean_digit": pl.Float64,
        "digit_counts": pl.String,
        "log10_spread": pl.Float64,
        "applicable": pl.Boolean,
        "not_applicable_reason": pl.String,
    }
)


@dataclass(frozen=True)
class BenfordConfig:
    min_sample: int = 30
    min_amount: int = 10_00  # minor units of a two-decimal currency, rescaled per currency
    alpha: float = 0.001
    # log10 spread below which natural amounts need not conform (Smith 1997: at 0.5 a
    # log-normal follows Benford's law within 1 %)
    min_log_spread: float = 0.50


DEFAULT_BENFORD = BenfordConfig()


def first_digit(amount: pl.Expr) -> pl.Expr:
    """First significant digit of a positive integer amount (minor units)."""
    return amount.abs().cast(pl.String).str.slice(0, 1).cast(pl.Int64)


def conformity(mad: float) -> str:
    """Nigrini's first-digit conformity range of a MAD."""
    for limit, name in CONFORMITY:
        if mad <= limit:
            return name
    return NONCONFORMITY


@dataclass(frozen=True)
class BenfordResult:
    n: int
    mad: float
    conformity: str
    chi2: float
    p_value: float
    max_z: float
    counts: tuple[int, ...]


def benford_test(counts: np.ndarray) -> BenfordResult:
    """The first-digit test of digit counts ``counts[0..8]`` (digits 1-9)."""
    from scipy import stats  # imported here: loading the Dagster definitions stays fast

    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    if n == 0:
        return BenfordResult(0, float("nan"), "", float("nan"), float("nan"), float("nan"), ())
    observed = counts / n
    mad = float(np.abs(observed - EXPECTED).mean())
    chi2 = float((((counts - n * EXPECTED) ** 2) / (n * EXPECTED)).sum())
    p_value = float(stats.chi2.sf(chi2, df=8))
    # Nigrini's z with the continuity correction (1 / 2n) where it does not overshoot
    diff = np.abs(observed - EXPECTED)
    corr = np.where(diff > 1 / (2 * n), 1 / (2 * n), 0.0)
    z = (diff - corr) / np.sqrt(EXPECTED * (1 - EXPECTED) / n)
    return BenfordResult(
        int(n), mad, conformity(mad), chi2, p_value, float(z.max()), tuple(int(c) for c in counts)
    )


def log10_spread(amount: pl.Expr) -> pl.Expr:
    """The spread of ``log10(amount)`` (an aggregation): the standard deviation of its middle
    90 % divided by :data:`TRIMMED_SD`, so that a log-normal's is its sigma."""
    lg = amount.abs().cast(pl.Float64).log10()
    middle = lg.filter(lg.is_between(lg.quantile(_TRIM), lg.quantile(1 - _TRIM)))
    return middle.std() / TRIMMED_SD


def digit_table(
    frame: pl.DataFrame, key: str, amount: str, min_amount: int | pl.Expr
) -> pl.DataFrame:
    """Per ``key``, the counts of first digits 1-9 of ``amount`` (at least ``min_amount``)
    and the :func:`log10_spread` of those amounts."""
    d = frame.filter(pl.col(amount).abs() >= min_amount).select(
        key, first_digit(pl.col(amount)).alias("digit"), pl.col(amount)
    )
    return d.group_by(key).agg(
        *[(pl.col("digit") == k).sum().cast(pl.Int64).alias(f"d{k}") for k in DIGITS],
        log10_spread(pl.col(amount)).fill_null(0.0).alias("log10_spread"),
    )


def applicability(spread: float, config: BenfordConfig = DEFAULT_BENFORD) -> str | None:
    """``None`` when amounts of log10 spread ``spread`` can be held to Benford's law, else
    why not."""
    if spread >= config.min_log_spread:
        return None
    return (
        f"amounts too narrow for Benford's law: log10 spread {spread:.2f} < "
        f"{config.min_log_spread:.2f} (the middle 90 % spans about "
        f"{2 * _Z * spread:.1f} orders of magnitude; natural amounts this narrow need not conform)"
    )


def scope_tests(
    frame: pl.DataFrame,
    key: str,
    name: str,
    amount: str,
    scope: str,
    config: BenfordConfig = DEFAULT_BENFORD,
    currency: pl.Expr | None = None,
) -> pl.DataFrame:
    """:data:`TEST_SCHEMA` rows, one per ``key`` with at least ``min_sample`` amounts;
    ``currency`` (of ``amount``) rescales ``min_amount`` to its decimals."""
    floor = config.min_amount if currency is None else scaled_threshold(config.min_amount, currency)
    table = digit_table(frame.filter(pl.col(key).is_not_null()), key, amount, floor)
    names = frame.group_by(key).agg(pl.col(name).drop_nulls().first().alias("scope_name"))
    rows = []
    cols = [f"d{k}" for k in DIGITS]
    for row in table.sort(key).iter_rows(named=True):
        counts = np.array([row[c] for c in cols])
        if counts.sum() < config.min_sample:
            continue
        r = benford_test(counts)
        reason = applicability(row["log10_spread"], config)
        rows.append(
            {
                "scope": scope,
                "scope_id": row[key],
                "n": r.n,
                "mad": r.mad,
                "conformity": r.conformity,
                "chi2": r.chi2,
                "p_value": r.p_value,
                "max_z": r.max_z,
                "mean_digit": float((DIGITS * counts).sum() / counts.sum()),
                "digit_counts": ",".join(str(c) for c in r.counts),
                "log10_spread": row["log10_spread"],
                "applicable": reason is None,
                "not_applicable_reason": reason,
            }
        )
    tests = pl.DataFrame(rows, schema={k: v for k, v in TEST_SCHEMA.items() if k != "scope_name"})
    return (
        tests.join(names.rename({key: "scope_id"}), on="scope_id", how="left")
        .select(list(TEST_SCHEMA))
        .cast(dict(TEST_SCHEMA))
    )


def vendor_tests(tx: pl.DataFrame, config: BenfordConfig = DEFAULT_BENFORD) -> pl.DataFrame:
    """Per vendor, the test of its purchase documents (bills and expenses; payments repeat
    the bills' amounts and would count them twice)."""
    purchases = tx.filter(pl.col("doc_type").is_in(PURCHASE_TYPES))
    return scope_tests(
        purchases, "contact_id", "contact_name", "amount", "vendor", config, pl.col("currency")
    )


def account_tests(
    journal_lines: pl.DataFrame,
    config: BenfordConfig = DEFAULT_BENFORD,
    home_currency: str | None = None,
) -> pl.DataFrame:
    """Per account, the test of its journal lines' amounts (home currency ``home_currency``;
    the lines' own ``currency`` column is the document's, not the amount's)."""
    return scope_tests(
        journal_lines.with_columns(pl.col("amount").abs()),
        "account_id",
        "standard_code",
        "amount",
        "account",
        config,
        pl.lit(home_currency, pl.String),
    )


def is_flagged(tests: pl.DataFrame, config: BenfordConfig = DEFAULT_BENFORD) -> pl.Expr:
    """Applicable, nonconformity, a Bonferroni-corrected chi-square rejection (over the
    applicable vendors, the only ones held to the law) and high digits."""
    m = max(tests.filter((pl.col("scope") == "vendor") & pl.col("applicable")).height, 1)
    return (
        pl.col("applicable")
        & (pl.col("conformity") == NONCONFORMITY)
        & (pl.col("p_value") < config.alpha / m)
        & (pl.col("mean_digit") > EXPECTED_MEAN_DIGIT)
    )


def benford_flags(
    tx: pl.DataFrame, tests: pl.DataFrame, config: BenfordConfig = DEFAULT_BENFORD
) -> pl.DataFrame:
    """Every purchase document of a vendor whose test fails (:func:`is_flagged`: amounts
    spread widely enough, MAD nonconformity, chi-square p below ``alpha`` over the vendors
    tested, high digits). Accounts are tested and reported (``analytics.benford_tests``) but
    not flagged document by document: an account mixes vendors, and a fixed rent or payroll
    breaks Benford's law legitimately."""
    bad = tests.filter((pl.col("scope") == "vendor") & is_flagged(tests, config))
    if bad.is_empty():
        return empty_flags()
    hit = tx.filter(pl.col("doc_type").is_in(PURCHASE_TYPES)).join(
        bad.rename({"scope_id": "contact_id"}), on="contact_id"
    )
    # 0.5 at the nonconformity limit, rising with the MAD
    hit = hit.with_columns((0.5 + (pl.col("mad") - 0.015) * 2.5).alias("score"))
    reasons = [
        f"vendor {who}: first digits of {n} purchase amounts depart from Benford's law, MAD "
        f"{mad:.4f} (> 0.015 nonconformity), chi-square {chi2:.1f} (8 df, p = {p:.1e}), "
        f"max z {z:.1f}, mean first digit {mean:.2f} (Benford 3.44); digit 1-9 counts {digits}; "
        f"log10 spread {spread:.2f} (amounts wide enough for the law)"
        for who, n, mad, chi2, p, z, mean, digits, spread in hit.select(
            "contact_name",
            "n",
            "mad",
            "chi2",
            "p_value",
            "max_z",
            "mean_digit",
            "digit_counts",
            "log10_spread",
        ).iter_rows()
    ]
    return finish(hit.with_columns(pl.Series("reason", reasons)), "benford_vendor", "benford")
