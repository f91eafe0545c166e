"""The shared money format and threshold rescaling: the currency's ISO 4217 exponent decides."""

from __future__ import annotations

import polars as pl

from finpipe.analytics.formats import format_money, scaled_threshold


def test_format_money_uses_the_currency_exponent() -> None:
    assert format_money(431_000, "GBP") == "4,310.00 GBP"
    assert format_money(-5, "USD") == "-0.05 USD"
    assert format_money(431_000, "JPY") == "431,000 JPY"
    assert format_money(431_000, "KWD") == "431.000 KWD"
    assert format_money(431_000, "JPY", suffix=False) == "431,000"
    assert format_money(431_000, None) == "4,310.00"


def test_thresholds_keep_their_nominal_amount_per_currency() -> None:
    frame = pl.DataFrame({"currency": ["GBP", "JPY", "kwd", None]})
    out = frame.select(scaled_threshold(500_00, pl.col("currency")).alias("t"))
    assert out["t"].to_list() == [50_000, 500, 500_000, 50_000]
