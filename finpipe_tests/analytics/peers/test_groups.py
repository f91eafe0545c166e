"""Peer groups: the k-anonymity fallback (band before digits, 6 -> 4 -> 3 -> 2), revenue bands
and trailing revenue, on hand-built companies."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.peers.groups import (
    PeerGroupError,
    assign_peer_groups,
    revenue_bands,
    trailing_revenue,
)

MONTH = dt.date(2025, 3, 1)
SMALL = 50_000_000  # 500k in minor units: band 250k-1M
LARGE = 200_000_000  # 2M: band 1M-5M


def _world(rows: list[tuple[str, str, int]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    companies = pl.DataFrame(
        {"company_id": [r[0] for r in rows], "naics_code": [r[1] for r in rows]}
    )
    revenue = revenue_bands(
        pl.DataFrame(
            {
                "company_id": [r[0] for r in rows],
                "month": [MONTH] * len(rows),
                "currency": ["USD"] * len(rows),
                "revenue_ttm": [r[2] for r in rows],
            }
        )
    )
    return companies, revenue


def _hand_built() -> list[tuple[str, str, int]]:
    return [
        # 7 software firms in one 6-digit industry and band -> their own 6-digit+band group
        *[(f"soft{i}", "541511", SMALL) for i in range(7)],
        # 3 + 3 restaurants in two 6-digit industries of 7225, split 3/3 across bands
        *[(f"full{i}", "722511", SMALL if i < 2 else LARGE) for i in range(3)],
        *[(f"ltd{i}", "722513", LARGE if i < 2 else SMALL) for i in range(3)],
        # 2 builders: alone in sector 23 -> reference
        ("build0", "236220", SMALL),
        ("build1", "238220", LARGE),
        # 3 grocers (44) and 2 sporting goods stores (45): only the 44-45 sector has 5
        *[(f"groc{i}", "445110", SMALL) for i in range(3)],
        *[(f"sport{i}", "459110", LARGE) for i in range(2)],
    ]


def _by_company(groups: pl.DataFrame) -> dict[str, dict]:
    return {row["company_id"]: row for row in groups.iter_rows(named=True)}


def test_fallback_levels_are_exact() -> None:
    companies, revenue = _world(_hand_built())
    groups, members = assign_peer_groups(companies, revenue, k=5)
    rows = _by_company(groups)

    assert rows["soft3"]["level"] == "naics6+band"
    assert rows["soft3"]["group_id"] == "naics6:541511|band:250k-1M"
    assert rows["soft3"]["n_members"] == 7
    # 3 at 6 digits, 6 at 4 digits but 3/3 per band: band dropped first, then digits.
    for cid in ("full0", "full2", "ltd0", "ltd2"):
        assert rows[cid]["level"] == "naics4"
        assert rows[cid]["group_id"] == "naics4:7225"
        assert rows[cid]["revenue_band"] is None
        assert rows[cid]["n_members"] == 6
    # 44 and 45 are one NAICS sector.
    for cid in ("groc0", "sport1"):
        assert rows[cid]["level"] == "naics2"
        assert rows[cid]["group_id"] == "naics2:44-45"
        assert rows[cid]["naics_prefix"] == "44-45"
        assert rows[cid]["n_members"] == 5
    for cid in ("build0", "build1"):
        assert rows[cid]["level"] == "reference"
        assert rows[cid]["group_id"] is None
        assert rows[cid]["n_members"] is None

    sizes = dict(members.group_by("group_id").len().rows())
    assert sizes == {"naics6:541511|band:250k-1M": 7, "naics4:7225": 6, "naics2:44-45": 5}
    assert set(members.filter(pl.col("group_id") == "naics4:7225")["company_id"]) == {
        "full0",
        "full1",
        "full2",
        "ltd0",
        "ltd1",
        "ltd2",
    }


def test_band_kept_when_it_leaves_k() -> None:
    # 5 restaurants of 7225 in the 1M-5M band out of 6: those 5 keep the band; the sixth
    # (alone in its band) gets the whole 4-digit group.
    rows = [(f"r{i}", "722511" if i % 2 else "722513", LARGE) for i in range(5)]
    rows.append(("r5", "722511", SMALL))
    companies, revenue = _world(rows)
    groups, _ = assign_peer_groups(companies, revenue, k=5)
    by = _by_company(groups)
    assert by["r0"]["level"] == "naics4+band"
    assert by["r0"]["group_id"] == "naics4:7225|band:1M-5M"
    assert by["r0"]["n_members"] == 5
    assert by["r5"]["level"] == "naics4"
    assert by["r5"]["n_members"] == 6


def test_larger_k_and_short_codes() -> None:
    rows = [*[(f"soft{i}", "541511", SMALL) for i in range(7)], ("it", "5415", SMALL)]
    companies, revenue = _world(rows)
    groups, _ = assign_peer_groups(companies, revenue, k=8)
    by = _by_company(groups)
    # 7 at 6 digits < 8; the 4-digit code joins them at 4 digits, same band: 8.
    assert by["soft0"]["level"] == "naics4+band"
    assert by["soft0"]["group_id"] == "naics4:5415|band:250k-1M"
    assert by["it"]["level"] == "naics4+band"
    assert by["it"]["n_members"] == 8


def test_k_below_five_is_refused() -> None:
    companies, revenue = _world(_hand_built())
    with pytest.raises(PeerGroupError, match="k=4 is below the floor of 5"):
        assign_peer_groups(companies, revenue, k=4)


def test_bad_naics_code_names_the_company() -> None:
    companies, revenue = _world([("x", "54-15", SMALL)])
    with pytest.raises(PeerGroupError, match="company x: naics_code '54-15'"):
        assign_peer_groups(companies, revenue, k=5)


def test_revenue_band_boundaries_and_fx() -> None:
    frame = pl.DataFrame(
        {
            "company_id": ["a", "b", "c", "d", "e", "f"],
            "month": [MONTH] * 6,
            "currency": ["USD", "USD", "USD", "USD", "EUR", "GBP"],
            "revenue_ttm": [24_999_999, 25_000_000, 99_999_999, 2_500_000_000, 90_000_000, -5],
        }
    )
    face = revenue_bands(frame)["revenue_band"].to_list()
    assert face == ["<250k", "250k-1M", "250k-1M", ">25M", "250k-1M", "<250k"]
    rates = {"USD": 1.0, "EUR": 1.2, "GBP": 1.3}
    converted = revenue_bands(frame, rates)["revenue_band"].to_list()
    assert converted[4] == "1M-5M"  # 900k EUR x 1.2 = 1.08M
    with pytest.raises(PeerGroupError, match=r"no rate for currency \['GBP'\]"):
        revenue_bands(frame, {"USD": 1.0, "EUR": 1.2})


def test_trailing_revenue_annualises_young_books() -> None:
    months = [dt.date(2024, m, 1) for m in range(1, 13)] + [dt.date(2025, 1, 1)]
    income = pl.DataFrame(
        {
            "company_id": ["a"] * 13,
            "month": months,
            "currency": ["USD"] * 13,
            "revenue": [100] * 12 + [1300],
        }
    )
    ttm = trailing_revenue(income)["revenue_ttm"].to_list()
    assert ttm[0] == 1200  # 100 x 12 / 1
    assert ttm[2] == 1200  # 300 x 12 / 3
    assert ttm[11] == 1200  # 12 months: the plain sum
    assert ttm[12] == 100 * 11 + 1300  # the first month rolled out
