"""Seasonally adjusted alerts: robust STL on monthly revenue and per-category expenses.

Each series (revenue: income accounts 4xxx; expenses: each 5xxx / 6xxx standard account)
with at least two full years is split into a robust ``statsmodels`` STL trend (period 12,
``robust=True``) and a seasonal level per calendar month taken from the other years (see
:func:`decompose`); the residual's robust z-score (median / 1.4826 MAD, Iglewicz-Hoaglin's
3.5 cut-off) flags a month whose excess is also at least its expected level (the month at
least doubles). Intermittent series (a non-zero month less than once per 1.32 months on
average, Syntetos and Boylan's cut-off) are not tested: they have no level to leave. A
December peak seen every year lands in the seasonal component and is not flagged; a one-off
spike stays in the residual and is. Shorter series get no alerts (no season can be told
from a spike).

For an expense alert the documents behind the excess are flagged ``expense_spike``: the
month's documents of that category, largest first, until they cover the residual (the
amount above what trend and season explain), leaving out those no larger than twice the
category's median document (the month's routine charges).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.analytics.anomalies.flags import empty_flags, finish, label, money

ALERT_SCHEMA = pl.Schema(
    {
        "series": pl.String,  # revenue | expense
        "category": pl.String,  # standard code ("" for revenue)
        "month": pl.Date,
        "actual": pl.Int64,
        "expected": pl.Int64,  # trend + seasonal
        "residual": pl.Int64,
        "z": pl.Float64,
        "score": pl.Float64,
        "reason": pl.String,
    }
)


@dataclass(frozen=True)
class SeasonalConfig:
    period: int = 12
    z_threshold: float = 3.5
    min_excess_share: float = 1.0  # a spike at least doubles the expected level
    # Intermittent series (Syntetos-Boylan: mean interval between non-zero months above
    # 1.32) have no level to deviate from: lumpy fees, annual premiums. Not tested.
    max_mean_interval: float = 1.32
    scale_floor: float = 0.05  # residual scale >= 5 % of the median monthly level


DEFAULT_SEASONAL = SeasonalConfig()


def robust_z(x: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """(x - median) / max(1.4826 MAD, floor); zeros where that scale is zero."""
    med = np.median(x)
    scale = max(float(np.median(np.abs(x - med))) * 1.4826, floor)
    if scale == 0:
        return np.zeros_like(x, dtype=np.float64)
    return (x - med) / scale


def decompose(values: np.ndarray, period: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(expected = trend + seasonal, residual) of a monthly series.

    The trend is a robust STL's (``statsmodels``, ``robust=True``). The seasonal value of a
    month is the median detrended value of the same calendar month in the *other* years:
    with two or three years, STL's own seasonal smoother passes through (nearly) every
    value of a calendar month and absorbs a one-off spike, while a peak that recurs every
    year is in the other years too and so stays expected."""
    from statsmodels.tsa.seasonal import STL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series
        trend = STL(values.astype(np.float64), period=period, robust=True).fit().trend
    detrended = values - trend
    n = len(values)
    seasonal = np.zeros(n)
    for t in range(n):  # a few dozen months: the loop is over months, not rows
        others = [detrended[u] for u in range(t % period, n, period) if u != t]
        seasonal[t] = float(np.median(others)) if others else 0.0
    expected = trend + seasonal
    return expected, values - expected


def series_alerts(
    months: list, values: np.ndarray, config: SeasonalConfig = DEFAULT_SEASONAL
) -> list[tuple[int, float, float, float]]:
    """(index, expected, residual, z) of each alerting month of one monthly series."""
    if len(values) < 2 * config.period or not np.any(values):
        return []
    active = int(np.count_nonzero(values > 0))
    if not active or len(values) / active > config.max_mean_interval:
        return []
    expected, resid = decompose(values, config.period)
    # A series the model fits almost exactly has a near-zero residual MAD; the floor (a
    # share of the series' typical monthly level) keeps small wiggles from huge z.
    z = robust_z(resid, floor=config.scale_floor * float(np.median(np.abs(values))))
    out = []
    for i in np.flatnonzero(z >= config.z_threshold):
        if expected[i] > 0 and resid[i] >= config.min_excess_share * expected[i]:
            out.append((int(i), float(expected[i]), float(resid[i]), float(z[i])))
    return out


def monthly_series(journal_lines: pl.DataFrame) -> pl.DataFrame:
    """(series, category, month, amount) over every month of the books, zeros filled."""
    lines = journal_lines.filter(pl.col("standard_code").is_not_null()).with_columns(
        pl.col("date").dt.truncate("1mo").alias("month"),
        pl.col("standard_code").str.slice(0, 1).alias("head"),
    )
    revenue = (
        lines.filter(pl.col("head") == "4")
        .group_by("month")
        .agg((-pl.col("amount").sum()).alias("amount"))
        .with_columns(pl.lit("revenue").alias("series"), pl.lit("").alias("category"))
    )
    expense = (
        lines.filter(pl.col("head").is_in(("5", "6")))
        .group_by("standard_code", "month")
        .agg(pl.col("amount").sum().alias("amount"))
        .rename({"standard_code": "category"})
        .with_columns(pl.lit("expense").alias("series"))
    )
    both = pl.concat([revenue.select(expense.columns), expense])
    if both.is_empty():
        return both.select("series", "category", "month", "amount")
    start, end = lines["month"].min(), lines["month"].max()
    grid = pl.date_range(start, end, "1mo", eager=True).alias("month").to_frame()
    keys = both.select("series", "category").unique()
    return (
        keys.join(grid, how="cross")
        .join(both, on=["series", "category", "month"], how="left")
        .with_columns(pl.col("amount").fill_null(0))
        .sort("series", "category", "month")
        .select("series", "category", "month", "amount")
    )


def seasonal_alerts(
    journal_lines: pl.DataFrame, currency: str, config: SeasonalConfig = DEFAULT_SEASONAL
) -> pl.DataFrame:
    """:data:`ALERT_SCHEMA` rows of every series of the company."""
    series = monthly_series(journal_lines)
    rows = []
    for (kind, category), frame in series.group_by("series", "category", maintain_order=True):
        months = frame["month"].to_list()
        values = frame["amount"].to_numpy().astype(np.float64)
        for i, expected, resid, z in series_alerts(months, values, config):
            what = "revenue" if kind == "revenue" else f"expense account {category}"
            rows.append(
                {
                    "series": kind,
                    "category": category,
                    "month": months[i],
                    "actual": int(values[i]),
                    "expected": round(expected),
                    "residual": round(resid),
                    "z": z,
                    "score": z / (z + 3.0),
                    "reason": f"{what} in {months[i]:%Y-%m}: {money(int(values[i]), currency)} "
                    f"against {money(round(expected), currency)} expected from trend and "
                    f"season (+{money(round(resid), currency)}, robust z {z:.1f})",
                }
            )
    return pl.DataFrame(rows, schema=ALERT_SCHEMA)


SPIKE_DOC_FACTOR = 2.0  # a spike's charge is over twice the category's median document


def spike_flags(tx: pl.DataFrame, alerts: pl.DataFrame) -> pl.DataFrame:
    """``expense_spike`` flags: per expense alert, the month's documents of that category,
    largest first, until they cover the residual, each over ``SPIKE_DOC_FACTOR`` x the
    category's median document."""
    exp = alerts.filter(pl.col("series") == "expense")
    if exp.is_empty():
        return empty_flags()
    docs = tx.filter(pl.col("doc_type").is_in(("expense", "bill"))).with_columns(
        pl.col("issue_date").dt.truncate("1mo").alias("month")
    )
    # what one document of the category usually costs (the median over every month)
    typical = docs.group_by("standard_code").agg(pl.col("amount").median().alias("typical"))
    docs = docs.join(typical, on="standard_code", how="left")
    hit = (
        docs.join(
            exp.select(
                pl.col("category").alias("standard_code"),
                "month",
                "residual",
                "z",
                pl.col("score").alias("alert_score"),
                pl.col("reason").alias("alert_reason"),
            ),
            on=["standard_code", "month"],
        )
        .sort("amount", "document_id", descending=[True, False])
        .with_columns(pl.col("amount").cum_sum().over("standard_code", "month").alias("cum"))
        # keep a document while the ones before it have not yet covered the residual
        .filter((pl.col("cum") - pl.col("amount")) < pl.col("residual"))
        # a charge of the usual size is the month's routine, not its excess
        .filter(pl.col("amount") > SPIKE_DOC_FACTOR * pl.col("typical"))
    )
    if hit.is_empty():
        return empty_flags()
    reasons = [
        f"{label(num, doc)} ({money(a, c)} to {who or 'no contact'}) is among the largest "
        f"charges behind a spike: {why}"
        for num, doc, a, c, who, why in hit.select(
            "number", "document_id", "amount", "currency", "contact_name", "alert_reason"
        ).iter_rows()
    ]
    return finish(
        hit.with_columns(pl.Series("reason", reasons), pl.col("alert_score").alias("score")),
        "expense_spike",
        "seasonal",
    )
