"""Landed aggregator payloads -> canonical bank source frames (no HTTP, no warehouse)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import polars as pl
import pytest

from finpipe.connectors.aggregator import (
    rejected_lines,
    to_bank_accounts,
    to_bank_lines,
)
from finpipe.ledger.bank_sources import REJECT_SCHEMA, SOURCE_ACCOUNT_SCHEMA, SOURCE_LINE_SCHEMA
from finpipe.warehouse.tables.raw import AGGREGATOR_TABLES

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 1, 9, tzinfo=UTC)


def _landed(entity: str, payloads_text: list[str], deleted: list[bool] | None = None):
    table = AGGREGATOR_TABLES[entity]
    n = len(payloads_text)
    return pl.DataFrame(
        {
            "company_id": ["cmp_1"] * n,
            "tenant_id": ["acc_1"] * n,
            "source_id": [f"txn_{i}" if entity == "transactions" else "acc_1" for i in range(n)],
            "source_updated_at": [None] * n,
            "payload": payloads_text,
            "deleted": deleted or [False] * n,
            "extracted_at": [NOW] * n,
            "sync_id": ["s"] * n,
        },
        schema=table.polars_schema(),
    )


def _txn(amount: str, **extra: Any) -> str:
    body = {
        "account_id": "acc_1",
        "amount": "AMOUNT",
        "iso_currency_code": extra.pop("currency", "USD"),
        "date": "2026-10-02",
        "authorized_date": "2026-09-30",
        "name": "POS 0261 CHEVRON",
        "merchant_name": "Chevron",
        "counterparties": [],
        "payment_meta": {"reference_number": None},
        "pending": False,
        "pending_transaction_id": None,
        "check_number": None,
        **extra,
    }
    # Written as Plaid sends it: the amount a JSON number with its own digits.
    return json.dumps(body).replace('"AMOUNT"', amount)


def test_sign_flips_and_amounts_stay_exact() -> None:
    frame = _landed(
        "transactions",
        [
            _txn("0.10"),
            _txn("-0.20", pending=True),
            _txn("1234567.89", pending_transaction_id="txn_1", check_number="2138"),
            _txn("12", currency="JPY", payment_meta={"reference_number": "REF-9"}),
        ],
        deleted=[False, True, False, False],
    )
    lines = to_bank_lines({"transactions": frame})
    assert lines.schema == SOURCE_LINE_SCHEMA
    assert lines.get_column("amount").to_list() == [-10, 20, -123456789, -12]
    assert lines.get_column("status").to_list() == ["booked", "pending", "booked", "booked"]
    assert lines.get_column("deleted").to_list() == [False, True, False, False]
    assert lines.get_column("pending_source_id").to_list() == [None, None, "txn_1", None]
    assert lines.get_column("reference").to_list() == [None, None, "2138", "REF-9"]
    assert lines.get_column("counterparty_name").to_list() == ["Chevron"] * 4
    assert lines.item(0, "booked_date") == dt.date(2026, 10, 2)
    assert lines.item(0, "value_date") == dt.date(2026, 9, 30)
    assert set(lines.get_column("source")) == {"aggregator"}


def test_counterparty_prefers_counterparties() -> None:
    payload = _txn("5.00", counterparties=[{"name": "BROOKS VENTURES", "type": "merchant"}])
    lines = to_bank_lines({"transactions": _landed("transactions", [payload])})
    assert lines.item(0, "counterparty_name") == "BROOKS VENTURES"


@pytest.mark.parametrize("amount", ["0.001", '"abc"', "true"])
def test_bad_amount_names_the_record_and_field(amount: str) -> None:
    frame = _landed("transactions", [_txn("1.00"), _txn(amount)])
    # The bad record is skipped, not raised: the rest of the batch goes on.
    lines = to_bank_lines({"transactions": frame})
    assert lines.get_column("source_id").to_list() == ["txn_0"]
    rejects = rejected_lines({"transactions": frame})
    assert rejects.schema == REJECT_SCHEMA
    [reject] = rejects.to_dicts()
    assert (reject["tenant_id"], reject["source_id"], reject["field"]) == (
        "acc_1",
        "txn_1",
        "amount",
    )
    assert re.search(r"transaction txn_1 of account acc_1: amount", reject["reason"])


def test_unreadable_records_are_rejected_with_the_field_to_blame() -> None:
    frame = _landed(
        "transactions",
        [
            _txn("1.00", iso_currency_code=None),
            _txn("1.00", date="02/10/2026"),
            _txn("1.00", date=None),
            _txn("1.00", payment_meta=["not", "an", "object"]),
            "[1, 2]",
            _txn("2.00"),
        ],
    )
    assert to_bank_lines({"transactions": frame}).get_column("source_id").to_list() == ["txn_5"]
    rejects = rejected_lines({"transactions": frame})
    assert rejects.get_column("source_id").to_list() == [f"txn_{i}" for i in range(5)]
    assert rejects.get_column("field").to_list() == [
        "iso_currency_code",
        "date",
        "date",
        None,
        None,
    ]
    for source_id, reason in rejects.select("source_id", "reason").iter_rows():
        assert f"aggregator transaction {source_id} of account acc_1: " in reason


def test_accounts_report_balances_in_the_canonical_sign() -> None:
    def account(kind: str, subtype: str, current: str) -> str:
        body = {
            "account_id": "acc_1",
            "balances": {"available": None, "current": "C", "iso_currency_code": "USD"},
            "mask": "0261",
            "name": "Business Card",
            "type": kind,
            "subtype": subtype,
        }
        return json.dumps(body).replace('"C"', current)

    frame = _landed(
        "accounts",
        [account("credit", "credit card", "5898.68"), account("depository", "checking", "10.5")],
    )
    accounts = to_bank_accounts({"accounts": frame})
    assert accounts.schema == SOURCE_ACCOUNT_SCHEMA
    assert accounts.get_column("reported_balance").to_list() == [-589868, 1050]
    assert accounts.get_column("account_type").to_list() == ["credit_card", "checking"]
    assert accounts.get_column("account_number").to_list() == ["****0261", "****0261"]
    assert accounts.item(0, "reported_balance_date") == NOW.date()


def test_accounts_carry_the_masked_number() -> None:
    # Plaid gives only the mask (last digits): the masked number lets the merge match the
    # account to a statement file of the same account (its number ends in those digits).
    def account(mask: object) -> str:
        body = {"account_id": "acc_1", "balances": {"current": None}, "mask": mask}
        return json.dumps(body)

    frame = _landed("accounts", [account("0261"), account(None), account(""), account(" 42 ")])
    accounts = to_bank_accounts({"accounts": frame})
    assert accounts.get_column("account_number").to_list() == ["****0261", None, None, "****42"]
    assert accounts.get_column("iban").to_list() == [None] * 4


def test_empty_frames_give_empty_canonical_frames() -> None:
    assert to_bank_lines({}).schema == SOURCE_LINE_SCHEMA
    assert to_bank_accounts({"accounts": _landed("accounts", [])}).is_empty()
