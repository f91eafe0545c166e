"""Peer groups per company and month: NAICS prefix x revenue band, with a k-anonymity floor.

Each company-month is placed in the first candidate group, in this order, that has at least
``k`` members that month (``k`` >= :data:`MIN_K`):

    naics6+band, naics6, naics4+band, naics4, naics3+band, naics3, naics2+band, naics2

i.e. the revenue band is dropped before NAICS digits are (a peer in the same 6-digit industry
but another size band is closer than one of the same size in a merely related industry).
The 2-digit level is the NAICS *sector*, so 31-33 (manufacturing), 44-45 (retail) and 48-49
(transportation) each form one group, as NAICS defines them. A code shorter than a level's
digits (a 4-digit code at the 6-digit level) has no candidate at that level. A company with
no candidate of ``k`` members gets ``level = "reference"`` and is benchmarked against the
reference table (:mod:`.reference`) instead: no figure of a group below ``k`` is published.

Revenue bands use trailing-12-month revenue in the company's home currency *at face value*
(USD, GBP and EUR stay within about 1.3x of each other, well inside a band's 4-5x width;
an optional ``fx_to_band_currency`` rate table converts instead, see :func:`revenue_bands`).
With fewer than 12 months of books the available months are annualised (x 12 / months);
the trailing window counts rows, so the income statement has one row per month (it does).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from finpipe.errors import FinpipeError

MIN_K = 5
"""The floor of the minimum group size: a configuration below it is refused."""

LEVELS: tuple[tuple[int, bool], ...] = (
    (6, True),
    (6, False),
    (4, True),
    (4, False),
    (3, True),
    (3, False),
    (2, True),
    (2, False),
)
"""The fallback chain: (NAICS digits, with revenue band), first match of >= k members wins."""

REVENUE_BANDS: tuple[tuple[str, int], ...] = (
    ("<250k", 0),
    ("250k-1M", 250_000),
    ("1M-5M", 1_000_000),
    ("5M-25M", 5_000_000),
    (">25M", 25_000_000),
)
"""Band label and its lower bound in major units of the band currency (upper bound: the next
band's lower bound, exclusive). Negative revenue falls in the first band."""

SECTORS: dict[str, str] = {
    "31": "31-33",
    "32": "31-33",
    "33": "31-33",
    "44": "44-45",
    "45": "44-45",
    "48": "48-49",
    "49": "48-49",
}
"""NAICS two-digit codes that share one sector."""

MINOR_PER_MAJOR = 100  # USD, GBP and EUR have 2-decimal minor units

GROUPS_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "month": pl.Date,
        "group_id": pl.String,
        "level": pl.String,
        "naics_digits": pl.Int64,
        "naics_prefix": pl.String,
        "revenue_band": pl.String,
        "revenue_ttm": pl.Int64,
        "currency": pl.String,
        "n_members": pl.Int64,
    }
)


class PeersError(FinpipeError):
    """Peer benchmarks cannot be computed as asked (the family of this package's errors)."""


class PeerGroupError(PeersError, ValueError):
    """A peer-group configuration or input that cannot be used (``k`` too small, bad NAICS)."""


def check_k(k: int) -> int:
    """``k`` itself, refused below :data:`MIN_K` (k-anonymity is not optional)."""
    if k < MIN_K:
        raise PeerGroupError(
            f"peer group minimum size k={k} is below the floor of {MIN_K}: smaller groups "
            f"would let a member infer the others' figures; configure k >= {MIN_K}"
        )
    return k


def naics_sector(code: pl.Expr) -> pl.Expr:
    """The NAICS sector of a code expression: its first two digits, 31-33/44-45/48-49 joined."""
    two = code.str.slice(0, 2)
    return two.replace(SECTORS)


def naics_prefix(code: pl.Expr, digits: int) -> pl.Expr:
    """The ``digits``-digit prefix of a NAICS code (the sector at 2), null when the code is
    shorter than ``digits``."""
    if digits == 2:
        return pl.when(code.str.len_chars() >= 2).then(naics_sector(code))
    return pl.when(code.str.len_chars() >= digits).then(code.str.slice(0, digits))


def revenue_band(revenue_major: pl.Expr) -> pl.Expr:
    """The band label of a revenue in major units (null stays null)."""
    expr: pl.Expr = pl.lit(REVENUE_BANDS[0][0])
    for label, lower in REVENUE_BANDS[1:]:
        expr = pl.when(revenue_major >= lower).then(pl.lit(label)).otherwise(expr)
    return pl.when(revenue_major.is_not_null()).then(expr)


def trailing_revenue(income: pl.DataFrame) -> pl.DataFrame:
    """Trailing-12-month revenue per company and month from ``analytics.income_statement``
    rows (``company_id, month, currency, revenue``): the sum of the last <= 12 monthly rows,
    annualised (x 12 / months) while the books are younger than a year."""
    months = pl.int_range(pl.len()).over("company_id") + 1
    return (
        income.sort("company_id", "month")
        .with_columns(
            revenue_sum=pl.col("revenue").rolling_sum(12, min_samples=1).over("company_id"),
            months_ttm=pl.min_horizontal(months, pl.lit(12)),
        )
        .select(
            "company_id",
            "month",
            "currency",
            revenue_ttm=(pl.col("revenue_sum") * 12 / pl.col("months_ttm")).round(0).cast(pl.Int64),
        )
    )


def revenue_bands(
    revenue: pl.DataFrame, fx_to_band_currency: Mapping[str, float] | None = None
) -> pl.DataFrame:
    """``revenue`` (``company_id, month, currency, revenue_ttm`` in minor units) with its
    ``revenue_band``. Without ``fx_to_band_currency`` each company's home currency is taken at
    face value; with it, revenue is multiplied by the currency's rate first (a currency missing
    from the table is an error, not a silent face value)."""
    major = pl.col("revenue_ttm") / MINOR_PER_MAJOR
    if fx_to_band_currency is not None:
        missing = set(revenue["currency"].drop_nulls().unique()) - set(fx_to_band_currency)
        if missing:
            raise PeerGroupError(
                f"revenue bands: no rate for currency {sorted(missing)} in fx_to_band_currency; "
                "add the rate or band at face value (fx_to_band_currency=None)"
            )
        major = major * pl.col("currency").replace_strict(
            dict(fx_to_band_currency), return_dtype=pl.Float64
        )
    return revenue.with_columns(revenue_band=revenue_band(major))


def _group_id(digits: int, with_band: bool) -> pl.Expr:
    gid = pl.lit(f"naics{digits}:") + pl.col(f"_p{digits}")
    if with_band:
        gid = gid + pl.lit("|band:") + pl.col("revenue_band")
    return gid


def _level(digits: int, with_band: bool) -> str:
    return f"naics{digits}+band" if with_band else f"naics{digits}"


def assign_peer_groups(
    companies: pl.DataFrame, revenue: pl.DataFrame, k: int = MIN_K
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each company-month's peer group, and every used group's members.

    ``companies``: ``company_id, naics_code``; ``revenue``: ``company_id, month, currency,
    revenue_ttm, revenue_band`` (:func:`revenue_bands`), one row per company-month to place.
    Returns ``(assignments, members)``: assignments follow :data:`GROUPS_SCHEMA` (``level`` is
    ``reference`` and ``group_id`` null when no candidate reaches ``k``); members are
    ``month, group_id, company_id`` for every group some company was placed in.
    """
    check_k(k)
    bad = companies.filter(~pl.col("naics_code").str.contains(r"^\d{2,6}$"))
    if bad.height:
        row = bad.row(0, named=True)
        raise PeerGroupError(
            f"company {row['company_id']}: naics_code {row['naics_code']!r} is not a 2-6 digit "
            "NAICS code; fix ops.companies.naics_code"
        )
    base = revenue.join(companies.select("company_id", "naics_code"), on="company_id").with_columns(
        [naics_prefix(pl.col("naics_code"), d).alias(f"_p{d}") for d in (6, 4, 3, 2)]
    )
    # One key and size column per candidate level (8 of them: a loop over levels, not rows).
    keyed = base.with_columns(
        [_group_id(d, b).alias(f"_g{i}") for i, (d, b) in enumerate(LEVELS)]
    ).with_columns(
        [
            pl.when(pl.col(f"_g{i}").is_not_null())
            .then(pl.len().over("month", f"_g{i}"))
            .alias(f"_n{i}")
            for i in range(len(LEVELS))
        ]
    )
    ok = [pl.col(f"_n{i}") >= k for i in range(len(LEVELS))]

    def first(values: list[pl.Expr]) -> pl.Expr:
        expr: pl.Expr = pl.lit(None)
        for cond, value in reversed(list(zip(ok, values, strict=True))):
            expr = pl.when(cond).then(value).otherwise(expr)
        return expr

    assignments = keyed.with_columns(
        group_id=first([pl.col(f"_g{i}") for i in range(len(LEVELS))]).cast(pl.String),
        level=first([pl.lit(_level(d, b)) for d, b in LEVELS]).fill_null("reference"),
        naics_digits=first([pl.lit(d) for d, _ in LEVELS]).cast(pl.Int64),
        naics_prefix=first([pl.col(f"_p{d}") for d, _ in LEVELS]).cast(pl.String),
        _banded=first([pl.lit(b) for _, b in LEVELS]).fill_null(False),
        n_members=first([pl.col(f"_n{i}") for i in range(len(LEVELS))]).cast(pl.Int64),
    ).with_columns(revenue_band=pl.when(pl.col("_banded")).then(pl.col("revenue_band")))
    used = assignments.select("month", "group_id").drop_nulls().unique()
    members = pl.concat(
        [
            keyed.select("month", pl.col(f"_g{i}").alias("group_id"), "company_id")
            for i in range(len(LEVELS))
        ]
    ).join(used, on=["month", "group_id"], how="semi")
    return (
        assignments.select(list(GROUPS_SCHEMA.names())).cast(dict(GROUPS_SCHEMA)),
        members.unique().sort("month", "group_id", "company_id"),
    )
