"""The number formats every insight, the checker and the narrative check share."""

from __future__ import annotations

import pytest

from finpipe.analytics.insights.formats import fmt, number_tokens


@pytest.mark.parametrize(
    ("value", "unit", "currency", "shown"),
    [
        (1_240_000, "money", "GBP", "12,400.00 GBP"),
        (-320_000, "money", "GBP", "-3,200.00 GBP"),
        (5, "money", "GBP", "0.05 GBP"),
        (123_456, "money", "JPY", "123,456 JPY"),
        (12_345, "money", "KWD", "12.345 KWD"),
        (0.7125, "percent", None, "71 %"),
        (0.715, "percent", None, "72 %"),  # half away from zero, not banker's
        (-0.004, "percent", None, "0 %"),  # no signed zero
        (52.5, "days", None, "53"),
        (38.2, "days", None, "38"),
        (4.25, "months", None, "4.3"),
        (1.2, "ratio", None, "1.20"),
        (-6.25, "points", None, "-6.3"),
        (0.925, "score", None, "0.93"),
        (17.6, "percentile", None, "18"),
        (1200, "count", None, "1,200"),
        ("2026-04-20", "date", None, "2026-04-20"),
        ("2026-01-01", "month", None, "2026-01"),
        ("Studio 54 Ltd", "text", None, "Studio 54 Ltd"),
    ],
)
def test_each_unit_is_written_by_its_rule(value, unit, currency, shown) -> None:
    assert fmt(value, unit, currency) == shown


def test_labels_are_removed_whole() -> None:
    text = "Chase invoice 1630 (due 2026-04-29, 11,630.00 GBP) and 1630."
    assert number_tokens(text, ("1630",)) == ["2026-04-29", "11,630.00"]


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown unit 'euros'"):
        fmt(1, "euros")


def test_numbers_are_read_back_out_of_text() -> None:
    text = (
        "DSO rose from 38 to 52 days since 2026-01; Studio 54 Ltd owes 8,800.00 GBP "
        "(due 2026-03-03), INV-0003, 89 %, falls to -3,200.00 GBP (-4.1 points)."
    )
    assert number_tokens(text, ("Studio 54 Ltd", "INV-0003")) == [
        "38",
        "52",
        "2026-01",
        "8,800.00",
        "2026-03-03",
        "89",
        "-3,200.00",
        "-4.1",
    ]
