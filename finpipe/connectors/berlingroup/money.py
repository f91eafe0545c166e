"""Berlin Group amounts: ``{"currency": "EUR", "amount": "-256.67"}``, the amount a signed
decimal *string* (pattern ``-?[0-9]{1,14}(\\.[0-9]{1,3})?``), money into the account positive.

Both directions go through :class:`~decimal.Decimal`, never a binary float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that are not 2 (the ones a European ASPSP may report).
_EXPONENTS: dict[str, int] = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "XOF": 0,
    "XAF": 0,
}


class AmountError(ValueError):
    """An amount that is not a decimal string exact in its currency's minor units."""


def exponent(currency: str) -> int:
    """Minor-unit digits of ``currency`` (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(currency.upper(), 2)


def format_amount(minor: int, currency: str) -> str:
    """``-25667, "EUR"`` -> ``"-256.67"`` (the spec's signed string form)."""
    digits = exponent(currency)
    value = Decimal(int(minor)).scaleb(-digits)
    return f"{value:.{digits}f}"


def to_minor(amount: object, currency: str) -> int:
    """``"-256.67", "EUR"`` -> ``-25667``; ``"100", "USD"`` -> ``10000``. Raises
    :class:`AmountError` for anything that is not an exact decimal in the currency."""
    if isinstance(amount, bool) or not isinstance(amount, str | int | Decimal):
        raise AmountError(f"amount {amount!r} is not a decimal string")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise AmountError(f"amount {amount!r} is not a decimal number") from None
    if not value.is_finite():
        raise AmountError(f"amount {amount!r} is not a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise AmountError(
            f"amount {amount!r} has more decimals than {currency} has minor units "
            f"({exponent(currency)})"
        )
    return int(scaled)
