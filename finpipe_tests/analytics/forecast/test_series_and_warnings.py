"""Cash series from journal lines and the early warnings, on hand-built cases with exact
figures: opening balances are not flows, an incomplete trailing period is left out, the
zero-crossing warning names the exact period, the runway is cash / average burn."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.forecast.config import ForecastConfig, ForecastError
from finpipe.analytics.forecast.series import cash_series, next_periods
from finpipe.analytics.forecast.warnings import (
    early_warnings,
    monthly_burn,
    runway,
    zero_crossing,
)
from finpipe.analytics.formats import format_money
from finpipe.warehouse.tables.analytics_forecast import CASH_FORECAST

D = dt.date


def journal(*rows: tuple[str, D, str, int]) -> pl.DataFrame:
    """Lines of (entry_id, date, standard_code, amount) of company c1."""
    return pl.DataFrame(
        [
            {
                "company_id": "c1",
                "provider": "quickbooks",
                "entry_id": e,
                "date": day,
                "standard_code": code,
                "amount": amount,
            }
            for e, day, code, amount in rows
        ]
    )


BOOKS = journal(
    # opening balance: 1,000.00 in the bank against opening balance equity
    ("ob", D(2026, 1, 1), "1010", 100_000),
    ("ob", D(2026, 1, 1), "3900", -100_000),
    ("s1", D(2026, 1, 15), "1010", 50_000),
    ("s1", D(2026, 1, 15), "4000", -50_000),
    ("e1", D(2026, 2, 3), "1020", -20_000),
    ("e1", D(2026, 2, 3), "6000", 20_000),
    # card takings in the clearing account (1040) are not cash yet
    ("c1", D(2026, 3, 10), "1040", 7_000),
    ("c1", D(2026, 3, 10), "4000", -7_000),
    ("s2", D(2026, 4, 20), "1000", 5_000),
    ("s2", D(2026, 4, 20), "4000", -5_000),
)


def test_monthly_series_excludes_opening_balances_and_fills_quiet_months() -> None:
    series = cash_series(BOOKS, "monthly")
    assert series["period"].to_list() == [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)]
    assert series["net_flow"].to_list() == [50_000, -20_000, 0]
    assert series["balance"].to_list() == [150_000, 130_000, 130_000]
    assert series["period_end"].to_list() == [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]


def test_the_incomplete_last_period_is_left_out_unless_only_its_weekend_is_missing() -> None:
    # books closed on 20 April: April is incomplete
    assert cash_series(BOOKS, "monthly")["period"].max() == D(2026, 3, 1)
    # closed on 28 April: three days short of the month end counts as complete
    april = cash_series(BOOKS, "monthly", as_of=D(2026, 4, 28))
    assert april["period"].max() == D(2026, 4, 1)
    assert april["balance"][-1] == 135_000
    # weekly: Monday 2026-04-20 .. Sunday 04-26; closed Friday 24th -> complete, 23rd -> not
    assert cash_series(BOOKS, "weekly", as_of=D(2026, 4, 24))["period"].max() == D(2026, 4, 20)
    assert cash_series(BOOKS, "weekly", as_of=D(2026, 4, 23))["period"].max() == D(2026, 4, 13)


def test_weekly_series_starts_on_the_monday_of_the_first_cash_line() -> None:
    weekly = cash_series(BOOKS, "weekly", as_of=D(2026, 2, 8))
    assert weekly["period"][0] == D(2025, 12, 29)
    assert weekly.height == 6
    assert weekly["net_flow"].sum() == 30_000
    assert weekly["balance"][-1] == 130_000


def test_series_rejects_an_unknown_frequency_and_frames_without_columns() -> None:
    with pytest.raises(ForecastError, match="frequency 'daily'"):
        cash_series(BOOKS, "daily")
    with pytest.raises(ForecastError, match="entry_id"):
        cash_series(BOOKS.drop("entry_id"), "monthly")


def test_next_periods_roll_over_the_year() -> None:
    assert next_periods(D(2026, 11, 1), "monthly", 3) == [
        D(2026, 12, 1),
        D(2027, 1, 1),
        D(2027, 2, 1),
    ]
    assert next_periods(D(2026, 12, 28), "weekly", 2) == [D(2027, 1, 4), D(2027, 1, 11)]


def forecast_rows(points: list[int], lows: list[int]) -> pl.DataFrame:
    """A chosen weekly forecast starting 2026-11-02 with the given balance point and lo80."""
    n = len(points)
    frame = pl.DataFrame(
        {
            "company_id": ["c1"] * n,
            "frequency": ["weekly"] * n,
            "model": ["ets"] * n,
            "period": [D(2026, 11, 2) + dt.timedelta(weeks=k) for k in range(n)],
            "step": list(range(1, n + 1)),
            "chosen": [True] * n,
            "as_of": [D(2026, 11, 1)] * n,
            "currency": ["USD"] * n,
            "balance_point": points,
            "balance_lo80": lows,
            "balance_lo95": [lo - 1_000 for lo in lows],
        }
    )
    missing = [
        pl.lit(0, pl.Int64).alias(c) for c in CASH_FORECAST.column_names if c not in frame.columns
    ]
    return frame.with_columns(missing).select(CASH_FORECAST.column_names)


def test_zero_crossing_names_the_first_week_the_lower_bound_is_negative() -> None:
    # a declining balance: 10,000.00 less 1,500.00 a week, the 80 % band 2,000.00 below
    points = [1_000_000 - 150_000 * k for k in range(1, 14)]
    lows = [p - 200_000 for p in points]
    w = zero_crossing("c1", "weekly", forecast_rows(points, lows), 1_000_000, D(2026, 11, 1), "USD")
    assert w is not None
    # lo80 of step 6 = 1,000,000 - 900,000 - 200,000 = -100,000: the first below zero
    assert (w["period"], w["periods_ahead"], w["lower_balance"]) == (D(2026, 12, 7), 6, -100_000)
    assert w["expected_balance"] == 100_000
    # the point itself goes negative at step 7 (1,000,000 - 1,050,000)
    assert w["severity"] == "critical"
    assert "the week of 2026-12-07 (week 6 of 13)" in w["reason"]
    assert "-1,000.00 USD" in w["reason"] and "10,000.00 USD at 2026-11-01" in w["reason"]
    assert "turns negative in the week of 2026-12-14 (-500.00 USD)" in w["reason"]


def test_a_lower_bound_below_zero_for_one_period_only_is_no_warning() -> None:
    # a month-end payroll week: the band dips to -1,000.00 in week 4 and recovers
    points = [800_000] * 13
    lows = [300_000, 200_000, 100_000, -100_000, 150_000, -50_000, 100_000, *[90_000] * 5]
    lows.append(-20_000)  # and the last week: nothing after it to confirm
    frame = forecast_rows(points, lows)
    assert zero_crossing("c1", "weekly", frame, 800_000, D(2026, 11, 1), None) is None
    # two weeks running below zero is a warning, dated at the first of them
    lows[8] = -10_000
    lows[9] = -30_000
    w = zero_crossing("c1", "weekly", forecast_rows(points, lows), 800_000, D(2026, 11, 1), None)
    assert w is not None
    assert (w["periods_ahead"], w["lower_balance"], w["severity"]) == (9, -10_000, "high")


def test_no_crossing_no_warning_and_the_95_band_can_be_asked_for() -> None:
    points = [500_000] * 13
    assert (
        zero_crossing(
            "c1", "weekly", forecast_rows(points, [1] * 13), 500_000, D(2026, 11, 1), None
        )
        is None
    )
    w = zero_crossing(
        "c1", "weekly", forecast_rows(points, [500] * 13), 500_000, D(2026, 11, 1), None, band=95
    )
    assert w is not None and w["periods_ahead"] == 1 and w["lower_balance"] == -500
    assert w["severity"] == "high"


def test_runway_on_hand_computed_numbers() -> None:
    # burn = (12,000 + 9,000 + 9,000) / 3 = 10,000.00 a month; cash 42,000.00 -> 4.2 months
    w = runway("c1", 4_200_000, [-1_200_000, -900_000, -900_000], D(2026, 10, 31), "EUR")
    assert w is not None
    assert w["monthly_burn"] == 1_000_000
    assert w["runway_months"] == pytest.approx(4.2)
    assert w["severity"] == "high"
    assert w["reason"] == (
        "Runway is 4.2 months, under the 6-month threshold: 42,000.00 EUR of cash at "
        "2026-10-31 and an average monthly burn of 10,000.00 EUR over the last 3 months "
        "(net flows -12,000.00, -9,000.00, -9,000.00 EUR)."
    )
    # 2.5 months is under half the threshold: critical; a configurable threshold
    assert runway("c1", 2_500_000, [-1_000_000], D(2026, 10, 31), None)["severity"] == "critical"
    assert runway("c1", 4_200_000, [-1_000_000], D(2026, 10, 31), None, threshold_months=4) is None
    # cash generated, not burnt: no runway warning
    assert runway("c1", 100, [500, -100], D(2026, 10, 31), None) is None
    assert monthly_burn([-300, -100]) == 200 and monthly_burn([]) == 0


def test_early_warnings_negative_cash_replaces_the_others() -> None:
    points = [-100_000] * 13
    frame = early_warnings(
        "c1",
        cash=-50_000,
        as_of=D(2026, 10, 31),
        currency="GBP",
        recent_months=[-10_000, -20_000],
        forecasts={"weekly": forecast_rows(points, points)},
        config=ForecastConfig(),
    )
    assert frame["warning_id"].to_list() == ["cash_negative:all"]
    assert frame["reason"][0].startswith("Book cash is already negative: -500.00 GBP at 2026-10-31")


def test_early_warnings_use_the_last_burn_months_and_every_frequency() -> None:
    points = [1_000_000 - 100_000 * k for k in range(1, 14)]
    frame = early_warnings(
        "c1",
        cash=1_000_000,
        as_of=D(2026, 11, 1),
        currency="USD",
        recent_months=[5_000_000, -300_000, -300_000],
        forecasts={"weekly": forecast_rows(points, points)},
        config=ForecastConfig(burn_months=2, runway_threshold_months=6),
    )
    assert frame["warning_id"].to_list() == [
        "balance_may_cross_zero:weekly",
        "runway_below_threshold:all",
    ]
    assert frame["runway_months"][1] == pytest.approx(1_000_000 / 300_000, rel=1e-4)
    assert frame.schema["cash_balance"] == pl.Int64


def test_money_formats_minor_units() -> None:
    assert format_money(-123_456, "USD") == "-1,234.56 USD"
    assert format_money(5, None) == "0.05"
    assert format_money(-123_456, "JPY") == "-123,456 JPY"  # no minor unit: no decimals


def test_config_is_validated() -> None:
    with pytest.raises(ForecastError, match="warning_band=90"):
        ForecastConfig(warning_band=90).validate()
    with pytest.raises(ForecastError, match="runway_threshold_months"):
        ForecastConfig(runway_threshold_months=0).validate()
