"""NextGenPSD2 payloads -> canonical frames: amounts, counterparties, references, and every
AIS example of the Berlin Group specification in the shared conformance corpus."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finpipe.connectors import payloads
from finpipe.connectors.berlingroup import (
    AmountError,
    BerlinGroupParseError,
    format_amount,
    parse_lines,
    rejected_lines,
    to_bank_accounts,
    to_bank_lines,
    to_minor,
)
from finpipe.connectors.berlingroup.connect import sca_oauth_href
from finpipe.connectors.berlingroup.parse import report_entries, transaction_source_id
from finpipe.connectors.errors import ConnectorError
from finpipe.warehouse.tables.raw import BERLINGROUP_TABLES

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 1, 9, tzinfo=UTC)

# Every file of the corpus's berlingroup folder and what it is. A new file fails the
# inventory test until it is classified here (and parsed, when it is an AIS payload).
CORPUS: dict[str, str] = {
    "accountDetailsMulticurrencyAccount.json": "account",
    "accountDetailsRegularAccount.json": "account",
    "accountListExample1.json": "accounts",
    "accountListExample2.json": "accounts",
    "accountListExample3.json": "accounts",
    "balancesExample1_RegularAccount.json": "balances",
    "balancesExample2_MulticurrencyAcount.json": "balances",
    "balancesExample_CardAccount.json": "balances",
    "cardAccountDetailsExample.json": "account",
    "cardAccountListExample1.json": "accounts",
    "consentResponseExample1a_Redirect.json": "consent_created",
    "consentResponseExample3_Decoupled.json": "consent_created",
    "consentStatusResponseExample1.json": "consent_status",
    "consentsExample_AccountList.json": "consent_request",
    "consentsExample_DedicatedAccounts.json": "consent_request",
    "consentsInformationResponseExample.json": "consent",
    "transactionDetailsExample.json": "transaction_details",
    "transactionsExample1_RegularAccount_json.json": "transactions",
    "transactionsExample2_Download_json.json": "transactions",
    "transactionsExample3_MulticurrencyAccount_json.json": "transactions",
    # Confirmation of funds (PIIS), not account information: not read by finpipe.
    "confirmationOfFundsResponseExample.json": "not_ais",
}


def raw(entity: str, rows: list[tuple[str, str, Any]], deleted: bool = False) -> pl.DataFrame:
    """Landed rows (tenant, source id, payload) of ``raw.berlingroup_<entity>``."""
    table = BERLINGROUP_TABLES[entity]
    return pl.DataFrame(
        {
            "company_id": ["cmp_1"] * len(rows),
            "tenant_id": [r[0] for r in rows],
            "source_id": [r[1] for r in rows],
            "source_updated_at": [None] * len(rows),
            "payload": [payloads.dumps(r[2]) for r in rows],
            "deleted": [deleted] * len(rows),
            "extracted_at": [NOW] * len(rows),
            "sync_id": ["s"] * len(rows),
        },
        schema=table.polars_schema(),
    )


def transaction_frame(body: Any, account: str = "acc-1") -> pl.DataFrame:
    entries, _ = report_entries(body, account)
    return raw("transactions", [(account, sid, entry) for sid, entry in entries])


# ---------------------------------------------------------------------------- unit


def test_amounts_are_exact_minor_units() -> None:
    assert to_minor("-256.67", "EUR") == -25667
    assert to_minor("100", "USD") == 10000
    assert to_minor("0.5", "EUR") == 50
    assert to_minor("1500", "JPY") == 1500
    assert to_minor("1.234", "KWD") == 1234
    assert format_amount(-25667, "EUR") == "-256.67"
    assert format_amount(1500, "JPY") == "1500"
    for bad in ("1.234", "abc", "NaN", 1.5, None):
        with pytest.raises(AmountError):
            to_minor(bad, "EUR")  # type: ignore[arg-type]


def test_identical_entries_without_ids_stay_apart() -> None:
    """transactionId and entryReference are optional: two identical card payments (same
    day, amount, text) are two lines, keyed by their occurrence in the report."""
    card = {
        "bookingDate": "2026-10-05",
        "valueDate": "2026-10-05",
        "transactionAmount": {"amount": "-4.50", "currency": "EUR"},
        "remittanceInformationUnstructured": "CAFE CENTRAL",
    }
    other = {**card, "transactionAmount": {"amount": "-7.00", "currency": "EUR"}}
    body = {
        "transactions": {
            "booked": [dict(card), dict(other), dict(card)],
            "pending": [dict(card), dict(card)],
            "_links": {},
        }
    }
    entries, _ = report_entries(body, "acc-1")
    ids = [sid for sid, _ in entries]
    assert len(set(ids)) == 5
    digest = transaction_source_id(card, "booked")
    # The first keeps the bare payload digest (keys landed before stay valid).
    assert ids == [
        digest,
        transaction_source_id(other, "booked"),
        f"{digest}:1",
        f"pending:{digest}",
        f"pending:{digest}:1",
    ]
    # Deterministic: a re-read gives the same keys, also when the report is paged.
    assert [sid for sid, _ in report_entries(body, "acc-1")[0]] == ids
    occurrences: Counter[str] = Counter()
    paged = []
    for booked in ([card, other], [card]):
        page = {"transactions": {"booked": booked}}
        paged += [sid for sid, _ in report_entries(page, "acc-1", occurrences)[0]]
    assert paged == ids[:3]

    lines, rejected = parse_lines(transaction_frame(body))
    assert rejected == []
    booked = lines.filter(pl.col("status") == "booked")
    assert booked.height == 3 and booked["amount"].sum() == -450 - 700 - 450
    assert lines.filter(pl.col("status") == "pending").height == 2


def test_bad_records_are_named_and_the_batch_goes_on() -> None:
    good = {
        "transactionId": "t1",
        "bookingDate": "2026-10-01",
        "transactionAmount": {"currency": "EUR", "amount": "-12.30"},
    }
    bad_amount = {
        **good,
        "transactionId": "t2",
        "transactionAmount": {"currency": "EUR", "amount": "12.345"},
    }
    no_date = {"transactionId": "t3", "transactionAmount": {"currency": "EUR", "amount": "1.00"}}
    frame = raw("transactions", [("a", "t1", good), ("a", "t2", bad_amount), ("a", "t3", no_date)])
    lines, rejected = parse_lines(frame)
    assert lines["source_id"].to_list() == ["t1"] and lines["amount"].to_list() == [-1230]
    reasons = {r.source_id: r.reason for r in rejected}
    assert "transaction t2 of account a" in reasons["t2"]
    assert "transactionAmount.amount" in reasons["t2"]
    assert "bookingDate" in reasons["t3"]
    assert {r.source_id: r.field for r in rejected} == {
        "t2": "transactionAmount.amount",
        "t3": "bookingDate",
    }
    assert to_bank_lines({"transactions": frame}).height == 1
    # rejected_lines reports exactly what to_bank_lines skipped.
    rejects = rejected_lines({"transactions": frame})
    assert rejects.select("tenant_id", "source_id", "field").rows() == [
        ("a", "t2", "transactionAmount.amount"),
        ("a", "t3", "bookingDate"),
    ]
    assert rejects.get_column("reason").to_list() == [reasons["t2"], reasons["t3"]]


def test_a_payload_that_is_not_an_object_is_rejected() -> None:
    frame = raw("transactions", [("a", "t1", ["not", "an", "entry"])])
    assert to_bank_lines({"transactions": frame}).is_empty()
    [reject] = rejected_lines({"transactions": frame}).to_dicts()
    assert reject["field"] is None
    assert reject["reason"].startswith("berlingroup transaction t1 of account a: ")
    assert rejected_lines({}).is_empty()


def test_counterparty_reference_and_description_rules() -> None:
    entry = {
        "transactionId": "t1",
        "endToEndId": "NOTPROVIDED",
        "checkId": "000123",
        "bookingDate": "2026-10-01",
        "transactionAmount": {"currency": "EUR", "amount": "-50.00"},
        "creditorName": "Shop",
        "creditorAccount": {"bban": "12345678"},
        "debtorName": "Us",
        "remittanceInformationUnstructuredArray": ["INV 1", "INV 2"],
        "balanceAfterTransaction": {
            "balanceType": "interimBooked",
            "balanceAmount": {"currency": "EUR", "amount": "950.00"},
        },
    }
    line = to_bank_lines({"transactions": raw("transactions", [("a", "t1", entry)])}).row(
        0, named=True
    )
    assert line["counterparty_name"] == "Shop" and line["counterparty_account"] == "12345678"
    assert line["reference"] == "000123" and line["description"] == "INV 1 INV 2"
    assert line["running_balance"] == 95000 and line["status"] == "booked"


def test_download_only_report_and_other_sca_approaches_are_clear_errors() -> None:
    with pytest.raises(BerlinGroupParseError, match="download"):
        report_entries({"_links": {"download": {"href": "x"}}}, "acc-1")
    with pytest.raises(ConnectorError, match="scaRedirect"):
        sca_oauth_href({"consentId": "c1", "_links": {"scaRedirect": {"href": "x"}}})


# ---------------------------------------------------------------------- conformance


def load(folder: Path, name: str) -> Any:
    return payloads.loads((folder / name).read_bytes())


@pytest.fixture(scope="module")
def corpus(conformance_dir: Path) -> Path:
    folder = conformance_dir / "berlingroup"
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing from the conformance corpus")
    return folder


def test_every_file_is_classified_and_every_ais_payload_parses(corpus: Path) -> None:
    names = sorted(p.name for p in corpus.glob("*.json"))
    unknown = [n for n in names if n not in CORPUS]
    assert not unknown, f"classify these berlingroup corpus files in CORPUS: {unknown}"
    for name in names:
        body = load(corpus, name)
        kind = CORPUS[name]
        if kind == "transactions":
            if "transactions" in body:
                assert transaction_frame(body).height > 0
                assert to_bank_lines({"transactions": transaction_frame(body)}).height > 0
            else:
                with pytest.raises(BerlinGroupParseError, match="download"):
                    report_entries(body, "acc")
        elif kind == "transaction_details":
            entry = body["transactionsDetails"]
            frame = raw("transactions", [("acc", entry["transactionId"], entry)])
            assert parse_lines(frame)[1] == []
        elif kind in ("accounts", "account"):
            listed = body.get("accounts") or body.get("cardAccounts") or [body]
            frame = raw("accounts", [(str(i), str(i), a) for i, a in enumerate(listed)])
            assert to_bank_accounts({"accounts": frame}).height == len(listed)
        elif kind == "balances":
            frame = raw("balances", [("acc", str(i), b) for i, b in enumerate(body["balances"])])
            account = raw("accounts", [("acc", "acc", {"resourceId": "acc", "currency": "EUR"})])
            out = to_bank_accounts({"accounts": account, "balances": frame})
            assert out.item(0, "reported_balance") is not None
        elif kind == "consent_created":
            assert body["consentStatus"] == "received" and body["consentId"]
        elif kind == "consent_status":
            assert body["consentStatus"] in ("received", "valid", "rejected", "expired")
        elif kind in ("consent_request", "consent"):
            assert isinstance(body["access"], dict) and "validUntil" in body
        else:
            assert kind == "not_ais"


def test_transactions_example_1_hand_checked(corpus: Path) -> None:
    body = load(corpus, "transactionsExample1_RegularAccount_json.json")
    lines = to_bank_lines({"transactions": transaction_frame(body)})
    rows = {r["source_id"]: r for r in lines.iter_rows(named=True)}
    assert set(rows) == {"1234567", "1234568", "pending:1234569"}
    first = rows["1234567"]
    # Quirk of the example: a creditor on a positive amount; the creditor is still named.
    assert first["amount"] == 25667 and first["currency"] == "EUR"
    assert first["counterparty_name"] == "John Miles"
    assert first["counterparty_account"] == "DE67100100101306118605"
    assert first["booked_date"] == dt.date(2017, 10, 25)
    assert first["value_date"] == dt.date(2017, 10, 26)
    assert first["description"] == "Example 1" and first["reference"] is None
    second = rows["1234568"]
    assert second["amount"] == 34301 and second["counterparty_name"] == "Paul Simpson"
    assert second["counterparty_account"] == "NL76RABO0359400371"
    pending = rows["pending:1234569"]
    assert pending["status"] == "pending" and pending["amount"] == -10003
    assert pending["booked_date"] == dt.date(2017, 10, 26)  # no bookingDate: the valueDate
    assert pending["counterparty_name"] == "Claude Renault"
    booked = lines.filter(pl.col("status") == "booked")
    assert booked["amount"].sum() == 25667 + 34301


def test_transactions_example_3_multicurrency_hand_checked(corpus: Path) -> None:
    body = load(corpus, "transactionsExample3_MulticurrencyAccount_json.json")
    lines = to_bank_lines({"transactions": transaction_frame(body)})
    totals = dict(
        lines.filter(pl.col("status") == "booked")
        .group_by("currency")
        .agg(pl.col("amount").sum())
        .rows()
    )
    assert totals == {"EUR": -25667 + 34301, "USD": 10000}  # "100" USD has no decimals
    usd = lines.filter(pl.col("currency") == "USD").row(0, named=True)
    assert usd["counterparty_name"] == "Pepe Martin"
    assert usd["counterparty_account"] == "SE9412309876543211234567"
    out = lines.filter(pl.col("source_id") == "1234567").row(0, named=True)
    assert out["amount"] == -25667 and out["counterparty_name"] == "John Miles"
    assert lines.filter(pl.col("status") == "pending")["amount"].to_list() == [-10003]


def test_transaction_details_hand_checked(corpus: Path) -> None:
    entry = load(corpus, "transactionDetailsExample.json")["transactionsDetails"]
    line = to_bank_lines({"transactions": raw("transactions", [("acc", "1234567", entry)])}).row(
        0, named=True
    )
    assert line["amount"] == -25667 and line["bank_transaction_code"] == "PMNT-RDDT-ESDD"
    assert line["counterparty_name"] == "John Miles" and line["description"] == "Example 1"


def test_accounts_and_balances_hand_checked(corpus: Path) -> None:
    listed = load(corpus, "accountListExample1.json")["accounts"]
    accounts = raw("accounts", [(a["resourceId"], a["resourceId"], a) for a in listed])
    regular = load(corpus, "balancesExample1_RegularAccount.json")["balances"]
    balances = raw(
        "balances",
        [(listed[0]["resourceId"], f"{b['balanceType']}:EUR", b) for b in regular],
    )
    out = to_bank_accounts({"accounts": accounts, "balances": balances}).sort("currency")
    eur = out.row(0, named=True)
    assert eur["iban"] == "DE2310010010123456789" and eur["account_type"] == "checking"
    assert eur["account_name"] == "Main Account"
    assert eur["reported_balance"] == 50000  # closingBooked 500.00 before expected 900.00
    assert eur["reported_balance_date"] == dt.date(2017, 10, 25)
    usd = out.row(1, named=True)
    assert usd["currency"] == "USD" and usd["reported_balance"] is None

    multi = load(corpus, "accountDetailsMulticurrencyAccount.json")
    both = load(corpus, "balancesExample2_MulticurrencyAcount.json")["balances"]
    out = to_bank_accounts(
        {
            "accounts": raw("accounts", [("m", "m", multi)]),
            "balances": raw(
                "balances",
                [("m", f"{b['balanceType']}:{b['balanceAmount']['currency']}", b) for b in both],
            ),
        }
    ).row(0, named=True)
    assert out["currency"] == "XXX" and out["iban"] == "FR7612345987650123456789014"
    assert out["reported_balance"] == 50000

    card = load(corpus, "cardAccountDetailsExample.json")
    out = to_bank_accounts({"accounts": raw("accounts", [("c", "c", card)])}).row(0, named=True)
    assert out["account_type"] == "credit_card" and out["account_number"] == "525412******3241"
    assert out["reported_balance"] == 1435578  # embedded interimBooked 14355.78


def test_duplicate_resource_in_account_list_example_3(corpus: Path) -> None:
    listed = load(corpus, "accountListExample3.json")["accounts"]
    ids = [a["resourceId"] for a in listed]
    # The spec's example repeats a resourceId (XXX aggregation and EUR sub-account).
    assert len(ids) == 3 and len(set(ids)) == 2


def test_consent_examples_are_accepted_by_the_sandbox(corpus: Path, bg: Any) -> None:
    import requests

    for name in ("consentsExample_AccountList.json", "consentsExample_DedicatedAccounts.json"):
        body = json.loads((corpus / name).read_text())
        body["validUntil"] = "2099-01-01"  # the examples' 2017 dates lie in the past
        created = requests.post(
            f"{bg.base}/v1/consents",
            json=body,
            headers={"X-Request-ID": "r"},
            auth=(bg.credentials.client_id, bg.credentials.client_secret),
            timeout=10,
        )
        assert created.status_code == 201, (name, created.text)
        assert sca_oauth_href(created.json()).endswith("/.well-known/oauth-authorization-server")
