"""How every number of an insight is written, and how numbers are read back out of text.

One rule per unit, shared by the generator, the checker and the narrative check (the rules
are the contract; the checker recomputes the *values* independently and then writes them
with these rules):

=============  ==========================================  ====================
unit           stored value                                shown as
=============  ==========================================  ====================
money          int, minor units of ``currency``            ``12,400.00 GBP``
percent        float fraction (0.713)                      ``71 %`` (whole %)
days           float days                                  ``52`` (integer)
months         float months                                ``4.2`` (1 decimal)
ratio          float                                       ``1.35`` (2 decimals)
points         float score points                          ``6.3`` (1 decimal)
score          float in [0, 1]                             ``0.93`` (2 decimals)
percentile     float in [0, 100]                           ``18`` (integer)
count          int                                         ``3``
date           ISO date string                             ``2026-03-31``
month          ISO date string of the first day            ``2026-03``
text           string (a customer's name, an invoice no.)  as is
=============  ==========================================  ====================

Rounding is half away from zero (``Decimal.ROUND_HALF_UP``), never banker's rounding, and a
rounded zero is written without a sign.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from finpipe.analytics.formats import format_money

UNITS = (
    "money",
    "percent",
    "days",
    "months",
    "ratio",
    "points",
    "score",
    "percentile",
    "count",
    "date",
    "month",
    "text",
)
# Decimals shown per float unit; percent is scaled by 100 first.
_DECIMALS = {
    "percent": 0,
    "days": 0,
    "months": 1,
    "ratio": 2,
    "points": 1,
    "score": 2,
    "percentile": 0,
}
# Dates first, so a date's dashes are not read as minus signs; a minus sign counts only when
# it does not follow a letter or digit (invoice numbers such as INV-0012 are removed before).
NUMBER_TOKEN = re.compile(
    r"\d{4}-\d{2}-\d{2}(?!\d)|\d{4}-\d{2}(?![\d-])"
    r"|(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?|\d+(?:,\d{3})*(?:\.\d+)?"
)


def _rounded(value: float, decimals: int) -> str:
    quantum = Decimal(1).scaleb(-decimals)
    out = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    if out == 0:
        out = abs(out)
    return f"{out:,.{decimals}f}" if decimals else f"{int(out):,}"


def fmt(value: Any, unit: str, currency: str | None = None) -> str:
    """``value`` written by ``unit``'s rule (see the module docstring)."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}: one of {UNITS}")
    if value is None:
        return "n/a"
    if unit == "money":
        return format_money(value, currency)
    if unit == "percent":
        return f"{_rounded(float(value) * 100, 0)} %"
    if unit in _DECIMALS:
        return _rounded(float(value), _DECIMALS[unit])
    if unit == "count":
        return f"{int(value):,}"
    if unit == "month":
        return str(value)[:7]
    return str(value)


def number_tokens(text: str, labels: tuple[str, ...] = ()) -> list[str]:
    """Every number written in ``text`` (dates, months, signed decimals with thousands
    separators), after removing ``labels`` (names and invoice numbers may contain digits)."""
    for label in sorted(labels, key=len, reverse=True):
        if label:
            # Whole labels only: invoice "1630" must not eat the digits of "11,630.00 GBP".
            text = re.sub(rf"(?<![\w.,-]){re.escape(label)}(?!\w|[.,-]\w)", " ", text)
    return NUMBER_TOKEN.findall(text)
