"""The forecast models: each turns a history of net cash flows into a point forecast and
simulated sample paths over a horizon.

* ``seasonal_naive`` (the baseline, always computed when a year of history exists): next
  year repeats this year; paths follow the seasonal random walk ``y[t] = y[t-m] + e``.
* ``ets``: statsmodels ``ETSModel``, additive errors, damped additive trend, and additive
  seasonality when three years of monthly history exist (with 18 parameters and states to
  estimate, two years fit the noise; a 52-week season has too many states to estimate from
  a few years, so weekly ETS is non-seasonal: STL carries the weekly season).
* ``stl_ets``: robust STL removes the seasonal component, a damped ETS forecasts the rest
  and the last year of the seasonal component is added back (what statsmodels'
  ``STLForecast`` does; done by hand here so the ETS part can simulate paths).
* ``month_profile`` (weekly only): small-business cash follows the month (rent and loan
  repayments early in it, card payoffs and salaried payroll on its last business days,
  net-30 receipts and tax returns in between) and US pay calendars follow alternate
  Fridays. Neither repeats at a fixed number of weeks, so the weekly flow is regressed on
  the calendar: how many of the week's business days fall in each of six positions of
  their month (:data:`MONTH_POSITIONS`) and the alternate-week sign of a biweekly payroll.
  A damped ETS on the residual carries the level and trend (the regression has no
  intercept: the positions' day counts add up to the week's business days).
* ``ensemble``: the equal-weight average of the point forecasts of seasonal naive, ETS,
  STL + ETS and, weekly, the month profile (those the history allows, at least two); its
  paths are a mixture of theirs, an equal share from each. Averaging cancels much of each
  model's own error, which is why forecast combinations so often beat every member.
* ``mean``: the historical mean, the fallback for histories too short for anything else.

Series are divided by their standard deviation before fitting (the optimisers behave on
unit-scale data; every model is additive, so scaling back is exact). Sample paths carry the
forecast's correlation across steps, which the cash balance (a running sum of flows) needs.
A model that cannot be fitted raises :class:`ModelUnavailable` with the reason; one whose
fit yields a non-finite number raises it too, so nothing non-finite leaves this module.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from finpipe.analytics.forecast.config import WEEKLY, ForecastError, Frequency

SEASONAL_NAIVE = "seasonal_naive"
ETS = "ets"
STL_ETS = "stl_ets"
MONTH_PROFILE = "month_profile"
ENSEMBLE = "ensemble"
MEAN = "mean"
MODELS = (SEASONAL_NAIVE, ETS, STL_ETS, MONTH_PROFILE, ENSEMBLE, MEAN)
ENSEMBLE_MEMBERS = (SEASONAL_NAIVE, ETS, STL_ETS, MONTH_PROFILE)
LABELS = {
    SEASONAL_NAIVE: "seasonal naive",
    ETS: "ETS (damped trend)",
    STL_ETS: "STL + ETS",
    MONTH_PROFILE: "month profile (position in month + ETS)",
    ENSEMBLE: "ensemble (average of the other models)",
    MEAN: "historical mean",
}
MIN_HISTORY = 3  # periods: below this no model is fitted
_ETS_MIN = 8  # periods: a damped trend has 5 parameters to estimate
# Seven calendar coefficients and a damped ETS: half a year of weeks, so that every
# position has been seen in about six months.
_MONTH_PROFILE_MIN = 26
MONTH_POSITIONS = (
    "first two business days",
    "to the 8th",
    "9th to 15th",
    "16th to 22nd",
    "23rd to before the last two business days",
    "last two business days",
)
"""The positions in the month of :func:`calendar_features` (business days, weekends are
not counted): when rent, loan repayments, net-30 receipts, tax returns, card payoffs and a
month-end payroll land."""
_MONDAY = np.datetime64("1970-01-05", "D")  # week 0 of the alternate-week sign


class ModelUnavailable(ForecastError):
    """A model cannot forecast this history; the message says why (it is recorded in
    ``analytics.forecast_backtest``, never raised past the forecast build)."""


@dataclass(frozen=True)
class ModelForecast:
    """One model's forecast of ``horizon`` flows: the point forecast and sample paths
    (shape ``(horizon, paths)``), in the history's units."""

    model: str
    point: np.ndarray
    paths: np.ndarray
    note: str = ""


def min_history(model: str, freq: Frequency) -> int:
    """The fewest periods ``model`` needs at ``freq``."""
    m = freq.season
    return {
        SEASONAL_NAIVE: m + 2,
        ETS: _ETS_MIN,
        STL_ETS: 2 * m + 1,
        MONTH_PROFILE: _MONTH_PROFILE_MIN,
        ENSEMBLE: m + 2,  # seasonal naive and ETS at least
        MEAN: MIN_HISTORY,
    }[model]


def models_for(freq: Frequency) -> tuple[str, ...]:
    """The models that apply at ``freq`` (the month profile is a model of weeks: a month
    holds every position of itself)."""
    return tuple(m for m in MODELS if m != MONTH_PROFILE or freq.name == WEEKLY)


def calendar_features(first_week: dt.date, weeks: int) -> np.ndarray:
    """``(weeks, 7)`` regressors of the weeks starting on Monday ``first_week``: columns
    0-5 count the week's business days (Monday to Friday) in each of
    :data:`MONTH_POSITIONS` of their own month; column 6 is +1 / -1 on alternate weeks
    (a biweekly payroll's sign)."""
    start = np.datetime64(first_week, "D")
    if (start - _MONDAY).astype(np.int64) % 7:
        raise ForecastError(f"calendar_features: {first_week} is not a Monday")
    days = start + np.arange(weeks * 7)
    business = np.is_busday(days)
    month = days.astype("datetime64[M]")
    first = month.astype("datetime64[D]")
    after = (month + 1).astype("datetime64[D]")
    before = np.busday_count(first, days)  # business days of the month before this day
    left = np.busday_count(days + 1, after)  # and after it
    dom = (days - first).astype(np.int64) + 1
    position = np.select(
        [before < 2, left < 2, dom <= 8, dom <= 15, dom <= 22],
        [0, 5, 1, 2, 3],
        default=4,
    )
    counts = np.zeros((weeks, len(MONTH_POSITIONS)))
    week = np.arange(weeks * 7) // 7
    np.add.at(counts, (week[business], position[business]), 1.0)
    index = (start - _MONDAY).astype(np.int64) // 7 + np.arange(weeks)
    sign = np.where(index % 2 == 0, 1.0, -1.0)
    return np.column_stack([counts, sign])


def _ets_seasonal(n: int, freq: Frequency) -> bool:
    return freq.name != WEEKLY and n >= 3 * freq.season


def forecast_model(
    model: str,
    history: np.ndarray,
    freq: Frequency,
    horizon: int,
    paths: int,
    rng: np.random.Generator,
    first_period: dt.date | None = None,
) -> ModelForecast:
    """``model``'s forecast of the ``horizon`` flows after ``history`` (1-D, finite), with
    ``paths`` sample paths drawn from ``rng`` (0: point forecast only). ``first_period`` is
    the start of the history's first period (the month profile needs the calendar). Raises
    :class:`ModelUnavailable`."""
    y = np.asarray(history, dtype=np.float64)
    n = len(y)
    if model not in models_for(freq):
        raise ModelUnavailable(f"{LABELS.get(model, model)} is not a {freq.name} model")
    if model == MONTH_PROFILE and first_period is None:
        raise ModelUnavailable("needs the calendar dates of the history")
    need = min_history(model, freq)
    if n < need:
        raise ModelUnavailable(f"needs {freq.label(need)} of history, has {freq.label(n)}")
    if not np.isfinite(y).all():
        raise ModelUnavailable("history has a non-finite value")
    scale = float(np.std(y))
    if scale == 0.0:
        # A constant history (often: no cash activity at all): it goes on, with no spread.
        point = np.full(horizon, y[-1])
        return ModelForecast(
            model, point, np.repeat(point[:, None], paths, axis=1), "constant history"
        )
    if model == ENSEMBLE:
        return _ensemble(y, freq, horizon, paths, rng, first_period)
    z = y / scale
    if model == SEASONAL_NAIVE:
        point, sims = _seasonal_naive(z, freq.season, horizon, paths, rng)
    elif model == MEAN:
        point, sims = _mean(z, horizon, paths, rng)
    elif model == ETS:
        point, sims = _ets(z, horizon, paths, rng, freq.season if _ets_seasonal(n, freq) else 0)
    elif model == STL_ETS:
        point, sims = _stl_ets(z, freq.season, horizon, paths, rng)
    elif model == MONTH_PROFILE and first_period is not None:
        point, sims = _month_profile(z, first_period, horizon, paths, rng)
    else:
        raise ForecastError(f"unknown forecast model {model!r}; use one of {MODELS}")
    point, sims = point * scale, sims * scale
    if not (np.isfinite(point).all() and np.isfinite(sims).all()):
        raise ModelUnavailable("the fit produced a non-finite forecast")
    note = ""
    if model == ETS:
        note = "additive seasonality" if _ets_seasonal(n, freq) else "no seasonal component"
    return ModelForecast(model, point, sims, note)


def _seasonal_naive(
    z: np.ndarray, m: int, horizon: int, paths: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    residuals = z[m:] - z[:-m]
    sigma = float(np.sqrt(np.mean(residuals**2)))
    steps = np.arange(horizon)
    point = z[len(z) - m + steps % m]
    # y[T+h] = y[T+h-m] + e: a step more than a season ahead builds on a simulated value.
    sims = np.empty((horizon, paths))
    shocks = rng.normal(0.0, sigma, size=(horizon, paths))
    for h in range(horizon):  # per horizon step (<= 13), vectorised over paths
        base = z[len(z) - m + h] if h < m else sims[h - m]
        sims[h] = base + shocks[h]
    return point, sims


def _mean(
    z: np.ndarray, horizon: int, paths: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = len(z)
    mu = float(np.mean(z))
    sigma = float(np.std(z, ddof=1)) * np.sqrt(1.0 + 1.0 / n)
    point = np.full(horizon, mu)
    return point, mu + rng.normal(0.0, sigma, size=(horizon, paths))


def _fit_ets(z: np.ndarray, season: int) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    kwargs: dict[str, object] = {"error": "add", "trend": "add", "damped_trend": True}
    if season:
        kwargs |= {
            "seasonal": "add",
            "seasonal_periods": season,
            # estimating 12 initial seasonal states from 2-3 years overfits; the classical
            # decomposition of the first years is the better start
            "initialization_method": "heuristic",
        }
    with warnings.catch_warnings():
        # convergence chatter on short series: the fit is judged by its backtest instead
        warnings.simplefilter("ignore")
        try:
            return ETSModel(z, **kwargs).fit(disp=False)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise ModelUnavailable(f"ETS fit failed: {exc}") from exc


def _ets(
    z: np.ndarray, horizon: int, paths: int, rng: np.random.Generator, season: int
) -> tuple[np.ndarray, np.ndarray]:
    result = _fit_ets(z, season)
    point = np.asarray(result.forecast(horizon), dtype=np.float64)
    sims = _simulate(result, horizon, paths, rng)
    return point, sims


def _simulate(result: Any, horizon: int, paths: int, rng: np.random.Generator) -> np.ndarray:
    if paths == 0:  # a backtest fold needs the point forecast only
        return np.empty((horizon, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sims = result.simulate(horizon, anchor="end", repetitions=paths, rng=rng)
    return np.asarray(sims, dtype=np.float64).reshape(horizon, paths)


def _stl_ets(
    z: np.ndarray, m: int, horizon: int, paths: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.tsa.seasonal import STL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            seasonal = np.asarray(STL(z, period=m, robust=True).fit().seasonal)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise ModelUnavailable(f"STL decomposition failed: {exc}") from exc
    result = _fit_ets(z - seasonal, 0)
    last_year = seasonal[len(z) - m :]
    season_ahead = last_year[np.arange(horizon) % m]
    point = np.asarray(result.forecast(horizon), dtype=np.float64) + season_ahead
    sims = _simulate(result, horizon, paths, rng) + season_ahead[:, None]
    return point, sims


def _month_profile(
    z: np.ndarray, first_week: dt.date, horizon: int, paths: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = len(z)
    x = calendar_features(first_week, n + horizon)
    # least squares (minimum norm when a short history leaves a position unseen)
    beta = np.linalg.lstsq(x[:n], z, rcond=None)[0]
    calendar = x @ beta
    result = _fit_ets(z - calendar[:n], 0)
    ahead = calendar[n:]
    point = np.asarray(result.forecast(horizon), dtype=np.float64) + ahead
    sims = _simulate(result, horizon, paths, rng) + ahead[:, None]
    return point, sims


def _ensemble(
    y: np.ndarray,
    freq: Frequency,
    horizon: int,
    paths: int,
    rng: np.random.Generator,
    first_period: dt.date | None,
) -> ModelForecast:
    fits = []
    for member in ENSEMBLE_MEMBERS:
        if member not in models_for(freq) or len(y) < min_history(member, freq):
            continue
        try:
            fits.append(forecast_model(member, y, freq, horizon, paths, rng, first_period))
        except ModelUnavailable:
            continue  # the members that could be fitted carry the average
    return combine(fits, paths)


def combine(fits: list[ModelForecast], paths: int) -> ModelForecast:
    """The ensemble of the member forecasts ``fits`` (at least two): their mean point
    forecast, and a mixture of their paths (an equal share from each)."""
    members = [f for f in fits if f.model in ENSEMBLE_MEMBERS]
    if len(members) < 2:
        raise ModelUnavailable(
            "needs two members to average, could fit "
            + (", ".join(LABELS[f.model] for f in members) or "none")
        )
    point = np.mean([f.point for f in members], axis=0)
    share = -(-paths // len(members))  # ceil: an equal share of paths from each member
    sims = np.concatenate([f.paths[:, :share] for f in members], axis=1)[:, :paths]
    note = "average of " + ", ".join(LABELS[f.model] for f in members)
    return ModelForecast(ENSEMBLE, point, sims, note)
