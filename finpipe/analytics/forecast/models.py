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
* ``ensemble``: the equal-weight average of the point forecasts of seasonal naive, ETS and
  STL + ETS (those the history allows, at least two); its paths are a mixture of theirs, an
  equal share from each. Averaging cancels much of each model's own error, which is why
  forecast combinations so often beat every member.
* ``mean``: the historical mean, the fallback for histories too short for anything else.

Series are divided by their standard deviation before fitting (the optimisers behave on
unit-scale data; every model is additive, so scaling back is exact). Sample paths carry the
forecast's correlation across steps, which the cash balance (a running sum of flows) needs.
A model that cannot be fitted raises :class:`ModelUnavailable` with the reason; one whose
fit yields a non-finite number raises it too, so nothing non-finite leaves this module.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from finpipe.analytics.forecast.config import WEEKLY, ForecastError, Frequency

SEASONAL_NAIVE = "seasonal_naive"
ETS = "ets"
STL_ETS = "stl_ets"
ENSEMBLE = "ensemble"
MEAN = "mean"
MODELS = (SEASONAL_NAIVE, ETS, STL_ETS, ENSEMBLE, MEAN)
ENSEMBLE_MEMBERS = (SEASONAL_NAIVE, ETS, STL_ETS)
LABELS = {
    SEASONAL_NAIVE: "seasonal naive",
    ETS: "ETS (damped trend)",
    STL_ETS: "STL + ETS",
    ENSEMBLE: "ensemble (seasonal naive, ETS, STL + ETS)",
    MEAN: "historical mean",
}
MIN_HISTORY = 3  # periods: below this no model is fitted
_ETS_MIN = 8  # periods: a damped trend has 5 parameters to estimate


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
        ENSEMBLE: m + 2,  # seasonal naive and ETS at least
        MEAN: MIN_HISTORY,
    }[model]


def _ets_seasonal(n: int, freq: Frequency) -> bool:
    return freq.name != WEEKLY and n >= 3 * freq.season


def forecast_model(
    model: str,
    history: np.ndarray,
    freq: Frequency,
    horizon: int,
    paths: int,
    rng: np.random.Generator,
) -> ModelForecast:
    """``model``'s forecast of the ``horizon`` flows after ``history`` (1-D, finite), with
    ``paths`` sample paths drawn from ``rng`` (0: point forecast only). Raises
    :class:`ModelUnavailable`."""
    y = np.asarray(history, dtype=np.float64)
    n = len(y)
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
        return _ensemble(y, freq, horizon, paths, rng)
    z = y / scale
    if model == SEASONAL_NAIVE:
        point, sims = _seasonal_naive(z, freq.season, horizon, paths, rng)
    elif model == MEAN:
        point, sims = _mean(z, horizon, paths, rng)
    elif model == ETS:
        point, sims = _ets(z, horizon, paths, rng, freq.season if _ets_seasonal(n, freq) else 0)
    elif model == STL_ETS:
        point, sims = _stl_ets(z, freq.season, horizon, paths, rng)
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


def _ensemble(
    y: np.ndarray, freq: Frequency, horizon: int, paths: int, rng: np.random.Generator
) -> ModelForecast:
    fits = []
    for member in ENSEMBLE_MEMBERS:
        if len(y) < min_history(member, freq):
            continue
        try:
            fits.append(forecast_model(member, y, freq, horizon, paths, rng))
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
