"""The QuickBooks connector end to end against the sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, NeedsReauth, StaleVersion
from finpipe.connectors.oauth import exchange_code
from finpipe.connectors.quickbooks import (
    PROVIDER,
    QuickBooksClient,
    SyncInterrupted,
    create,
    delete,
    sync_quickbooks,
    update,
    void,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, QUARANTINE, SYNC_CURSORS
from finpipe.warehouse.tables.raw import QUICKBOOKS_ENTITIES, QUICKBOOKS_TABLES

if TYPE_CHECKING:
    from conftest import QBO

FEW = ["Customer", "Invoice", "Payment", "Bill", "Preferences"]
BUSY = ["Vendor", "Bill", "Purchase", "Deposit", "Preferences"]


def _sync(qbo: QBO, warehouse: Warehouse, company: str, **kw):  # type: ignore[no-untyped-def]
    tokens = kw.pop("tokens", None) or qbo.connect(warehouse, company)
    realm = qbo.provider.realm_of(company)
    return sync_quickbooks(warehouse, tokens, company, realm, api_base=qbo.base, **kw), tokens


def _landed(warehouse: Warehouse, entity: str, company: str) -> dict[str, dict]:
    rows = warehouse.read(QUICKBOOKS_TABLES[entity], company_id=company)
    return {
        sid: {"payload": payloads.loads(p), "deleted": d}
        for sid, p, d in zip(rows["source_id"], rows["payload"], rows["deleted"], strict=True)
    }


@pytest.mark.slow
def test_every_company_lands_the_worlds_records_and_amounts(qbo: QBO, duck: Warehouse) -> None:
    assert len(qbo.companies) >= 2
    for company, realm in qbo.companies:
        # through the provider interface the CLI and Dagster use
        report = PROVIDER.sync(duck, qbo.connect(duck, company), company, [realm], qbo.base)
        assert {e.tenant_id for e in report.entities} == {realm}
        expected = qbo.world_expectations(qbo.sandbox.world, company)
        landed = qbo.landed_totals(duck, company)
        for entity in QUICKBOOKS_ENTITIES:
            assert landed[entity] == expected.get(entity, (0, 0)), (company, entity)
        assert report.home_currency in ("USD", "EUR", "GBP", "CAD", "AUD")
        assert sum(e.inserted for e in report.entities) == sum(n for n, _ in expected.values())


def test_discover_names_the_realm_of_the_redirect(qbo: QBO) -> None:
    company, realm = qbo.companies[0]
    location = qbo.authorize(company)
    tokens = exchange_code(qbo.app, location)
    params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
    found = PROVIDER.discover(qbo.base, tokens, params)
    world_name = (
        qbo.sandbox.world.table("companies")
        .filter(pl.col("company_id") == company)
        .collect()["name"][0]
    )
    assert found == [(realm, world_name)]
    with pytest.raises(ConnectorError, match="realmId"):
        PROVIDER.discover(qbo.base, tokens, {"code": "x"})


def test_second_run_writes_nothing_and_makes_one_call_per_entity_at_most(
    qbo: QBO, warehouse: Warehouse
) -> None:
    company, realm = qbo.companies[0]
    first, tokens = _sync(qbo, warehouse, company, page_size=50)
    assert first.totals()["inserted"] > 100
    before = qbo.landed_state(warehouse, company)
    second, _ = _sync(qbo, warehouse, company, tokens=tokens, page_size=50)
    assert second.totals()["inserted"] == second.totals()["updated"] == 0
    assert second.totals()["deleted"] == 0
    assert second.calls <= len(QUICKBOOKS_ENTITIES)
    after = qbo.landed_state(warehouse, company)
    for entity in QUICKBOOKS_ENTITIES:
        assert_frame_equal(before[entity], after[entity])
    connection = warehouse.read(CONNECTIONS, where="company_id = %s", params=[company])
    assert connection["last_synced_at"][0] is not None
    assert qbo.provider.counters_snapshot()[realm]["limit_rejections"] == 0


@pytest.mark.slow
def test_created_updated_deleted_voided_records_land_exactly_once(
    qbo: QBO, duck: Warehouse
) -> None:
    company, realm = qbo.companies[0]
    _, tokens = _sync(qbo, duck, company, entities=FEW)
    sandbox = qbo.provider
    sandbox.advance_clock(120)
    customer = sandbox.records(realm, "Customer")[0]
    invoices = sorted(sandbox.records(realm, "Invoice"), key=lambda i: int(i["Id"]))
    new = sandbox.create(
        realm,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": Decimal("250.00"),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {},
                }
            ],
        },
    )
    changed = sandbox.update(realm, "Invoice", invoices[0]["Id"], {"PrivateNote": "edited"})
    gone = sandbox.delete(realm, "Invoice", invoices[1]["Id"])
    voided = sandbox.void(realm, "Invoice", invoices[2]["Id"])
    deactivated = sandbox.delete(realm, "Customer", customer["Id"])  # QBO: made inactive
    report, _ = _sync(qbo, duck, company, tokens=tokens, entities=FEW)
    by_entity = {e.entity: e for e in report.entities}
    assert (by_entity["Invoice"].inserted, by_entity["Invoice"].updated) == (1, 2)
    assert by_entity["Invoice"].deleted == 1
    assert by_entity["Customer"].updated == 1
    landed = _landed(duck, "Invoice", company)
    assert landed[new["Id"]]["payload"]["TotalAmt"] == Decimal("250.00")
    assert landed[changed["Id"]]["payload"]["PrivateNote"] == "edited"
    assert landed[gone["Id"]]["deleted"] is True
    assert landed[gone["Id"]]["payload"]["status"] == "Deleted"
    assert landed[voided["Id"]]["payload"]["TotalAmt"] == 0
    assert _landed(duck, "Customer", company)[deactivated["Id"]]["payload"]["Active"] is False
    table = QUICKBOOKS_TABLES["Invoice"]
    ids = duck.read(table, company_id=company)["source_id"]
    assert ids.n_unique() == len(ids)  # exactly once
    again, _ = _sync(qbo, duck, company, tokens=tokens, entities=FEW)
    assert again.totals()["inserted"] + again.totals()["updated"] + again.totals()["deleted"] == 0


@pytest.mark.slow
def test_kill_after_a_page_and_rerun_equals_an_uninterrupted_run(
    qbo: QBO, duck: Warehouse, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    company, _realm = qbo.companies[1]
    tokens = qbo.connect(duck, company)
    with pytest.raises(SyncInterrupted, match="after page 6"):
        _sync(qbo, duck, company, tokens=tokens, entities=BUSY, page_size=20, kill_after_pages=6)
    cursors = duck.read(SYNC_CURSORS, where="company_id = %s", params=[company])
    assert cursors.height >= 1
    _sync(qbo, duck, company, tokens=tokens, entities=BUSY, page_size=20)
    resumed = qbo.landed_state(duck, company)
    assert sum(frame.height for frame in resumed.values()) > 100
    with Warehouse.open(f"duckdb:///{tmp_path / 'clean.duckdb'}") as clean:
        _sync(qbo, clean, company, entities=BUSY, page_size=20)
        straight = qbo.landed_state(clean, company)
    for entity in QUICKBOOKS_ENTITIES:
        assert_frame_equal(resumed[entity], straight[entity], check_row_order=True)


@pytest.mark.slow
def test_records_edited_while_paging_and_large_tie_groups(qbo: QBO, duck: Warehouse) -> None:
    company, realm = qbo.companies[0]
    sandbox = qbo.provider
    # A tie group bigger than a page: 30 bills re-saved in the same second.
    sandbox.advance_clock(60)
    sandbox.sandbox_clock.freeze()
    bills = sorted(sandbox.records(realm, "Bill"), key=lambda b: int(b["Id"]))
    for bill in bills[:30]:
        sandbox.update(realm, "Bill", bill["Id"], {"PrivateNote": "batch edit"})
    sandbox.sandbox_clock.unfreeze()
    sandbox.advance_clock(5)
    # ... and users editing records while the client pages through them.
    bumps = [
        sandbox.mutate_while_paging(realm, "Bill", after_page=2, count=3),
        sandbox.mutate_while_paging(realm, "Purchase", after_page=3, count=2),
    ]
    report, _ = _sync(qbo, duck, company, entities=["Bill", "Purchase"], page_size=10)
    assert all(len(b.fired) == b.count for b in bumps)
    for entity in ("Bill", "Purchase"):
        live = {r["Id"]: r for r in sandbox.records(realm, entity)}
        landed = _landed(duck, entity, company)
        assert set(landed) == set(live), entity
        for record_id, record in live.items():
            assert landed[record_id]["payload"] == record, (entity, record_id)
    assert report.entities[0].pages > len(bills) // 10


@pytest.mark.slow
def test_faults_and_429_storm_stay_within_limits(qbo: QBO, duck: Warehouse) -> None:
    company, realm = qbo.companies[0]
    qbo.provider.faults.configure(error_rate=0.2, storm_429=4, storm_retry_after=1, seed=7)
    report, _ = _sync(qbo, duck, company, entities=FEW, page_size=20)
    counters = qbo.provider.counters_snapshot()[realm]
    assert counters["fault_5xx"] > 0 and counters["fault_429s"] == 4
    assert counters["limit_rejections"] == 0
    assert counters["max_in_window"]["second"] <= 10
    assert counters["max_in_window"]["minute"] <= 500
    assert report.retries >= counters["fault_5xx"] and report.rate_limited == 4
    qbo.provider.faults.configure(error_rate=0.0)
    clean, _ = _sync(qbo, duck, company, entities=FEW, page_size=20)
    assert clean.totals()["inserted"] == clean.totals()["updated"] == 0


def test_token_expiring_mid_sync_is_refreshed_once(qbo: QBO, duck: Warehouse) -> None:
    company, _realm = qbo.companies[0]
    tokens = qbo.connect(duck, company)
    original = tokens.access_token()
    qbo.provider.expire_tokens_after_calls(3)
    report, _ = _sync(qbo, duck, company, tokens=tokens, entities=FEW, page_size=20)
    assert qbo.provider.oauth.refresh_calls == 1
    assert report.token_refreshes == 1
    assert tokens.access_token() != original
    # the rotated refresh token was persisted: a new manager picks it up
    assert tokens.store.load(company, "quickbooks").version == 1  # type: ignore[union-attr]


def test_revoked_refresh_token_needs_reauth(qbo: QBO, duck: Warehouse) -> None:
    company, _realm = qbo.companies[0]
    tokens = qbo.connect(duck, company)
    qbo.provider.oauth.revoke(company)
    with pytest.raises(NeedsReauth, match="invalid_grant"):
        _sync(qbo, duck, company, tokens=tokens, entities=FEW)
    row = duck.read(CONNECTIONS, where="company_id = %s", params=[company]).row(0, named=True)
    assert row["status"] == "needs_reauth"
    assert "authorised again" in row["status_reason"]


def test_write_primitives_and_stale_sync_token(qbo: QBO, duck: Warehouse) -> None:
    company, realm = qbo.companies[0]
    tokens = qbo.connect(duck, company)
    client = QuickBooksClient.connect(tokens, realm, api_base=qbo.base)
    vendor = qbo.provider.records(realm, "Vendor")[0]
    bill = create(
        client,
        "Bill",
        {
            "VendorRef": {"value": vendor["Id"]},
            "Line": [
                {
                    "Amount": Decimal("80.10"),
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "1"}},
                }
            ],
        },
    )
    assert bill.total == Decimal("80.10") and bill.sync_token == "0"
    edited = update(client, "Bill", {"Id": bill.id, "SyncToken": "0", "DocNumber": "B-9"})
    assert edited.sync_token == "1" and edited.doc_number == "B-9"
    with pytest.raises(StaleVersion) as stale:
        update(client, "Bill", {"Id": bill.id, "SyncToken": "0", "DocNumber": "B-10"})
    assert stale.value.entity == "Bill" and stale.value.source_id == bill.id
    assert "5010" in str(stale.value)
    with pytest.raises(StaleVersion):
        delete(client, "Bill", bill.id, "0")
    payment = qbo.provider.records(realm, "Payment")[0]
    voided = void(client, "Payment", payment["Id"], payment["SyncToken"])
    assert voided.voided and voided.total == 0
    deleted = delete(client, "Bill", bill.id, "1")
    assert deleted.deleted and deleted.id == bill.id


def test_cdc_window_lapsed_reconciles_deletions(qbo: QBO, duck: Warehouse) -> None:
    company, realm = qbo.companies[0]
    _, tokens = _sync(qbo, duck, company, entities=FEW)
    sandbox = qbo.provider
    victim = sandbox.records(realm, "Bill")[0]
    sandbox.delete(realm, "Bill", victim["Id"])
    sandbox.advance_clock(31 * 86400)  # the deletion is now outside CDC's 30 days
    report, _ = _sync(qbo, duck, company, tokens=tokens, entities=FEW)
    assert any("CDC refused" in note for note in report.notes)
    assert _landed(duck, "Bill", company)[victim["Id"]]["deleted"] is True
    bills = next(e for e in report.entities if e.entity == "Bill")
    assert bills.deleted == 1


def test_unreadable_record_is_quarantined_and_the_page_goes_on(qbo: QBO, duck: Warehouse) -> None:
    company, realm = qbo.companies[0]
    bad = qbo.provider.records(realm, "Bill")[0]
    qbo.provider.update(realm, "Bill", bad["Id"], {"TxnDate": "31/12/2026"})
    report, _ = _sync(qbo, duck, company, entities=["Bill"])
    assert report.quarantined == 1
    row = duck.read(QUARANTINE, company_id=company).row(0, named=True)
    assert row["source"] == "quickbooks/Bill" and row["field"] == "TxnDate"
    assert row["record_id"] == f"{realm}/{bad['Id']}"
    landed = _landed(duck, "Bill", company)
    assert bad["Id"] not in landed
    assert len(landed) == len(qbo.provider.records(realm, "Bill")) - 1


def test_cursor_is_json_with_last_updated_and_complete_at(qbo: QBO, duck: Warehouse) -> None:
    company, _realm = qbo.companies[0]
    report, _ = _sync(qbo, duck, company, entities=["Invoice"])
    cursor = duck.read(SYNC_CURSORS, where="company_id = %s", params=[company])
    assert cursor.height == 1
    data = pl.Series(cursor["cursor"]).item()
    parsed = json.loads(data)
    assert dt.datetime.fromisoformat(parsed["last_updated"]).tzinfo is not None
    assert dt.datetime.fromisoformat(parsed["complete_at"]) > dt.datetime.fromisoformat(
        parsed["last_updated"]
    )
    assert report.entities[0].cursor_after == data


def test_offset_paging_repairs_a_tie_group_shifted_under_it(qbo: QBO, duck: Warehouse) -> None:
    company, realm = qbo.companies[0]
    sandbox = qbo.provider
    vendors = sorted(sandbox.records(realm, "Vendor"), key=lambda v: int(v["Id"]))
    assert len(vendors) >= 10
    sandbox.advance_clock(60)
    sandbox.sandbox_clock.freeze()  # every vendor re-saved in the same second: one tie group
    for vendor in vendors:
        sandbox.update(realm, "Vendor", vendor["Id"], {"Notes": "terms reviewed"})
    sandbox.sandbox_clock.unfreeze()
    sandbox.advance_clock(5)
    # After the first page, two vendors of that page are edited: every later offset moves by
    # two, so two vendors the client has not read yet slide into the part it has read.
    first_two = tuple(v["Id"] for v in vendors[:2])
    bump = sandbox.mutate_while_paging(realm, "Vendor", after_page=1, ids=first_two)
    report, _ = _sync(qbo, duck, company, entities=["Vendor"], page_size=5)
    assert list(bump.fired) == list(first_two)
    assert any("re-read a tie group" in note for note in report.notes)
    landed = _landed(duck, "Vendor", company)
    live = {r["Id"]: r for r in sandbox.records(realm, "Vendor")}
    assert {k: v["payload"] for k, v in landed.items()} == live
