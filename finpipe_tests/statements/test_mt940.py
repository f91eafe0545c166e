"""MT940/MT942 parser against the conformance corpus plus synthetic error cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from finpipe.connectors.statements.model import StatementParseError
from finpipe.connectors.statements.mt940 import parse_mt940

_ASNB_LINES = [1, 0, 0, 0, 2] + [0] * 19 + [1, 0, 0, 0, 2, 0, 2]

# file -> (lines per statement, balance_difference per statement). Non-zero differences
# were re-added by hand from the :60:/:61:/:62: fields: the upstream sample files do not
# reconcile (they are parser fixtures with edited amounts), e.g. Triodos
# 4975.09 - 15.70 - 700.00 = 4259.39 against :62F: 4370.79, i.e. -111.40.
EXPECTED: dict[str, tuple[list[int], list[int | None]]] = {
    "wolph_ASNB_0708271685_09022020_164516.940.txt": (_ASNB_LINES, [0] * 31),
    # statement 2: -1970431.87 + movements - (-4472049.09) = -300.08 upstream
    "wolph_betterplace_sepa_snippet.sta": ([4, 7], [0, -30008]),
    "wolph_cmxl_mt940.sta": ([11, 2, 3], [0, 0, 0]),
    "wolph_jejik_abnamro.sta": ([8, 2], [203800, 100260]),
    "wolph_jejik_ing.sta": ([7], [-4906]),
    "wolph_jejik_knab.sta": ([1, 2], [0, -450000]),
    "wolph_jejik_postfinance.sta": ([2, 2], [0, -20]),
    "wolph_jejik_rabobank-iban.sta": ([2, 2], [0, 0]),
    "wolph_jejik_rabobank.sta": ([1, 0, 2, 2], [-113593, 0, -23656, 0]),
    "wolph_jejik_triodos.sta": ([2], [-11140]),
    "wolph_mBank_mt940.sta": ([3], [0]),
    # MT942 interim report: no :60:/:62: balances, nothing to reconcile.
    "wolph_mBank_mt942.sta": ([3], [None]),
    "wolph_sberbank_171011_01234945.sta": ([3], [0]),
    "wolph_self-provided_raiffeisen-cmi.sta": ([7], [-112326400]),
    # A fragment: one :61: with no :20:/:25:/balances.
    "wolph_self-provided_sparkassen.sta": ([1], [None]),
}


def _read(conformance_dir: Path, name: str) -> bytes:
    return (conformance_dir / "statements" / "mt940" / name).read_bytes()


def test_corpus_is_the_known_one(conformance_dir: Path) -> None:
    found = {p.name for p in (conformance_dir / "statements" / "mt940").iterdir()}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_parses(conformance_dir: Path, name: str) -> None:
    statements = parse_mt940(_read(conformance_dir, name), name)
    lines, differences = EXPECTED[name]
    assert [len(s.lines) for s in statements] == lines
    assert sum(lines) >= 1
    assert [s.balance_difference() for s in statements] == differences
    for statement in statements:
        for line in statement.lines:
            assert isinstance(line.amount, int)
            assert isinstance(line.booked_date, dt.date)
            assert line.description


def test_abnamro_values(conformance_dir: Path) -> None:
    name = "wolph_jejik_abnamro.sta"
    first = parse_mt940(_read(conformance_dir, name), name)[0]
    assert first.account_id == "517852257"
    assert first.currency == "EUR"
    assert first.opening_balance is not None
    assert first.opening_balance.amount == 323628
    assert first.opening_balance.date == dt.date(2011, 5, 22)
    line = first.lines[0]
    assert (line.amount, line.value_date, line.booked_date) == (
        -900,
        dt.date(2011, 5, 24),
        dt.date(2011, 5, 24),
    )
    # :86: continuation lines are joined
    assert line.description.startswith("GIRO 428428 KPN - DIGITENNE")
    assert line.description.endswith("BETREFT FACTUUR D.D. 20-05-2011 INCL. 1,44 BTW")


def test_sepa_subfields(conformance_dir: Path) -> None:
    name = "wolph_betterplace_sepa_snippet.sta"
    line = parse_mt940(_read(conformance_dir, name), name)[0].lines[0]
    assert line.amount == 5099005
    assert line.value_date == dt.date(2007, 9, 7)
    assert line.booked_date == dt.date(2007, 9, 4)
    assert line.counterparty_name == "KARL KAUFMANN"
    assert line.counterparty_account == "DE14508800500194785000"
    assert line.reference == "EndToEndId TFNR 22 004 00001"
    assert "Verw CTSc-01 BC-PPP TFNr 22 004" in line.description
    assert line.source_id == "0724710333343453"


def test_bank_variants(conformance_dir: Path) -> None:
    name = "wolph_jejik_triodos.sta"
    line = parse_mt940(_read(conformance_dir, name), name)[0].lines[0]
    assert line.description == "ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010 TOT EN MET 31-12-2010"
    assert line.counterparty_account == "0390123456"

    name = "wolph_jejik_rabobank-iban.sta"
    line = parse_mt940(_read(conformance_dir, name), name)[0].lines[0]
    assert line.counterparty_name == "CONTRA ACCOUNT HOLDER"
    assert line.amount == -2500

    name = "wolph_jejik_knab.sta"
    first = parse_mt940(_read(conformance_dir, name), name)[0]
    assert first.opening_balance is not None and first.opening_balance.amount == 0  # "0,"
    assert first.lines[0].amount == 50000  # "500,"

    name = "wolph_self-provided_sparkassen.sta"
    [fragment] = parse_mt940(_read(conformance_dir, name), name)
    assert fragment.lines[0].amount == 3000  # amount wrapped onto the next line
    assert fragment.lines[0].description == "GUTSCHR. UEBERWEISUNG Test"

    name = "wolph_mBank_mt942.sta"
    [interim] = parse_mt940(_read(conformance_dir, name), name)
    assert interim.currency == "PLN"
    assert interim.closing_balance is None
    assert [line.amount for line in interim.lines] == [1, 1, 1]


GOOD = (
    "\x01{{1:F01X}}{{2:O940X}}{{4:\r\n:20:REF\r\n:25:NL00BANK0123456789\r\n:28C:1/1\r\n"
    ":60F:C240101EUR100,00\r\n{line}\r\n:86:payment for\r\n invoice 7\r\n"
    ":62F:C240102EUR90,00\r\n-}}\x03"
)


def test_synthetic_good() -> None:
    data = GOOD.format(line=":61:2401020102D10,00NTRFNONREF//B1").encode("cp1252")
    [statement] = parse_mt940(data, "ok.sta")
    assert statement.balance_difference() == 0
    assert statement.lines[0].description == "payment for invoice 7"
    assert statement.lines[0].source_id == "B1"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (":61:2401", ":61:"),  # truncated record
        (":61:240102D", ":61:"),  # no amount
        (":61:2401020102D10,001NTRF", ":61: amount"),  # more decimals than EUR has
        (":61:241302D10,00NTRF", ":61: value date"),
    ],
)
def test_synthetic_errors_name_file_line_field(line: str, field: str) -> None:
    with pytest.raises(StatementParseError) as info:
        parse_mt940(GOOD.format(line=line).encode(), "bad.sta")
    assert info.value.file == "bad.sta"
    assert info.value.where == "line 6"  # line 1 is the SWIFT envelope
    assert info.value.field == field
    assert str(info.value).startswith(f"bad.sta: line 6: field {field}:")


def test_bad_balance_names_tag() -> None:
    data = GOOD.format(line="").replace(":60F:C240101EUR100,00", ":60F:C240101EUR1x0").encode()
    with pytest.raises(StatementParseError, match=r"bad\.sta: line 5: field :60F:"):
        parse_mt940(data, "bad.sta")


def test_not_mt940() -> None:
    with pytest.raises(StatementParseError, match=r"junk\.sta: file: field :20:"):
        parse_mt940(b"hello\nworld\n", "junk.sta")
