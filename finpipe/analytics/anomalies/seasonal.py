"""Seasonally adjusted alerts: robust level and season on monthly revenue and expenses.

Each series (revenue: income accounts 4xxx; expenses: each operating-expense account 6xxx)
with at least two full years is split into a level and a seasonal value per calendar month
(see :func:`decompose`). The level is a robust ``statsmodels`` STL trend (period 12,
``robust=True``) once there are three full years; with less, STL cannot tell its trend
from its season and the level is the median of the surrounding year. The seasonal value of
a month comes from the same calendar month in the *other* years, shrunk by how much of it
is season rather than noise (empirical Bayes). A month whose excess is at least its
expected level (the month at least doubles) and, for an expense, material (at least 1 % of
the company's median month of expenses) is then judged against the series' own range:

* an expense account's month against the account's natural range, learned from its other
  months' charges (see :func:`natural_p`): a month of spending is a number of charges
  times their sizes, so an account of a few uneven card charges routinely reaches three
  times its usual month while a steady one never does. The month alerts when the
  account's own spending would reach it less than once in a thousand months;
* revenue (and any series without its charges) by the residual's robust z-score (median /
  1.4826 MAD, Iglewicz-Hoaglin's 3.5 cut-off).

Intermittent series (a non-zero month less than once per 1.32 months on average, Syntetos
and Boylan's cut-off) are not tested: they have no level to leave. A December peak seen
every year lands in the seasonal component and is not flagged; a one-off spike stays in
the residual and is. Shorter series get no alerts (no season can be told from a spike).
Cost of sales (5xxx) is not tested (see :data:`COST_OF_SALES`).

For an expense alert the charges that make the excess are flagged ``expense_spike``: the
month's bills and expenses of that account that are unusual for it, both against its own
charges (beyond :data:`SPIKE_CHARGE_Z` robust deviations of their log sizes and at least
:data:`MIN_CHARGE_FACTOR` times the median) and against its month (at least
:data:`SHARE_OF_MONTH` of the expected level), when there are at least
:data:`MIN_SPIKE_DOCUMENTS` of them (see :func:`spike_flags`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from statistics import NormalDist

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
    # An expense month alerts when the account's own spending reaches it this rarely (see
    # natural_p): about ten overhead accounts a company make 120 account-months a year, so
    # at 1 in 1,000 a company sees a natural alert about once in eight years.
    max_p: float = 0.001
    natural_draws: int = 20_000


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
    charges: list[np.ndarray] | None = None,
) -> list[tuple[int, float, float, float]]:
    """(index, expected, residual, z) of each alerting month of one monthly series: the
    month at least ``1 + min_excess_share`` times its expected level, its excess at least
    ``min_excess``, and outside the series' natural range.

    With ``charges`` (each month's positive charges, one per document) the natural range is
    the account's own compound model (:func:`natural_p`): the month alerts when a month of
    its usual number and sizes of charges reaches its ratio to the level (the trend) with
    probability ``max_p`` or less, and ``z`` is the normal quantile of that probability
    (at most about 3.9, the resolution of ``natural_draws``).
    Without, the robust z of the residual must reach ``z_threshold``."""
    if len(values) < 2 * config.period or not np.any(values):
        return []
    active = int(np.count_nonzero(values > 0))
    if not active or len(values) / active > config.max_mean_interval:
        return []
    expected, resid = decompose(values, config.period, config)
    large = (expected > 0) & (resid >= config.min_excess_share * expected) & (resid >= min_excess)
    if charges is None:
        # A series the model fits almost exactly has a near-zero residual MAD; the floor (a
        # share of the series' typical monthly level) keeps small wiggles from huge z.
        z = robust_z(resid, floor=config.scale_floor * float(np.median(np.abs(values))))
        hit = np.flatnonzero(large & (z >= config.z_threshold))
        return [(int(i), float(expected[i]), float(resid[i]), float(z[i])) for i in hit]
    # The natural range is read around the level alone: with two or three years a
    # calendar month's seasonal estimate is one or two noisy values, and a spike judged
    # against a level inflated by last year's high month would look smaller than it is.
    # The season still protects its months through the doubling test above. The level is
    # the median of the surrounding year with the month itself left out (running_level),
    # also with three years: STL's trend, robust or not, is pulled up by a spike near the
    # ends of the series, where its loess has few neighbours on one side.
    level = running_level(values.astype(np.float64), config.period)
    out = []
    for i in np.flatnonzero(large):  # a few candidate months per account
        p = natural_p(charges, level, int(i), config.natural_draws)
        if p <= config.max_p:
            z = NormalDist().inv_cdf(1.0 - p)
            out.append((int(i), float(expected[i]), float(resid[i]), z))
    return out


def natural_p(
    charges: list[np.ndarray], expected: np.ndarray, i: int, draws: int = 20_000
) -> float:
    """How often the account's own spending, as seen in its *other* months, reaches month
    ``i``'s ratio to its ``expected`` level (a Monte Carlo p-value, at least 1 / (draws + 1)).

    A month of spending is a number of charges times their sizes (the actuaries' compound
    Poisson model of aggregate claims): the count is Poisson with the other months' mean
    count, and a charge is lognormal relative to its month's expected level, with the
    median and 1.4826 MAD of the other months' log charges (an earlier spike's charges
    barely move them). So the natural range is each account's own: a few uneven card
    charges a month make 3x the usual month routine, a steady set of subscriptions makes
    it rare, and both follow from the account's history alone. The draw is seeded: the same
    books always give the same alerts."""
    rest = [j for j in range(len(charges)) if j != i and expected[j] > 0]
    if not rest or expected[i] <= 0:
        return 1.0
    lam = float(np.mean([len(charges[j]) for j in rest]))
    logs = np.concatenate([np.log(charges[j] / expected[j]) for j in rest])
    if lam <= 0 or not len(logs):
        return 1.0
    mu = float(np.median(logs))
    sigma = max(float(np.median(np.abs(logs - mu))) * 1.4826, MIN_CHARGE_SIGMA)
    rng = np.random.default_rng(0)
    count = rng.poisson(lam, draws)
    size = np.exp(mu + sigma * rng.standard_normal(int(count.sum())))
    month = np.bincount(np.repeat(np.arange(draws), count), weights=size, minlength=draws)
    ratio = float(charges[i].sum()) / expected[i]
    return float((1 + np.count_nonzero(month >= ratio)) / (draws + 1))


# Charges of one size (a fixed subscription) would make any extra month impossible; a 5 %
# spread of charge sizes keeps such an account's range from collapsing to a point.
MIN_CHARGE_SIGMA = 0.05


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


def monthly_charges(journal_lines: pl.DataFrame, months: list) -> dict[str, list[np.ndarray]]:
    """Per expense account, each month's positive charges (one per document: a bill's lines
    summed), aligned with ``months``; empty when the lines carry no document id."""
    if "document_id" not in journal_lines.columns or not months:
        return {}
    docs = (
        journal_lines.filter(pl.col("standard_code").str.slice(0, 1).is_in(("5", "6")))
        .group_by("standard_code", pl.col("date").dt.truncate("1mo").alias("month"), "document_id")
        .agg(pl.col("amount").sum())
        .filter(pl.col("amount") > 0)
    )
    index = {m: k for k, m in enumerate(months)}
    out: dict[str, list[np.ndarray]] = {}
    for (code,), frame in docs.group_by("standard_code"):
        buckets: list[list[float]] = [[] for _ in months]
        for month, amount in frame.select("month", "amount").iter_rows():
            if month in index:
                buckets[index[month]].append(float(amount))
        out[code] = [np.array(b, dtype=np.float64) for b in buckets]
    return out


def _rarity(z: float, charges: list[np.ndarray] | None) -> str:
    """How unusual an alert's month is, in the terms it was judged on."""
    if charges is None:
        return f"robust z {z:.1f}"
    every = 1.0 / max(1.0 - NormalDist().cdf(z), 1e-12)
    return f"the account's own charges reach that less than once in {every:,.0f} months"


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
    by_month = monthly_charges(journal_lines, series["month"].unique().sort().to_list())
    rows = []
    for (kind, category), frame in series.group_by("series", "category", maintain_order=True):
        if kind == "expense" and category.startswith(COST_OF_SALES):
            continue
        months = frame["month"].to_list()
        values = frame["amount"].to_numpy().astype(np.float64)
        floor = config.min_excess_of_expenses * size if kind == "expense" else 0.0
        per_month = by_month.get(category) if kind == "expense" else None
        for i, expected, resid, z in series_alerts(months, values, config, floor, per_month):
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
                    f"season (+{money(round(resid), currency)}, {_rarity(z, per_month)})",
                }
            )
    return pl.DataFrame(rows, schema=ALERT_SCHEMA)


# A spike's charge is unusual for its account: beyond two robust standard deviations of
# the account's log charge sizes (median and 1.4826 MAD of the logs; about the top 2 % of
# lognormal routine charges, whatever the account's spread) and at least a quarter of an
# expected month on its own; the month's routine charges are not the excess.
SPIKE_CHARGE_Z = 2.0
# ... and at least twice its usual charge: in a steady account (one subscription a month)
# two robust deviations are a few per cent, and a slightly dearer renewal is no spike.
MIN_CHARGE_FACTOR = 2.0
SHARE_OF_MONTH = 0.25
# A spike is several extra charges; a single outsized one is a one-off purchase (an annual
# plan, a large repair) that the document-level detectors judge on its own.
MIN_SPIKE_DOCUMENTS = 2


def spike_flags(tx: pl.DataFrame, alerts: pl.DataFrame) -> pl.DataFrame:
    """``expense_spike`` flags: per expense alert, the charges that make the month's excess.

    Every bill or expense of the alert's account and month that is unusual for the account
    (beyond ``SPIKE_CHARGE_Z`` robust standard deviations of the account's log charge sizes
    over every month and over ``MIN_CHARGE_FACTOR`` times its median charge, and at least
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
    # what one document of the account usually costs (the median over every month) and how
    # far its charges usually spread (robust, on the log scale, where charge sizes are
    # roughly normal): its own range, not one ratio for steady and lumpy accounts alike
    logs = pl.col("amount").log()
    typical = (
        docs.filter(pl.col("amount") > 0)
        .group_by("standard_code")
        .agg(
            pl.col("amount").median().alias("typical"),
            logs.median().alias("log_mid"),
            ((logs - logs.median()).abs().median() * 1.4826).alias("log_sd"),
        )
        .with_columns(
            pl.max_horizontal(
                (pl.col("log_mid") + SPIKE_CHARGE_Z * pl.col("log_sd")).exp(),
                MIN_CHARGE_FACTOR * pl.col("typical"),
            ).alias("unusual_above")
        )
    )
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
            (pl.col("amount") > pl.col("unusual_above"))
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
        f"{label(num, doc, day)} ({money(a, c)} to {who or 'no contact'}) is one of {n} "
        f"charges far above the account's usual {money(round(t), c)} behind a spike: {why}"
        for num, doc, day, a, c, who, n, t, why in hit.select(
            "number",
            "document_id",
            "issue_date",
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
