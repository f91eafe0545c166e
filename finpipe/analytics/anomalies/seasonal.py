"""Seasonally adjusted alerts: robust level and season on monthly revenue and expenses.

Each series (revenue: income accounts 4xxx; expenses: each operating-expense account 6xxx)
with at least two full years is split into a level and a seasonal value per calendar month
(see :func:`decompose`). The level is a robust ``statsmodels`` STL trend (period 12,
``robust=True``) once there are three full years; with less, STL cannot tell its trend
from its season and the level is the median of the surrounding year. The seasonal value of
a month comes from the same calendar month in the *other* years, shrunk by how much of it
is season rather than noise (empirical Bayes). The residual's robust z-score (median /
1.4826 MAD, Iglewicz-Hoaglin's 3.5 cut-off) flags a month whose excess is also at least its
expected level (the month at least doubles) and, for an expense, material: at least 1 % of
the company's median month of expenses. Intermittent series (a non-zero month less than
once per 1.32 months on average, Syntetos and Boylan's cut-off) are not tested: they have no
level to leave. A December peak seen every year lands in the seasonal component and is not
flagged; a one-off spike stays in the residual and is. Shorter series get no alerts (no
season can be told from a spike). Cost of sales (5xxx) is not tested (see
:data:`COST_OF_SALES`).

For an expense alert the charges that make the excess are flagged ``expense_spike``: the
month's bills and expenses of that account that are unusual for it, both against its
usual charge (over :data:`SPIKE_DOC_FACTOR` times its median) and against its month (at
least :data:`SHARE_OF_MONTH` of the expected level), when there are at least
:data:`MIN_SPIKE_DOCUMENTS` of them (see :func:`spike_flags`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.analytics.anomalies.flags import empty_flags, finish, label, money

# Cost of sales (5xxx) moves with sales and with when stock is bought ahead of demand: a
# heavy purchasing month is inventory timing, judged against revenue (the margin), not an
# overhead spike against the account's own history. It still counts in the company's size.
COST_OF_SALES = "5"

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
    # Robust STL's trend needs three full seasons to be told from the season; with less
    # history the level is a running median of the neighbouring months.
    stl_min_periods: int = 3
    # Materiality: an expense excess below this share of the company's median monthly
    # expenses is too small to be worth a reviewer's time, however unusual for its account.
    min_excess_of_expenses: float = 0.01


DEFAULT_SEASONAL = SeasonalConfig()


def robust_z(x: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """(x - median) / max(1.4826 MAD, floor); zeros where that scale is zero."""
    med = np.median(x)
    scale = max(float(np.median(np.abs(x - med))) * 1.4826, floor)
    if scale == 0:
        return np.zeros_like(x, dtype=np.float64)
    return (x - med) / scale


def running_level(values: np.ndarray, period: int = 12) -> np.ndarray:
    """Each month's level: the median of the ``period`` months around it (itself left out;
    the window slides inward at the ends). A median of a year of neighbours follows a trend
    but not a one-off month, and one December among them does not move it."""
    n = len(values)
    half = period // 2
    level = np.empty(n)
    for t in range(n):  # a few dozen months: the loop is over months, not rows
        lo = min(max(t - half, 0), max(n - period - 1, 0))
        window = np.r_[values[lo:t], values[t + 1 : lo + period + 1]]
        level[t] = float(np.median(window)) if len(window) else float(values[t])
    return level


def robust_trend(values: np.ndarray, period: int = 12, min_periods: int = 3) -> np.ndarray:
    """Robust STL's trend (``statsmodels``, ``robust=True``) with ``min_periods`` full
    seasons or more; :func:`running_level` on shorter series, where STL cannot tell the
    trend from the season (with two years its trend wanders after single months)."""
    if len(values) < min_periods * period:
        return running_level(values, period)
    from statsmodels.tsa.seasonal import STL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series
        return STL(values.astype(np.float64), period=period, robust=True).fit().trend


def decompose(
    values: np.ndarray, period: int = 12, config: SeasonalConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(expected = trend + seasonal, residual) of a monthly series.

    The trend is :func:`robust_trend`'s. The seasonal value of a month is the median
    detrended value of the same calendar month in the *other* years: with two or three
    years, STL's own seasonal smoother passes through (nearly) every value of a calendar
    month and absorbs a one-off spike, while a peak that recurs every year is in the other
    years too and so stays expected.

    That value is shrunk towards zero by how much of it is season rather than noise (a
    one-way random-effects ANOVA, the empirical-Bayes / James-Stein estimate): within a
    calendar month the years differ by the noise ``sigma^2`` (pooled within-month
    variance), the calendar-month means differ by ``tau^2 + sigma^2 / years``, and a value
    read from ``k`` other years keeps ``tau^2 / (tau^2 + sigma^2 / k)`` of itself. A retail
    December, the same every year, keeps nearly all of it; in an account with no season, a
    noisy or spiking month of one year hardly moves the other year's expectation."""
    config = config or DEFAULT_SEASONAL
    values = values.astype(np.float64)
    trend = robust_trend(values, period, config.stl_min_periods)
    detrended = values - trend
    n = len(values)
    raw = np.zeros(n)
    others = np.zeros(n)
    for t in range(n):  # a few dozen months: the loop is over months, not rows
        same = [detrended[u] for u in range(t % period, n, period) if u != t]
        raw[t] = float(np.median(same)) if same else 0.0
        others[t] = len(same)
    groups = [detrended[m::period] for m in range(min(period, n))]
    means = np.array([g.mean() for g in groups])
    within_df = n - len(groups)
    within = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / max(within_df, 1)
    between = float(np.mean((means - means.mean()) ** 2))
    tau2 = max(between - within / (n / len(groups)), 0.0)
    keep = np.where(
        others > 0, tau2 / np.maximum(tau2 + within / np.maximum(others, 1), 1e-12), 0.0
    )
    expected = trend + keep * raw
    return expected, values - expected


def series_alerts(
    months: list,
    values: np.ndarray,
    config: SeasonalConfig = DEFAULT_SEASONAL,
    min_excess: float = 0.0,
) -> list[tuple[int, float, float, float]]:
    """(index, expected, residual, z) of each alerting month of one monthly series: robust
    z of the residual at least ``z_threshold``, the month at least ``1 + min_excess_share``
    times its expected level and its excess at least ``min_excess``."""
    if len(values) < 2 * config.period or not np.any(values):
        return []
    active = int(np.count_nonzero(values > 0))
    if not active or len(values) / active > config.max_mean_interval:
        return []
    expected, resid = decompose(values, config.period, config)
    # A series the model fits almost exactly has a near-zero residual MAD; the floor (a
    # share of the series' typical monthly level) keeps small wiggles from huge z.
    z = robust_z(resid, floor=config.scale_floor * float(np.median(np.abs(values))))
    out = []
    for i in np.flatnonzero(z >= config.z_threshold):
        if (
            expected[i] > 0
            and resid[i] >= config.min_excess_share * expected[i]
            and resid[i] >= min_excess
        ):
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
    expenses = (
        series.filter(pl.col("series") == "expense").group_by("month").agg(pl.col("amount").sum())
    )
    # the company's size: its median month of expenses (all accounts), for materiality
    size = float(expenses["amount"].median() or 0.0) if expenses.height else 0.0
    rows = []
    for (kind, category), frame in series.group_by("series", "category", maintain_order=True):
        if kind == "expense" and category.startswith(COST_OF_SALES):
            continue
        months = frame["month"].to_list()
        values = frame["amount"].to_numpy().astype(np.float64)
        floor = config.min_excess_of_expenses * size if kind == "expense" else 0.0
        for i, expected, resid, z in series_alerts(months, values, config, floor):
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


# A spike's charge is unusual for its account: over three times its median charge (with
# the spread of card and supplier charges, about the top tenth of them) and at least a
# quarter of an expected month on its own; the month's routine charges are not the excess.
SPIKE_DOC_FACTOR = 3.0
SHARE_OF_MONTH = 0.25
# A spike is several extra charges; a single outsized one is a one-off purchase (an annual
# plan, a large repair) that the document-level detectors judge on its own.
MIN_SPIKE_DOCUMENTS = 2


def spike_flags(tx: pl.DataFrame, alerts: pl.DataFrame) -> pl.DataFrame:
    """``expense_spike`` flags: per expense alert, the charges that make the month's excess.

    Every bill or expense of the alert's account and month that is unusual for the account
    (over ``SPIKE_DOC_FACTOR`` times its median charge over every month, and at least
    ``SHARE_OF_MONTH`` of the month's expected level) is flagged, when there are at least
    ``MIN_SPIKE_DOCUMENTS`` of them. Not only the largest until the residual is covered:
    the expected level is an estimate and the month's routine charges may run under or
    over it, so stopping at the residual drops a spike's smaller charges at random. An
    alert behind which fewer charges are unusual flags nothing (the alert itself stays in
    ``seasonal_alerts``)."""
    exp = alerts.filter(pl.col("series") == "expense")
    if exp.is_empty():
        return empty_flags()
    docs = tx.filter(pl.col("doc_type").is_in(("expense", "bill"))).with_columns(
        pl.col("issue_date").dt.truncate("1mo").alias("month")
    )
    # what one document of the account usually costs (the median over every month)
    typical = docs.group_by("standard_code").agg(pl.col("amount").median().alias("typical"))
    docs = docs.join(typical, on="standard_code", how="left")
    hit = (
        docs.join(
            exp.select(
                pl.col("category").alias("standard_code"),
                "month",
                "expected",
                pl.col("score").alias("alert_score"),
                pl.col("reason").alias("alert_reason"),
            ),
            on=["standard_code", "month"],
        )
        .filter(
            (pl.col("amount") > SPIKE_DOC_FACTOR * pl.col("typical"))
            & (pl.col("amount") >= SHARE_OF_MONTH * pl.col("expected"))
        )
        .with_columns(pl.len().over("standard_code", "month").alias("unusual"))
        .filter(pl.col("unusual") >= MIN_SPIKE_DOCUMENTS)
        .sort(
            ["standard_code", "month", "amount", "document_id"],
            descending=[False, False, True, False],
        )
    )
    if hit.is_empty():
        return empty_flags()
    reasons = [
        f"{label(num, doc)} ({money(a, c)} to {who or 'no contact'}) is one of {n} charges "
        f"far above the account's usual {money(round(t), c)} behind a spike: {why}"
        for num, doc, a, c, who, n, t, why in hit.select(
            "number",
            "document_id",
            "amount",
            "currency",
            "contact_name",
            "unusual",
            "typical",
            "alert_reason",
        ).iter_rows()
    ]
    return finish(
        hit.with_columns(pl.Series("reason", reasons), pl.col("alert_score").alias("score")),
        "expense_spike",
        "seasonal",
    )
