"""The reference benchmark: published industry quartiles by NAICS sector, so a company with no
peer group of ``k`` members (a single-company deployment, say) still gets a position.

The figures live in ``data/industry_ratios.csv`` (source, selection and transformations in
``data/README.md``): one row per NAICS sector and KPI with Q1, median and Q3. A company's
position is interpolated piecewise-linearly through (Q1, 25), (median, 50), (Q3, 75); beyond
the quartiles the adjacent segment's slope is extended and the result clamped to [0, 100]
(a published quartile table says nothing about its tails, so 0 and 100 mean "far below Q1"
and "far above Q3"). Lower-is-better KPIs are inverted (``100 -``) so 100 is always best.
Rows are labelled ``source = reference``, never ``peers``: they are not computed from
finpipe's companies.
"""

from __future__ import annotations

from importlib.resources import files

import polars as pl

from finpipe.analytics.peers.groups import PeersError, naics_sector

REFERENCE_FILE = "industry_ratios.csv"

REFERENCE_SCHEMA = pl.Schema(
    {
        "naics_sector": pl.String,
        "kpi": pl.String,
        "q1": pl.Float64,
        "median": pl.Float64,
        "q3": pl.Float64,
        "source_industry": pl.String,
        "source_anzsic_note": pl.String,
        "fiscal_year": pl.Int64,
        "turnover_band": pl.String,
        "source_url": pl.String,
    }
)


class ReferenceDataError(PeersError, ValueError):
    """The reference table is malformed (quartiles out of order, a KPI unknown)."""


def load_reference(text: str | None = None) -> pl.DataFrame:
    """The reference quartiles (the packaged CSV, or ``text`` in the same format). Rows with
    an empty quartile are dropped: an unknown figure is left out, never guessed."""
    if text is None:
        text = files("finpipe.analytics.peers").joinpath("data", REFERENCE_FILE).read_text()
    frame = pl.read_csv(
        text.encode(), schema_overrides=dict(REFERENCE_SCHEMA), infer_schema_length=0
    )
    frame = frame.select(list(REFERENCE_SCHEMA.names())).cast(dict(REFERENCE_SCHEMA))
    frame = frame.drop_nulls(["q1", "median", "q3"])
    unordered = frame.filter(
        ~((pl.col("q1") <= pl.col("median")) & (pl.col("median") <= pl.col("q3")))
    )
    if unordered.height:
        row = unordered.row(0, named=True)
        raise ReferenceDataError(
            f"reference {REFERENCE_FILE}: sector {row['naics_sector']} kpi {row['kpi']}: "
            f"quartiles {row['q1']}, {row['median']}, {row['q3']} are not in order; fix the row"
        )
    dupes = frame.filter(pl.struct("naics_sector", "kpi").is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        raise ReferenceDataError(
            f"reference {REFERENCE_FILE}: sector {row['naics_sector']} kpi {row['kpi']} appears "
            "twice; keep one row per sector and KPI"
        )
    return frame


def _segment(value: pl.Expr, x0: pl.Expr, x1: pl.Expr, p0: float, p1: float) -> pl.Expr:
    # Linear through (x0, p0) and (x1, p1); a zero-width segment is a step at x0.
    width = x1 - x0
    return (
        pl.when(width > 0)
        .then(p0 + (value - x0) * (p1 - p0) / width)
        .when(value < x0)
        .then(pl.lit(p0))
        .when(value > x0)
        .then(pl.lit(p1))
        .otherwise(pl.lit((p0 + p1) / 2))
    )


def interpolated_percentile(
    value: pl.Expr, q1: pl.Expr, median: pl.Expr, q3: pl.Expr, higher_is_better: pl.Expr
) -> pl.Expr:
    """The position of ``value`` against published quartiles, in [0, 100], 100 = best."""
    raw = (
        pl.when(value == median)
        .then(pl.lit(50.0))
        .when(value < median)
        .then(_segment(value, q1, median, 25.0, 50.0))
        .otherwise(_segment(value, median, q3, 50.0, 75.0))
        .clip(0.0, 100.0)
    )
    return pl.when(higher_is_better).then(raw).otherwise(100.0 - raw)


def reference_benchmarks(
    values: pl.DataFrame, companies: pl.DataFrame, reference: pl.DataFrame
) -> pl.DataFrame:
    """Reference positions for ``values`` (``company_id, month, kpi, value,
    higher_is_better``) of companies (``company_id, naics_code``) whose sector and KPI the
    reference table covers: ``company_id, month, kpi, group_id ("reference:<sector>"),
    value, percentile, group_median, group_q1, group_q3``."""
    sectors = companies.select("company_id", naics_sector=naics_sector(pl.col("naics_code")))
    return (
        values.filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
        .join(sectors, on="company_id")
        .join(reference, on=["naics_sector", "kpi"])
        .select(
            "company_id",
            "month",
            "kpi",
            group_id=pl.lit("reference:") + pl.col("naics_sector"),
            value=pl.col("value"),
            percentile=interpolated_percentile(
                pl.col("value"),
                pl.col("q1"),
                pl.col("median"),
                pl.col("q3"),
                pl.col("higher_is_better"),
            ),
            group_median=pl.col("median"),
            group_q1=pl.col("q1"),
            group_q3=pl.col("q3"),
        )
    )
