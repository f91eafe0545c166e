"""build_bank_ledger + write_bank_ledger over a real (tmp DuckDB) warehouse: a malformed
transaction of any bank provider is quarantined with a reason naming the record and the
field, and every good line still reaches the canonical table."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from finpipe.connectors import payloads
from finpipe.ledger.bank_build import bank_sources, build_bank_ledger, write_bank_ledger
from finpipe.ledger.bank_sources import REJECT_SCHEMA
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import BANK_LINES
from finpipe.warehouse.tables.ops import QUARANTINE
from finpipe.warehouse.tables.raw import BANK_SOURCE_TABLES

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 1, 9, tzinfo=UTC)
COMPANY = "cmp_1"


def _openbanking(tid: str, amount: str) -> str:
    return payloads.dumps(
        {
            "AccountId": "ob-acc",
            "TransactionId": tid,
            "Amount": {"Amount": amount, "Currency": "GBP"},
            "CreditDebitIndicator": "Debit",
            "Status": "Booked",
            "BookingDateTime": "2026-10-01T00:00:00+00:00",
            "TransactionInformation": "Card payment",
        }
    )


def _berlingroup(tid: str, booking_date: str) -> str:
    return payloads.dumps(
        {
            "transactionId": tid,
            "bookingDate": booking_date,
            "transactionAmount": {"currency": "EUR", "amount": "-12.30"},
            "creditorName": "Shop",
        }
    )


def _aggregator(tid: str, amount: str) -> str:
    body = {
        "account_id": "agg-acc",
        "transaction_id": tid,
        "amount": "AMOUNT",
        "iso_currency_code": "USD",
        "date": "2026-10-02",
        "name": "POS CHEVRON",
        "pending": False,
    }
    # As Plaid sends it: the amount a JSON number with its own digits.
    return json.dumps(body).replace('"AMOUNT"', amount)


# provider -> (tenant, [(source id, payload)]: the good one first, then the malformed one)
LANDED: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # 10.001 GBP: more decimals than pence.
    "openbanking": (
        "ob-acc",
        [("ob-1", _openbanking("ob-1", "10.00")), ("ob-2", _openbanking("ob-2", "10.001"))],
    ),
    "berlingroup": (
        "bg-acc",
        # A bookingDate that is not YYYY-MM-DD.
        [("bg-1", _berlingroup("bg-1", "2026-10-01")), ("bg-2", _berlingroup("bg-2", "01/10"))],
    ),
    # An amount that is a string, not a number.
    "aggregator": (
        "agg-acc",
        [("agg-1", _aggregator("agg-1", "5.25")), ("agg-2", _aggregator("agg-2", '"abc"'))],
    ),
}
# What each malformed record's quarantine row must name.
BAD_FIELD = {"openbanking": "Amount.Amount", "berlingroup": "bookingDate", "aggregator": "amount"}


def _land(warehouse: Warehouse, provider: str) -> None:
    tenant, rows = LANDED[provider]
    table = BANK_SOURCE_TABLES[provider]["transactions"]
    frame = pl.DataFrame(
        {
            "company_id": [COMPANY] * len(rows),
            "tenant_id": [tenant] * len(rows),
            "source_id": [sid for sid, _ in rows],
            "source_updated_at": [None] * len(rows),
            "payload": [payload for _, payload in rows],
            "deleted": [False] * len(rows),
            "extracted_at": [NOW] * len(rows),
            "sync_id": ["s1"] * len(rows),
        },
        schema=table.polars_schema(),
    )
    warehouse.upsert(table, frame)


@pytest.fixture
def landed(duck: Warehouse) -> Warehouse:
    for provider in LANDED:
        _land(duck, provider)
    return duck


def test_bad_records_are_quarantined_and_the_good_ones_kept(landed: Warehouse) -> None:
    ledger = build_bank_ledger(landed, COMPANY)
    assert ledger.quarantined == 3
    assert ledger.summary()["quarantined"] == 3
    write_bank_ledger(landed, COMPANY, ledger, now=NOW)

    lines = landed.read(BANK_LINES, company_id=COMPANY)
    assert sorted(lines["source_id"].to_list()) == ["agg-1", "bg-1", "ob-1"]
    by_id = {row["source_id"]: row for row in lines.iter_rows(named=True)}
    assert by_id["ob-1"]["amount"] == -1000
    assert by_id["bg-1"]["amount"] == -1230
    assert by_id["agg-1"]["amount"] == -525

    quarantine = landed.read(QUARANTINE, company_id=COMPANY)
    assert quarantine.height == 3
    rows = {row["source"]: row for row in quarantine.iter_rows(named=True)}
    assert set(rows) == {f"{p}/transactions" for p in LANDED}
    for provider, (tenant, landed_rows) in LANDED.items():
        bad_id, bad_payload = landed_rows[1]
        row = rows[f"{provider}/transactions"]
        assert row["record_id"] == f"{tenant}:{bad_id}"
        assert row["field"] == BAD_FIELD[provider]
        # The reason names the record (source id and account) and the field.
        assert bad_id in row["reason"] and tenant in row["reason"]
        assert BAD_FIELD[provider] in row["reason"]
        assert json.loads(row["payload"]) == json.loads(bad_payload)
        assert row["quarantined_at"] == NOW


def test_a_rerun_replaces_its_quarantine_rows(landed: Warehouse) -> None:
    for _ in range(2):
        write_bank_ledger(landed, COMPANY, build_bank_ledger(landed, COMPANY), now=NOW)
    assert landed.count(QUARANTINE, COMPANY) == 3
    assert landed.count(BANK_LINES, COMPANY) == 3


def test_rejects_follow_the_contract_and_statements_reject_nothing(landed: Warehouse) -> None:
    for source in bank_sources():
        frames = {
            entity: landed.read(table, company_id=COMPANY)
            for entity, table in source.tables.items()
        }
        lines, rejects = source.read_lines(frames)
        assert rejects.schema == REJECT_SCHEMA
        if source.name == "statement":
            assert rejects.is_empty()
            continue
        # What the parse skipped is exactly what it reports.
        tenant, rows = LANDED[source.name]
        assert lines["source_id"].to_list() == [rows[0][0]]
        assert rejects.select("tenant_id", "source_id").rows() == [(tenant, rows[1][0])]


def test_no_rejects_means_no_quarantine_rows(duck: Warehouse) -> None:
    _land(duck, "berlingroup")
    duck.execute(
        "DELETE FROM raw.berlingroup_transactions WHERE source_id = %s",
        ["bg-2"],
    )
    ledger = build_bank_ledger(duck, COMPANY)
    write_bank_ledger(duck, COMPANY, ledger, now=NOW)
    assert ledger.quarantined == 0
    assert ledger.rejected.is_empty()
    assert duck.count(QUARANTINE, COMPANY) == 0
    assert duck.count(BANK_LINES, COMPANY) == 1
