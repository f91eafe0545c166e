"""Winsorised percentiles, inversion for lower-is-better KPIs, quartiles and the k rule, on
hand-computed values."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.peers.percentiles import (
    group_percentiles,
    percentile_change_12m,
    winsorise,
)

MONTH = dt.date(2025, 3, 1)


def _group(
    values: list[float | None], kpi: str, higher_is_better: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids = [f"c{i:02d}" for i in range(len(values))]
    frame = pl.DataFrame(
        {
            "company_id": ids,
            "month": [MONTH] * len(ids),
            "kpi": [kpi] * len(ids),
            "value": values,
            "higher_is_better": [higher_is_better] * len(ids),
        },
        schema_overrides={"value": pl.Float64},
    )
    members = pl.DataFrame(
        {"month": [MONTH] * len(ids), "group_id": ["g"] * len(ids), "company_id": ids}
    )
    return frame, members


def test_five_values_no_winsorising_and_quartiles() -> None:
    values, members = _group([3.0, 1.0, 100.0, 2.0, 4.0], "current_ratio", True)
    out = group_percentiles(values, members, k=5).sort("company_id")
    # Below 20 values nothing is clipped: ranks 3,1,5,2,4 -> 50, 0, 100, 25, 75.
    assert out["percentile"].to_list() == [50.0, 0.0, 100.0, 25.0, 75.0]
    assert out["group_median"].unique().to_list() == [3.0]
    assert out["group_q1"].unique().to_list() == [2.0]
    assert out["group_q3"].unique().to_list() == [4.0]
    assert out["n"].unique().to_list() == [5]
    assert out["value"].to_list() == [3.0, 1.0, 100.0, 2.0, 4.0]  # published unwinsorised


def test_lower_is_better_is_inverted() -> None:
    values, members = _group([30.0, 10.0, 90.0, 20.0, 40.0], "dso", False)
    out = group_percentiles(values, members, k=5).sort("company_id")
    # The shortest DSO (10 days) is the best: 100.
    assert out["percentile"].to_list() == [50.0, 100.0, 0.0, 75.0, 25.0]


def test_winsorising_twenty_values_ties_the_tails() -> None:
    raw = [-50.0, *[float(v) for v in range(2, 20)], 1000.0]
    values, members = _group(raw, "net_margin", True)
    out = group_percentiles(values, members, k=5).sort("company_id")
    pct = out["percentile"].to_list()
    # g = floor(0.05 * 20) = 1: -50 -> 2 and 1000 -> 19; the tied pairs share ranks 1.5 / 19.5.
    assert pct[0] == pytest.approx(100 * 0.5 / 19)
    assert pct[1] == pytest.approx(100 * 0.5 / 19)
    assert pct[-1] == pytest.approx(100 * 18.5 / 19)
    assert pct[-2] == pytest.approx(100 * 18.5 / 19)
    assert pct[2] == pytest.approx(100 * 2 / 19)  # the value 3: rank 3
    # Quartiles of the winsorised values 2, 2, 3, ..., 18, 19, 19.
    assert out["group_median"][0] == pytest.approx(10.5)
    assert out["group_q1"][0] == pytest.approx(5.75)
    assert out["group_q3"][0] == pytest.approx(15.25)


def test_winsorise_expression() -> None:
    frame = pl.DataFrame(
        {"g": ["a"] * 20 + ["b"] * 3, "v": [*map(float, range(20)), 1.0, 2.0, 300.0]}
    )
    out = frame.select(w=winsorise(pl.col("v"), ["g"]))["w"].to_list()
    assert out[:20] == [1.0, *map(float, range(1, 19)), 18.0]
    assert out[20:] == [1.0, 2.0, 300.0]  # 3 values: nothing to clip


def test_group_below_k_publishes_nothing() -> None:
    values, members = _group([1.0, 2.0, 3.0, 4.0, None], "current_ratio", True)
    assert group_percentiles(values, members, k=5).is_empty()
    values, members = _group([1.0, 2.0, 3.0, float("nan"), 6.0], "current_ratio", True)
    assert group_percentiles(values, members, k=5).is_empty()  # NaN is not a value


def test_percentile_change_against_twelve_months_earlier() -> None:
    frame = pl.DataFrame(
        {
            "company_id": ["a", "a", "a"],
            "kpi": ["dso"] * 3,
            "source": ["peers"] * 3,
            "month": [dt.date(2024, 3, 1), dt.date(2024, 9, 1), dt.date(2025, 3, 1)],
            "percentile": [40.0, 55.0, 70.0],
        }
    )
    out = percentile_change_12m(frame, ["company_id", "kpi", "source"]).sort("month")
    assert out["percentile_change_12m"].to_list() == [None, None, 30.0]
