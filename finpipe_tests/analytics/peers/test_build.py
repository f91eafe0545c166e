"""The whole benchmark on hand-built companies: peers, custom groups, reference fallback,
the k checks, and a write to the warehouse on both engines."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.peers.build import (
    PeerConfig,
    benchmark_position,
    compute_peer_benchmarks,
    set_custom_group,
    summary_markdown,
    write_peer_benchmarks,
)
from finpipe.analytics.peers.groups import PeerGroupError
from finpipe.analytics.peers.reference import load_reference
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_peers import (
    CUSTOM_PEER_GROUPS,
    PEER_BENCHMARKS,
    PEER_GROUPS,
)
from finpipe.warehouse.tables.ops import COMPANIES

MONTHS = [dt.date(2024, m, 1) for m in range(1, 13)] + [dt.date(2025, 1, 1)]
HEADER = (
    "naics_sector,kpi,q1,median,q3,source_industry,source_anzsic_note,fiscal_year,"
    "turnover_band,source_url\n"
)


def _inputs() -> tuple[pl.DataFrame, ...]:
    codes = {**{f"s{i}": "541511" for i in range(6)}, "lone": "236220"}
    companies = pl.DataFrame({"company_id": list(codes), "naics_code": list(codes.values())})
    rows = []
    for i, cid in enumerate(codes):
        for j, month in enumerate(MONTHS):
            # s0 improves its current ratio over the year; the others stay put.
            ratio = float(i + 1) if cid != "s0" else (0.5 if j < 12 else 10.0)
            rows.append((cid, month, "current_ratio", ratio))
            rows.append((cid, month, "dso", 10.0 * (i + 1)))
    kpis = pl.DataFrame(rows, schema=["company_id", "month", "kpi", "value"], orient="row")
    income = pl.DataFrame(
        {
            "company_id": [c for c in codes for _ in MONTHS],
            "month": MONTHS * len(codes),
            "currency": "USD",
            "revenue": 4_000_000,
        }
    )
    software = [f"s{i}" for i in range(6)]
    custom = pl.DataFrame(
        {
            "group_id": ["same"] * 6 + ["mix"] * 5 + ["tiny"] * 4,
            "company_id": [*software, "s0", "s1", "s2", "s3", "lone", "s0", "s1", "s2", "s3"],
        }
    )
    reference = load_reference(HEADER + "23,current_ratio,1,2,4,x,y,2024,Small,https://example\n")
    return companies, kpis, income, custom, reference


def test_peers_custom_and_reference() -> None:
    result = compute_peer_benchmarks(*_inputs())
    last = result.benchmarks.filter(pl.col("month") == MONTHS[-1])

    s0 = last.filter((pl.col("company_id") == "s0") & (pl.col("source") == "peers"))
    assert s0.select("kpi", "group_id", "level", "percentile", "n").rows() == [
        ("current_ratio", "naics6:541511|band:250k-1M", "naics6+band", 100.0, 6),
        ("dso", "naics6:541511|band:250k-1M", "naics6+band", 100.0, 6),
    ]
    # A year earlier s0 had the lowest current ratio: 0 -> 100.
    assert s0["percentile_change_12m"].to_list() == [100.0, 0.0]

    custom = last.filter(pl.col("source") == "custom")
    # "tiny" has 4 members: never published; "mix" differs from the software peer group by
    # 3 companies (s4, s5 out, lone in): comparing the two would expose them, so it is withheld.
    assert set(custom["group_id"]) == {"custom:same"}
    assert custom["n"].unique().to_list() == [6]
    assert result.withheld_custom.filter(pl.col("month") == MONTHS[-1])["group_id"].to_list() == [
        "custom:mix"
    ]

    lone = last.filter((pl.col("company_id") == "lone") & (pl.col("source") != "custom"))
    # Alone in sector 23: only the reference, only for the KPI the reference covers.
    assert lone.select("kpi", "group_id", "source", "level", "percentile", "n").rows() == [
        ("current_ratio", "reference:23", "reference", "reference", 100.0, None)
    ]
    assert all(frame.is_empty() for frame in result.problems().values())
    members = result.members.filter(pl.col("month") == MONTHS[-1])
    assert dict(members.group_by("group_id").len().rows()) == {
        "naics6:541511|band:250k-1M": 6,
        "custom:same": 6,
    }
    summary = summary_markdown(result)
    assert "naics6+band | 1 | 6 | 6 | 6" in summary
    assert "withheld (they differ from another group by fewer than k companies): `custom:mix`" in (
        summary
    )
    assert "vs reference (reference)" in benchmark_position(result.benchmarks, "lone")


def test_custom_group_of_companies_without_peers() -> None:
    # Five companies, each alone in its sector (reference only), benchmarked as one custom
    # group: nothing else is published for them, so the group is.
    codes = ["236220", "722511", "541511", "445110", "811412"]
    ids = [f"c{i}" for i in range(5)]
    companies = pl.DataFrame({"company_id": ids, "naics_code": codes})
    month = MONTHS[-1]
    kpis = pl.DataFrame(
        {"company_id": ids, "month": [month] * 5, "kpi": "dso", "value": [50.0, 10, 40, 20, 30]}
    )
    income = pl.DataFrame(
        {"company_id": ids, "month": [month] * 5, "currency": "USD", "revenue": 1_000_000}
    )
    custom = pl.DataFrame({"group_id": "franchise", "company_id": ids})
    result = compute_peer_benchmarks(companies, kpis, income, custom, load_reference())
    assert set(result.groups["level"]) == {"reference"}
    rows = result.benchmarks.sort("company_id")
    assert rows.select("group_id", "source", "percentile", "group_median", "n").rows() == [
        ("custom:franchise", "custom", 0.0, 30.0, 5),
        ("custom:franchise", "custom", 100.0, 30.0, 5),
        ("custom:franchise", "custom", 25.0, 30.0, 5),
        ("custom:franchise", "custom", 75.0, 30.0, 5),
        ("custom:franchise", "custom", 50.0, 30.0, 5),
    ]
    assert result.withheld_custom.is_empty()


def test_checks_catch_a_group_below_k() -> None:
    result = compute_peer_benchmarks(*_inputs())
    tampered = dataclasses.replace(
        result,
        benchmarks=result.benchmarks.with_columns(
            n=pl.when(pl.col("source") == "peers").then(4).otherwise(pl.col("n")),
            percentile=pl.when(pl.col("company_id") == "s1")
            .then(101.0)
            .otherwise(pl.col("percentile")),
        ),
        members=result.members.filter(~pl.col("company_id").is_in(["s4", "s5"])),
    )
    problems = tampered.problems()
    assert (
        problems["figure_below_k"].height
        == result.benchmarks.filter(pl.col("source") == "peers").height
    )
    assert problems["percentile_out_of_range"]["company_id"].unique().to_list() == ["s1"]
    # The software peer group and the custom group "same" now list 4 members every month.
    assert problems["group_below_k"].height == 2 * len(MONTHS)
    assert problems["group_below_k"]["n"].unique().to_list() == [4]


def test_config_refuses_small_k_and_unknown_kpis() -> None:
    with pytest.raises(PeerGroupError, match="k=3"):
        PeerConfig(k=3)
    with pytest.raises(PeerGroupError, match="unknown KPI"):
        PeerConfig(kpis=("current_ratio", "ebitdaa"))
    # k = 7: the six software firms no longer form a group; only the reference remains.
    result = compute_peer_benchmarks(*_inputs(), config=PeerConfig(k=7))
    assert set(result.benchmarks["source"]) == {"reference"}
    assert set(result.groups["level"]) == {"reference"}


def test_write_replaces_the_tables(warehouse: Warehouse) -> None:
    result = compute_peer_benchmarks(*_inputs())
    write_peer_benchmarks(warehouse, result)
    write_peer_benchmarks(warehouse, result)  # a re-run replaces, never duplicates
    assert warehouse.count(PEER_BENCHMARKS) == result.benchmarks.height
    back = warehouse.read(PEER_GROUPS)
    assert back.height == result.groups.height
    assert set(back["k"]) == {5}


def test_set_custom_group(warehouse: Warehouse) -> None:
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ids = ["a", "b", "c"]
    warehouse.replace_all(
        COMPANIES,
        pl.DataFrame(
            {
                "company_id": ids,
                "name": ids,
                "naics_code": "541511",
                "country": "US",
                "home_currency": "USD",
                "fiscal_year_start_month": 1,
                "status": "active",
                "created_at": t0,
                "updated_at": t0,
            }
        ),
    )
    set_custom_group(warehouse, "g", ["a", "b"], name="G", now=t0)
    set_custom_group(warehouse, "h", ["c"], now=t0)
    later = t0 + dt.timedelta(days=1)
    set_custom_group(warehouse, "g", ["b", "c"], name="G", now=later)
    rows = warehouse.read(CUSTOM_PEER_GROUPS).sort("group_id", "company_id")
    assert rows.select("group_id", "company_id", "added_at").rows() == [
        ("g", "b", t0),  # kept its first added_at
        ("g", "c", later),
        ("h", "c", t0),
    ]
    with pytest.raises(PeerGroupError, match=r"unknown company id\(s\) \['zz'\]"):
        set_custom_group(warehouse, "g", ["a", "zz"])
    set_custom_group(warehouse, "g", [])
    assert set(warehouse.read(CUSTOM_PEER_GROUPS)["group_id"]) == {"h"}
