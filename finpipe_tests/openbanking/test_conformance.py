"""Every OBIE example of the shared conformance corpus parses; the transactions, balances,
accounts and consent examples give the hand-checked canonical values (v4.0 names too)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from finpipe.connectors.openbanking import (
    parse_accounts,
    parse_balances,
    parse_consent,
    parse_transactions,
)


def load(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / "openbanking" / name).read_text())


def parse_any(name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The parser a file's name calls for (statements: the envelope only)."""
    if "consent" in name:
        return [parse_consent(body)]
    if "balances" in name:
        return parse_balances(body)
    if "transactions" in name:
        return parse_transactions(body)
    if "accounts" in name:
        return parse_accounts(body)
    if "statements" in name:
        return list(body["Data"]["Statement"])
    raise AssertionError(f"no parser for {name}")


def test_every_file_parses(conformance_dir: Path) -> None:
    files = sorted((conformance_dir / "openbanking").glob("*.json"))
    assert len(files) >= 20
    for path in files:
        body = json.loads(path.read_text())
        assert "Data" in body, path.name  # (a statements example has no Links/Meta)
        assert parse_any(path.name, body), path.name


def test_transactions(conformance_dir: Path) -> None:
    [one] = parse_transactions(
        load(conformance_dir, "obuk_v3_1_11_get_account_transactions_response_1.json")
    )
    assert one["bank_account_id"] == "22289" and one["source_id"] == "123"
    assert one["amount"] == 1000 and one["currency"] == "GBP"  # "10.00" Credit
    assert one["status"] == "booked"
    assert one["booked_date"] == dt.date(2017, 4, 5) and one["value_date"] == dt.date(2017, 4, 5)
    assert one["reference"] == "Ref 1" and one["description"] == "Cash from Aubrey"
    assert one["running_balance"] == 23000
    assert one["bank_transaction_code"] == "RCDT-DMCT"

    both = parse_transactions(
        load(conformance_dir, "obuk_v3_1_11_get_transactions_response_1.json")
    )
    debit = both[1]
    assert debit["amount"] == -10000  # "100.00" Debit: money out is negative
    assert debit["running_balance"] == -5736  # "57.36" Debit balance
    assert debit["reference"] == "Ref 124"
    assert debit["bank_transaction_code"] == "ICDT-AUTT"
    assert sum(line["amount"] for line in both) == -9000


@pytest.mark.parametrize(
    ("name", "amount", "kind"),
    [
        ("obuk_v3_1_11_get_account_balances_response_1.json", 30000, "InterimAvailable"),
        ("obuk_v3_1_11_get_account_balances_response_2.json", 80000, "InterimAvailable"),
        ("obuk_v3_1_11_get_wallet_balances_response_1.json", 32906, "ClosingAvailable"),
        ("obuk_v4_0_get_wallet_balances_response_1.json", 32906, "ClosingAvailable"),
    ],
)
def test_single_balance(conformance_dir: Path, name: str, amount: int, kind: str) -> None:
    [balance] = parse_balances(load(conformance_dir, name))
    assert (balance["amount"], balance["type"], balance["currency"]) == (amount, kind, "GBP")
    assert balance["bank_account_id"] == "22289"


def test_bulk_balances(conformance_dir: Path) -> None:
    first, second = parse_balances(
        load(conformance_dir, "obuk_v3_1_11_get_balances_response_1.json")
    )
    assert (first["amount"], first["type"]) == (123000, "InterimAvailable")
    assert (second["bank_account_id"], second["amount"], second["type"]) == (
        "31820",
        -5736,
        "InterimBooked",
    )
    assert second["at"] == dt.datetime(2017, 5, 2, 14, 22, 9, tzinfo=dt.UTC)


def test_accounts(conformance_dir: Path) -> None:
    bills, household = parse_accounts(
        load(conformance_dir, "obuk_v3_1_11_get_accounts_response_1.json")
    )
    assert bills["bank_account_id"] == "22289" and bills["account_name"] == "Bills"
    assert bills["account_type"] == "checking" and bills["currency"] == "GBP"
    assert bills["account_number"] == "10203345"  # sort code 802001 + account 10203345
    assert bills["iban"] is None
    assert household["account_number"] == "10203348"
    [basic, _] = parse_accounts(load(conformance_dir, "obuk_v3_1_11_get_accounts_response_3.json"))
    assert basic["account_number"] is None  # ReadAccountsBasic: no identification
    v4, _ = parse_accounts(load(conformance_dir, "obuk_v4_0_get_accounts_response_1.json"))
    assert v4["account_type"] == "checking"  # AccountTypeCode CACC
    assert v4["institution_name"] == "ServicerName"
    assert v4["account_number"] == "10203345"


def test_consents(conformance_dir: Path) -> None:
    created = parse_consent(
        load(conformance_dir, "obuk_v3_1_11_post_account_access_consents_response_1.json")
    )
    assert created["consent_id"] == "urn-alphabank-intent-88379"
    assert created["status"] == "AwaitingAuthorisation"
    assert created["expires"] == dt.datetime(2017, 8, 2, tzinfo=dt.UTC)
    authorised = parse_consent(
        load(conformance_dir, "obuk_v3_1_11_get_account_access_consents_response_2.json")
    )
    assert (
        authorised["status"] == "Authorised"
        and "ReadTransactionsDetail" in authorised["permissions"]
    )
    rejected = parse_consent(
        load(conformance_dir, "obuk_v4_0_get_account_access_consents_response_2.json")
    )
    assert rejected["status"] == "Rejected"  # v4.0 ISO code REJT
