"""The statement drop folder end to end: sandbox exports dropped into an inbox, imported into
a warehouse, and read back as canonical bank lines; idempotence, overlaps, rejections and
the whole conformance corpus."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from pathlib import Path

import polars as pl
import pytest

from finpipe.connectors.statements import dropfolder
from finpipe.connectors.statements.detect import parse_as, parse_file
from finpipe.connectors.statements.dropfolder import (
    ImportResult,
    import_file,
    import_inbox,
    pending_files,
)
from finpipe.connectors.statements.landing import to_bank_accounts, to_bank_lines
from finpipe.connectors.statements.model import StatementParseError
from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.statements import _camt, _Statement, export_statements
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import QUARANTINE
from finpipe.warehouse.tables.raw import STATEMENT_BALANCES, STATEMENT_FILES, STATEMENT_LINES

SPEC = WorldSpec(companies=6, months=3, seed=4)
NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
CARD_IBAN = "GB33BUKB20201555555555"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("dropfolder") / "world"
    generate_world(SPEC, root)
    return load_world(root)


@pytest.fixture(scope="module")
def exports(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Every statement company's files, exported once for the module."""
    out = tmp_path_factory.mktemp("exports")
    companies = world.table("companies").filter(pl.col("bank_provider") == "statement")
    return {
        c: export_statements(world, c, out / c)
        for c in companies.collect().get_column("company_id").to_list()
    }


@pytest.fixture
def wh(duckdb_warehouse_url: str):
    with Warehouse.open(duckdb_warehouse_url) as warehouse:
        yield warehouse


def drop(root: Path, company_id: str, source: Path | bytes, name: str, sub: str = "") -> Path:
    """Put a file into the company's inbox as a finished drop (older than the settle time)."""
    folder = root / "inbox" / company_id / sub
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if isinstance(source, bytes):
        target.write_bytes(source)
    else:
        shutil.copyfile(source, target)
    past = time.time() - 10
    os.utime(target, (past, past))
    return target


def _snapshot(warehouse: Warehouse) -> dict[str, pl.DataFrame]:
    return {
        t.name: warehouse.read(t) for t in (STATEMENT_FILES, STATEMENT_LINES, STATEMENT_BALANCES)
    }


def _inbox_empty(root: Path, company_id: str) -> bool:
    return not [p for p in (root / "inbox" / company_id).rglob("*") if p.is_file()]


# ------------------------------------------------------------------------ the world, landed


def test_world_statements_land_exactly(
    warehouse_url: str, world: World, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    root = tmp_path / "statements"
    with Warehouse.open(warehouse_url) as warehouse:
        for company_id, files in exports.items():
            for path in files:
                drop(root, company_id, path, path.name)
            results = import_inbox(warehouse, root, company_id, NOW)
            assert [r.status for r in results] == ["imported"] * len(files)
            assert all(
                r.moved_to and r.moved_to.parent == root / "imported" / company_id for r in results
            )
            assert _inbox_empty(root, company_id)
        frames = {
            "lines": warehouse.read(STATEMENT_LINES),
            "balances": warehouse.read(STATEMENT_BALANCES),
        }
    lines = to_bank_lines(frames)
    accounts = to_bank_accounts(frames)
    view = BankView(world, "statement")
    booked = view.lines().filter(pl.col("status") == "booked")
    # the files name accounts by IBAN (camt.053) or account number (OFX)
    ident = view.accounts.select(
        "company_id",
        "bank_account_id",
        pl.coalesce("iban", "account_number").alias("ident"),
        "opening_balance",
    )
    expected = (
        booked.join(ident, on=["company_id", "bank_account_id"])
        .group_by("company_id", "ident")
        .agg(pl.len().alias("n"), pl.col("amount").sum().alias("total"))
        .sort("company_id", "ident")
    )
    got = (
        lines.group_by("company_id", pl.col("bank_account_id").alias("ident"))
        .agg(pl.len().alias("n"), pl.col("amount").sum().alias("total"))
        .sort("company_id", "ident")
    )
    assert got.to_dicts() == expected.to_dicts()
    assert set(lines.get_column("source_id")) == set(booked.get_column("line_id"))
    for row in view.accounts.iter_rows(named=True):
        account = accounts.filter(
            pl.col("bank_account_id") == (row["iban"] or row["account_number"])
        ).row(0, named=True)
        assert account["reported_balance"] == view.booked_balance(row["bank_account_id"])
        end = view.companies.filter(pl.col("company_id") == row["company_id"]).item(0, "end_date")
        assert account["reported_balance_date"] == end  # the last month's closing balance
        assert account["currency"] == row["currency"]


def test_reimporting_the_same_file_changes_nothing(
    wh: Warehouse, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    company_id, files = next(iter(exports.items()))
    drop(tmp_path, company_id, files[0], files[0].name)
    (first,) = import_inbox(wh, tmp_path, company_id, NOW)
    before = _snapshot(wh)
    drop(tmp_path, company_id, files[0], files[0].name)
    later = NOW + dt.timedelta(days=1)
    (again,) = import_inbox(wh, tmp_path, company_id, later)
    assert (first.status, again.status) == ("imported", "already_imported")
    assert again.lines == first.lines and again.moved_to == first.moved_to
    after = _snapshot(wh)
    for name, frame in before.items():
        assert frame.equals(after[name]), name
    assert _inbox_empty(tmp_path, company_id)
    assert [p.name for p in (tmp_path / "imported" / company_id).iterdir()] == [files[0].name]


def test_same_month_exported_twice_lands_once(
    wh: Warehouse, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    company_id, files = next(iter(exports.items()))
    august = files[0]
    drop(tmp_path, company_id, august, "august.xml")
    drop(tmp_path, company_id, august, "download (1).xml")
    # the bank's second download differs in its header only: new bytes, the same lines
    data = august.read_bytes().replace(b"<MsgId>STMT-", b"<MsgId>AGAIN-", 1)
    drop(tmp_path, company_id, data, "download (2).xml")
    results = {r.file_name: r for r in import_inbox(wh, tmp_path, company_id, NOW)}
    assert results["august.xml"].status == "imported"
    assert results["download (1).xml"].status == "already_imported"
    assert results["download (1).xml"].reason == "already imported as august.xml"
    again = results["download (2).xml"]
    assert (again.status, again.lines, again.lines_new) == (
        "imported",
        results["august.xml"].lines,
        0,
    )
    assert wh.count(STATEMENT_LINES) == results["august.xml"].lines
    assert wh.count(STATEMENT_BALANCES) == 2
    assert wh.count(STATEMENT_FILES) == 2  # two distinct contents


def test_overlapping_files_land_shared_lines_once(
    wh: Warehouse, world: World, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    # camt.053 with AcctSvcrRef: two files of one month that overlap by 40 lines
    company_id = next(iter(exports))
    view = BankView(world, "statement")
    account = view.accounts_of(company_id).row(0, named=True)
    company = world.table("companies").filter(pl.col("company_id") == company_id).collect()
    month, end = dt.date(2026, 8, 1), dt.date(2026, 8, 31)
    booked = view.lines(account["bank_account_id"]).filter(
        (pl.col("status") == "booked") & pl.col("booked_date").is_between(month, end)
    )
    opening = int(account["opening_balance"])
    first, second = booked.slice(0, 100), booked.slice(60)
    second_opening = opening + int(booked.slice(0, 60).get_column("amount").sum())

    def camt(lines: pl.DataFrame, start: int) -> bytes:
        closing = start + int(lines.get_column("amount").sum())
        args = (company.row(0, named=True), account, account["iban"], month, end)
        return _camt(_Statement(*args, start, closing, lines))

    drop(tmp_path, company_id, camt(first, opening), "a.xml")
    drop(tmp_path, company_id, camt(second, second_opening), "b.xml")
    a, b = import_inbox(wh, tmp_path, company_id, NOW)
    assert (a.lines, a.lines_new, b.lines, b.lines_new) == (
        100,
        100,
        booked.height - 60,
        booked.height - 100,
    )
    lines = to_bank_lines({"lines": wh.read(STATEMENT_LINES)})
    assert lines.height == booked.height
    assert lines.get_column("amount").sum() == booked.get_column("amount").sum()


MT940 = """:20:{ref}
:25:DE89370400440532013000
:28C:1/1
:60F:C260201EUR100,00
{body}:62F:C{close}EUR{closing}
-
"""
COFFEE = ":61:2602020202D2,50NMSCNONREF\n:86:COFFEE\n"
SALE = ":61:2602030203C10,00NTRFNONREF\n:86:SALE\n"
FEE = ":61:2602040204D1,00NCHGNONREF\n:86:FEE\n"


def test_overlapping_files_without_bank_ids(wh: Warehouse, tmp_path: Path) -> None:
    # Two identical coffees on one day in both files: deterministic keys keep both, once.
    week = MT940.format(ref="A", body=COFFEE * 2 + SALE, close="260203", closing="105,00")
    longer = MT940.format(ref="B", body=COFFEE * 2 + SALE + FEE, close="260204", closing="104,00")
    drop(tmp_path, "cmp_x", week.encode(), "week.sta")
    drop(tmp_path, "cmp_x", longer.encode(), "month.sta")
    results = {r.file_name: r for r in import_inbox(wh, tmp_path, "cmp_x", NOW)}
    assert (results["month.sta"].lines_new, results["week.sta"].lines_new) == (4, 0)
    lines = to_bank_lines({"lines": wh.read(STATEMENT_LINES)}).sort("booked_date")
    assert lines.get_column("amount").to_list() == [-250, -250, 1000, -100]
    assert lines.get_column("bank_account_id").unique().to_list() == ["DE89370400440532013000"]
    assert all(s.startswith("sha256:") for s in lines.get_column("source_id"))


def test_bank_reference_reused_across_files_loses_nothing(wh: Warehouse, tmp_path: Path) -> None:
    # The reviewer's probe: two MT940 files of one IBAN, a 10.00 debit on 02 Nov and a 25.00
    # debit on 03 Nov, both with bank reference 55555 (MT940 references are not unique
    # across files): both land, keyed with their date and amount.
    nov2 = """:20:S1\n:25:DE89370400440532013000\n:60F:C261101EUR100,00
:61:2611021102D10,00NTRFNONREF//55555\n:86:RENT\n:62F:C261102EUR90,00\n-\n"""
    nov3 = """:20:S2\n:25:DE89370400440532013000\n:60F:C261102EUR90,00
:61:2611031103D25,00NTRFNONREF//55555\n:86:FEE\n:62F:C261103EUR65,00\n-\n"""
    drop(tmp_path, "cmp_r", nov2.encode(), "nov2.sta")
    drop(tmp_path, "cmp_r", nov3.encode(), "nov3.sta")
    results = import_inbox(wh, tmp_path, "cmp_r", NOW)
    assert [(r.status, r.lines_new) for r in results] == [("imported", 1), ("imported", 1)]
    lines = to_bank_lines({"lines": wh.read(STATEMENT_LINES)}).sort("booked_date")
    assert lines.get_column("amount").to_list() == [-1000, -2500]
    assert lines.get_column("source_id").to_list() == [
        "ref:55555:2026-11-02:-1000",
        "ref:55555:2026-11-03:-2500",
    ]


def test_ofx_and_csv_exports_of_one_account_give_one_copy(wh: Warehouse, tmp_path: Path) -> None:
    # One account's February as OFX (FITIDs) and as CSV (no ids: content-hash keys), with
    # two identical coffees on one day; the CSV runs two days longer.
    trn = "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>202602{day}<TRNAMT>{amount}<FITID>{fitid}<NAME>{name}"
    ofx = SGML.format(
        trn="".join(
            trn.format(day=d, amount=a, fitid=f, name=n) + "</STMTTRN>"
            for d, a, f, n in (
                ("02", "-2.50", "F1", "COFFEE"),
                ("02", "-2.50", "F2", "COFFEE"),
                ("03", "100.00", "F3", "SALE"),
            )
        )
    )
    csv = (
        "Date,Description,Amount,Balance\n"
        "02/02/2026,COFFEE SHOP,-2.50,97.50\n"
        "02/02/2026,COFFEE SHOP,-2.50,95.00\n"
        "03/02/2026,SALE REF 7,100.00,195.00\n"
        "05/02/2026,FEE,-1.00,194.00\n"
    )
    drop(tmp_path, "cmp_o", ofx.encode(), "feb.ofx")
    drop(tmp_path, "cmp_o", csv.encode(), "feb.csv", sub="12345678")
    results = import_inbox(wh, tmp_path, "cmp_o", NOW)
    assert [(r.format, r.lines_new) for r in results] == [("csv:firstdirect_uk", 4), ("ofx", 3)]
    assert wh.count(STATEMENT_LINES) == 7  # both files landed whole
    lines = to_bank_lines({"lines": wh.read(STATEMENT_LINES)}).sort("booked_date", "source_id")
    assert lines.get_column("amount").to_list() == [-250, -250, 10_000, -100]
    assert lines.get_column("source_id").to_list()[:3] == ["F1", "F2", "F3"]
    assert lines.get_column("bank_account_id").unique().to_list() == ["12345678"]


SGML = (
    "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS>"
    "<STATUS><CODE>0<SEVERITY>INFO</STATUS><STMTRS><CURDEF>GBP<BANKACCTFROM><ACCTID>12345678"
    "</BANKACCTFROM><BANKTRANLIST>{trn}</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>"
)


# ------------------------------------------------------------------------------ rejections


def _assert_rejected(
    wh: Warehouse, root: Path, company_id: str, result: ImportResult, *needles: str
) -> None:
    assert result.status == "rejected" and result.reason
    for needle in needles:
        assert needle in result.reason, (needle, result.reason)
    assert result.moved_to is not None
    assert result.moved_to.parent.is_relative_to(root / "rejected" / company_id)
    reason_file = result.moved_to.with_name(result.moved_to.name + ".reason.txt")
    assert reason_file.read_text(encoding="utf-8").strip() == result.reason
    files = wh.read(STATEMENT_FILES, where="content_sha256 = %s", params=[result.sha256])
    assert files.get_column("status").to_list() == ["rejected"]
    assert files.item(0, "reason") == result.reason
    quarantine = wh.read(QUARANTINE, company_id=company_id)
    mine = quarantine.filter(pl.col("record_id") == f"{result.file_name}#{result.sha256}")
    assert mine.height == 1 and mine.item(0, "source") == "statement"
    assert mine.item(0, "reason") == result.reason
    assert json.loads(mine.item(0, "payload"))["content_sha256"] == result.sha256
    assert _inbox_empty(root, company_id)


def test_truncated_xml_is_rejected_and_nothing_lands(
    wh: Warehouse, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    company_id, files = next(iter(exports.items()))
    data = files[0].read_bytes()
    path = drop(tmp_path, company_id, data[: len(data) // 2], "cut.xml")
    # no root given: found from the inbox path
    result = import_file(wh, company_id, path, now=NOW, sync_id="t")
    _assert_rejected(wh, tmp_path, company_id, result, "cut.xml: Document: field xml:", "line ")
    quarantine = wh.read(QUARANTINE, company_id=company_id)
    assert quarantine.item(0, "field") == "xml"
    assert wh.count(STATEMENT_LINES) == 0 and wh.count(STATEMENT_BALANCES) == 0


def test_truncated_ofx_and_mt940_are_rejected(
    wh: Warehouse, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    # both readers are lenient enough to read the first half: the import must not
    ofx = next(p for files in exports.values() for p in files if p.suffix == ".ofx")
    data = ofx.read_bytes()
    drop(tmp_path, "cmp_t", data[: data.index(b"</STMTTRN>", len(data) // 2)], "cut.ofx")
    mt940 = MT940.format(ref="A", body=COFFEE + SALE, close="260203", closing="107,50")
    drop(tmp_path, "cmp_t", mt940.split(":62F:")[0].encode(), "cut.sta")
    cut_ofx, cut_sta = import_inbox(wh, tmp_path, "cmp_t", NOW)
    _assert_rejected(wh, tmp_path, "cmp_t", cut_ofx, "cut.ofx: file: field </OFX>:")
    _assert_rejected(wh, tmp_path, "cmp_t", cut_sta, "cut.sta: statement 1 (A): field :62F:")
    assert wh.count(STATEMENT_LINES) == 0


def test_camt_cut_anywhere_is_rejected(exports: dict[str, list[Path]]) -> None:
    # XML cut at any point does not parse: the camt reader rejects every cut (only trailing
    # whitespace after </Document> may go).
    data = next(iter(exports.values()))[0].read_bytes()
    end = data.rstrip().rfind(b"</Document>")
    for cut in sorted({*range(1, len(data), max(1, len(data) // 300)), end, end + 5}):
        with pytest.raises(StatementParseError, match="field xml:"):
            parse_as("camt053", "cut.xml", data[:cut])


def test_camt_statement_without_closing_balance_is_rejected(wh: Warehouse, tmp_path: Path) -> None:
    def camt(*codes: str, entries: int = 1) -> bytes:
        balances = "".join(
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy='EUR'>{amount}</Amt>"
            "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-02-02</Dt></Dt></Bal>"
            for code, amount in zip(codes, ("10.00", "7.50"), strict=False)
        )
        entry = (
            "<Ntry><Amt Ccy='EUR'>2.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>"
            "<BookgDt><Dt>2026-02-02</Dt></BookgDt></Ntry>"
        )
        return (
            "<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'>"
            "<BkToCstmrStmt><Stmt><Id>S1</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id>"
            f"<Ccy>EUR</Ccy></Acct>{balances}{entry * entries}</Stmt></BkToCstmrStmt></Document>"
        ).encode()

    drop(tmp_path, "cmp_m", camt("OPBD"), "a-open-only.xml")
    drop(tmp_path, "cmp_m", camt("OPBD", "CLAV"), "b-available.xml")
    drop(tmp_path, "cmp_m", camt("OPBD", entries=0), "c-no-entries.xml")
    drop(tmp_path, "cmp_m", camt("OPBD", "CLBD"), "d-complete.xml")
    cut, available, empty, complete = import_inbox(wh, tmp_path, "cmp_m", NOW)
    assert cut.status == "rejected" and cut.reason
    assert "a-open-only.xml: statement 1 (S1): field Bal/CLBD: " in cut.reason
    assert "no closing balance (CLBD or CLAV)" in cut.reason
    # CLAV closes the statement too; a statement without entries has nothing to lose
    assert [r.status for r in (available, empty, complete)] == ["imported"] * 3


def test_bad_csv_amount_is_rejected_whole(wh: Warehouse, tmp_path: Path) -> None:
    csv = (
        "Date,Description,Amount,Balance\n"
        "01/02/2026,SALE,10.00,110.00\n"
        "02/02/2026,RENT,12x.00,98.00\n"
    )
    drop(tmp_path, "cmp_c", csv.encode(), "export.csv", sub=CARD_IBAN)
    (result,) = import_inbox(wh, tmp_path, "cmp_c", NOW)
    assert result.format == "csv:firstdirect_uk"
    _assert_rejected(wh, tmp_path, "cmp_c", result, "export.csv: line 3: field Amount:", "12x.00")
    assert result.moved_to == tmp_path / "rejected" / "cmp_c" / CARD_IBAN / "export.csv"
    assert wh.count(STATEMENT_LINES) == 0  # the good first row did not land either
    # fixed and dropped again: lands on the account its folder names
    drop(tmp_path, "cmp_c", csv.replace("12x", "12").encode(), "export.csv", sub=CARD_IBAN)
    (fixed,) = import_inbox(wh, tmp_path, "cmp_c", NOW)
    assert (fixed.status, fixed.lines) == ("imported", 2)
    assert wh.read(STATEMENT_LINES).get_column("tenant_id").unique().to_list() == [CARD_IBAN]


def test_csv_without_account_needs_an_account_folder(wh: Warehouse, tmp_path: Path) -> None:
    csv = b"Date,Description,Amount,Balance\n01/02/2026,SALE,10.00,110.00\n"
    drop(tmp_path, "cmp_c", csv, "export.csv")
    (result,) = import_inbox(wh, tmp_path, "cmp_c", NOW)
    _assert_rejected(
        wh, tmp_path, "cmp_c", result, "statement 1: field account:", "inbox/<company>/"
    )


def test_unknown_format_is_rejected(wh: Warehouse, tmp_path: Path) -> None:
    drop(tmp_path, "cmp_u", b"hello,world\n1,2\n", "notes.csv")
    (result,) = import_inbox(wh, tmp_path, "cmp_u", NOW)
    _assert_rejected(wh, tmp_path, "cmp_u", result, "notes.csv: line 1: field format:")
    assert wh.read(STATEMENT_FILES).item(0, "format") == "unknown"


def _unbalanced(files: list[Path]) -> bytes:
    """The first export with its closing balance (CLBD, in credit) raised by 1.00."""
    data = files[0].read_bytes()
    match = re.search(rb"<Cd>CLBD</Cd>.*?<Amt Ccy=\"EUR\">(\d+)\.(\d\d)</Amt>", data, re.S)
    assert match is not None
    bumped = f"{int(match[1]) + 1}.{match[2].decode()}".encode()
    return data[: match.start(1)] + bumped + data[match.end(2) :]


def test_unbalanced_file_rejected_by_default_accepted_when_relaxed(
    wh: Warehouse, exports: dict[str, list[Path]], tmp_path: Path
) -> None:
    company_id, files = next(iter(exports.items()))
    data = _unbalanced(files)
    drop(tmp_path, company_id, data, "edited.xml")
    (strict,) = import_inbox(wh, tmp_path, company_id, NOW)
    _assert_rejected(
        wh,
        tmp_path,
        company_id,
        strict,
        "edited.xml: statement 1 (acct-",
        "field Bal/CLBD: balances do not add up",
        "off by -1.00 EUR",
        "strict_balances=False",
    )
    assert wh.count(STATEMENT_LINES) == 0
    # the same content, dropped again and accepted deliberately: lands as printed
    drop(tmp_path, company_id, data, "edited.xml")
    (relaxed,) = import_inbox(wh, tmp_path, company_id, NOW, strict_balances=False)
    assert relaxed.status == "imported" and len(relaxed.warnings) == 1
    assert "off by -1.00 EUR" in relaxed.warnings[0]
    assert wh.read(STATEMENT_FILES).get_column("status").to_list() == ["imported"]
    balances = wh.read(STATEMENT_BALANCES)
    assert {json.loads(p)["balance_difference"] for p in balances.get_column("payload")} == {-100}


# ------------------------------------------------------------------------ the folder itself


def test_pending_files_skip_partial_writes(tmp_path: Path) -> None:
    done = drop(tmp_path, "cmp_p", b"x", "a.ofx")
    hinted = drop(tmp_path, "cmp_p", b"y", "b.csv", sub="NL20ABNA2802221754")
    drop(tmp_path, "cmp_p", b"z", ".hidden.ofx")
    drop(tmp_path, "cmp_p", b"z", "c.ofx.part")
    drop(tmp_path, "cmp_p", b"z", "d.csv.crdownload")
    (tmp_path / "inbox" / "cmp_p" / "fresh.ofx").write_bytes(b"still writing")
    found = pending_files(tmp_path, "cmp_p")
    assert [(f.path, f.account_hint, f.size) for f in found] == [
        (hinted, "NL20ABNA2802221754", 1),  # in name order: "N" < "a"
        (done, None, 1),
    ]
    assert found[1].sha256 == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    assert [f.company_id for f in pending_files(tmp_path)] == ["cmp_p", "cmp_p"]
    assert pending_files(tmp_path / "nowhere") == []
    assert len(pending_files(tmp_path, "cmp_p", settle_seconds=0)) == 3


def test_crash_after_commit_leaves_file_for_the_next_run(
    wh: Warehouse, exports: dict[str, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    company_id, files = next(iter(exports.items()))
    drop(tmp_path, company_id, files[0], files[0].name)

    def crash(*args: object) -> Path:
        raise OSError("disk went away")

    monkeypatch.setattr(dropfolder, "_move", crash)
    with pytest.raises(OSError):
        import_inbox(wh, tmp_path, company_id, NOW)
    monkeypatch.undo()
    landed = wh.count(STATEMENT_LINES)
    assert landed > 0 and not _inbox_empty(tmp_path, company_id)
    (result,) = import_inbox(wh, tmp_path, company_id, NOW)
    assert result.status == "already_imported"
    assert wh.count(STATEMENT_LINES) == landed and _inbox_empty(tmp_path, company_id)


# ------------------------------------------------------------------- the conformance corpus

# Files rejected under the default policy -> the field the reason must name.
UNBALANCED = {
    "genkgo_camt053.v2.all-balance-types.xml": "Bal/CLBD",
    "genkgo_camt053.v2.five.decimals.xml": "Bal/CLBD",
    "genkgo_camt053.v2.minimal.xml": "Bal/CLBD",
    "genkgo_camt053.v2.with-party-ids.xml": "Bal/CLBD",
    "genkgo_camt053.v3.xml": "Bal/CLBD",
    "genkgo_camt053.v4.xml": "Bal/CLBD",
    "genkgo_camt053.v8.xml": "Bal/CLBD",
    "wolph_betterplace_sepa_snippet.sta": ":62F:",
    "wolph_jejik_abnamro.sta": ":62F:",
    "wolph_jejik_ing.sta": ":62F:",
    "wolph_jejik_knab.sta": ":62F:",
    "wolph_jejik_postfinance.sta": ":62F:",
    "wolph_jejik_rabobank.sta": ":62F:",
    "wolph_jejik_triodos.sta": ":62F:",
    "wolph_self-provided_raiffeisen-cmi.sta": ":62F:",
}
BROKEN = {
    "genkgo_camt053.v2.wrong.xml": "Stmt",  # GrpHdr only
    "ofxparse_error_message.ofx": "SEVERITY",  # the bank answered with an error
    "ofxparse_fail_nice_decimal_error.ofx": "TRNAMT",  # "$120"
    "ofxparse_account_listing_aggregation.ofx": "STMTRS",  # accounts, no statement
    "ofxparse_bank_small.ofx": "STMTRS",  # empty <OFX></OFX>
    "wolph_self-provided_sparkassen.sta": ":25:",  # a fragment: no account, no currency
}


@pytest.mark.slow  # 70 one-transaction imports: ~5-10 s on DuckDB
@pytest.mark.conformance
def test_every_corpus_file_goes_through_import_file(conformance_dir: Path, tmp_path: Path) -> None:
    corpus = sorted(p for p in (conformance_dir / "statements").rglob("*") if p.is_file())
    assert len(corpus) == 55
    root = tmp_path / "statements"
    for source in corpus:
        # CSV exports that do not name their account go into a folder naming it
        sub = f"ACCT-{source.stem}" if source.parent.name == "csv" else ""
        drop(root, "cmp_corpus", source, source.name, sub=sub)
    problems: list[str] = []
    imported: dict[str, ImportResult] = {}
    with Warehouse.open(f"duckdb:///{tmp_path / 'wh.duckdb'}") as warehouse:
        # import_inbox runs import_file on each file (one warehouse look-up for them all)
        results = {r.file_name: r for r in import_inbox(warehouse, root, "cmp_corpus", NOW)}
        assert sorted(results) == sorted(p.name for p in corpus)
        kinds = {"camt053": "camt053", "ofx": "ofx", "mt940": "mt940", "csv": "csv:"}
        for source in corpus:
            result = results[source.name]
            assert (result.format or "").startswith(kinds[source.parent.name]), result
            field = UNBALANCED.get(source.name) or BROKEN.get(source.name)
            if field is not None:
                if result.status != "rejected" or f"field {field}:" not in (result.reason or ""):
                    problems.append(f"{source.name}: expected rejection on {field}: {result}")
                continue
            if result.status != "imported" or result.warnings:
                problems.append(f"{source.name}: expected import: {result}")
                continue
            expected = sum(len(s.lines) for s in parse_file(source.name, source.read_bytes()))
            if result.lines != expected:
                problems.append(f"{source.name}: {result.lines} lines, parser says {expected}")
            imported[source.name] = result
        assert not problems, "\n".join(problems)
        lines = warehouse.read(STATEMENT_LINES)
        # overlapping samples (genkgo's files share entries) land once: new lines add up
        assert lines.height == sum(r.lines_new for r in imported.values())
        assert not to_bank_lines({"lines": lines}).is_empty()

        # the non-balancing ones, accepted deliberately: land as printed, each with warnings
        for source in corpus:
            if source.name in UNBALANCED:
                drop(root, "cmp_corpus", source, source.name)
        relaxed = import_inbox(warehouse, root, "cmp_corpus", NOW, strict_balances=False)
        assert sorted(r.file_name for r in relaxed) == sorted(UNBALANCED)
        for result in relaxed:
            assert result.status == "imported" and result.warnings, result
            assert all(result.file_name in w for w in result.warnings)
        files = warehouse.read(STATEMENT_FILES)
        rejected = files.filter(pl.col("status") == "rejected").get_column("file_name")
        assert sorted(rejected) == sorted(BROKEN)
        assert warehouse.count(QUARANTINE) == len(BROKEN) + len(UNBALANCED)
        accounts = to_bank_accounts(
            {
                "lines": warehouse.read(STATEMENT_LINES),
                "balances": warehouse.read(STATEMENT_BALANCES),
            }
        )
        assert accounts.filter(pl.col("iban") == "NL81ASNB9999999999").height == 1
    assert _inbox_empty(root, "cmp_corpus")
