"""Bank CSV exports read through declarative profiles.

A :class:`CsvProfile` says how one bank's export is laid out (encoding, separators, preamble,
which header names hold the date, amount, description ...). ``BUILTIN_PROFILES`` covers the
exports in the conformance corpus; ``register_profile`` adds more and ``detect_profile`` picks
the profile whose header signature matches a file.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

from finpipe.connectors.statements.model import (
    Statement,
    StatementLine,
    StatementParseError,
    currency_exponent,
    minor_units,
)

Column = str | int  # a header name or a 0-based column position


@dataclass(frozen=True)
class CsvProfile:
    """How one bank's CSV export is laid out. Columns are header names (or positions)."""

    name: str
    date_column: Column
    date_formats: tuple[str, ...]
    amount_column: Column | None = None  # signed amount; or debit_column / credit_column
    debit_column: Column | None = None  # money out, written without sign
    credit_column: Column | None = None  # money in
    delimiter: str = ","
    decimal_separator: str = "."
    thousands_separator: str = ""
    encoding: str = "utf-8-sig"
    skip_rows: int = 0  # physical preamble lines before the header row
    value_date_column: Column | None = None
    description_columns: tuple[Column, ...] = ()  # non-empty cells joined with " "
    counterparty_column: Column | None = None
    counterparty_account_column: Column | None = None
    reference_column: Column | None = None
    source_id_column: Column | None = None
    check_number_column: Column | None = None
    currency_column: Column | None = None
    currency: str | None = None  # fixed currency when no column says it
    balance_column: Column | None = None
    # "in_positive": a positive amount is money in (bank accounts);
    # "out_positive": a positive amount is money out (card / aggregator exports).
    sign: Literal["in_positive", "out_positive"] = "in_positive"
    credit_marker_column: Column | None = None  # cell equal to credit_marker = money in
    credit_marker: str = "CR"
    status_column: Column | None = None
    pending_values: tuple[str, ...] = ()  # status (or date) cells meaning "pending"
    continuation_rows: bool = False  # rows without date/amount extend the previous line
    account_column: Column | None = None
    header_signature: tuple[str, ...] = ()  # header names that identify the export

    def signature(self) -> tuple[str, ...]:
        if self.header_signature:
            return self.header_signature
        cols = (
            self.date_column,
            self.amount_column,
            self.debit_column,
            self.credit_column,
            self.value_date_column,
            *self.description_columns,
            self.counterparty_column,
            self.counterparty_account_column,
            self.reference_column,
            self.currency_column,
            self.balance_column,
        )
        return tuple(c for c in cols if isinstance(c, str))


BUILTIN_PROFILES: dict[str, CsvProfile] = {}


def register_profile(profile: CsvProfile) -> CsvProfile:
    """Add (or replace) a profile by name; detect_profile then considers it."""
    if profile.amount_column is None and (
        profile.debit_column is None or profile.credit_column is None
    ):
        raise ValueError(f"profile {profile.name}: needs amount_column or debit+credit columns")
    if profile.currency is None and profile.currency_column is None:
        raise ValueError(f"profile {profile.name}: needs currency or currency_column")
    BUILTIN_PROFILES[profile.name] = profile
    return profile


def _decode(data: bytes, profile: CsvProfile, file_name: str) -> str:
    try:
        text = data.decode(profile.encoding)
    except UnicodeDecodeError as exc:
        raise StatementParseError(
            file_name, f"byte {exc.start}", "encoding", f"not {profile.encoding}"
        ) from None
    return text.lstrip("\ufeff")


def _header(text: str, profile: CsvProfile) -> list[str] | None:
    lines = text.splitlines()
    if len(lines) <= profile.skip_rows:
        return None
    row = next(csv.reader([lines[profile.skip_rows]], delimiter=profile.delimiter), [])
    return [cell.strip() for cell in row]


def detect_profile(data: bytes, file_name: str) -> CsvProfile | None:
    """The registered profile whose header signature the file's header row carries (the
    most specific one when several match), or None."""
    best: tuple[int, CsvProfile] | None = None
    for profile in BUILTIN_PROFILES.values():
        try:
            text = _decode(data, profile, file_name)
        except StatementParseError:
            continue
        header = _header(text, profile)
        if not header:
            continue
        signature = profile.signature()
        matches = bool(signature) and all(name in header for name in signature)
        if matches and (best is None or len(signature) > best[0]):
            best = (len(signature), profile)
    return best[1] if best else None


class _Row:
    def __init__(self, cells: list[str], index: dict[str, int], file: str, where: str) -> None:
        self.cells, self.index, self.file, self.where = cells, index, file, where

    def get(self, column: Column | None) -> str | None:
        if column is None:
            return None
        pos = column if isinstance(column, int) else self.index[column]
        value = self.cells[pos].strip().strip('"').strip() if pos < len(self.cells) else ""
        return value or None


def _amount(
    text: str, profile: CsvProfile, currency: str, file: str, where: str, field_name: str
) -> int:
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    for symbol in "$£€":
        cleaned = cleaned.replace(symbol, "")
    if profile.thousands_separator:
        cleaned = cleaned.replace(profile.thousands_separator, "")
    if profile.decimal_separator != ".":
        if "." in cleaned:
            raise StatementParseError(file, where, field_name, f"{text!r} is not a number")
        cleaned = cleaned.replace(profile.decimal_separator, ".")
    return minor_units(
        cleaned, currency_exponent(currency), file=file, where=where, field_name=field_name
    )


def _date(text: str | None, profile: CsvProfile, file: str, where: str, field_name: str) -> dt.date:
    if text is None:
        raise StatementParseError(file, where, field_name, "missing")
    for fmt in profile.date_formats:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise StatementParseError(
        file, where, field_name, f"{text!r} does not match {' or '.join(profile.date_formats)}"
    )


def _name(column: Column) -> str:
    return column if isinstance(column, str) else f"column {column + 1}"


def parse_csv(data: bytes, file_name: str, profile: CsvProfile) -> list[Statement]:
    """The file's lines as one statement (or one per account / currency when the export
    says so). Raises StatementParseError naming file, line and column."""
    text = _decode(data, profile, file_name)
    lines = text.splitlines()
    header_line = profile.skip_rows + 1
    header = _header(text, profile)
    if header is None:
        raise StatementParseError(file_name, f"line {header_line}", "header", "missing")
    index: dict[str, int] = {}
    for pos, name in enumerate(header):
        index.setdefault(name, pos)
    used = (
        *profile.signature(),
        profile.counterparty_column,
        profile.source_id_column,
        profile.check_number_column,
        profile.status_column,
        profile.account_column,
        profile.credit_marker_column,
    )
    for column in used:
        if isinstance(column, str) and column not in index:
            raise StatementParseError(
                file_name, f"line {header_line}", column, "column missing from the header"
            )

    statements: dict[tuple[str, str], Statement] = {}
    last: tuple[Statement, int] | None = None
    reader = csv.reader(lines[header_line:], delimiter=profile.delimiter)
    for cells in reader:
        where = f"line {header_line + reader.line_num}"
        if not any(cell.strip() for cell in cells):
            continue
        row = _Row(cells, index, file_name, where)
        date_text = row.get(profile.date_column)
        amount_cells = [
            row.get(c) for c in (profile.amount_column, profile.debit_column, profile.credit_column)
        ]
        if profile.continuation_rows and date_text is None and not any(amount_cells):
            if last is None:
                raise StatementParseError(
                    file_name,
                    where,
                    _name(profile.date_column),
                    "continuation row before any transaction",
                )
            extra = " ".join(filter(None, (row.get(c) for c in profile.description_columns)))
            stmt, pos = last
            old = stmt.lines[pos]
            stmt.lines[pos] = replace(old, description=f"{old.description} {extra}".strip())
            continue
        status = "booked"
        if profile.status_column is not None:
            if row.get(profile.status_column) in profile.pending_values:
                status = "pending"
        elif date_text in profile.pending_values:
            # Pending card authorisations carry no date at all: they are not statement
            # lines yet and are left out.
            continue
        currency = (row.get(profile.currency_column) or profile.currency or "").upper()
        if not currency:
            raise StatementParseError(
                file_name, where, _name(profile.currency_column or 0), "no currency"
            )
        if profile.amount_column is not None:
            raw = row.get(profile.amount_column)
            if raw is None:
                raise StatementParseError(file_name, where, _name(profile.amount_column), "missing")
            amount = _amount(raw, profile, currency, file_name, where, _name(profile.amount_column))
        else:
            assert profile.debit_column is not None and profile.credit_column is not None
            debit, credit = row.get(profile.debit_column), row.get(profile.credit_column)
            if debit is None and credit is None:
                raise StatementParseError(
                    file_name,
                    where,
                    f"{_name(profile.debit_column)}/{_name(profile.credit_column)}",
                    "both empty",
                )
            amount = 0
            if credit is not None:
                amount += abs(
                    _amount(
                        credit, profile, currency, file_name, where, _name(profile.credit_column)
                    )
                )
            if debit is not None:
                amount -= abs(
                    _amount(debit, profile, currency, file_name, where, _name(profile.debit_column))
                )
        if profile.sign == "out_positive":
            amount = -amount
        if (
            profile.credit_marker_column is not None
            and row.get(profile.credit_marker_column) == profile.credit_marker
        ):
            amount = abs(amount)
        balance_text = row.get(profile.balance_column)
        balance = None
        if balance_text is not None:
            assert profile.balance_column is not None
            balance = _amount(
                balance_text, profile, currency, file_name, where, _name(profile.balance_column)
            )
        value_date_text = row.get(profile.value_date_column)
        line = StatementLine(
            booked_date=_date(date_text, profile, file_name, where, _name(profile.date_column)),
            amount=amount,
            currency=currency,
            description=" ".join(filter(None, (row.get(c) for c in profile.description_columns))),
            value_date=(
                _date(value_date_text, profile, file_name, where, _name(profile.value_date_column))
                if value_date_text is not None and profile.value_date_column is not None
                else None
            ),
            source_id=row.get(profile.source_id_column),
            counterparty_name=row.get(profile.counterparty_column),
            counterparty_account=row.get(profile.counterparty_account_column),
            reference=row.get(profile.reference_column),
            check_number=row.get(profile.check_number_column),
            status=status,
            running_balance=balance,
        )
        account = row.get(profile.account_column) or file_name
        stmt = statements.setdefault(
            (account, currency), Statement(account_id=account, currency=currency)
        )
        stmt.lines.append(line)
        last = (stmt, len(stmt.lines) - 1)
    return list(statements.values())


_DE = {"delimiter": ";", "decimal_separator": ",", "thousands_separator": "."}

for _profile in (
    CsvProfile(
        name="sparkasse_giro",
        date_column="Buchungstag",
        value_date_column="Valutadatum",
        date_formats=("%d.%m.%y", "%d.%m.%Y"),
        amount_column="Betrag",
        currency_column="Waehrung",
        encoding="cp1252",
        description_columns=("Buchungstext", "Verwendungszweck"),
        counterparty_column="Beguenstigter/Zahlungspflichtiger",
        counterparty_account_column="Kontonummer",
        account_column="Auftragskonto",
        **_DE,
    ),
    CsvProfile(
        name="sparkasse_creditcard",
        date_column="Buchungsdatum",
        value_date_column="Belegdatum",
        date_formats=("%d.%m.%y", "%d.%m.%Y"),
        amount_column="Buchungsbetrag",
        currency_column="Buchungswährung",
        encoding="cp1252",
        description_columns=("Transaktionsbeschreibung", "Transaktionsbeschreibung Zusatz"),
        source_id_column="Buchungsreferenz",
        account_column="Umsatz getätigt von",
        **_DE,
    ),
    CsvProfile(
        name="firstdirect_uk",
        date_column="Date",
        date_formats=("%d/%m/%Y",),
        amount_column="Amount",
        balance_column="Balance",
        description_columns=("Description",),
        currency="GBP",
        header_signature=("Date", "Description", "Amount", "Balance"),
    ),
    CsvProfile(
        name="bunq",
        date_column="Date",
        date_formats=("%Y-%m-%d",),
        amount_column="Amount",
        decimal_separator=",",
        description_columns=("Description",),
        counterparty_column="Name",
        counterparty_account_column="Counterparty",
        account_column="Account",
        currency="EUR",
    ),
    CsvProfile(
        name="rabobank_nl",
        date_column="Datum",
        value_date_column="Rentedatum",
        date_formats=("%Y-%m-%d",),
        amount_column="Bedrag",
        decimal_separator=",",
        currency_column="Munt",
        balance_column="Saldo na trn",
        encoding="latin-1",
        description_columns=("Omschrijving-1", "Omschrijving-2", "Omschrijving-3"),
        counterparty_column="Naam tegenpartij",
        counterparty_account_column="Tegenrekening IBAN/BBAN",
        reference_column="Betalingskenmerk",
        source_id_column="Volgnr",
        account_column="IBAN/BBAN",
    ),
    CsvProfile(
        name="johnlewis_card_uk",
        date_column="Date Processed",
        date_formats=("%d-%b-%Y",),
        amount_column="Amount",
        thousands_separator=",",
        description_columns=("Description",),
        currency="GBP",
        sign="out_positive",
        credit_marker_column=3,
        credit_marker="CR",
        pending_values=("Pending",),
    ),
    CsvProfile(
        name="monzo",
        date_column="created",
        date_formats=("%Y-%m-%d %H:%M:%S %z",),
        amount_column="amount",
        currency_column="currency",
        description_columns=("description", "notes"),
        source_id_column="id",
    ),
    CsvProfile(
        name="raiffeisen_cz",
        date_column="Datum zaúčtování",
        value_date_column="Datum provedení",
        date_formats=("%d.%m.%Y",),
        amount_column="Zaúčtovaná částka",
        currency_column="Měna účtu",
        encoding="cp1250",
        delimiter=";",
        decimal_separator=",",
        description_columns=("Typ transakce", "Zpráva", "Poznámka"),
        counterparty_column="Název protiúčtu",
        counterparty_account_column="Číslo protiúčtu",
        reference_column="VS",
        source_id_column=18,
        account_column="Číslo účtu",
    ),
    CsvProfile(
        name="ocbc_sg",
        date_column="Transaction date",
        value_date_column="Value date",
        date_formats=("%d/%m/%Y",),
        debit_column="Withdrawals (SGD)",
        credit_column="Deposits (SGD)",
        thousands_separator=",",
        skip_rows=5,
        description_columns=("Description",),
        currency="SGD",
        continuation_rows=True,
    ),
    CsvProfile(
        name="commerzbank_de",
        date_column="Buchungstag",
        value_date_column="Wertstellung",
        date_formats=("%d.%m.%Y",),
        amount_column="Betrag",
        currency_column="Währung",
        description_columns=("Buchungstext",),
        reference_column="Umsatzart",
        counterparty_account_column="IBAN Auftraggeberkonto",
        **_DE,
    ),
    CsvProfile(
        name="kbc_be",
        date_column="Datum",
        value_date_column="Valuta",
        date_formats=("%d/%m/%Y",),
        amount_column="Bedrag",
        currency_column="Munt",
        balance_column="Saldo",
        delimiter=";",
        decimal_separator=",",
        thousands_separator=".",
        description_columns=("Omschrijving",),
        counterparty_column="Naam tegenpartij",
        counterparty_account_column="rekeningnummer tegenpartij",
        reference_column="gestructureerde mededeling",
        account_column="Rekeningnummer",
        encoding="cp1252",
    ),
    CsvProfile(
        name="bankofireland",
        date_column="Date",
        date_formats=("%d/%m/%Y",),
        debit_column="Debit",
        credit_column="Credit",
        balance_column="Balance",
        description_columns=("Details",),
        currency="EUR",
    ),
    CsvProfile(
        name="capitalone_card_us",
        date_column="Posted Date",
        value_date_column="Transaction Date",
        date_formats=("%Y-%m-%d",),
        debit_column="Debit",
        credit_column="Credit",
        description_columns=("Description",),
        reference_column="Category",
        currency="USD",
    ),
    CsvProfile(
        name="gls_de",
        date_column="Buchungstag",
        value_date_column="Wertstellung",
        date_formats=("%d.%m.%Y",),
        amount_column="Betrag",
        balance_column="Kontostand",
        currency_column="Währung",
        encoding="cp1252",
        description_columns=("Buchungstext", *(f"VWZ{i}" for i in range(1, 15))),
        counterparty_column="Auftraggeber/Empfänger",
        account_column="Kontonummer",
        **_DE,
    ),
    CsvProfile(
        name="ing_es",
        date_column="date",
        date_formats=("%d/%m/%Y",),
        amount_column="amount",
        balance_column="balance",
        description_columns=("desc", "notes"),
        reference_column="subcategory",
        currency="EUR",
        header_signature=("date", "class", "subcategory", "desc", "amount", "balance"),
    ),
    CsvProfile(
        name="n26_fr",
        date_column="Booking Date",
        value_date_column="Value Date",
        date_formats=("%Y-%m-%d",),
        amount_column="Amount (EUR)",
        description_columns=("Type", "Payment Reference"),
        counterparty_column="Partner Name",
        counterparty_account_column="Partner Iban",
        reference_column="Payment Reference",
        currency="EUR",
    ),
    CsvProfile(
        name="pc_mastercard_ca",
        date_column="Date",
        date_formats=("%m/%d/%Y",),
        amount_column="Amount",
        description_columns=("Merchant Name",),
        currency="CAD",
        sign="out_positive",
        header_signature=("Merchant Name", "Card Used For Transaction", "Date", "Amount"),
    ),
    CsvProfile(
        name="schwab_checking_us",
        date_column="Date",
        date_formats=("%m/%d/%Y",),
        debit_column="Withdrawal",
        credit_column="Deposit",
        balance_column="RunningBalance",
        thousands_separator=",",
        description_columns=("Description",),
        check_number_column="CheckNumber",
        status_column="Status",
        pending_values=("Pending",),
        currency="USD",
        header_signature=("Date", "Status", "Type", "CheckNumber", "Withdrawal", "Deposit"),
    ),
    CsvProfile(
        name="ubs_ch_fr",
        date_column="Date de valeur",
        date_formats=("%d.%m.%Y",),
        debit_column="Débit",
        credit_column="Crédit",
        balance_column="Solde",
        thousands_separator="'",
        delimiter=";",
        currency_column="Monn.",
        description_columns=("Description 1", "Description 2", "Description 3"),
        source_id_column="N° de transaction",
        account_column="Produit",
    ),
):
    register_profile(_profile)
