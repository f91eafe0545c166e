"""The Xero connector against the sandbox over HTTP: what lands equals the world, re-runs are
no-ops, changes land exactly once, killed syncs resume, paging survives edits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from xero_helpers import landed, landed_summary, snapshot, world_expectations

from finpipe.connectors.landing import CursorKey, read_cursor
from finpipe.connectors.xero import SyncKilled, sync_xero
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import SYNC_CURSORS
from finpipe.warehouse.tables.raw import XERO_ENDPOINTS, XERO_TABLES

UTC = dt.UTC


def test_full_sync_lands_the_world(xero, warehouse: Warehouse, xero_world) -> None:
    """Per endpoint and company: row counts and amount totals equal the world's."""
    for tenant_id in xero.sandbox.tenant_ids():
        company = xero.company_of(tenant_id)
        tokens = xero.connect(warehouse, company)
        report = sync_xero(warehouse, tokens, company, [tenant_id], api_base=xero.base)
        assert landed_summary(warehouse, company) == world_expectations(xero_world, company)
        assert report.totals()["inserted"] == sum(
            warehouse.count(table, company) for table in XERO_TABLES.values()
        )
        # One call per endpoint, plus the journals (100 per call).
        journals = xero.sandbox.store(tenant_id).count("Journals")
        assert report.calls == len(XERO_ENDPOINTS) - 1 + journals // 100 + 1


def test_landed_payloads_keep_xero_wire_shape(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    sync_xero(
        duck,
        xero.connect(duck, company),
        company,
        [tenant_id],
        api_base=xero.base,
        endpoints=["Invoices"],
    )
    row = duck.read(XERO_TABLES["Invoices"], company_id=company).row(0, named=True)
    text = row["payload"]
    assert '"Date":"/Date(' in text and "+0000)/" in text and '"DateString":"' in text
    record = landed(duck, company)["Invoices"][0]
    # Amounts kept with the digits Xero sent: two places, never a float.
    assert f'"Total":{record.values["Total"]}' in text
    assert record.values["Total"].as_tuple().exponent == -2
    assert row["source_updated_at"] == record.updated_at
    # Deleted documents land flagged; voided ones stay ordinary records with their status.
    records = landed(duck, company)["Invoices"]
    assert {r.status for r in records if r.deleted} <= {"DELETED"}
    assert all(not r.deleted for r in records if r.status == "VOIDED")


def test_second_run_makes_one_call_per_endpoint_and_writes_nothing(xero, duck: Warehouse):
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    tokens = xero.connect(duck, company)
    sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    before = snapshot(duck, company)
    cursors = duck.read(SYNC_CURSORS).sort("entity")
    xero.sandbox.advance(3600)
    report = sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    assert report.totals()["inserted"] == report.totals()["updated"] == 0
    assert all(entity.calls <= 1 for entity in report.entities), [
        (e.entity, e.calls) for e in report.entities
    ]
    assert report.calls == len(XERO_ENDPOINTS)
    assert snapshot(duck, company) == before
    assert duck.read(SYNC_CURSORS).sort("entity").equals(cursors)  # not even a cursor moved


def test_changes_land_exactly_once(xero, duck: Warehouse) -> None:
    sandbox = xero.sandbox
    tenant_id = sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    tokens = xero.connect(duck, company)
    sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    journals_before = len(sandbox.records(tenant_id, "Journals"))

    contacts = sandbox.records(tenant_id, "Contacts")
    contact = contacts[0]
    sales = next(a for a in sandbox.records(tenant_id, "Accounts") if a["Type"] == "REVENUE")
    line = {
        "Description": "Consulting",
        "Quantity": "2",
        "UnitAmount": "150.00",
        "AccountCode": sales["Code"],
        "TaxType": "NONE",
    }
    created = sandbox.create(
        tenant_id,
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact["ContactID"]},
            "Date": "2026-11-02",
            "DueDate": "2026-11-30",
            "LineItems": [line],
            "Status": "AUTHORISED",
        },
    )
    draft = sandbox.create(
        tenant_id,
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact["ContactID"]},
            "Date": "2026-11-02",
            "LineItems": [line],
        },
    )
    renamed = sandbox.update(
        tenant_id, "Contacts", contacts[1]["ContactID"], {"EmailAddress": "billing@example.org"}
    )
    unpaid = next(
        i
        for i in sandbox.records(tenant_id, "Invoices")
        if i["Status"] == "AUTHORISED" and i["AmountPaid"] == 0
    )
    voided = sandbox.void(tenant_id, "Invoices", unpaid["InvoiceID"])
    archived = sandbox.delete(tenant_id, "Contacts", contacts[2]["ContactID"])

    report = sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    by_entity = {e.entity: e for e in report.entities}
    assert (by_entity["Invoices"].inserted, by_entity["Invoices"].updated) == (2, 1)
    assert (by_entity["Contacts"].inserted, by_entity["Contacts"].updated) == (0, 2)
    assert by_entity["Contacts"].deleted == 1
    # Authorising posts a journal and voiding posts the reversal.
    assert (
        by_entity["Journals"].inserted
        == len(sandbox.records(tenant_id, "Journals")) - (journals_before)
        == 2
    )

    rows = landed(duck, company)
    invoices = {r.source_id: r for r in rows["Invoices"]}
    assert len(rows["Invoices"]) == len(invoices) == len(sandbox.records(tenant_id, "Invoices"))
    assert invoices[created["InvoiceID"]].values["Total"] == Decimal("300.00")
    assert invoices[draft["InvoiceID"]].status == "DRAFT"
    assert invoices[voided["InvoiceID"]].status == "VOIDED"
    assert not invoices[voided["InvoiceID"]].deleted
    contacts_landed = {r.source_id: r for r in rows["Contacts"]}
    assert contacts_landed[renamed["ContactID"]].values["EmailAddress"] == "billing@example.org"
    assert contacts_landed[archived["ContactID"]].deleted

    # Deleting the draft lands as a deletion, once.
    sandbox.delete(tenant_id, "Invoices", draft["InvoiceID"])
    report = sync_xero(duck, tokens, company, [tenant_id], api_base=xero.base)
    assert [(e.entity, e.updated, e.deleted) for e in report.entities if e.written] == [
        ("Invoices", 1, 1)
    ]
    rows = landed(duck, company)["Invoices"]
    assert [r.deleted for r in rows if r.source_id == draft["InvoiceID"]] == [True]


KILL_ENDPOINTS = ["Contacts", "Invoices", "Journals", "Organisation"]


@pytest.mark.parametrize(
    "kill_after",
    [pytest.param(1, marks=pytest.mark.slow), 5, pytest.param(12, marks=pytest.mark.slow)],
)
def test_killed_sync_resumes_to_the_same_result(xero, duck: Warehouse, tmp_path, kill_after):
    """Killed right after committing page k, then re-run: the same rows as a sync that was
    never interrupted (pages of 40; k = 1 is mid-Contacts, 5 mid-Invoices, 12 mid-Journals)."""
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    options = {"api_base": xero.base, "page_size": 40, "endpoints": KILL_ENDPOINTS}
    with Warehouse.open(f"duckdb:///{tmp_path / 'reference.duckdb'}") as reference:
        sync_xero(reference, xero.connect(reference, company), company, [tenant_id], **options)
        expected = snapshot(reference, company)
    tokens = xero.connect(duck, company)
    with pytest.raises(SyncKilled):
        sync_xero(duck, tokens, company, [tenant_id], kill_after_pages=kill_after, **options)
    partial = sum(len(rows) for rows in snapshot(duck, company).values())
    assert 0 < partial < sum(len(rows) for rows in expected.values())
    report = sync_xero(duck, tokens, company, [tenant_id], **options)
    assert snapshot(duck, company) == expected
    # The resumed run only fetched what the killed one had not committed (plus the
    # re-read boundary), and wrote nothing twice.
    assert report.totals()["inserted"] == sum(len(r) for r in expected.values()) - partial
    assert report.totals()["updated"] == 0


def test_records_edited_while_paging_are_not_skipped(xero, duck: Warehouse) -> None:
    """An invoice on an already-read page is edited before the next page is asked for: it
    moves to the end of Xero's order and every later record shifts one place back. Plain
    page numbers would skip one record; keyset paging does not."""
    sandbox = xero.sandbox
    tenant_id = sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    first_page = sorted(
        sandbox.records(tenant_id, "Invoices"),
        key=lambda r: (r["UpdatedDateUTC"], r["InvoiceID"]),
    )[:5]

    def edit() -> None:
        for record in first_page:
            sandbox.update(tenant_id, "Invoices", record["InvoiceID"], {"Reference": "edited"})

    sandbox.mutate_while_paging(tenant_id, "Invoices", edit, after_calls=1)
    sync_xero(
        duck,
        xero.connect(duck, company),
        company,
        [tenant_id],
        api_base=xero.base,
        endpoints=["Invoices"],
        page_size=25,
    )
    rows = {r.source_id: r for r in landed(duck, company)["Invoices"]}
    assert set(rows) == {r["InvoiceID"] for r in sandbox.records(tenant_id, "Invoices")}
    assert all(rows[r["InvoiceID"]].values["Reference"] == "edited" for r in first_page)


def test_exact_page_multiple_needs_one_more_empty_call(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    count = len(xero.sandbox.records(tenant_id, "CreditNotes"))
    report = sync_xero(
        duck,
        xero.connect(duck, company),
        company,
        [tenant_id],
        api_base=xero.base,
        endpoints=["CreditNotes"],
        page_size=count,
    )
    assert report.entities[0].inserted == count
    assert report.calls == 2  # a full page, then one call that returns only the boundary


def test_cursors_are_committed_per_endpoint(xero, duck: Warehouse) -> None:
    tenant_id = xero.sandbox.tenant_ids()[0]
    company = xero.company_of(tenant_id)
    sync_xero(duck, xero.connect(duck, company), company, [tenant_id], api_base=xero.base)
    journals = xero.sandbox.store(tenant_id).count("Journals")
    assert read_cursor(duck, CursorKey(company, "xero", tenant_id, "Journals")) == str(journals)
    newest = max(r["UpdatedDateUTC"] for r in xero.sandbox.records(tenant_id, "Invoices"))
    cursor = read_cursor(duck, CursorKey(company, "xero", tenant_id, "Invoices"))
    from finpipe.connectors.xero import parse_date

    assert dt.datetime.fromisoformat(cursor) == parse_date(newest)
