"""camt.053 parser against the conformance corpus plus synthetic error cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from finpipe.connectors.statements.camt053 import parse_camt053
from finpipe.connectors.statements.model import StatementParseError

# file -> (lines per statement, balance_difference per statement)
EXPECTED: dict[str, tuple[list[int], list[int | None]]] = {
    # Every balance type carries a made-up amount (OPBD 1.01, CLBD 4.04) around one 8.850
    # entry: the file exercises the type codes, not consistency: 101 + 885 - 404 = 582.
    "genkgo_camt053.v2.all-balance-types.xml": ([1], [582]),
    # 18.150 + 8.850 = 27.000 but CLBD says 27.050: off by 0.05 upstream.
    "genkgo_camt053.v2.five.decimals.xml": ([1], [-5]),
    # These five share upstream's sample balances: OPBD 18.15 EUR CRDT + 8.85 CRDT entry
    # against CLBD 27.00 (in SEK!) marked DBIT, so 1815 + 885 - (-2700) = 5400.
    "genkgo_camt053.v2.minimal.xml": ([1], [5400]),
    "genkgo_camt053.v2.with-party-ids.xml": ([1], [5400]),
    "genkgo_camt053.v3.xml": ([1], [5400]),
    "genkgo_camt053.v4.xml": ([1], [5400]),
    "genkgo_camt053.v8.xml": ([1], [5400]),
    "genkgo_camt053.v2.multi.statement.xml": ([1, 1], [0, 0]),
    # Only an opening balance and no entries: nothing to balance, no line to read.
    "genkgo_camt53.only-Dt-with-DtTm.xml": ([0], [None]),
}
BAD = {"genkgo_camt053.v2.wrong.xml"}


def _read(conformance_dir: Path, name: str) -> bytes:
    return (conformance_dir / "statements" / "camt053" / name).read_bytes()


def test_corpus_is_the_known_one(conformance_dir: Path) -> None:
    found = {p.name for p in (conformance_dir / "statements" / "camt053").iterdir()}
    assert found == set(EXPECTED) | BAD


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_parses_and_balances(conformance_dir: Path, name: str) -> None:
    statements = parse_camt053(_read(conformance_dir, name), name)
    lines, differences = EXPECTED[name]
    assert [len(s.lines) for s in statements] == lines
    assert [s.balance_difference() for s in statements] == differences
    for statement in statements:
        assert statement.account_id and len(statement.currency) == 3
        assert statement.opening_balance is not None


def test_wrong_file_names_element_and_field(conformance_dir: Path) -> None:
    name = "genkgo_camt053.v2.wrong.xml"
    with pytest.raises(StatementParseError) as info:
        parse_camt053(_read(conformance_dir, name), name)
    assert info.value.file == name
    assert info.value.where == "Document/BkToCstmrStmt"
    assert info.value.field == "Stmt"


def test_v8_hand_checked(conformance_dir: Path) -> None:
    (statement,) = parse_camt053(_read(conformance_dir, "genkgo_camt053.v8.xml"), "v8")
    assert statement.account_id == "NL26VAYB8060476890"  # Acct/Id/Othr/Id
    assert statement.currency == "EUR"  # no Acct/Ccy: taken from the entry amount
    (line,) = statement.lines
    assert line.amount == 885
    assert line.booked_date == dt.date(2014, 12, 31)  # BookgDt/DtTm
    assert line.value_date == dt.date(2015, 1, 2)
    assert line.status == "booked"  # Sts/Cd
    assert line.counterparty_name == "NAME NAME"  # Dbtr/Pty/Nm
    assert line.counterparty_account == "NL56AGDH9619008421"
    assert line.reference == "MUELL/FINP/RA12345"
    assert line.source_id == "AAAASESS-FP-CN_98765/01"
    assert line.bank_transaction_code == "PMNT/RCDT/BOOK"
    assert statement.opening_balance is not None
    assert statement.opening_balance.amount == 1815
    assert statement.opening_balance.date == dt.date(2014, 12, 30)


def test_multi_statement_hand_checked(conformance_dir: Path) -> None:
    name = "genkgo_camt053.v2.multi.statement.xml"
    first, second = parse_camt053(_read(conformance_dir, name), name)
    assert first.lines[0].amount == 885
    assert second.lines[0].amount == -700
    assert second.lines[0].counterparty_name == "Company Name 2"  # money out: the creditor
    assert second.opening_balance is not None and second.closing_balance is not None
    assert (second.opening_balance.amount, second.closing_balance.amount) == (2700, 2000)


def test_dt_with_nested_dttm_and_five_decimal_amount(conformance_dir: Path) -> None:
    name = "genkgo_camt53.only-Dt-with-DtTm.xml"
    (statement,) = parse_camt053(_read(conformance_dir, name), name)
    assert statement.currency == "RON"
    assert statement.opening_balance is not None
    assert statement.opening_balance.amount == 544209  # 5442.09000
    assert statement.opening_balance.date == dt.date(2025, 7, 23)


def _doc(entry: str, ns: str = "camt.053.001.04") -> bytes:
    return f"""<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{ns}"><BkToCstmrStmt><Stmt><Id>S1</Id>
<Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">10.00</Amt>
<CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2024-01-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">15.50</Amt>
<CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2024-01-02</Dt></Dt></Bal>
{entry}</Stmt></BkToCstmrStmt></Document>""".encode()


_ENTRY = """<Ntry><NtryRef>R1</NtryRef><Amt Ccy="EUR">{amount}</Amt>
<CdtDbtInd>{ind}</CdtDbtInd><Sts>PDNG</Sts><BookgDt><Dt>2024-01-02</Dt></BookgDt>
<NtryDtls><TxDtls><RltdPties><Cdtr><Nm>Shop</Nm></Cdtr></RltdPties>
<RmtInf><Ustrd>Invoice 7</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">5.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry>"""


def test_synthetic_pending_prcd_and_debit() -> None:
    (statement,) = parse_camt053(_doc(_ENTRY.format(amount="1.00", ind="DBIT")), "s.xml")
    pending, booked = statement.lines
    assert (pending.status, pending.amount, pending.counterparty_name) == ("pending", -100, "Shop")
    assert pending.description == "Invoice 7" and pending.source_id == "R1"
    assert booked.amount == -550
    # PRCD stands in for a missing OPBD; pending entries do not count towards the balance.
    assert statement.balance_difference() == 0


@pytest.mark.parametrize(
    ("amount", "ind", "field", "where"),
    [
        ("1,00", "DBIT", "Amt", "Stmt[1]/Ntry[1]"),
        ("1.001", "DBIT", "Amt", "Stmt[1]/Ntry[1]"),
        ("1.00", "XXXX", "CdtDbtInd", "Stmt[1]/Ntry[1]"),
    ],
)
def test_synthetic_errors_name_element_and_field(
    amount: str, ind: str, field: str, where: str
) -> None:
    with pytest.raises(StatementParseError) as info:
        parse_camt053(_doc(_ENTRY.format(amount=amount, ind=ind)), "bad.xml")
    assert (info.value.file, info.value.where, info.value.field) == ("bad.xml", where, field)
    assert str(info.value).startswith(f"bad.xml: {where}: field {field}:")


def test_not_xml_is_a_parse_error() -> None:
    with pytest.raises(StatementParseError, match=r"not\.xml: Document: field xml"):
        parse_camt053(b"<Document><unclosed>", "not.xml")
