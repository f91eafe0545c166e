"""Landing rows from parsed statements, and the canonical bank frames from landed rows."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

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


def _frames(statements: list[Statement], sha: str = "a" * 64, name: str = "f.xml"):
    return statement_frames(
        statements,
        company_id="cmp_1",
        file_name=name,
        content_sha256=sha,
        fmt="camt053",
        extracted_at=NOW,
        sync_id="s1",
    )


def test_bank_ids_kept_and_repeats_disambiguated() -> None:
    statement = Statement(
        IBAN, "EUR", [_line(1, -1, source_id="X"), _line(2, -2, source_id="X"), _line(3, 5)]
    )
    (ids,) = line_source_ids([statement])
    assert ids[:2] == ["X", "X#2"]
    assert ids[2].startswith(HASH_PREFIX) and len(ids[2]) == len(HASH_PREFIX) + 64


def test_hash_keys_agree_across_overlapping_files() -> None:
    # Two identical coffees on the 2nd: told apart by occurrence, equal in both files.
    week1 = Statement(IBAN, "EUR", [_line(1, -300), _line(2, -250), _line(2, -250)])
    week2 = Statement(IBAN, "EUR", [_line(2, -250), _line(2, -250), _line(3, -100)])
    (a,) = line_source_ids([week1])
    (b,) = line_source_ids([week2])
    assert len(set(a)) == 3 and len(set(b)) == 3
    assert a[1:] == b[:2]
    # another account, same line: another key
    (c,) = line_source_ids([Statement("DE02120300000000202051", "EUR", [_line(1, -300)])])
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
    assert (row["tenant_id"], row["source_id"], row["deleted"]) == (IBAN, "R1", False)
    payload = json.loads(row["payload"])
    assert payload["amount"] == -1999 and isinstance(payload["amount"], int)
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
