"""OFX/QFX parser against the conformance corpus plus synthetic error cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from finpipe.connectors.statements.model import StatementParseError
from finpipe.connectors.statements.ofx import parse_ofx

# file -> lines per statement. OFX has no opening balance, so nothing to reconcile.
EXPECTED: dict[str, list[int]] = {
    "ofxparse_anzcc.ofx": [1],
    "ofxparse_bank_medium.ofx": [3],
    "ofxparse_checking.ofx": [3],
    # Empty/blank BALAMT in LEDGERBAL and AVAILBAL: read as "no closing balance".
    "ofxparse_fail_nice_empty_balance.ofx": [1],
    "ofxparse_ofx-v102-empty-tags.ofx": [1],
    "ofxparse_suncorp.ofx": [1],
    # Two statements with balances but no transactions (upstream sample).
    "ofxparse_multiple_accounts.ofx": [0, 0],
    # No statement at all: an account listing (ACCTINFORS) and an empty <OFX></OFX> body.
    "ofxparse_account_listing_aggregation.ofx": [],
    "ofxparse_bank_small.ofx": [],
}
# file -> (element, field) the error must name
BAD: dict[str, tuple[str, str]] = {
    "ofxparse_error_message.ofx": ("STMTTRNRS/STATUS", "SEVERITY"),
    "ofxparse_fail_nice_decimal_error.ofx": ("STMTRS[1]/STMTTRN[1]", "TRNAMT"),
}


def _read(conformance_dir: Path, name: str) -> bytes:
    return (conformance_dir / "statements" / "ofx" / name).read_bytes()


def test_corpus_is_the_known_one(conformance_dir: Path) -> None:
    found = {p.name for p in (conformance_dir / "statements" / "ofx").iterdir()}
    assert found == set(EXPECTED) | set(BAD)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_parses(conformance_dir: Path, name: str) -> None:
    statements = parse_ofx(_read(conformance_dir, name), name)
    assert [len(s.lines) for s in statements] == EXPECTED[name]
    for statement in statements:
        assert statement.account_id
        assert statement.currency
        assert statement.balance_difference() is None  # no opening balance in OFX
        for line in statement.lines:
            assert isinstance(line.amount, int)
            assert isinstance(line.booked_date, dt.date)
            assert line.currency == statement.currency


@pytest.mark.parametrize("name", sorted(BAD))
def test_corpus_error_file_raises(conformance_dir: Path, name: str) -> None:
    with pytest.raises(StatementParseError) as info:
        parse_ofx(_read(conformance_dir, name), name)
    element, field = BAD[name]
    assert info.value.file == name
    assert info.value.where == element
    assert info.value.field == field
    assert name in str(info.value)


def test_bank_medium_values(conformance_dir: Path) -> None:
    name = "ofxparse_bank_medium.ofx"
    [statement] = parse_ofx(_read(conformance_dir, name), name)
    assert statement.account_id == "12300 000012345678"
    assert statement.currency == "CAD"
    check = statement.lines[1]
    assert check.amount == -31667
    assert check.booked_date == dt.date(2009, 4, 2)
    assert check.counterparty_name == "Joe's Bald Hairstyles"
    assert check.description == "MISCELLANEOUS PAYMENTS;Joe's Bald Hairstyles"
    assert check.source_id == "0000123456782009040200004"
    assert check.bank_transaction_code == "CHECK"
    assert statement.closing_balance is not None
    assert statement.closing_balance.amount == 38234
    assert statement.closing_balance.date == dt.date(2009, 5, 23)


def test_credit_card_and_cdata(conformance_dir: Path) -> None:
    name = "ofxparse_anzcc.ofx"
    [card] = parse_ofx(_read(conformance_dir, name), name)
    assert (card.account_id, card.currency) == ("1234123412341234", "AUD")
    assert card.lines[0].amount == -550
    assert card.lines[0].description == "SOME MEMO"
    assert card.closing_balance is not None and card.closing_balance.amount == -12345

    name = "ofxparse_suncorp.ofx"
    [bank] = parse_ofx(_read(conformance_dir, name), name)
    assert bank.lines[0].counterparty_name == "EFTPOS WDL HANDYWAY ALDI STORE"
    assert bank.lines[0].amount == -1685


def test_multiple_accounts_and_empty_tags(conformance_dir: Path) -> None:
    name = "ofxparse_multiple_accounts.ofx"
    statements = parse_ofx(_read(conformance_dir, name), name)
    assert [
        (s.account_id, s.closing_balance.amount if s.closing_balance else None) for s in statements
    ] == [("9100", 11100), ("9200", 22200)]

    name = "ofxparse_ofx-v102-empty-tags.ofx"
    [statement] = parse_ofx(_read(conformance_dir, name), name)
    # CURDEF is empty: the currency comes from the transaction's CURRENCY/CURSYM.
    assert statement.currency == "AUD"
    assert statement.closing_balance is None
    line = statement.lines[0]
    assert (line.amount, line.booked_date, line.description) == (
        1234,
        dt.date(2018, 5, 7),
        "CBA:Transfer",
    )
    assert line.source_id is None


SGML = (
    "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS>"
    "<STATUS><CODE>0<SEVERITY>INFO</STATUS><STMTRS><CURDEF>EUR<BANKACCTFROM><ACCTID>1"
    "</BANKACCTFROM><BANKTRANLIST>{trn}</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
)


def test_synthetic_good_sgml() -> None:
    trn = "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240102<TRNAMT>-1.5<NAME>Café</STMTTRN>"
    [statement] = parse_ofx(SGML.format(trn=trn).encode("cp1252"), "x.ofx")
    assert statement.lines[0].amount == -150
    assert statement.lines[0].counterparty_name == "Café"


@pytest.mark.parametrize(
    ("trn", "field"),
    [
        ("<STMTTRN><DTPOSTED>20240102<TRNAMT>1,2.3</STMTTRN>", "TRNAMT"),
        ("<STMTTRN><DTPOSTED>20240102<TRNAMT>1.234</STMTTRN>", "TRNAMT"),
        ("<STMTTRN><DTPOSTED>20240102</STMTTRN>", "TRNAMT"),  # truncated record
        ("<STMTTRN><DTPOSTED>2024<TRNAMT>1</STMTTRN>", "DTPOSTED"),
        ("<STMTTRN><DTPOSTED>20241340<TRNAMT>1</STMTTRN>", "DTPOSTED"),
    ],
)
def test_synthetic_errors_name_file_element_field(trn: str, field: str) -> None:
    with pytest.raises(StatementParseError) as info:
        parse_ofx(SGML.format(trn=trn).encode(), "bad.ofx")
    assert info.value.file == "bad.ofx"
    assert info.value.where == "STMTRS[1]/STMTTRN[1]"
    assert info.value.field == field
    assert str(info.value).startswith("bad.ofx: STMTRS[1]/STMTTRN[1]: field " + field)


def test_not_ofx() -> None:
    with pytest.raises(StatementParseError, match=r"junk\.ofx: file: field OFX"):
        parse_ofx(b"hello", "junk.ofx")
