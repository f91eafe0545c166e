"""Open Banking transaction records that break the data model are skipped and reported
(record and field named), never raised: the rest of the batch goes on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.openbanking import parse_lines, rejected_lines, to_bank_lines
from finpipe.ledger.bank_sources import REJECT_SCHEMA, SOURCE_LINE_SCHEMA
from finpipe.warehouse.tables.raw import OPENBANKING_TABLES

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


def _tx(tid: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "AccountId": "acc-1",
        "TransactionId": tid,
        "Amount": {"Amount": "10.00", "Currency": "GBP"},
        "CreditDebitIndicator": "Credit",
        "Status": "Booked",
        "BookingDateTime": "2026-10-01T00:00:00+00:00",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def _landed(records: list[tuple[str, Any]]) -> pl.DataFrame:
    n = len(records)
    return pl.DataFrame(
        {
            "company_id": ["cmp_1"] * n,
            "tenant_id": ["acc-1"] * n,
            "source_id": [sid for sid, _ in records],
            "source_updated_at": [None] * n,
            "payload": [payloads.dumps(body) for _, body in records],
            "deleted": [False] * n,
            "extracted_at": [NOW] * n,
            "sync_id": ["s"] * n,
        },
        schema=OPENBANKING_TABLES["transactions"].polars_schema(),
    )


def test_bad_records_are_rejected_with_record_and_field() -> None:
    frame = _landed(
        [
            ("t0", _tx("t0")),
            ("t1", _tx("t1", Amount={"Amount": "10.001", "Currency": "GBP"})),
            ("t2", _tx("t2", Amount={"Amount": "10.00", "Currency": "POUNDS"})),
            ("t3", _tx("t3", CreditDebitIndicator="Both")),
            ("t4", _tx("t4", Status="Maybe")),
            ("t5", _tx("t5", BookingDateTime="yesterday")),
            ("t6", _tx("t6", Balance={"Amount": {"Amount": "x", "Currency": "GBP"}})),
            ("t7", _tx("t7", DebtorAccount=["not", "an", "object"])),
            ("t8", ["not", "an", "object"]),
            ("t9", _tx("t9", Amount=None)),
        ]
    )
    frames = {"transactions": frame}
    lines = to_bank_lines(frames)
    assert lines.schema == SOURCE_LINE_SCHEMA
    assert lines.get_column("source_id").to_list() == ["t0"]
    rejects = rejected_lines(frames)
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.get_column("source_id").to_list() == [f"t{i}" for i in range(1, 10)]
    assert rejects.get_column("field").to_list() == [
        "Amount.Amount",
        "Amount.Currency",
        "CreditDebitIndicator",
        "Status",
        "BookingDateTime",
        "Balance.Amount.Amount",
        None,  # a shape problem no single field is to blame for
        None,
        "Amount",
    ]
    for source_id, field, reason in rejects.select("source_id", "field", "reason").iter_rows():
        assert reason.startswith(f"openbanking transaction {source_id} of account acc-1: ")
        if field is not None:
            assert field in reason


def test_parse_lines_gives_both_from_one_parse() -> None:
    frames = {"transactions": _landed([("t0", _tx("t0")), ("t1", _tx("t1", Status=None))])}
    lines, rejected = parse_lines(frames)
    assert lines.get_column("source_id").to_list() == ["t0"]
    assert [(r.source_id, r.field) for r in rejected] == [("t1", "Status")]
    assert rejected_lines({}).is_empty() and to_bank_lines({}).is_empty()
