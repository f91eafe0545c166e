"""Sandbox statement export: the files parse back, with the existing parsers, to exactly the
world's booked lines and balances."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import polars as pl
import pytest

from finpipe.connectors.statements.detect import detect_format, parse_file
from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.statements import ExportError, _camt, _ofx, _Statement, export_statements
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world

SPEC = WorldSpec(companies=6, months=3, seed=4)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("export") / "world"
    generate_world(SPEC, root)
    return load_world(root)


def _companies(world: World, provider: str | None = None) -> list[str]:
    frame = world.table("companies").collect()
    if provider is not None:
        frame = frame.filter(pl.col("bank_provider") == provider)
    return frame.get_column("company_id").to_list()


def _provider(world: World, company_id: str) -> str:
    companies = world.table("companies").filter(pl.col("company_id") == company_id).collect()
    return str(companies.item(0, "bank_provider"))


def _check_round_trip(world: World, company_id: str, files: list[Path], fmt: str) -> None:
    """Every account's booked lines and balances come back exactly from ``files``."""
    view = BankView(world, _provider(world, company_id))
    accounts = view.accounts_of(company_id)
    parsed: dict[str, list] = {}
    for path in files:
        data = path.read_bytes()
        kind = detect_format(path.name, data)
        assert kind == (fmt if fmt != "auto" else kind)
        (statement,) = parse_file(path.name, data)
        # OFX has no opening balance, so only camt.053 can prove itself; OFX is checked below
        expected = 0 if kind == "camt053" else None
        assert statement.balance_difference() == expected, path.name
        parsed.setdefault(statement.account_id, []).append(statement)
    assert len(parsed) == accounts.height
    for account in accounts.iter_rows(named=True):
        ident = account["iban"] if kind == "camt053" and account["iban"] else None
        ident = ident or account["account_number"] or account["iban"]
        statements = parsed[ident]
        booked = view.lines(account["bank_account_id"]).filter(pl.col("status") == "booked")
        lines = [line for s in statements for line in s.lines]
        assert [line.source_id for line in lines] == booked.get_column("line_id").to_list()
        assert [line.amount for line in lines] == booked.get_column("amount").to_list()
        assert [line.booked_date for line in lines] == booked.get_column("booked_date").to_list()
        assert all(line.status == "booked" for line in lines)
        assert {line.currency for line in lines} <= {account["currency"]}
        # balances chain month to month, from the world's opening to its booked balance
        if kind == "camt053":
            assert statements[0].opening_balance is not None
            assert statements[0].opening_balance.amount == account["opening_balance"]
            for before, after in itertools.pairwise(statements):
                assert before.closing_balance and after.opening_balance
                assert before.closing_balance.amount == after.opening_balance.amount
        for statement in statements:  # each month closes on the world's booked balance
            closing = statement.closing_balance
            assert closing is not None and closing.date is not None
            on_date = view.booked_balance(account["bank_account_id"], on=closing.date)
            assert closing.amount == on_date
        last = statements[-1].closing_balance
        assert last is not None
        assert last.amount == view.booked_balance(account["bank_account_id"])


def test_statement_companies_round_trip(world: World, tmp_path: Path) -> None:
    companies = _companies(world, "statement")
    assert len(companies) == 2  # one IBAN company (camt.053), one US company (OFX)
    kinds = set()
    for company_id in companies:
        files = export_statements(world, company_id, tmp_path / company_id)
        assert files and all(p.parent == tmp_path / company_id for p in files)
        kinds |= {detect_format(p.name, p.read_bytes()) for p in files}
        _check_round_trip(world, company_id, files, "auto")
    assert kinds == {"camt053", "ofx"}


@pytest.mark.parametrize("fmt", ["camt053", "ofx"])
def test_forced_format_and_card_accounts_round_trip(world: World, tmp_path: Path, fmt: str) -> None:
    # Every company, whatever its bank API: covers IBAN accounts as OFX, US accounts as camt
    # (Othr/Id) and credit cards (OFX CCSTMTRS).
    for company_id in _companies(world):
        files = export_statements(world, company_id, tmp_path / fmt / company_id, fmt=fmt)
        _check_round_trip(world, company_id, files, fmt)


def test_months_filter_names_and_determinism(world: World, tmp_path: Path) -> None:
    company_id = _companies(world, "statement")[0]
    first = export_statements(world, company_id, tmp_path / "a", months=["2026-09"])
    again = export_statements(world, company_id, tmp_path / "b", months=[dt.date(2026, 9, 15)])
    assert [p.name for p in first] == [p.name for p in again]
    assert all("_2026-09." in p.name for p in first)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]


def test_bad_arguments_are_clear(world: World, tmp_path: Path) -> None:
    company_id = _companies(world)[0]
    with pytest.raises(ExportError, match="format 'csv'"):
        export_statements(world, company_id, tmp_path, fmt="csv")
    with pytest.raises(ExportError, match="company 'cmp_nope'"):
        export_statements(world, "cmp_nope", tmp_path)
    with pytest.raises(ExportError, match="month '2026/13' is not YYYY-MM"):
        export_statements(world, company_id, tmp_path, months=["2026/13"])


def test_special_characters_survive_both_formats() -> None:
    lines = pl.DataFrame(
        {
            "line_id": ["L1", "L2"],
            "booked_date": [dt.date(2026, 3, 2), dt.date(2026, 3, 3)],
            "value_date": [dt.date(2026, 3, 1), None],
            "amount": [-1234, 99],
            "currency": ["GBP", "GBP"],
            "description": ["CARD B&Q <DIY> 'X'", "REFUND AT&T"],
            "counterparty_name": ["B&Q", None],
            "counterparty_account": [None, "GB33BUKB20201555555555"],
            "reference": ["1002", None],
            "bank_transaction_code": ["PMNT-ICHQ-CCHQ", "OTHER"],
        }
    )
    company = {"name": "Fish & Chips Ltd"}
    account = {
        "bank_account_id": "acct-1",
        "account_name": "Current <main>",
        "institution_name": "Bank & Co",
        "account_type": "checking",
        "iban": None,
        "account_number": "12345678",
        "routing_number": None,
        "sort_code": "040004",
        "currency": "GBP",
    }
    statement = _Statement(
        company, account, "12345678", dt.date(2026, 3, 1), dt.date(2026, 3, 31), 500, -635, lines
    )
    for name, data in (("x.ofx", _ofx(statement)), ("x.xml", _camt(statement))):
        (parsed,) = parse_file(name, data)
        first, second = parsed.lines
        assert first.description == "CARD B&Q <DIY> 'X'", name
        assert (first.amount, second.amount, second.description) == (-1234, 99, "REFUND AT&T")
        assert first.source_id == "L1" and parsed.closing_balance is not None
        assert parsed.closing_balance.amount == -635
    (ofx,) = parse_file("x.ofx", _ofx(statement))
    assert ofx.lines[0].check_number == "1002" and ofx.lines[0].counterparty_name == "B&Q"
    (camt,) = parse_file("x.xml", _camt(statement))
    assert camt.lines[1].counterparty_account == "GB33BUKB20201555555555"
    assert camt.balance_difference() == 0
