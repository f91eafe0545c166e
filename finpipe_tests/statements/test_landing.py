"""Landing rows from parsed statements, and the canonical bank frames from landed rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import polars as pl

from finpipe.connectors.statements.camt053 import CamtLine
from finpipe.connectors.statements.landing import (
    HASH_PREFIX,
    line_source_ids,
    statement_frames,
    to_bank_accounts,
    to_bank_lines,
)
from finpipe.connectors.statements.model import Balance, Statement, StatementLine
from finpipe.ledger.bank_sources import SOURCE_ACCOUNT_SCHEMA, SOURCE_LINE_SCHEMA
from finpipe.warehouse.frames import conform
from finpipe.warehouse.tables.raw import STATEMENT_BALANCES, STATEMENT_LINES

NOW = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
IBAN = "NL20ABNA2802221754"


def _line(day: int, amount: int, text: str = "COFFEE", source_id: str | None = None, **kw):
    return StatementLine(
        booked_date=dt.date(2026, 2, day),
        amount=amount,
        currency="EUR",
        description=text,
        source_id=source_id,
        **kw,
    )


def _frames(
    statements: list[Statement], sha: str = "a" * 64, name: str = "f.xml", fmt: str = "camt053"
):
    return statement_frames(
        statements,
        company_id="cmp_1",
        file_name=name,
        content_sha256=sha,
        fmt=fmt,
        extracted_at=NOW,
        sync_id="s1",
    )


def test_bank_ids_kept_and_repeats_disambiguated() -> None:
    # OFX FITIDs are unique per account: kept as they are, a repeat in one file numbered.
    statement = Statement(
        IBAN, "EUR", [_line(1, -1, source_id="X"), _line(2, -2, source_id="X"), _line(3, 5)]
    )
    (ids,) = line_source_ids([statement], fmt="ofx")
    assert ids[:2] == ["X", "X#2"]
    assert ids[2].startswith(HASH_PREFIX) and len(ids[2]) == len(HASH_PREFIX) + 64
    assert line_source_ids([statement], fmt="csv:bunq")[0][:2] == ["X", "X#2"]


def test_reused_bank_references_are_keyed_with_date_and_amount() -> None:
    # MT940 bank references (and camt NtryRef) are reused across files: only with the
    # booked date and amount do they name one line; a repeat of all three is numbered.
    statement = Statement(
        IBAN,
        "EUR",
        [
            _line(2, -1000, source_id="55555"),
            _line(3, -2500, source_id="55555"),
            _line(3, -2500, source_id="55555"),
        ],
    )
    expected = [
        "ref:55555:2026-02-02:-1000",
        "ref:55555:2026-02-03:-2500",
        "ref:55555:2026-02-03:-2500#2",
    ]
    assert line_source_ids([statement], fmt="mt940") == [expected]
    # camt: an AcctSvcrRef is unique per account, an NtryRef is not
    camt = Statement(
        IBAN,
        "EUR",
        [
            CamtLine(dt.date(2026, 2, 2), -1000, "EUR", "X", source_id="A1", servicer_ref=True),
            CamtLine(dt.date(2026, 2, 2), -1000, "EUR", "X", source_id="N1"),
        ],
    )
    assert line_source_ids([camt], fmt="camt053") == [["A1", "ref:N1:2026-02-02:-1000"]]


def test_reused_reference_in_two_files_lands_both_lines() -> None:
    # The reviewer's probe: two MT940 files of one IBAN, 10.00 out on 02 Nov and 25.00 out
    # on 03 Nov, both with bank reference 55555: two keys, two landed rows.
    def file(day: int, amount: int, sha: str):
        line = StatementLine(dt.date(2026, 11, day), amount, "EUR", "X", source_id="55555")
        return _frames([Statement(IBAN, "EUR", [line])], sha=sha, fmt="mt940").lines

    landed = _upsert(file(2, -1000, "a" * 64), file(3, -2500, "b" * 64))
    assert landed.height == 2
    lines = to_bank_lines({"lines": landed})
    assert lines.get_column("amount").to_list() == [-1000, -2500]


def test_hash_keys_agree_across_overlapping_files() -> None:
    # Two identical coffees on the 2nd: told apart by occurrence, equal in both files.
    week1 = Statement(IBAN, "EUR", [_line(1, -300), _line(2, -250), _line(2, -250)])
    week2 = Statement(IBAN, "EUR", [_line(2, -250), _line(2, -250), _line(3, -100)])
    (a,) = line_source_ids([week1], fmt="camt053")
    (b,) = line_source_ids([week2], fmt="camt053")
    assert len(set(a)) == 3 and len(set(b)) == 3
    assert a[1:] == b[:2]
    # another account, same line: another key
    (c,) = line_source_ids(
        [Statement("DE02120300000000202051", "EUR", [_line(1, -300)])], fmt="camt053"
    )
    assert c[0] != a[0]


def test_frames_match_the_declared_tables_and_payload_is_exact() -> None:
    statement = Statement(
        IBAN,
        "EUR",
        [_line(3, -1999, source_id="R1", value_date=dt.date(2026, 2, 2), reference="INV-7")],
        opening_balance=Balance(10_000, dt.date(2026, 2, 1)),
        closing_balance=Balance(8_001, dt.date(2026, 2, 28)),
        statement_id="S-02",
    )
    frames = _frames([statement])
    conform(STATEMENT_LINES, frames.lines)  # raises on a shape the warehouse would refuse
    conform(STATEMENT_BALANCES, frames.balances)
    row = frames.lines.row(0, named=True)
    # A plain camt line's id is an NtryRef (not unique per account, unlike an AcctSvcrRef,
    # see CamtLine): keyed with its booked date and amount since bank refs are reused.
    assert (row["tenant_id"], row["source_id"], row["deleted"]) == (
        IBAN,
        "ref:R1:2026-02-03:-1999",
        False,
    )
    payload = json.loads(row["payload"])
    assert payload["amount"] == -1999 and isinstance(payload["amount"], int)
    assert payload["source_id"] == "R1" and payload["alike_in_file"] == 1
    assert (payload["booked_date"], payload["value_date"]) == ("2026-02-03", "2026-02-02")
    assert (payload["file_sha256"], payload["file_name"]) == ("a" * 64, "f.xml")
    assert frames.balances.get_column("source_id").to_list() == [
        "opening:2026-02-01:S-02",
        "closing:2026-02-28:S-02",
    ]
    closing = json.loads(frames.balances.item(1, "payload"))
    assert (closing["amount"], closing["balance_difference"]) == (8001, 0)


def test_to_bank_lines_decodes_payload() -> None:
    statement = Statement(
        IBAN,
        "EUR",
        [
            _line(3, -1999, source_id="R1", bank_transaction_code="PMNT/RCDT/ESCT"),
            _line(4, 500, "SALE", bank_transaction_code="NTRF", status="pending"),
        ],
    )
    lines = to_bank_lines({"lines": _frames([statement]).lines})
    assert lines.schema == SOURCE_LINE_SCHEMA
    assert lines.get_column("bank_account_id").to_list() == [IBAN, IBAN]
    assert lines.get_column("source").unique().to_list() == ["statement"]
    assert lines.get_column("amount").to_list() == [-1999, 500]
    assert lines.get_column("booked_date").to_list() == [dt.date(2026, 2, 3), dt.date(2026, 2, 4)]
    assert lines.get_column("bank_transaction_code").to_list() == ["PMNT-RCDT-ESCT", "NTRF"]
    assert lines.get_column("status").to_list() == ["booked", "pending"]
    assert to_bank_lines({}).schema == SOURCE_LINE_SCHEMA
    assert to_bank_lines({"lines": _frames([]).lines}).is_empty()


def test_to_bank_accounts_latest_closing_balance() -> None:
    feb = Statement(
        IBAN,
        "EUR",
        [_line(3, -1)],
        opening_balance=Balance(10, dt.date(2026, 2, 1)),
        closing_balance=Balance(9, dt.date(2026, 2, 28)),
    )
    jan = Statement(IBAN, "EUR", [], closing_balance=Balance(10, dt.date(2026, 1, 31)))
    card = Statement("XXXXXXXXXXXX1234", "EUR", [_line(5, -700)])  # no balance at all
    first, second = _frames([feb, card]), _frames([jan], sha="b" * 64)
    frames = {
        "lines": pl.concat([first.lines, second.lines]),
        "balances": pl.concat([second.balances, first.balances]),
    }
    accounts = to_bank_accounts(frames)
    assert accounts.schema == SOURCE_ACCOUNT_SCHEMA
    rows = {r["bank_account_id"]: r for r in accounts.iter_rows(named=True)}
    assert rows[IBAN]["iban"] == IBAN and rows[IBAN]["account_number"] is None
    assert (rows[IBAN]["reported_balance"], rows[IBAN]["reported_balance_date"]) == (
        9,
        dt.date(2026, 2, 28),
    )
    card_row = rows["XXXXXXXXXXXX1234"]
    assert card_row["iban"] is None and card_row["account_number"] == "XXXXXXXXXXXX1234"
    assert card_row["reported_balance"] is None and card_row["currency"] == "EUR"
    assert to_bank_accounts({}).schema == SOURCE_ACCOUNT_SCHEMA


# ------------------------------------------------- one copy per movement across files


def _upsert(*landed: pl.DataFrame) -> pl.DataFrame:
    """What the warehouse holds after landing ``landed`` in order: one row per key, the
    last file's payload (raw.statement_lines is upserted on company, tenant, source id)."""
    return pl.concat(landed).unique(
        ["company_id", "tenant_id", "source_id"], keep="last", maintain_order=True
    )


def _ofx(*lines: StatementLine, sha: str = "o" * 64) -> pl.DataFrame:
    return _frames([Statement(IBAN, "EUR", list(lines))], sha=sha, fmt="ofx").lines


def _csv(*lines: StatementLine, sha: str = "c" * 64) -> pl.DataFrame:
    plain = [
        dataclasses.replace(line, source_id=None, description="CSV " + line.description)
        for line in lines
    ]
    return _frames([Statement(IBAN, "EUR", plain)], sha=sha, fmt="csv:firstdirect_uk").lines


def _amounts(landed: pl.DataFrame) -> list[tuple[int, int]]:
    lines = to_bank_lines({"lines": landed}).sort("booked_date", "amount")
    return [(d.day, a) for d, a in lines.select("booked_date", "amount").iter_rows()]


def test_ofx_and_csv_of_one_month_give_one_copy() -> None:
    month = [
        _line(1, -300, source_id="F1"),
        _line(2, -250, source_id="F2"),
        _line(2, -250, source_id="F3"),  # two identical coffees on the 2nd
        _line(3, 10_000, "SALARY", source_id="F4"),
        _line(3, 10_000, "SALARY", source_id="F5", status="pending"),
    ]
    for landed in (_upsert(_ofx(*month), _csv(*month)), _upsert(_csv(*month), _ofx(*month))):
        assert landed.height == 10
        lines = to_bank_lines({"lines": landed})
        assert _amounts(landed) == [(1, -300), (2, -250), (2, -250), (3, 10_000), (3, 10_000)]
        # the copy with the bank's own id is kept, in landing order
        assert lines.get_column("source_id").to_list() == ["F1", "F2", "F3", "F4", "F5"]
        assert lines.get_column("status").to_list()[3:] == ["booked", "pending"]


def test_identical_lines_of_one_file_are_all_kept() -> None:
    coffees = [_line(2, -250), _line(2, -250), _line(2, -250, source_id="R")]
    for fmt in ("camt053", "mt940", "ofx"):
        landed = _frames([Statement(IBAN, "EUR", coffees)], fmt=fmt).lines
        assert _amounts(landed) == [(2, -250)] * 3, fmt


def test_overlapping_files_keep_shared_lines_once_and_the_rest() -> None:
    # OFX of 1-15 Feb and CSV of 10-28 Feb: the 10th-15th are in both.
    ofx = _ofx(
        _line(1, -100, source_id="F1"),
        _line(10, -250, source_id="F2"),
        _line(10, -250, source_id="F3"),
        _line(15, 700, source_id="F4"),
    )
    csv = _csv(_line(10, -250), _line(10, -250), _line(10, -250), _line(15, 700), _line(20, -5))
    expected = [(1, -100), (10, -250), (10, -250), (10, -250), (15, 700), (20, -5)]
    assert _amounts(_upsert(ofx, csv)) == expected  # the CSV has a third coffee
    assert _amounts(_upsert(csv, ofx)) == expected
    # an export of the same format without bank ids overlaps the same way
    bare = _frames([Statement(IBAN, "EUR", [_line(1, -100)])], sha="e" * 64, fmt="ofx").lines
    assert _amounts(_upsert(ofx, bare)) == [(1, -100), (10, -250), (10, -250), (15, 700)]
    # another account's identical line is another movement
    other = statement_frames(
        [Statement("DE02120300000000202051", "EUR", [_line(20, -5)])],
        company_id="cmp_1",
        file_name="x.csv",
        content_sha256="d" * 64,
        fmt="csv:firstdirect_uk",
        extracted_at=NOW,
        sync_id="s1",
    ).lines
    assert len(_amounts(_upsert(ofx, csv, other))) == 7


def test_same_scheme_overlaps_keep_every_line_whatever_the_order() -> None:
    # A noon download (one coffee so far) and the day's full export (two coffees): landing
    # shares coffee #1's key, so its row carries whichever file came last.
    noon = [_line(2, -250)]
    full = [_line(2, -250), _line(2, -250), _line(3, -100)]
    a = _frames([Statement(IBAN, "EUR", noon)], sha="a" * 64, fmt="mt940").lines
    b = _frames([Statement(IBAN, "EUR", full)], sha="b" * 64, fmt="mt940").lines
    for landed in (_upsert(a, b), _upsert(b, a)):
        assert landed.height == 3
        assert _amounts(landed) == [(2, -250), (2, -250), (3, -100)]
    # and with bank ids: distinct FITIDs of one format are distinct movements
    x, y = _line(2, -250, source_id="X"), _line(2, -250, source_id="Y")
    landed = _upsert(_ofx(x, y, sha="m" * 64), _ofx(x, sha="1" * 64), _ofx(y, sha="2" * 64))
    assert _amounts(landed) == [(2, -250), (2, -250)]


def test_rows_landed_before_alike_in_file_count_per_file() -> None:
    # Rows landed before the payload carried alike_in_file: the rows of each file count.
    def legacy(frame: pl.DataFrame) -> pl.DataFrame:
        def strip(text: str) -> str:
            payload = json.loads(text)
            del payload["alike_in_file"]
            return json.dumps(payload)

        return frame.with_columns(pl.col("payload").map_elements(strip, return_dtype=pl.String))

    month = [_line(2, -250, source_id="F1"), _line(2, -250, source_id="F2")]
    landed = legacy(_upsert(_ofx(*month), _csv(*month)))
    assert _amounts(landed) == [(2, -250), (2, -250)]
