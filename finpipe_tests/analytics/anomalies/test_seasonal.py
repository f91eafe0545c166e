"""Seasonal adjustment: a December peak seen every year is expected, a one-off spike is not."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from finpipe.analytics.anomalies.seasonal import (
    robust_z,
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


def test_spike_documents_are_the_largest_of_the_month_up_to_the_excess() -> None:
    months = [dt.date(2025, 1, 1) + dt.timedelta(days=31 * i) for i in range(24)]
    months = [m.replace(day=1) for m in months]
    rng = np.random.default_rng(2)
    amounts = rng.normal(100_000, 5_000, 24).round().astype(int)
    lines = pl.DataFrame(
        {
            "date": months,
            "standard_code": ["6310"] * 24,
            "amount": amounts,
            "document_id": [f"d{i}" for i in range(24)],
        }
    )
    extra = pl.DataFrame(
        {
            "date": [months[20]] * 2,
            "standard_code": ["6310"] * 2,
            "amount": [300_000, 220_000],
            "document_id": ["x1", "x2"],
        }
    )
    alerts = seasonal_alerts(pl.concat([lines, extra]), "GBP")
    assert alerts.select("series", "category", "month").rows() == [("expense", "6310", months[20])]
    row = alerts.row(0, named=True)
    assert row["actual"] == amounts[20] + 520_000
    assert row["reason"].startswith(f"expense account 6310 in {months[20]:%Y-%m}: ")
    tx = transactions(
        *[
            {
                "document_id": doc,
                "doc_type": "expense",
                "issue_date": day,
                "amount": int(a),
                "standard_code": "6310",
            }
            for doc, day, a in zip(
                [*lines["document_id"], "x1", "x2"],
                [*months, months[20], months[20]],
                [*amounts, 300_000, 220_000],
                strict=True,
            )
        ]
    )
    flags = spike_flags(tx, alerts)
    # the residual is about 520,000: x1 (300,000) and x2 (220,000) cover it; the month's
    # routine charge d20 (about 100,000, the category's median) is not the excess
    assert sorted(flags["document_id"]) == ["x1", "x2"]
    assert set(flags["type"]) == {"expense_spike"}
    assert flags["reason"][0].startswith("#x1 (3,000.00 GBP to Acme Ltd) is among the largest")
