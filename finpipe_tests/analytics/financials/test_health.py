"""Altman Z″ on hand-computed balance sheets, the composite's transforms and its
explainability (contributions sum to the score; changes say what moved it)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from finpipe.analytics.financials.build import compute_financials
from finpipe.analytics.financials.health import (
    SUBSCORES,
    TRANSFORMS,
    altman,
    composite,
    kpi_scores,
    zone,
)
from finpipe_tests.analytics.financials.test_statements_kpis import LEDGER, journal

JAN, FEB = dt.date(2026, 1, 1), dt.date(2026, 2, 1)


def facts(**values: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"company_id": ["c"], "month": [JAN], **{k: [v] for k, v in values.items()}}
    )


SAFE = facts(
    current_assets=500,
    current_liabilities=200,
    total_assets=1_000,
    retained_earnings=150,
    current_year_earnings=50,
    ebit_ttm=100,
    total_equity=600,
    total_liabilities=400,
)


def test_altman_z_of_a_small_balance_sheet_is_exact() -> None:
    scores, parts = altman(SAFE)
    # X1 0.3, X2 0.2, X3 0.1, X4 1.5
    z = 6.56 * 0.3 + 3.26 * 0.2 + 6.72 * 0.1 + 1.05 * 1.5
    assert z == pytest.approx(4.867)
    row = scores.row(0, named=True)
    assert row["altman_z"] == pytest.approx(4.867, abs=1e-12)
    assert row["altman_zone"] == "safe"
    values = dict(zip(parts["component"], parts["value"], strict=True))
    assert values == pytest.approx(
        {
            "x1_working_capital": 0.3,
            "x2_retained_earnings": 0.2,
            "x3_ebit": 0.1,
            "x4_equity_to_liabilities": 1.5,
        }
    )
    assert parts["contribution"].sum() == pytest.approx(row["altman_z"])
    assert json.loads(parts.filter(pl.col("component") == "x3_ebit")["inputs"].item()) == {
        "ebit_ttm": 100,
        "total_assets": 1_000,
    }


def test_altman_distress_and_undefined_cases() -> None:
    distress = facts(
        current_assets=100,
        current_liabilities=300,
        total_assets=1_000,
        retained_earnings=-200,
        current_year_earnings=0,
        ebit_ttm=-50,
        total_equity=100,
        total_liabilities=900,
    )
    row = altman(distress)[0].row(0, named=True)
    assert row["altman_z"] == pytest.approx(-1.312 - 0.652 - 0.336 + 1.05 / 9)
    assert row["altman_zone"] == "distress"
    insolvent = distress.with_columns(total_assets=pl.lit(-10))
    row = altman(insolvent)[0].row(0, named=True)
    assert (row["altman_z"], row["altman_zone"]) == (None, "distress")
    assert "insolvency" in row["altman_note"]
    debt_free = SAFE.with_columns(total_liabilities=pl.lit(0), current_liabilities=pl.lit(0))
    row = altman(debt_free)[0].row(0, named=True)
    assert (row["altman_z"], row["altman_zone"]) == (None, "safe")


def test_zone_boundaries() -> None:
    z = pl.DataFrame({"z": [1.09, 1.10, 2.60, 2.61, None]})
    assert z.select(zone(pl.col("z")).alias("zone"))["zone"].to_list() == [
        "distress",
        "grey",
        "grey",
        "safe",
        None,
    ]


def kpi_rows(values: dict[str, tuple[float | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": ["c"] * len(values),
            "month": [JAN] * len(values),
            "kpi": list(values),
            "value": [v for v, _ in values.values()],
            "null_reason": [r for _, r in values.values()],
        },
        schema_overrides={"value": pl.Float64, "null_reason": pl.String},
    )


def test_transforms_are_linear_clamped_and_meaningful_nulls_score() -> None:
    rows = kpi_rows(
        {
            "current_ratio": (1.25, None),  # halfway from 0.5 to 2.0
            "quick_ratio": (9.0, None),  # above good: 100
            "cash_ratio": (-1.0, None),  # below bad: 0
            "dso": (55.0, None),  # lower is better: 90 -> 20, halfway
            "runway_months": (None, "not burning cash: runway unbounded"),
            "revenue_growth_yoy": (None, "revenue_prev_year not available (not enough...)"),
        }
    )
    got = dict(kpi_scores(rows).select("kpi", "score").iter_rows())
    assert got["current_ratio"] == pytest.approx(50.0)
    assert (got["quick_ratio"], got["cash_ratio"]) == (100.0, 0.0)
    assert got["dso"] == pytest.approx(50.0)
    assert got["runway_months"] == 100.0
    assert got["revenue_growth_yoy"] is None


def test_composite_renormalises_over_available_subscores() -> None:
    rows = kpi_rows({"current_ratio": (1.25, None), "dso": (20.0, None)})
    scores, parts = composite(rows)
    row = scores.row(0, named=True)
    # liquidity 50 (weight 0.20) and efficiency 100 (0.10): (0.2*50 + 0.1*100) / 0.3
    assert row["composite"] == pytest.approx(200 / 3)
    assert (row["liquidity"], row["efficiency"], row["growth"]) == (50.0, 100.0, None)
    assert parts["contribution"].drop_nulls().sum() == pytest.approx(row["composite"])


def test_composite_is_explainable_on_the_hand_ledger() -> None:
    fin = compute_financials(journal(LEDGER))
    parts = fin.components.filter(pl.col("score") == "composite")
    sums = parts.group_by("month").agg(pl.col("contribution").sum()).sort("month")
    assert sums["contribution"].to_list() == pytest.approx(fin.scores["composite"].to_list())
    assert fin.scores["composite"].is_between(0, 100).all()
    assert set(parts["component"]) <= set(SUBSCORES)
    feb = fin.scores.filter(pl.col("month") == FEB).row(0, named=True)
    jan_parts = parts.filter(pl.col("month") == JAN)
    feb_parts = parts.filter(pl.col("month") == FEB)
    changes = feb_parts.join(jan_parts, on="component", suffix="_jan").with_columns(
        moved=pl.col("contribution") - pl.col("contribution_jan")
    )
    assert changes["moved"].to_list() == pytest.approx(changes["change"].to_list())
    assert feb["composite_change"] == pytest.approx(
        feb["composite"] - fin.scores.filter(pl.col("month") == JAN)["composite"].item()
    )
    biggest = changes.sort(pl.col("change").abs(), descending=True, nulls_last=True)["component"][0]
    assert feb["biggest_mover"] == biggest
    assert feb["explanation"].startswith(f"composite {round(feb['composite'], 1)}")
    inputs = json.loads(feb_parts.filter(pl.col("component") == "liquidity")["inputs"].item())
    assert {i["kpi"] for i in inputs} == {"current_ratio", "quick_ratio", "cash_ratio"}
    assert all(f.is_empty() for f in fin.problems().values())


def test_every_transform_reads_a_registry_kpi_and_a_known_subscore() -> None:
    from finpipe.analytics.financials.kpis import BY_NAME

    assert {t.kpi for t in TRANSFORMS} <= set(BY_NAME)
    assert {t.subscore for t in TRANSFORMS} == set(SUBSCORES)
    assert sum(SUBSCORES.values()) == pytest.approx(1.0)
