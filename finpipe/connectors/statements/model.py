"""What every statement parser returns: statements of one account with their lines,
in the canonical bank-line terms (signed integer minor units, money in positive)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from finpipe.connectors.errors import ConnectorError


class StatementParseError(ConnectorError):
    """A statement file cannot be read. Names the file, the line or element, and the field."""

    def __init__(self, file: str, where: str, field_name: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.field = field_name
        super().__init__(f"{file}: {where}: field {field_name}: {problem}")


@dataclass(frozen=True)
class StatementLine:
    """One booked (or pending) movement as the bank printed it."""

    booked_date: dt.date
    amount: int  # signed minor units of the statement currency; money in is positive
    currency: str
    description: str
    value_date: dt.date | None = None
    source_id: str | None = None  # FITID, AcctSvcrRef / NtryRef, bank reference
    counterparty_name: str | None = None
    counterparty_account: str | None = None  # IBAN or account number
    reference: str | None = None  # end-to-end id, remittance information
    check_number: str | None = None
    bank_transaction_code: str | None = None
    status: str = "booked"  # booked | pending
    running_balance: int | None = None


@dataclass(frozen=True)
class Balance:
    amount: int  # signed minor units
    date: dt.date | None


@dataclass
class Statement:
    """One account's statement (a file may hold several)."""

    account_id: str  # IBAN, account number or the file's account identification
    currency: str
    lines: list[StatementLine] = field(default_factory=list)
    opening_balance: Balance | None = None
    closing_balance: Balance | None = None
    statement_id: str | None = None

    def balance_difference(self) -> int | None:
        """opening + booked movements - closing; 0 when the file is consistent, None when
        the file gives no opening and closing balance to check against."""
        if self.opening_balance is None or self.closing_balance is None:
            return None
        booked = sum(line.amount for line in self.lines if line.status == "booked")
        return self.opening_balance.amount + booked - self.closing_balance.amount


def minor_units(text: str, exponent: int, *, file: str, where: str, field_name: str) -> int:
    """A decimal string ("1234.56", "-0,5", "1.234,56" must be normalised by the caller to
    use '.') as integer minor units, exactly; more decimals than the currency has are an
    error unless they are zeros."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise StatementParseError(file, where, field_name, f"{text!r} is not a number") from None
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise StatementParseError(
            file, where, field_name, f"{text!r} has more decimals than the currency allows"
        )
    return int(scaled)


# ISO 4217 minor-unit exponents that differ from 2: the one table every parser reads.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND"), 0
    ),
    **dict.fromkeys(("VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (ISO 4217)."""
    return CURRENCY_EXPONENTS.get(currency.upper(), 2)
