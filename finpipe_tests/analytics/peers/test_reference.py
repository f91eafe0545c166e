"""The reference table: its packaged figures, interpolation against published quartiles."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.financials.kpis import BY_NAME
from finpipe.analytics.peers.reference import (
    ReferenceDataError,
    interpolated_percentile,
    load_reference,
    reference_benchmarks,
)

HEADER = (
    "naics_sector,kpi,q1,median,q3,source_industry,source_anzsic_note,fiscal_year,"
    "turnover_band,source_url\n"
)


def _positions(values: list[float], q1: float, median: float, q3: float, hib: bool) -> list[float]:
    frame = pl.DataFrame({"v": values})
    return frame.select(
        p=interpolated_percentile(pl.col("v"), pl.lit(q1), pl.lit(median), pl.lit(q3), pl.lit(hib))
    )["p"].to_list()


def test_interpolation_through_quartiles() -> None:
    got = _positions([1.0, 1.5, 2.0, 3.0, 4.0, 0.5, 0.0, -1.0, 5.0, 10.0], 1.0, 2.0, 4.0, True)
    assert got == [25.0, 37.5, 50.0, 62.5, 75.0, 12.5, 0.0, 0.0, 87.5, 100.0]


def test_interpolation_inverted_for_lower_is_better() -> None:
    assert _positions([1.5, 3.0, 10.0], 1.0, 2.0, 4.0, False) == [62.5, 37.5, 0.0]


def test_interpolation_with_a_zero_width_segment() -> None:
    # Q1 = median: at the median 50, below it the step at Q1 (25), above the upper segment.
    assert _positions([1.0, 0.5, 2.0], 1.0, 1.0, 3.0, True) == [50.0, 25.0, 62.5]


def test_packaged_reference_is_well_formed() -> None:
    ref = load_reference()
    assert ref.height >= 10
    assert set(ref["kpi"]) <= {name for name, kpi in BY_NAME.items() if kpi.unit == "ratio"}
    assert ref.filter(~pl.col("source_url").str.starts_with("https://figure.nz/chart/")).is_empty()
    row = ref.filter((pl.col("naics_sector") == "44-45") & (pl.col("kpi") == "current_ratio"))
    assert row.select("q1", "median", "q3").row(0) == (0.73, 1.39, 5.28)


def test_unordered_quartiles_are_refused_and_empty_rows_dropped() -> None:
    with pytest.raises(ReferenceDataError, match=r"sector 23 kpi dso: quartiles 3\.0, 2\.0, 4\.0"):
        load_reference(HEADER + "23,dso,3,2,4,x,y,2024,Small,https://example\n")
    ref = load_reference(HEADER + "23,dso,,,,x,y,2024,Small,https://example\n")
    assert ref.is_empty()


def test_reference_benchmarks_by_sector() -> None:
    ref = load_reference(
        HEADER
        + "44-45,current_ratio,1,2,4,x,y,2024,Small,https://example\n"
        + "23,dso,20,40,60,x,y,2024,Small,https://example\n"
    )
    companies = pl.DataFrame(
        {"company_id": ["shop", "builder"], "naics_code": ["455110", "236220"]}
    )
    month = dt.date(2025, 3, 1)
    values = pl.DataFrame(
        {
            "company_id": ["shop", "shop", "builder"],
            "month": [month] * 3,
            "kpi": ["current_ratio", "dso", "dso"],
            "value": [3.0, 50.0, 30.0],
            "higher_is_better": [True, False, False],
        }
    )
    out = reference_benchmarks(values, companies, ref).sort("company_id")
    assert out.select("company_id", "kpi", "group_id", "percentile").rows() == [
        ("builder", "dso", "reference:23", 62.5),  # 30 days is better than the median 40
        ("shop", "current_ratio", "reference:44-45", 62.5),
    ]
