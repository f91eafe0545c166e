"""Model choice and intervals on synthetic series (kept short: statsmodels fits are the slow
part): a strongly seasonal series is won by a seasonal model over seasonal naive, white
noise neither crashes nor picks the naive baseline, short histories fall back with their
reason, every interval is finite and ordered, a weekly series with a known month pattern is
learnt by the month profile, and a single model displaces the ensemble only by winning
every fold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from finpipe.analytics.forecast.backtest import (
    backtest_origins,
    choose,
    mase,
    mase_scale,
    select_model,
)
from finpipe.analytics.forecast.build import forecast_bands, forecast_series
from finpipe.analytics.forecast.checks import disordered_intervals, non_finite_rows
from finpipe.analytics.forecast.config import FREQUENCY_SETTINGS, ForecastConfig, ForecastError
from finpipe.analytics.forecast.models import (
    ENSEMBLE,
    ETS,
    MEAN,
    MONTH_PROFILE,
    SEASONAL_NAIVE,
    STL_ETS,
    ModelForecast,
    ModelUnavailable,
    calendar_features,
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


WEEKLY = FREQUENCY_SETTINGS["weekly"]


def month_shaped_weeks(weeks: int, seed: int = 2) -> tuple[dt.date, np.ndarray]:
    """Weekly flows of a business whose cash follows the month: 10,000.00 of takings every
    business day, rent of 30,000.00 on each of the month's first two business days and
    payroll of 50,000.00 on each of its last two, plus 2,000.00 of weekly noise."""
    first = dt.date(2023, 1, 2)  # a Monday
    days = np.datetime64(first, "D") + np.arange(weeks * 7)
    month = days.astype("datetime64[M]")
    start, end = month.astype("datetime64[D]"), (month + 1).astype("datetime64[D]")
    before, after = np.busday_count(start, days), np.busday_count(days + 1, end)
    daily = np.where(before < 2, -3_000_000, np.where(after < 2, -5_000_000, 1_000_000))
    daily = np.where(np.is_busday(days), daily, 0)
    noise = np.random.default_rng(seed).normal(0, 200_000, weeks)
    return first, daily.reshape(weeks, 7).sum(axis=1) + noise


def test_calendar_features_count_business_days_by_position_in_the_month() -> None:
    # Mon 28 Sep 2026: the 28th is the third-last business day of September, the 29th and
    # 30th its last two, Thu 1 and Fri 2 October the first two of October.
    x = calendar_features(dt.date(2026, 9, 28), 6)
    assert x[0].tolist() == [2, 0, 0, 0, 1, 2, 1]
    assert x[1].tolist() == [0, 4, 1, 0, 0, 0, -1]  # 5-8 Oct to the 8th, 9 Oct after
    assert (x[:, :6].sum(axis=1) == 5).all()  # every business day counted once
    assert x[:, 6].tolist() == [1, -1, 1, -1, 1, -1]
    with pytest.raises(ForecastError, match="not a Monday"):
        calendar_features(dt.date(2026, 9, 29), 2)


def test_the_month_profile_learns_a_known_month_pattern_and_wins_the_backtest() -> None:
    first, y = month_shaped_weeks(130 + 13)
    train, test = y[:130], y[130:]
    rng = np.random.default_rng(0)
    fc = forecast_model(MONTH_PROFILE, train, WEEKLY, 13, 200, rng, first)
    # the rent and payroll weeks are forecast to within the noise; a weekly model without
    # the calendar (ETS) and the 52-week-lagged naive are far off
    assert np.abs(fc.point - test).max() < 1_000_000
    ets = forecast_model(ETS, train, WEEKLY, 13, 0, rng)
    naive = forecast_model(SEASONAL_NAIVE, train, WEEKLY, 13, 0, rng)
    assert mase(test, fc.point, 1.0) < 0.2 * mase(test, ets.point, 1.0)
    assert mase(test, fc.point, 1.0) < 0.5 * mase(test, naive.point, 1.0)
    assert fc.paths.shape == (13, 200) and np.isfinite(fc.paths).all()
    sel = select_model(train, WEEKLY, rng, first)
    assert sel.chosen == MONTH_PROFILE
    assert sel.score(MONTH_PROFILE).mase < sel.score(SEASONAL_NAIVE).mase
    # without dates the month profile cannot run, and it is not a monthly model
    with pytest.raises(ModelUnavailable, match="calendar dates"):
        forecast_model(MONTH_PROFILE, train, WEEKLY, 13, 0, rng)
    with pytest.raises(ModelUnavailable, match="not a monthly model"):
        forecast_model(MONTH_PROFILE, seasonal(36), MONTHLY, 12, 0, rng, dt.date(2023, 1, 1))
    assert select_model(seasonal(36), MONTHLY, rng).score(MONTH_PROFILE) is None


def test_a_single_model_displaces_the_ensemble_only_by_winning_every_fold() -> None:
    errors = {
        SEASONAL_NAIVE: [1.0, 1.0, 1.0],
        ETS: [0.5, 0.6, 1.2],  # mean 0.77, below the ensemble's 0.8, but loses fold 3
        ENSEMBLE: [0.8, 0.8, 0.8],
    }
    chosen, reason = choose(errors, 3)
    assert chosen == ENSEMBLE
    assert "beats it in 2 of 3 backtest folds" in reason
    errors[ETS] = [0.7, 0.79, 0.75]  # wins every fold, by little
    chosen, reason = choose(errors, 3)
    assert chosen == ETS and "beats the ensemble in every one of the 3" in reason
    # the ensemble with the lowest mean is chosen outright; without one, the lowest mean
    assert choose({ETS: [0.9, 0.9], ENSEMBLE: [0.85, 0.95]}, 2)[0] == ENSEMBLE
    assert choose({SEASONAL_NAIVE: [1.0, 0.9], ETS: [0.8, 1.0]}, 2)[0] == ETS
