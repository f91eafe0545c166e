"""Write primitives: Idempotency-Key replays, stale versions, Xero's validation errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from xero_helpers import landed

from finpipe.connectors.errors import ProviderError, StaleVersion
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.xero import (
    XeroClient,
    create_record,
    idempotency_key,
    sync_xero,
    update_record,
)
from finpipe.warehouse import Warehouse


def _setup(xero, duck: Warehouse):
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    tokens = xero.connect(duck, company, write=True)
    client = XeroClient(xero.base, tokens, policy=RetryPolicy(base_delay=0.01, max_delay=0.02))
    contact = xero.sandbox.records(tenant_id, "Contacts")[0]
    sales = next(a for a in xero.sandbox.records(tenant_id, "Accounts") if a["Type"] == "REVENUE")
    invoice = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact["ContactID"]},
        "Date": "2026-11-03",
        "DueDate": "2026-12-03",
        "CurrencyCode": "EUR",
        "CurrencyRate": Decimal("1.171234"),
        "LineItems": [
            {
                "Description": "Fit-out, phase 2",
                "Quantity": Decimal("3"),
                "UnitAmount": Decimal("1250.10"),
                "AccountCode": sales["Code"],
                "TaxType": "OUTPUT2",
                "TaxAmount": Decimal("750.06"),
            }
        ],
        "Status": "AUTHORISED",
    }
    return tenant_id, company, tokens, client, invoice


def test_idempotency_key_replay_creates_one_record(xero, duck: Warehouse) -> None:
    tenant_id, company, tokens, client, invoice = _setup(xero, duck)
    before = len(xero.sandbox.records(tenant_id, "Invoices"))
    first = create_record(client, tenant_id, "Invoices", invoice)
    again = create_record(client, tenant_id, "Invoices", invoice)  # a retry of the same change
    assert again.source_id == first.source_id and again.payload == first.payload
    assert len(xero.sandbox.records(tenant_id, "Invoices")) == before + 1
    assert first.values["Total"] == Decimal("4500.36")  # 3 x 1250.10 + 750.06, exactly
    assert (first.currency_code, str(first.currency_rate)) == ("EUR", "1.171234")
    # The key depends on the change: another invoice gets another key (and another record).
    other = dict(invoice, Reference="second")
    assert idempotency_key(tenant_id, "PUT", "Invoices", None, {"Invoices": [other]}) != (
        idempotency_key(tenant_id, "PUT", "Invoices", None, {"Invoices": [invoice]})
    )
    second = create_record(client, tenant_id, "Invoices", other)
    assert second.source_id != first.source_id
    # Reusing a key for a different request is refused, as Xero does.
    with pytest.raises(ProviderError, match="is used with a different request") as refused:
        create_record(
            client,
            tenant_id,
            "Invoices",
            dict(invoice, Reference="third"),
            key=idempotency_key(tenant_id, "PUT", "Invoices", None, {"Invoices": [invoice]}),
        )
    assert refused.value.status == 400
    # The created invoice lands once on the next sync.
    sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base, endpoints=["Invoices"])
    ids = [r.source_id for r in landed(duck, company)["Invoices"]]
    assert ids.count(first.source_id) == 1 and ids.count(second.source_id) == 1


def test_retried_write_after_a_server_error_is_not_duplicated(xero, duck: Warehouse) -> None:
    tenant_id, _, _, client, invoice = _setup(xero, duck)
    before = len(xero.sandbox.records(tenant_id, "Invoices"))
    xero.sandbox.faults.configure(error_rate=0.5, seed=3)
    created = {create_record(client, tenant_id, "Invoices", invoice).source_id for _ in range(4)}
    xero.sandbox.faults.configure(error_rate=0.0)
    assert len(created) == 1
    assert len(xero.sandbox.records(tenant_id, "Invoices")) == before + 1
    assert client.counters.server_errors > 0


def test_stale_update_raises_stale_version(xero, duck: Warehouse) -> None:
    tenant_id, _, _, client, invoice = _setup(xero, duck)
    invoice["Status"] = "DRAFT"
    draft = create_record(client, tenant_id, "Invoices", invoice)
    # Someone edits the invoice in Xero after we read it.
    xero.sandbox.update(tenant_id, "Invoices", draft.source_id, {"Reference": "theirs"})
    with pytest.raises(StaleVersion, match=f"Invoices {draft.source_id} was changed"):
        update_record(
            client,
            tenant_id,
            "Invoices",
            draft.source_id,
            {"Reference": "ours"},
            updated_at=draft.updated_at,
        )
    assert xero.sandbox.store(tenant_id).get("Invoices", draft.source_id)["Reference"] == "theirs"
    # Re-read and re-apply: it goes through, with a new version.
    current = xero.sandbox.store(tenant_id).get("Invoices", draft.source_id)
    updated = update_record(
        client,
        tenant_id,
        "Invoices",
        draft.source_id,
        {"Reference": "ours"},
        updated_at=current["UpdatedDateUTC"],
    )
    assert updated.values["Reference"] == "ours" and updated.updated_at > draft.updated_at


def test_contacts_and_bank_transactions_follow_xero_rules(xero, duck: Warehouse) -> None:
    tenant_id, _, _, client, _ = _setup(xero, duck)
    taken = xero.sandbox.records(tenant_id, "Contacts")[0]["Name"]
    with pytest.raises(ProviderError, match="already assigned to another contact") as refused:
        create_record(client, tenant_id, "Contacts", {"Name": taken})
    assert refused.value.status == 400
    contact = create_record(
        client,
        tenant_id,
        "Contacts",
        {"Name": "Harbour Lights Ltd", "EmailAddress": "ap@harbour.example"},
    )
    assert contact.values["ContactStatus"] == "ACTIVE"
    bank = next(a for a in xero.sandbox.records(tenant_id, "Accounts") if a["Type"] == "BANK")
    expense = next(
        a
        for a in xero.sandbox.records(tenant_id, "Accounts")
        if a["Type"] in ("EXPENSE", "OVERHEADS") and a["Status"] == "ACTIVE"
    )
    spend = create_record(
        client,
        tenant_id,
        "BankTransactions",
        {
            "Type": "SPEND",
            "Contact": {"ContactID": contact.source_id},
            "BankAccount": {"AccountID": bank["AccountID"]},
            "Date": "2026-11-04",
            "LineItems": [
                {
                    "Description": "Mooring fee",
                    "UnitAmount": "88.80",
                    "AccountCode": expense["Code"],
                }
            ],
        },
    )
    assert spend.values["Total"] == Decimal("88.80") and spend.status == "AUTHORISED"
    with pytest.raises(ProviderError, match="not a valid code"):
        create_record(
            client,
            tenant_id,
            "Invoices",
            {
                "Type": "ACCPAY",
                "Contact": {"ContactID": contact.source_id},
                "LineItems": [{"Description": "x", "UnitAmount": "1", "AccountCode": "nope"}],
            },
        )
