"""Seasonal adjustment: a December peak seen every year is expected, a one-off spike is not."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from finpipe.analytics.anomalies.seasonal import (
    decompose,
    robust_trend,
    robust_z,
    running_level,
    seasonal_alerts,
    series_alerts,
    spike_flags,
)

from .helpers import transactions


def _series(years: int, spike_at: int | None, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    months = np.arange(12 * years)
    level = 10_000 + 50 * months  # a gentle trend
    december = np.where(months % 12 == 11, 2.5, 1.0)  # the retail peak, every year
    values = level * december * rng.normal(1.0, 0.05, len(months))
    if spike_at is not None:
        values[spike_at] *= 4
    return values.round()


def test_robust_z_is_median_and_mad_based() -> None:
    z = robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    # median 3, MAD 1 -> scale 1.4826
    assert z.tolist() == pytest.approx([-2 / 1.4826, -1 / 1.4826, 0.0, 1 / 1.4826, 97 / 1.4826])
    assert robust_z(np.array([5.0, 5.0, 5.0])).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("years", [2, 3])
def test_regular_december_peaks_are_not_flagged(years: int) -> None:
    values = _series(years, None)
    assert series_alerts(list(range(len(values))), values) == []


@pytest.mark.parametrize("years", [2, 3])
def test_a_planted_spike_is_flagged_and_the_decembers_are_not(years: int) -> None:
    spike = 12 + 4  # May of the second year
    values = _series(years, spike)
    alerts = series_alerts(list(range(len(values))), values)
    assert [a[0] for a in alerts] == [spike]
    _, expected, resid, z = alerts[0]
    assert resid > expected > 0
    assert z >= 3.5


def test_a_december_spike_in_a_flat_series_is_flagged() -> None:
    # a software company's travel: no season, one December three times the usual month
    rng = np.random.default_rng(7)
    values = rng.normal(5_000, 250, 24).round()
    values[23] = 15_000
    assert [a[0] for a in series_alerts(list(range(24)), values)] == [23]


def test_short_and_intermittent_series_give_no_alert() -> None:
    values = _series(2, 16)
    assert series_alerts(list(range(23)), values[:23]) == []  # under two full years
    lumpy = np.zeros(24)
    lumpy[[2, 9, 14, 21]] = [100.0, 5000.0, 120.0, 130.0]  # a fee now and then
    assert series_alerts(list(range(24)), lumpy) == []


def _months(n: int = 24) -> list[dt.date]:
    return [dt.date(2025 + i // 12, i % 12 + 1, 1) for i in range(n)]


def _books(
    extra: list[tuple[str, int]], code: str = "6310", spike_month: int = 20
) -> tuple[pl.DataFrame, pl.DataFrame, list[dt.date], np.ndarray]:
    """Journal lines and transactions of one account: one routine charge of about 100,000
    a month, plus ``extra`` (document id, amount) charges in ``spike_month``."""
    months = _months()
    rng = np.random.default_rng(2)
    amounts = rng.normal(100_000, 5_000, 24).round().astype(int)
    ids = [f"d{i}" for i in range(24)] + [doc for doc, _ in extra]
    days = [*months, *[months[spike_month]] * len(extra)]
    values = [*amounts.tolist(), *[a for _, a in extra]]
    lines = pl.DataFrame(
        {
            "date": days,
            "standard_code": [code] * len(ids),
            "amount": values,
            "document_id": ids,
        }
    )
    tx = transactions(
        *[
            {
                "document_id": doc,
                "doc_type": "expense",
                "issue_date": day,
                "amount": int(a),
                "standard_code": code,
            }
            for doc, day, a in zip(ids, days, values, strict=True)
        ]
    )
    return lines, tx, months, amounts


def test_every_unusual_charge_of_a_spike_month_is_flagged_and_routine_ones_are_not() -> None:
    extra = [("x1", 400_000), ("x2", 350_000), ("x3", 320_000)]
    lines, tx, months, amounts = _books(extra)
    alerts = seasonal_alerts(lines, "GBP")
    assert alerts.select("series", "category", "month").rows() == [("expense", "6310", months[20])]
    row = alerts.row(0, named=True)
    assert row["actual"] == amounts[20] + 1_070_000
    assert row["reason"].startswith(f"expense account 6310 in {months[20]:%Y-%m}: ")
    flags = spike_flags(tx, alerts)
    # each extra charge is over three times the account's median charge: all are the spike;
    # the month's routine charge d20 (about 100,000, the median) is not
    assert sorted(flags["document_id"]) == ["x1", "x2", "x3"]
    assert set(flags["type"]) == {"expense_spike"}
    # unnumbered, so named by its date
    x1 = tx.filter(pl.col("document_id") == "x1")["issue_date"][0]
    assert flags["reason"][0].startswith(
        f"dated {x1:%Y-%m-%d} (4,000.00 GBP to Acme Ltd) is one of 3 charges far above the "
        "account's usual"
    )


def test_a_charge_of_the_usual_size_is_not_part_of_a_spike() -> None:
    # 150,000 is one and a half routine charges: dearer than usual, but under twice the
    # usual charge, so not unusual even in this steady account
    lines, tx, _, _ = _books([("x1", 600_000), ("x2", 450_000), ("x3", 150_000)])
    assert sorted(spike_flags(tx, seasonal_alerts(lines, "GBP"))["document_id"]) == ["x1", "x2"]


def _charges(
    per_month: float, sigma: float, charge: float, extra: list[int], seed: int, at: int = 20
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Journal lines and transactions of one account over 24 months: Poisson(``per_month``)
    card charges a month, each lognormal (``sigma``) around a median ``charge``, plus
    ``extra`` charges in month ``at``."""
    rng = np.random.default_rng(seed)
    months = _months()
    rows = [
        (f"d{m}_{k}", months[m], int(rng.lognormal(np.log(charge), sigma)))
        for m in range(24)
        for k in range(rng.poisson(per_month))
    ] + [(f"x{k}", months[at], a) for k, a in enumerate(extra)]
    lines = pl.DataFrame(
        {
            "date": [d for _, d, _ in rows],
            "standard_code": ["6320"] * len(rows),
            "amount": [a for _, _, a in rows],
            "document_id": [doc for doc, _, _ in rows],
        }
    )
    tx = transactions(
        *[
            {
                "document_id": doc,
                "doc_type": "expense",
                "issue_date": day,
                "amount": a,
                "standard_code": "6320",
            }
            for doc, day, a in rows
        ]
    )
    return lines, tx


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_natural_range_is_the_accounts_own(seed: int) -> None:
    # two accounts of about 200,000 a month get the same three extra charges of 150,000:
    # the month reaches about 3.25 times its usual level in both. Twenty similar charges a
    # month never come near that, so there it is a spike and the three are its charges;
    # two very uneven charges a month (lognormal sigma 1.2) reach it now and then, and an
    # alert there would be one of many a year across a company's accounts
    extra = [160_000, 150_000, 140_000]
    steady_lines, steady_tx = _charges(20, 0.1, 10_000, extra, seed)
    steady = seasonal_alerts(steady_lines, "GBP")
    assert steady["month"].to_list() == [_months()[20]]
    assert steady["z"][0] > 3.1  # rarer than once in a thousand months
    assert sorted(spike_flags(steady_tx, steady)["document_id"]) == ["x0", "x1", "x2"]
    lumpy_lines, _ = _charges(2, 1.2, 100_000 / np.exp(0.72), extra, seed)
    assert seasonal_alerts(lumpy_lines, "GBP").is_empty()


def test_cost_of_sales_is_not_tested() -> None:
    lines, _, _, _ = _books([("x1", 400_000), ("x2", 350_000)], code="5000")
    assert seasonal_alerts(lines, "GBP").is_empty()


def test_an_immaterial_excess_is_not_an_alert() -> None:
    lines, _, months, _ = _books([("x1", 400_000), ("x2", 350_000)])
    # the same account in a company that spends about 100,000,000 a month elsewhere: an
    # excess of about 750,000 is under 1 % of its month
    payroll = pl.DataFrame(
        {
            "date": months,
            "standard_code": ["6000"] * 24,
            "amount": [100_000_000] * 24,
            "document_id": [f"p{i}" for i in range(24)],
        }
    )
    alerts = seasonal_alerts(pl.concat([lines, payroll]), "GBP")
    assert alerts.filter(pl.col("category") == "6310").is_empty()


def test_a_high_month_in_the_other_year_barely_moves_a_seasonless_expectation() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(10_000, 2_500, 24)
    values[4] += 10_000  # a one-off high May in the first year
    expected, _ = decompose(values)
    level = float(np.median(np.delete(values, 4)))
    # the second May's expectation: shrunk towards the level, not the first May repeated
    assert expected[16] - level < 0.5 * 10_000
    # while a December seen every year, far above the noise, stays expected
    peaks = _series(2, None)
    expected, resid = decompose(peaks)
    assert expected[23] > 2 * peaks[22]
    assert abs(resid[23]) < 0.2 * peaks[23]


def test_three_years_use_robust_stl_and_two_a_running_median() -> None:
    values = _series(3, None)
    assert not np.allclose(robust_trend(values), running_level(values))
    short = values[:24]
    assert np.allclose(robust_trend(short), running_level(short))
    # the running level leaves the month out and ignores one spike among its neighbours
    spiked = np.full(24, 100.0)
    spiked[10] = 900.0
    assert running_level(spiked).tolist() == [100.0] * 24


def test_a_december_spike_in_a_seasonless_account_is_judged_by_its_charges() -> None:
    # a software company's travel: a dozen trips' charges a month and no season; the second
    # December gets three extra bookings of about four usual months together
    extra = [150_000, 130_000, 120_000]
    lines, tx = _charges(12, 0.5, 8_000, extra, seed=9, at=23)
    alerts = seasonal_alerts(lines, "GBP")
    assert alerts["month"].to_list() == [_months()[23]]
    assert "the account's own charges reach that less than once in" in alerts["reason"][0]
    assert sorted(spike_flags(tx, alerts)["document_id"]) == ["x0", "x1", "x2"]
