"""Model choice and intervals on synthetic monthly series (kept short: statsmodels fits
are the slow part): a strongly seasonal series is won by a seasonal model over seasonal
naive, white noise neither crashes nor picks the naive baseline, short histories fall back
with their reason, and every interval is finite and ordered."""

from __future__ import annotations

import numpy as np
import pytest

from finpipe.analytics.forecast.backtest import (
    backtest_origins,
    mase,
    mase_scale,
    select_model,
)
from finpipe.analytics.forecast.build import forecast_bands, forecast_series
from finpipe.analytics.forecast.checks import disordered_intervals, non_finite_rows
from finpipe.analytics.forecast.config import FREQUENCY_SETTINGS, ForecastConfig
from finpipe.analytics.forecast.models import (
    ENSEMBLE,
    ETS,
    MEAN,
    SEASONAL_NAIVE,
    STL_ETS,
    ModelForecast,
    ModelUnavailable,
    combine,
    forecast_model,
)

MONTHLY = FREQUENCY_SETTINGS["monthly"]
CONFIG = ForecastConfig(paths=400)


def seasonal(months: int = 36, seed: int = 1) -> np.ndarray:
    """A December-peaking business: 100,000.00 a month +- 60,000.00 of season, small noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    return (
        10_000_000 + 6_000_000 * np.cos(2 * np.pi * (t - 11) / 12) + rng.normal(0, 300_000, months)
    )


def test_mase_and_its_scale_on_hand_computed_numbers() -> None:
    y = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    # lag 2: |2-1|, |6-3|, |4-2| -> mean 2
    assert mase_scale(y, 2) == 2.0
    # shorter than a season: lag 1 (2, 1, 4, 2 -> 2.25); a flat history floors at 1
    assert mase_scale(y, 12) == 2.25
    assert mase_scale(np.zeros(20), 12) == 1.0
    assert mase(np.array([1.0, 2.0]), np.array([2.0, 4.0]), 1.5) == 1.0
    assert backtest_origins(36, MONTHLY) == [33, 30, 27, 24]
    assert backtest_origins(8, MONTHLY) == [5]


def test_a_strongly_seasonal_series_is_won_by_a_seasonal_model() -> None:
    y = seasonal()
    sel = select_model(y, MONTHLY, np.random.default_rng(0))
    assert sel.chosen in (ETS, STL_ETS, ENSEMBLE)
    chosen, naive = sel.score(sel.chosen), sel.score(SEASONAL_NAIVE)
    assert chosen is not None and naive is not None
    assert chosen.mase < naive.mase
    assert sel.mase_ratio() < 1.0
    # STL + ETS needs 25 months before a fold: the origin at 24 is left out for all
    assert chosen.folds == 3 and sel.origins == (33, 30, 27)
    # the chosen model's forecast follows the season: next December above next June
    res = forecast_series(y, 0, MONTHLY, CONFIG, np.random.default_rng(0))
    point = res.forecasts[res.chosen].point  # next periods: Jan .. Dec
    assert point[11] > point[5] + 5_000_000


def test_white_noise_does_not_crash_and_does_not_pick_the_naive_baseline() -> None:
    y = np.random.default_rng(3).normal(0, 1_000_000, 30)
    res = forecast_series(y, 5_000_000, MONTHLY, CONFIG, np.random.default_rng(0))
    assert res.chosen not in (None, SEASONAL_NAIVE)
    naive = res.selection.score(SEASONAL_NAIVE)
    assert res.selection.score(res.chosen).mase < naive.mase
    # no repeat of last year's noise: ETS is flat, the chosen forecast calmer than the naive
    assert np.ptp(res.forecasts[ETS].point) < np.ptp(y) / 10
    chosen_point = res.forecasts[res.chosen].point
    assert np.ptp(chosen_point) < np.ptp(res.forecasts[SEASONAL_NAIVE].point)
    for model in res.forecasts:
        bands = res.bands(model)
        assert all(np.isfinite(v).all() for v in bands.values())


def test_short_histories_fall_back_with_a_reason() -> None:
    rng = np.random.default_rng(0)
    ten = select_model(seasonal(10), MONTHLY, rng)
    assert ten.chosen == ETS and ten.reason.startswith("10 months of history is too short")
    assert ten.score(SEASONAL_NAIVE).status == "unavailable"
    assert "needs 14 months of history" in ten.score(SEASONAL_NAIVE).reason
    five = select_model(seasonal(5), MONTHLY, rng)
    assert five.chosen == MEAN and "the historical mean" in five.reason
    two = select_model(seasonal(2), MONTHLY, rng)
    assert two.chosen is None and "at least 3 months" in two.reason
    # the forecast build copes with each: no forecast at all for two months
    res = forecast_series(seasonal(5), 100, MONTHLY, CONFIG, rng)
    assert list(res.forecasts) == [MEAN]
    assert forecast_series(seasonal(2), 100, MONTHLY, CONFIG, rng).forecasts == {}
    with pytest.raises(ModelUnavailable, match="needs 25 months of history, has 20 months"):
        forecast_model(STL_ETS, seasonal(20), MONTHLY, 12, 10, rng)


def test_a_constant_history_forecasts_itself_with_no_spread() -> None:
    fc = forecast_model(ETS, np.full(12, 500.0), MONTHLY, 3, 50, np.random.default_rng(0))
    assert fc.point.tolist() == [500.0] * 3 and fc.note == "constant history"
    bands = forecast_bands(fc, 1_000)
    assert bands["balance_lo95"].tolist() == bands["balance_hi95"].tolist() == [1_500, 2_000, 2_500]


def test_bands_are_finite_ordered_integers_and_the_balance_runs_on_the_flows() -> None:
    y = seasonal(30)
    res = forecast_series(y, 1_000_000, MONTHLY, CONFIG, np.random.default_rng(5))
    assert SEASONAL_NAIVE in res.forecasts  # the baseline is always there
    for model in res.forecasts:
        b = res.bands(model)
        for what in ("flow", "balance"):
            stack = np.vstack([b[f"{what}_{k}"] for k in ("lo95", "lo80", "point", "hi80", "hi95")])
            assert stack.dtype == np.int64
            assert (np.diff(stack, axis=0) >= 0).all()
        # rounded separately, so a minor unit per period apart at most
        assert np.abs(b["balance_point"] - 1_000_000 - np.cumsum(b["flow_point"])).max() <= 12
        # the balance band widens with the horizon
        assert (
            b["balance_hi80"][-1] - b["balance_lo80"][-1]
            > b["balance_hi80"][0] - b["balance_lo80"][0]
        )


def test_bands_repair_a_point_outside_the_sampled_band() -> None:
    # paths all above the point: the point still sits inside the (repaired) band
    fc = ModelForecast(ETS, np.array([0.0, 0.0]), np.full((2, 10), 100.0))
    b = forecast_bands(fc, 0)
    assert b["flow_lo95"].tolist() == [0, 0] and b["flow_hi95"].tolist() == [100, 100]


def test_the_ensemble_averages_its_members_and_needs_two() -> None:
    a = ModelForecast(SEASONAL_NAIVE, np.array([1.0, 3.0]), np.zeros((2, 4)))
    b = ModelForecast(ETS, np.array([3.0, 5.0]), np.ones((2, 4)))
    ens = combine([a, b], 4)
    assert ens.point.tolist() == [2.0, 4.0]
    assert ens.paths.tolist() == [[0.0, 0.0, 1.0, 1.0]] * 2
    with pytest.raises(ModelUnavailable, match="needs two members"):
        combine([a], 4)


def test_the_checks_find_disordered_and_missing_figures() -> None:
    import polars as pl

    from finpipe.warehouse.tables.analytics_forecast import CASH_FORECAST

    cols = [c for c in CASH_FORECAST.column_names if c.startswith(("flow_", "balance_"))]
    good = {c: 0 for c in cols}
    bad = {**good, "balance_lo80": 5}  # lo80 above the point
    frame = pl.DataFrame(
        [good, bad, {**good, "flow_point": None}], schema=dict.fromkeys(cols, pl.Int64)
    )
    assert disordered_intervals(frame).height == 2  # the null row cannot be shown ordered
    assert non_finite_rows(frame).height == 1
    floats = frame.cast(pl.Float64).with_columns(pl.lit(float("nan")).alias("flow_hi95"))
    assert non_finite_rows(floats).height == 3
