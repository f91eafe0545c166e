"""QBO parsers against the real payloads of the conformance corpus, and their errors."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from finpipe.connectors import payloads
from finpipe.connectors.quickbooks import (
    QuickBooksFault,
    QuickBooksParseError,
    error_text,
    parse_entity,
    parse_response,
)
from finpipe.connectors.quickbooks.parse import fault_codes

# conformance file stem -> QBO entity name
STREAMS = {
    "accounts": "Account",
    "bill_payments": "BillPayment",
    "bills": "Bill",
    "credit_memos": "CreditMemo",
    "customers": "Customer",
    "deposits": "Deposit",
    "employees": "Employee",
    "estimates": "Estimate",
    "invoices": "Invoice",
    "items": "Item",
    "journal_entries": "JournalEntry",
    "payment_methods": "PaymentMethod",
    "payments": "Payment",
    "purchase_orders": "PurchaseOrder",
    "purchases": "Purchase",
    "refund_receipts": "RefundReceipt",
    "sales_receipts": "SalesReceipt",
    "tax_agencies": "TaxAgency",
    "tax_codes": "TaxCode",
    "tax_rates": "TaxRate",
    "terms": "Term",
    "time_activities": "TimeActivity",
}


def _qbo(conformance_dir: Path) -> Path:
    return conformance_dir / "quickbooks"


def _records(conformance_dir: Path, stem: str) -> list[dict]:
    path = _qbo(conformance_dir) / f"{stem}.jsonl"
    return [payloads.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.conformance
def test_every_jsonl_record_parses(conformance_dir: Path) -> None:
    files = sorted(_qbo(conformance_dir).glob("*.jsonl"))
    assert {f.stem for f in files} == set(STREAMS), "a new stream in the corpus needs a mapping"
    count = 0
    for path in files:
        for payload in _records(conformance_dir, path.stem):
            record = parse_entity(STREAMS[path.stem], payload)
            assert record.id == str(payload["Id"])
            assert record.updated_at is not None and record.updated_at.tzinfo is not None
            count += 1
    assert count == 85  # the README's record count


@pytest.mark.conformance
def test_every_http_body_parses_or_raises_a_fault(conformance_dir: Path) -> None:
    index = json.loads((_qbo(conformance_dir) / "http" / "_index.json").read_text())
    for entry in index:
        body = (_qbo(conformance_dir) / "http" / entry["file"]).read_bytes()
        is_error = entry["file"].startswith("error_")
        if is_error:
            with pytest.raises(QuickBooksFault):
                parse_response(body, status=entry["status"])
        else:
            response = parse_response(body, status=entry["status"])
            assert response.kind in ("query", "count", "cdc", "entity", "batch", "report")


@pytest.mark.conformance
def test_invoice_values(conformance_dir: Path) -> None:
    raw = _records(conformance_dir, "invoices")[0]
    invoice = parse_entity("Invoice", raw)
    assert isinstance(invoice.total, Decimal)
    assert invoice.total == Decimal(str(raw["TotalAmt"]))
    assert invoice.txn_date == dt.date.fromisoformat(raw["TxnDate"])
    assert invoice.party is not None and invoice.party.value == raw["CustomerRef"]["value"]
    assert invoice.party.type == "Customer"
    assert invoice.updated_at == dt.datetime.fromisoformat(raw["MetaData"]["LastUpdatedTime"])
    item_lines = [x for x in invoice.lines if x.detail_type == "SalesItemLineDetail"]
    subtotal = next(x for x in invoice.lines if x.detail_type == "SubTotalLineDetail")
    assert sum(x.amount for x in item_lines) == subtotal.amount  # type: ignore[misc]
    assert invoice.tax_total is not None
    assert subtotal.amount + invoice.tax_total == invoice.total  # type: ignore[operator]


@pytest.mark.conformance
def test_journal_entry_balances(conformance_dir: Path) -> None:
    for raw in _records(conformance_dir, "journal_entries"):
        entry = parse_entity("JournalEntry", raw)
        assert sum(x.signed_amount for x in entry.lines) == 0  # type: ignore[misc]
        assert {x.posting_type for x in entry.lines} == {"Debit", "Credit"}
        assert all(x.account is not None for x in entry.lines)


@pytest.mark.conformance
def test_payment_links_invoices_and_bill_payment_account(conformance_dir: Path) -> None:
    payment = parse_entity("Payment", _records(conformance_dir, "payments")[0])
    assert payment.lines[0].linked[0].txn_type == "Invoice"
    assert payment.unapplied == 0
    for raw in _records(conformance_dir, "bill_payments"):
        bill_payment = parse_entity("BillPayment", raw)
        assert bill_payment.payment_type in ("Check", "CreditCard")
        assert bill_payment.account is not None  # CheckPayment.BankAccountRef / CCAccountRef


@pytest.mark.conformance
def test_account_and_item_fields(conformance_dir: Path) -> None:
    accounts = [parse_entity("Account", r) for r in _records(conformance_dir, "accounts")]
    assert {a.classification for a in accounts} <= {
        "Asset",
        "Liability",
        "Equity",
        "Revenue",
        "Expense",
    }
    items = {
        i.name: i for i in (parse_entity("Item", r) for r in _records(conformance_dir, "items"))
    }
    sprinkler = items["Sprinkler Heads"]
    assert sprinkler.item_type == "Inventory"
    assert sprinkler.purchase_cost == Decimal("0.75")
    assert sprinkler.income_account is not None and sprinkler.income_account.value == "79"


@pytest.mark.conformance
def test_http_envelopes(conformance_dir: Path) -> None:
    http = _qbo(conformance_dir) / "http"
    count = parse_response((http / "query_customer_count.json").read_bytes())
    assert count.kind == "count" and count.count == 41
    page = parse_response((http / "query_vendor_page2_max5.json").read_bytes())
    assert page.start_position == 6 and page.max_results == 5 and len(page.records) == 5
    assert page.time is not None and page.time.utcoffset() == dt.timedelta(hours=-7)
    cdc = parse_response((http / "cdc_estimate.json").read_bytes())
    assert cdc.kind == "cdc" and len(cdc.by_entity["Estimate"]) == 4
    deleted = parse_response((http / "delete_invoice.json").read_bytes())
    assert deleted.records[0].deleted and deleted.records[0].id == "266"
    voided = parse_response((http / "void_invoice.json").read_bytes())
    assert voided.records[0].voided and voided.records[0].total == 0
    batch = parse_response((http / "batch.json").read_bytes())
    assert [item.bid for item in batch.batch] == ["bid1", "bid2", "bid3", "bid4"]
    assert batch.batch[2].fault is not None and batch.batch[2].fault.codes == ("5010",)
    assert len(batch.batch[3].records) == 2
    report = parse_response((http / "report_general_ledger.json").read_bytes())
    assert report.report is not None and report.report.name == "GeneralLedger"
    assert report.report.columns[0] == "Date"
    assert any(r.kind == "header" and r.cells[0] == "Checking" for r in report.report.rows)


@pytest.mark.conformance
def test_error_envelopes(conformance_dir: Path) -> None:
    http = _qbo(conformance_dir) / "http"
    with pytest.raises(QuickBooksFault) as stale:
        parse_response((http / "error_400_invalid_id.json").read_bytes(), entity="Customer")
    assert stale.value.codes == ("2030",) and stale.value.fields == ("Id",)
    assert "Customer" in str(stale.value) and "field Id" in str(stale.value)
    body_401 = (http / "error_401_token_expired.json").read_bytes()
    with pytest.raises(QuickBooksFault) as expired:
        parse_response(body_401)
    assert expired.value.codes == ("3200",) and expired.value.status == 401
    assert "AB01601390262" not in str(expired.value), "the token must never be echoed"
    with pytest.raises(QuickBooksFault) as business:
        parse_response((http / "error_200_upload_business_validation.json").read_bytes())
    assert business.value.codes == ("6000",) and business.value.entity == "Attachable"


@pytest.mark.conformance
def test_error_text_for_provider_errors(conformance_dir: Path) -> None:
    http = _qbo(conformance_dir) / "http"
    response = requests.Response()
    response.status_code = 400
    response._content = (http / "error_400_query_validation.json").read_bytes()
    text = error_text(response)
    assert text.startswith("4001 Invalid query: QueryValidationError: invalid context")
    assert fault_codes(text) == ("4001",)
    response._content = (http / "error_401_token_expired.json").read_bytes()
    assert "<redacted>" in error_text(response)
    response._content = b"<html>Bad gateway</html>"
    assert error_text(response) == "<html>Bad gateway</html>"


def test_bad_values_name_the_record_and_field() -> None:
    payload = {
        "Id": "7",
        "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00-08:00"},
        "Line": [{"Amount": "12,50", "DetailType": "SalesItemLineDetail"}],
    }
    with pytest.raises(QuickBooksParseError) as bad_amount:
        parse_entity("Invoice", payload)
    assert bad_amount.value.field == "Line[0].Amount" and bad_amount.value.record_id == "7"
    assert "Invoice 7" in str(bad_amount.value)
    naive = {"Id": "8", "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00"}}
    with pytest.raises(QuickBooksParseError, match=r"MetaData\.LastUpdatedTime"):
        parse_entity("Bill", naive)
    with pytest.raises(QuickBooksParseError, match="TxnDate"):
        parse_entity("Bill", {"Id": "9", "TxnDate": "31/12/2026"})
    # a lenient page keeps the good records and names the bad one
    body = {"QueryResponse": {"Bill": [{"Id": "1"}, {"Id": "2", "TotalAmt": True}]}}
    page = parse_response(body, strict=False)
    assert [r.id for r in page.records] == ["1"]
    assert page.rejected[0].record_id == "2" and page.rejected[0].error.field == "TotalAmt"
    assert page.returned == 2


def test_amounts_stay_exact() -> None:
    body = '{"QueryResponse":{"Invoice":[{"Id":"1","TotalAmt":0.10,"Balance":1234567.89}]}}'
    invoice = parse_response(body).records[0]
    assert invoice.total == Decimal("0.10") and invoice.balance == Decimal("1234567.89")
    # a payload that went through the stdlib json module (floats) is read without noise
    floats = json.loads('{"Id":"2","TotalAmt":0.1}')
    assert parse_entity("Invoice", floats).total == Decimal("0.1")
