"""CSV profiles against the conformance corpus plus synthetic error cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from finpipe.connectors.statements.csv_profiles import (
    BUILTIN_PROFILES,
    CsvProfile,
    detect_profile,
    parse_csv,
    register_profile,
)
from finpipe.connectors.statements.model import StatementParseError

# file -> (profile, number of lines, sum of amounts in minor units). The sums were worked out
# from the files by hand / awk, independently of the parser.
EXPECTED: dict[str, tuple[str, int, int]] = {
    "bank2ynab_20180226-1000594757-umsatz.CSV": ("sparkasse_giro", 1, -3699),
    "bank2ynab_20180226_12345678.csv": ("firstdirect_uk", 1, -500),
    "bank2ynab_2019-03-02_11-50-46_bunq-statement.csv": ("bunq", 7, -2382),
    "bank2ynab_CSV_A_20180414_112204.csv": ("rabobank_nl", 3, -33749 + 5000 - 75000),
    # 13 rows; the 3 "Pending" rows carry no date and are left out.
    "bank2ynab_MS_JANE_SMITH_01-12-2019_14-12-2019.csv": ("johnlewis_card_uk", 10, -28580),
    "bank2ynab_MonzoDataExport_February2018_2018-02-26_174335.csv": ("monzo", 1, -1000),
    "bank2ynab_Movements_1234512345_201805271848.csv": ("raiffeisen_cz", 1, -100),
    "bank2ynab_TransactionHistory_20180418043121.csv": ("ocbc_sg", 8, -17328),
    "bank2ynab_Umsaetze_KtoNr538917600_EUR_02-03-2018_1503.CSV": ("commerzbank_de", 1, -1722),
    "bank2ynab_export_BE11123456789012_20180304_1422.csv": ("kbc_be", 1, -340),
    "bank2ynab_test_BOI_TransactionExport.csv": ("bankofireland", 27, -41961),
    "bank2ynab_umsatz-1234________1234-20180227.CSV": ("sparkasse_creditcard", 1, -500),
    "csv2ofx_capitalone.csv": ("capitalone_card_us", 2, 0),
    "csv2ofx_gls.csv": ("gls_de", 1, -9876),
    "csv2ofx_ingesp.csv": ("ing_es", 10, 35021),
    "csv2ofx_n26-fr.csv": ("n26_fr", 2, 0),
    "csv2ofx_pcmastercard.csv": ("pc_mastercard_ca", 2, -3633 - 1398),
    "csv2ofx_schwab-checking.csv": ("schwab_checking_us", 4, 2000 - 10300 - 7500 - 5727),
    "csv2ofx_ubs-ch-fr_trimmed.csv": ("ubs_ch_fr", 3, -1000 + 24000 - 20000),
}


def _read(conformance_dir: Path, name: str) -> bytes:
    return (conformance_dir / "statements" / "csv" / name).read_bytes()


def _parse(conformance_dir: Path, name: str):
    data = _read(conformance_dir, name)
    profile = detect_profile(data, name)
    assert profile is not None, f"no profile recognises {name}"
    return profile, parse_csv(data, name, profile)


def test_corpus_is_the_known_one(conformance_dir: Path) -> None:
    assert {p.name for p in (conformance_dir / "statements" / "csv").iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_detected_and_parsed(conformance_dir: Path, name: str) -> None:
    profile, statements = _parse(conformance_dir, name)
    expected_profile, count, total = EXPECTED[name]
    assert profile.name == expected_profile
    assert len(statements) == 1
    lines = statements[0].lines
    assert len(lines) == count
    assert sum(line.amount for line in lines) == total
    assert all(line.currency == statements[0].currency for line in lines)


def test_sparkasse_hand_checked(conformance_dir: Path) -> None:
    _, (statement,) = _parse(conformance_dir, "bank2ynab_20180226-1000594757-umsatz.CSV")
    (line,) = statement.lines
    assert statement.account_id == "1000594757"
    assert (line.booked_date, line.amount, line.currency) == (dt.date(2018, 2, 22), -3699, "EUR")
    assert line.counterparty_name == "Vodafone Kabel DeutschlandGmbH"
    assert line.counterparty_account == "DE13380700590045335700"


def test_rabobank_latin1_mixed_line_endings(conformance_dir: Path) -> None:
    _, (statement,) = _parse(conformance_dir, "bank2ynab_CSV_A_20180414_112204.csv")
    second = statement.lines[1]
    assert statement.account_id == "NL77RABO0311467415"
    assert (second.booked_date, second.amount) == (dt.date(2018, 3, 14), 5000)
    assert second.counterparty_name == "Nederlandse Loterij Organisatie B.V."
    assert second.running_balance == 1308453  # "+13084,53"


def test_john_lewis_card_sign_and_credit_marker(conformance_dir: Path) -> None:
    _, (statement,) = _parse(conformance_dir, "bank2ynab_MS_JANE_SMITH_01-12-2019_14-12-2019.csv")
    first, last = statement.lines[0], statement.lines[-1]
    assert (first.booked_date, first.amount) == (dt.date(2019, 12, 12), -118323)  # £1,183.23 out
    assert (last.description, last.amount) == ("PAYMENT RECEIVED - THANK YOU", 110000)  # CR


def test_ocbc_preamble_and_continuation_rows(conformance_dir: Path) -> None:
    _, (statement,) = _parse(conformance_dir, "bank2ynab_TransactionHistory_20180418043121.csv")
    first = statement.lines[0]
    assert first.amount == -666 and first.currency == "SGD"
    assert first.description == "DEBIT PURCHASE 15/04/18  66-6666 UBER EATS AN2GO HELP.UBERh"


def test_ubs_apostrophe_thousands_and_schwab_dollars(conformance_dir: Path) -> None:
    _, (ubs,) = _parse(conformance_dir, "csv2ofx_ubs-ch-fr_trimmed.csv")
    assert ubs.currency == "CHF"
    assert ubs.lines[0].running_balance == 1137394  # 11'373.94
    assert ubs.lines[1].amount == 24000
    _, (schwab,) = _parse(conformance_dir, "csv2ofx_schwab-checking.csv")
    check = schwab.lines[2]
    assert (check.amount, check.check_number, check.booked_date) == (
        -7500,
        "558",
        dt.date(2022, 8, 9),
    )
    assert schwab.lines[3].running_balance == 103647  # $1,036.47


def test_raiffeisen_cp1250_headers(conformance_dir: Path) -> None:
    _, (statement,) = _parse(conformance_dir, "bank2ynab_Movements_1234512345_201805271848.csv")
    (line,) = statement.lines
    assert (line.currency, line.amount, line.source_id) == ("CZK", -100, "3228446118")
    assert line.counterparty_name == "Name Surname"


SIMPLE = CsvProfile(
    name="test_simple",
    date_column="Date",
    date_formats=("%d.%m.%Y",),
    amount_column="Amount",
    description_columns=("Text",),
    balance_column="Balance",
    delimiter=";",
    decimal_separator=",",
    thousands_separator=".",
    currency="EUR",
)


def test_synthetic_profile_and_detection() -> None:
    data = b"Export\nDate;Text;Amount;Balance\n01.02.2024;Rent;-1.200,50;3,00\n"
    profile = CsvProfile(**{**SIMPLE.__dict__, "name": "test_preamble", "skip_rows": 1})
    register_profile(profile)
    try:
        assert detect_profile(data, "x.csv") is profile
        (statement,) = parse_csv(data, "x.csv", profile)
        (line,) = statement.lines
        assert (line.amount, line.running_balance, line.description) == (-120050, 300, "Rent")
    finally:
        del BUILTIN_PROFILES["test_preamble"]
    assert detect_profile(b"foo,bar\n1,2\n", "x.csv") is None


def test_aggregator_sign_convention() -> None:
    profile = CsvProfile(**{**SIMPLE.__dict__, "sign": "out_positive"})
    data = b"Date;Text;Amount;Balance\n01.02.2024;Coffee;3,50;\n"
    assert parse_csv(data, "a.csv", profile)[0].lines[0].amount == -350


@pytest.mark.parametrize(
    ("body", "where", "field"),
    [
        ("01.02.2024;Rent;12x,00;1,00\n", "line 2", "Amount"),
        ("01.02.2024;Rent;1,005;1,00\n", "line 2", "Amount"),
        ("01.02.2024;Rent;1,00;1,00\n2024-02-02;Rent;1,00;1,00\n", "line 3", "Date"),
        ("01.02.2024;Rent;;1,00\n", "line 2", "Amount"),
    ],
)
def test_synthetic_bad_values_name_file_line_and_column(body: str, where: str, field: str) -> None:
    data = ("Date;Text;Amount;Balance\n" + body).encode()
    with pytest.raises(StatementParseError) as info:
        parse_csv(data, "bad.csv", SIMPLE)
    assert (info.value.file, info.value.where, info.value.field) == ("bad.csv", where, field)
    assert str(info.value).startswith(f"bad.csv: {where}: field {field}:")


def test_synthetic_missing_column() -> None:
    data = b"Date;Text;Amount\n01.02.2024;Rent;1,00\n"
    with pytest.raises(StatementParseError) as info:
        parse_csv(data, "cols.csv", SIMPLE)
    assert (info.value.where, info.value.field) == ("line 1", "Balance")
    assert "column missing" in str(info.value)


def test_synthetic_wrong_encoding() -> None:
    profile = CsvProfile(**{**SIMPLE.__dict__, "encoding": "utf-8"})
    with pytest.raises(StatementParseError, match=r"enc\.csv: byte 37: field encoding"):
        parse_csv(b"Date;Text;Amount;Balance\n01.02.2024;M\xfcller;1,00;\n", "enc.csv", profile)


def test_register_profile_rejects_incomplete() -> None:
    with pytest.raises(ValueError, match="amount_column"):
        register_profile(
            CsvProfile(name="x", date_column="D", date_formats=("%Y",), currency="EUR")
        )
