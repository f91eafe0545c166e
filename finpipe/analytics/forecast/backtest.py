"""Model choice per company by rolling-origin backtest.

Origins step back from the end of the history (monthly: every 3 months, weekly: every 13
weeks, at most 4); at each origin every candidate is fitted on the history before it and
forecasts up to the horizon, as far as the history goes. A fold's error is the mean
absolute error of its forecasts divided by the in-sample mean absolute error of the
seasonal-naive forecast on the training part (the MASE scale; lag 1 when the training part
is shorter than a season, never below one minor unit). A model's MASE is the mean over its
folds. All candidates are scored on the same folds: a candidate that needs more history
than two folds leave is dropped, with the reason, before the others.

The ensemble (the average of the others) is the default: the single model with the lowest
MASE replaces it only when it beats the ensemble in every fold. Two to four folds are too
few for a mean difference to mean much (one bad quarter decides it), and a combination is
the safe choice when the evidence is thin; a model that wins every fold has shown it is
better, not lucky once. The rule has no threshold to tune: a fixed margin on the mean
(15 %, formerly) was set on one generated world and did not carry to others
(``bench_forecast.py``: seed 8 weekly 58 %). Each score keeps its per-fold MASE.

The folds also calibrate the intervals: the models' simulated spread ignores the
uncertainty of their own parameters and form, so their bands come out too narrow. Per
model, the ratio of the folds' root-mean-square error to the spread its paths predicted
(for the flows, and for their running sum, the balance) widens or narrows the final paths
around the point forecast, within [0.75, 4].

A history too short for two folds gets no contest: ETS when it can be fitted, else the
historical mean, and the reason says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from finpipe.analytics.forecast.config import Frequency
from finpipe.analytics.forecast.models import (
    ENSEMBLE,
    ETS,
    LABELS,
    MEAN,
    MIN_HISTORY,
    MONTH_PROFILE,
    SEASONAL_NAIVE,
    STL_ETS,
    ModelForecast,
    ModelUnavailable,
    combine,
    forecast_model,
    min_history,
    models_for,
)

CANDIDATES = (SEASONAL_NAIVE, ETS, STL_ETS, MONTH_PROFILE, ENSEMBLE)
MIN_FOLDS = 2
CALIBRATION_PATHS = 200
SCALE_BOUNDS = (0.75, 4.0)


@dataclass(frozen=True)
class ModelScore:
    """A model's backtest: MASE over ``folds`` folds (None when not scored) and why."""

    model: str
    mase: float | None
    folds: int
    status: str  # chosen | candidate | fallback | unavailable | failed
    reason: str
    flow_scale: float = 1.0  # interval calibration of the flows (see the module doc)
    balance_scale: float = 1.0  # and of the balance
    fold_mase: tuple[float, ...] = ()  # per fold, latest origin first


@dataclass(frozen=True)
class Selection:
    """The model chosen for one series (None: history too short for any), why, and every
    model's score."""

    chosen: str | None
    reason: str
    scores: tuple[ModelScore, ...]
    origins: tuple[int, ...]

    def score(self, model: str) -> ModelScore | None:
        return next((s for s in self.scores if s.model == model), None)

    def mase_ratio(self) -> float | None:
        """Chosen model's MASE / seasonal naive's (None when either is unscored)."""
        chosen = self.score(self.chosen) if self.chosen else None
        base = self.score(SEASONAL_NAIVE)
        if chosen is None or base is None or chosen.mase is None or not base.mase:
            return None
        return chosen.mase / base.mase


def mase_scale(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast (lag ``season``; lag 1 when the history
    is not longer than a season), floored at one minor unit so a flat history scores finite."""
    y = np.asarray(train, dtype=np.float64)
    lag = season if len(y) > season else 1
    if len(y) <= lag:
        return 1.0
    return max(float(np.mean(np.abs(y[lag:] - y[:-lag]))), 1.0)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error of ``forecast`` against ``actual``."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast)))) / scale


def backtest_origins(n: int, freq: Frequency) -> list[int]:
    """Training lengths of the folds, latest first."""
    return [
        n - k * freq.fold_step
        for k in range(1, freq.max_folds + 1)
        if n - k * freq.fold_step >= MIN_HISTORY
    ]


def candidates(freq: Frequency) -> tuple[str, ...]:
    """The models contending at ``freq``."""
    return tuple(m for m in CANDIDATES if m in models_for(freq))


def select_model(
    history: np.ndarray,
    freq: Frequency,
    rng: np.random.Generator,
    first_period: dt.date | None = None,
) -> Selection:
    """Choose the model for the flows in ``history`` (1-D, its first period starting on
    ``first_period``) by rolling-origin backtest."""
    y = np.asarray(history, dtype=np.float64)
    n = len(y)
    origins = backtest_origins(n, freq)
    scores: dict[str, ModelScore] = {}
    contenders = list(candidates(freq))
    folds: list[int] = []
    while contenders:
        need = max(min_history(m, freq) for m in contenders)
        folds = [o for o in origins if o >= need]
        if len(folds) >= MIN_FOLDS:
            break
        drop = max(contenders, key=lambda m: min_history(m, freq))
        contenders.remove(drop)
        scores[drop] = ModelScore(
            drop,
            None,
            0,
            "unavailable",
            f"needs {freq.label(min_history(drop, freq))} of history before each of "
            f"{MIN_FOLDS} backtest folds; has {freq.label(n)} in all",
        )
    errors: dict[str, list[float]] = {m: [] for m in contenders}
    spread = {m: np.zeros(4) for m in contenders}  # flow sq err, flow var, balance sq err, var
    for origin in folds:
        train, test = y[:origin], y[origin : origin + freq.horizon]
        scale = mase_scale(train, freq.season)
        fold: list[ModelForecast] = []
        # the ensemble last: it averages the members' fold forecasts instead of refitting them
        for model in sorted(errors, key=lambda m: m == ENSEMBLE):
            try:
                fc = (
                    combine(fold, CALIBRATION_PATHS)
                    if model == ENSEMBLE
                    else forecast_model(
                        model, train, freq, len(test), CALIBRATION_PATHS, rng, first_period
                    )
                )
            except ModelUnavailable as exc:
                scores[model] = ModelScore(
                    model, None, 0, "failed", f"fold at {freq.label(origin)}: {exc}"
                )
                del errors[model]
                continue
            fold.append(fc)
            errors[model].append(mase(test, fc.point, scale))
            spread[model] += _spread(test, fc.point, fc.paths)
    if not errors:
        return _fallback(y, freq, scores, tuple(folds))
    mean_mase = {m: float(np.mean(e)) for m, e in errors.items()}
    chosen, reason = choose(errors, len(folds))
    for m, value in mean_mase.items():
        flow_err, flow_var, bal_err, bal_var = spread[m]
        scores[m] = ModelScore(
            m,
            value,
            len(folds),
            "chosen" if m == chosen else "candidate",
            reason if m == chosen else f"MASE {value:.2f} vs {mean_mase[chosen]:.2f} chosen",
            _ratio(flow_err, flow_var),
            _ratio(bal_err, bal_var),
            tuple(errors[m]),
        )
    return Selection(chosen, reason, _ordered(scores), tuple(folds))


def choose(errors: dict[str, list[float]], folds: int) -> tuple[str, str]:
    """The chosen model and why, from each model's MASE per fold (``errors``, the same
    ``folds`` folds for every model): the lowest mean MASE, except that the ensemble stays
    unless that model beats it in every fold."""
    mean_mase = {m: float(np.mean(e)) for m, e in errors.items()}
    best = min(mean_mase, key=lambda m: (mean_mase[m], CANDIDATES.index(m)))
    ranking = ", ".join(f"{LABELS[m]} {v:.2f}" for m, v in sorted(mean_mase.items(), key=_by_value))
    if ENSEMBLE not in errors or best == ENSEMBLE:
        return best, f"lowest backtest MASE over {folds} folds ({ranking})"
    wins = sum(b < e for b, e in zip(errors[best], errors[ENSEMBLE], strict=True))
    if wins == folds:
        return best, (
            f"{LABELS[best]} beats the ensemble in every one of the {folds} backtest folds "
            f"({ranking})"
        )
    return ENSEMBLE, (
        f"ensemble kept: the best single model, {LABELS[best]}, beats it in {wins} of "
        f"{folds} backtest folds, not in every one ({ranking})"
    )


def _spread(actual: np.ndarray, point: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Squared errors and predicted variances of a fold, of the flows and their running sum."""
    cum_paths = np.cumsum(paths, axis=0)
    return np.array(
        [
            float(np.sum((actual - point) ** 2)),
            float(np.sum(np.var(paths, axis=1))),
            float(np.sum((np.cumsum(actual) - np.cumsum(point)) ** 2)),
            float(np.sum(np.var(cum_paths, axis=1))),
        ]
    )


def _ratio(squared_errors: float, variance: float) -> float:
    """sqrt(observed / predicted), within ``SCALE_BOUNDS`` (1 when nothing was predicted)."""
    if variance <= 0.0:
        return 1.0
    low, high = SCALE_BOUNDS
    return float(np.clip(np.sqrt(squared_errors / variance), low, high))


def _by_value(item: tuple[str, float]) -> float:
    return item[1]


def _ordered(scores: dict[str, ModelScore]) -> tuple[ModelScore, ...]:
    order = (*CANDIDATES, MEAN)  # the table lists models in this order
    return tuple(scores[m] for m in order if m in scores)


def _fallback(
    y: np.ndarray, freq: Frequency, scores: dict[str, ModelScore], folds: tuple[int, ...]
) -> Selection:
    n = len(y)
    short = f"{freq.label(n)} of history is too short for {MIN_FOLDS} backtest folds"
    ets_failed = ETS in scores and scores[ETS].status == "failed"
    if n >= min_history(ETS, freq) and not ets_failed:
        chosen, why = ETS, f"{short}: ETS without a contest"
    elif n >= MIN_HISTORY:
        chosen, why = MEAN, f"{short}: the historical mean"
    else:
        return Selection(
            None,
            f"{freq.label(n)} of history: at least {freq.label(MIN_HISTORY)} are needed",
            _ordered(scores),
            folds,
        )
    scores[chosen] = ModelScore(chosen, None, 0, "fallback", why)
    return Selection(chosen, why, _ordered(scores), folds)
