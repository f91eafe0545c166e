"""How an amount of money in integer minor units is written, for every analytics part (flag
reasons, cash warnings, statements, insights): the currency's ISO 4217 exponent decides the
decimals (``431000 GBP`` -> ``4,310.00 GBP``, ``431000 JPY`` -> ``431,000 JPY``)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from finpipe.connectors.statements.model import CURRENCY_EXPONENTS, currency_exponent


def format_money(minor: int, currency: str | None, *, suffix: bool = True) -> str:
    """``minor`` units of ``currency`` with thousands separators and the currency's decimals
    (two when it is unknown or None), followed by the currency code unless ``suffix`` is
    False or there is no currency. Exact (no float), so large amounts never drift."""
    exponent = currency_exponent(currency or "")
    amount = Decimal(int(minor)).scaleb(-exponent)
    body = f"{amount:,.{exponent}f}" if exponent else f"{int(amount):,}"
    return f"{body} {currency}" if currency and suffix else body


def scaled_threshold(cents: int, currency: pl.Expr) -> pl.Expr:
    """A threshold given in minor units of a two-decimal currency (``500_00`` = 500.00),
    per row in minor units of that row's ``currency``: ``500`` for JPY, ``500_000`` for KWD
    (the same nominal amount; unknown or null currencies keep two decimals)."""
    exponent = (
        currency.str.to_uppercase()
        .replace_strict(CURRENCY_EXPONENTS, default=2, return_dtype=pl.Int64)
        .fill_null(2)
    )
    return (pl.lit(cents, pl.Int64) * pl.lit(10, pl.Int64).pow(exponent)) // 100
