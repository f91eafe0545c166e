"""Winsorised percentiles, quartiles and 12-month trends of KPI values within groups.

Per group, month and KPI, over the members' non-null values (``n`` of them):

1. *Winsorise* at ``fraction`` (5 % by default), the classic way: with ``g = floor(fraction *
   n)``, the ``g`` lowest values become the ``(g+1)``-th smallest and the ``g`` highest the
   ``(n-g)``-th smallest. Below 20 members ``g`` is 0 and nothing changes; above, an extreme
   outlier no longer owns the 0th or 100th percentile alone, it shares the tail.
2. *Percentile*: ``100 * (midrank - 1) / (n - 1)`` of the winsorised value (ties share their
   average rank), so the lowest is 0 and the highest 100; for KPIs where lower is better it is
   ``100 -`` that, so 100 is always the best position.
3. *Median, Q1, Q3* of the winsorised values (linear interpolation), and ``n``.

Nothing is computed for a group-month-KPI with fewer than ``k`` values: those rows are dropped
here, so a caller cannot publish them by mistake.
"""

from __future__ import annotations

import polars as pl

from finpipe.analytics.peers.groups import MIN_K, check_k

WINSOR_FRACTION = 0.05

STATS_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "month": pl.Date,
        "group_id": pl.String,
        "kpi": pl.String,
        "value": pl.Float64,
        "percentile": pl.Float64,
        "group_median": pl.Float64,
        "group_q1": pl.Float64,
        "group_q3": pl.Float64,
        "n": pl.Int64,
    }
)


def winsorise(value: pl.Expr, over: list[str], fraction: float = WINSOR_FRACTION) -> pl.Expr:
    """``value`` winsorised within each ``over`` window: the ``floor(fraction * n)`` lowest and
    highest values clipped to the next inner order statistic (nulls stay null, uncounted)."""
    if not 0 <= fraction < 0.5:
        raise ValueError(f"winsorising fraction {fraction} must be in [0, 0.5)")
    n = value.count().over(over)
    g = (n.cast(pl.Float64) * fraction).floor().cast(pl.Int64)
    ordinal = value.rank("ordinal").over(over)
    low = pl.when(ordinal == g + 1).then(value).max().over(over)
    high = pl.when(ordinal == n - g).then(value).max().over(over)
    return value.clip(low, high)


def group_percentiles(
    values: pl.DataFrame,
    members: pl.DataFrame,
    k: int = MIN_K,
    fraction: float = WINSOR_FRACTION,
) -> pl.DataFrame:
    """Every member's percentile in every group it belongs to, with the group's quartiles.

    ``values``: ``company_id, month, kpi, value, higher_is_better`` (nulls are ignored);
    ``members``: ``month, group_id, company_id``. Returns :data:`STATS_SCHEMA` rows only for
    group-month-KPIs with at least ``k`` values.
    """
    check_k(k)
    window = ["month", "group_id", "kpi"]
    joined = members.join(
        values.filter(pl.col("value").is_not_null() & pl.col("value").is_finite()),
        on=["company_id", "month"],
    )
    n = pl.col("value").count().over(window)
    ranked = (
        joined.with_columns(n=n)
        .filter(pl.col("n") >= k)
        .with_columns(_w=winsorise(pl.col("value"), window, fraction))
        .with_columns(
            _pct=100.0 * (pl.col("_w").rank("average").over(window) - 1) / (pl.col("n") - 1),
            group_median=pl.col("_w").median().over(window),
            group_q1=pl.col("_w").quantile(0.25, "linear").over(window),
            group_q3=pl.col("_w").quantile(0.75, "linear").over(window),
        )
        .with_columns(
            percentile=pl.when(pl.col("higher_is_better"))
            .then(pl.col("_pct"))
            .otherwise(100.0 - pl.col("_pct"))
        )
    )
    return ranked.select(list(STATS_SCHEMA.names())).cast(dict(STATS_SCHEMA))


def percentile_change_12m(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """``frame`` with ``percentile_change_12m``: its percentile minus the one 12 months
    earlier of the same ``by`` key (company, KPI and source), null when either is missing."""
    earlier = frame.select(
        *by,
        pl.col("month").dt.offset_by("12mo").alias("month"),
        pl.col("percentile").alias("_pct_12m_ago"),
    ).unique(subset=[*by, "month"], keep="first")
    return (
        frame.join(earlier, on=[*by, "month"], how="left")
        .with_columns(percentile_change_12m=pl.col("percentile") - pl.col("_pct_12m_ago"))
        .drop("_pct_12m_ago")
    )
