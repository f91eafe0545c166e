"""Xero parsers: dates, amounts, endpoint bodies, error text; proven on the conformance
corpus (XeroAPI OpenAPI examples in the native wire shape, Airbyte post-transform records)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError
from finpipe.connectors.xero import (
    XeroParseError,
    error_text,
    parse_amount,
    parse_date,
    parse_endpoint,
)

UTC = dt.UTC

AIRBYTE_STREAMS = {
    "accounts": "Accounts",
    "bank_transactions": "BankTransactions",
    "branding_themes": "BrandingThemes",
    "contact_groups": "ContactGroups",
    "contacts": "Contacts",
    "credit_notes": "CreditNotes",
    "currencies": "Currencies",
    "invoices": "Invoices",
    "items": "Items",
    "organisations": "Organisation",
    "payments": "Payments",
    "purchase_orders": "PurchaseOrders",
    "tax_rates": "TaxRates",
    "users": "Users",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1539993600000+0000)/", dt.datetime(2018, 10, 20, tzinfo=UTC)),
        ("/Date(1552326816230)/", dt.datetime(2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC)),
        ("/Date(1541176290160+1300)/", dt.datetime(2018, 11, 2, 16, 31, 30, 160000, tzinfo=UTC)),
        ("2021-08-31T12:09:02+00:00", dt.datetime(2021, 8, 31, 12, 9, 2, tzinfo=UTC)),
        ("2018-11-02T16:31:30Z", dt.datetime(2018, 11, 2, 16, 31, 30, tzinfo=UTC)),
        ("2018-10-20T00:00:00", dt.datetime(2018, 10, 20, tzinfo=UTC)),  # DateString
        ("2025-10-19T07:47:38.497", dt.datetime(2025, 10, 19, 7, 47, 38, 497000, tzinfo=UTC)),
        ("2019-12-07T18:46:19.5165400", dt.datetime(2019, 12, 7, 18, 46, 19, 516540, tzinfo=UTC)),
        ("2021-08-31T10:00:00+02:00", dt.datetime(2021, 8, 31, 8, 0, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_parse_date_forms(text: str | None, expected: dt.datetime | None) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("bad", ["24 April 2019", "/Date(abc)/", "2021-13-01T00:00:00"])
def test_parse_date_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Xero date"):
        parse_date(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.00"), "0.00"),
        (Decimal("0.0"), "0.0"),
        (46, "46"),
        (34.15, "34.15"),  # a float from a plain json.loads: its digits, not its binary
        ("50.00", "50.00"),
        (Decimal("1.000000"), "1.000000"),
    ],
)
def test_parse_amount_is_exact(value: object, expected: str) -> None:
    parsed = parse_amount(value)
    assert isinstance(parsed, Decimal) and str(parsed) == expected


@pytest.mark.parametrize("bad", [True, "12,50", None, "NaN", [1]])
def test_parse_amount_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(bad)


def test_bad_records_name_endpoint_record_and_field() -> None:
    body = {
        "Invoices": [
            {"InvoiceID": "a1", "Total": "12.00", "Date": "/Date(1539993600000+0000)/"},
            {"InvoiceID": "b2", "Total": "twelve"},
        ]
    }
    with pytest.raises(XeroParseError, match="xero Invoices record b2 field Total") as raised:
        parse_endpoint("Invoices", body)
    assert isinstance(raised.value, ConnectorError)
    assert (raised.value.endpoint, raised.value.record_id, raised.value.field) == (
        "Invoices",
        "b2",
        "Total",
    )
    with pytest.raises(XeroParseError, match="record c3 field DueDate"):
        parse_endpoint("Invoices", [{"InvoiceID": "c3", "DueDate": "soon"}])
    with pytest.raises(XeroParseError, match="field InvoiceID: missing"):
        parse_endpoint("Invoices", {"Invoices": [{"Total": 1}]})
    with pytest.raises(XeroParseError, match="field Invoices"):
        parse_endpoint("Invoices", {"Contacts": []})
    with pytest.raises(XeroParseError, match="JournalNumber"):
        parse_endpoint("Journals", [{"JournalID": "j", "JournalNumber": "7"}])


def _response(
    status: int, body: bytes, content_type: str = "application/json"
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = content_type
    return response


def test_error_text_for_each_xero_error_shape() -> None:
    validation = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": "Account code '999' is not valid"}]}],
    }
    assert error_text(_response(400, json.dumps(validation).encode())) == (
        "ValidationException: Account code '999' is not valid"
    )
    expired = {
        "Type": None,
        "Title": "Unauthorized",
        "Status": 401,
        "Detail": "TokenExpired: token expired at 04/09/2023 05:16:59",
    }
    assert error_text(_response(401, json.dumps(expired).encode())) == (
        "Unauthorized: TokenExpired: token expired at 04/09/2023 05:16:59"
    )
    not_found = b"The resource you're looking for cannot be found"
    assert error_text(_response(404, not_found, "text/plain")) == not_found.decode()
    assert "empty body" in error_text(_response(503, b""))


# ------------------------------------------------------------------ conformance corpus


def _examples(conformance_dir: Path) -> list[Path]:
    files = sorted((conformance_dir / "xero" / "openapi_examples").glob("*.json"))
    assert files, "the conformance corpus has no xero/openapi_examples"
    return files


@pytest.mark.conformance
def test_every_openapi_example_parses(conformance_dir: Path) -> None:
    for path in _examples(conformance_dir):
        endpoint = path.name.split(".")[0].split("_")[0]
        status = path.name.split(".")[-2]
        body = payloads.loads(path.read_bytes())
        if status == "400":
            # Error examples: the parser refuses them with Xero's own words, and error_text
            # extracts the same words for ProviderError.
            with pytest.raises(XeroParseError, match="Xero error"):
                parse_endpoint(endpoint, body)
            text = error_text(_response(400, path.read_bytes()))
            assert text.startswith("ValidationException: ") and len(text) > 25, path.name
            continue
        records = parse_endpoint(endpoint, body)
        assert records, path.name
        assert all(r.source_id for r in records), path.name


@pytest.mark.conformance
def test_every_airbyte_record_parses(conformance_dir: Path) -> None:
    files = sorted((conformance_dir / "xero" / "airbyte").glob("*.jsonl"))
    assert {f.stem for f in files} <= set(AIRBYTE_STREAMS)
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            records = parse_endpoint(AIRBYTE_STREAMS[path.stem], payloads.loads(line))
            assert len(records) == 1, f"{path.name}:{number}"


@pytest.mark.conformance
def test_hand_checked_openapi_records(conformance_dir: Path) -> None:
    base = conformance_dir / "xero" / "openapi_examples"

    def read(name: str):
        endpoint = name.split(".")[0].split("_")[0]
        return parse_endpoint(endpoint, payloads.loads((base / name).read_bytes()))

    invoices = {r.values["InvoiceNumber"]: r for r in read("Invoices.GET.200.json")}
    paid = invoices["INV-0002"]
    assert paid.source_id == "046d8a6d-1ae1-4b4d-9340-5601bdf41b87"
    assert (paid.status, paid.deleted) == ("PAID", False)
    assert paid.values["Total"] == Decimal("46.00") and str(paid.values["TotalTax"]) == "6.00"
    assert paid.values["Date"] == dt.datetime(2018, 10, 20, tzinfo=UTC)
    assert paid.values["DateString"] == paid.values["Date"]
    assert paid.updated_at == dt.datetime(2018, 11, 2, 16, 36, 32, 690000, tzinfo=UTC)
    assert paid.values["Payments"][0]["Amount"] == Decimal("46.00")
    assert (paid.currency_code, str(paid.currency_rate)) == ("NZD", "1.000000")
    voided = invoices["INV-0001"]
    assert (voided.status, voided.deleted) == ("VOIDED", False)  # voided is not deleted

    journals = read("Journals.GET.200.json")
    assert [j.journal_number for j in journals] == [1, 9, 14, 30]
    bill = journals[-1].values["JournalLines"]
    assert [line["NetAmount"] for line in bill] == [
        Decimal("-28750.00"),
        Decimal("25000.00"),
        Decimal("3750.00"),
    ]
    assert sum(line["NetAmount"] for line in bill) == 0

    payments = read("Payments.GET.200.json")
    batch = payments[0].values["BatchPayment"]
    assert batch["TotalAmount"] == Decimal("50.00")  # a string on the wire
    assert payments[1].values["PaymentType"] == "ARCREDITPAYMENT"

    (organisation,) = read("Organisation.GET.200.json")  # envelope key "Organisations"
    assert organisation.source_id == "b2c885a9-4bb9-4a00-9b6e-6c2bf60b1a2b"
    assert organisation.values["CreatedDateUTC"] == dt.datetime(2016, 2, 18, 20, 29, 53, tzinfo=UTC)
    assert [c.source_id for c in read("Currencies.GET.200.json")] == ["NZD"]
    transfers = read("BankTransfers.GET.200.json")
    assert transfers[0].values["Amount"] == Decimal("20.00")
    assert transfers[0].values["CreatedDateUTCString"] == dt.datetime(
        2016, 10, 17, 20, 46, 1, tzinfo=UTC
    )
    # Report dates are free text and stay text.
    (report,) = read("Reports_BankSummary.GET.200.json")
    assert report.values["ReportDate"] == "23 April 2019"


@pytest.mark.conformance
def test_hand_checked_airbyte_records(conformance_dir: Path) -> None:
    base = conformance_dir / "xero" / "airbyte"

    def read(stream: str):
        return [
            record
            for line in (base / f"{stream}.jsonl").read_text().splitlines()
            for record in parse_endpoint(AIRBYTE_STREAMS[stream], payloads.loads(line))
        ]

    payments = {p.source_id: p for p in read("payments")}
    payment = payments["498cc360-e1ce-4056-83a5-ea29f8a7a595"]
    assert payment.values["BankAmount"] == Decimal("34.15")
    assert payment.values["Amount"] == Decimal("34.15")
    assert payment.updated_at == dt.datetime(2021, 8, 31, 12, 4, 21, tzinfo=UTC)
    invoice = read("invoices")[0]
    assert invoice.values["Total"] == Decimal("120.0") and invoice.status == "DRAFT"
    assert invoice.values["LineItems"][0]["Quantity"] == Decimal("10.0")
    assert invoice.values["DueDate"] == dt.datetime(2021, 8, 7, tzinfo=UTC)
    account = read("accounts")[0]
    assert account.updated_at == dt.datetime(2021, 8, 31, 12, 9, 2, tzinfo=UTC)
    # The same amount parsed from a plain json.loads (floats) is the same Decimal.
    line = (base / "payments.jsonl").read_text().splitlines()[1]
    (plain,) = parse_endpoint("Payments", json.loads(line))
    assert plain.values["BankAmount"] == Decimal("34.15")
