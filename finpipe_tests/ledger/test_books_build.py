"""The glue that builds a company's books from the warehouse (``finpipe.ledger.books_build``)
and fetches the sources' own trial balances (``finpipe.connectors.trial_balances``).

* the trial-balance comparison and the monthly trial balance on hand-built frames (the
  fiscal-year close into retained earnings, the report date, a one-cent difference);
* ``build_books`` + ``write_books`` on both engines, from landing rows the sandbox renderers
  give for a generated world's company on both QuickBooks and Xero: balanced entries, one
  twin of each true duplicate in the book of record, conflicts recorded once in the audit
  chain, an unreadable record quarantined while the rest is written;
* ``fetch_trial_balances`` over real HTTP against the sandboxes, per provider, and the
  fetched reports held against the books built from the same company's landing rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
import requests

from finpipe.compliance.audit import AuditKind
from finpipe.config import generate_secret_key
from finpipe.connectors import payloads
from finpipe.connectors.oauth import OAuthApp, TokenManager, TokenStore, exchange_code
from finpipe.connectors.quickbooks import quickbooks_oauth_app
from finpipe.connectors.trial_balances import fetch_trial_balances, fiscal_year_start
from finpipe.connectors.xero import xero_oauth_app
from finpipe.connectors.xero.endpoints import ENDPOINTS
from finpipe.ledger.books_build import (
    build_books,
    monthly_trial_balance,
    trial_balance_differences,
    write_books,
)
from finpipe.ledger.books_schema import JOURNAL_LINE_SCHEMA
from finpipe.sandbox.provider import Limit
from finpipe.sandbox.quickbooks.app import build as build_quickbooks
from finpipe.sandbox.quickbooks.render import iter_realms, render_realm
from finpipe.sandbox.server import SandboxCredentials
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.sandbox.xero.app import build as build_xero
from finpipe.sandbox.xero.render import render_tenant
from finpipe.sandbox.xero.store import SandboxClock
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG
from finpipe.warehouse.tables.ledger import (
    DOCUMENTS,
    JOURNAL_LINES,
    PROVIDER_TRIAL_BALANCES,
)
from finpipe.warehouse.tables.ops import QUARANTINE
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES
from finpipe.warehouse.tables.recon import CONFLICTS
from finpipe_tests.world_books import map_company

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 1, 9, tzinfo=UTC)
Q, X = "quickbooks", "xero"
ROOMY = (Limit("minute", 100_000, 60.0), Limit("day", 1_000_000, 86_400.0))
REDIRECT = "http://127.0.0.1:9/callback"  # never listened on: the tests read Location


def d(month: int, day: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, day)


# ============================================================ hand-built trial balances


def journal(*rows: tuple[str, str, dt.date, str, int]) -> pl.DataFrame:
    """Journal lines of (provider, entry_id, date, account_id, amount), the rest null."""
    frame = pl.DataFrame(
        [
            {
                "company_id": "cmp_tb",
                "provider": p,
                "entry_id": e,
                "line_no": i + 1,
                "date": day,
                "account_id": a,
                "amount": amount,
                "currency": "USD",
            }
            for i, (p, e, day, a, amount) in enumerate(rows)
        ]
    )
    missing = [
        pl.lit(None, t).alias(n) for n, t in JOURNAL_LINE_SCHEMA.items() if n not in frame.columns
    ]
    return (
        frame.with_columns(missing)
        .select(list(JOURNAL_LINE_SCHEMA))
        .cast(dict(JOURNAL_LINE_SCHEMA))
    )


def chart(*rows: tuple[str, str, str, str | None]) -> pl.DataFrame:
    """Accounts of (provider, account_id, classification, account_subtype)."""
    return pl.DataFrame(
        [
            {
                "company_id": "cmp_tb",
                "provider": p,
                "account_id": a,
                "code": None,
                "name": f"account {a}",
                "account_type": None,
                "account_subtype": sub,
                "classification": cls,
                "currency": "USD",
            }
            for p, a, cls, sub in rows
        ],
        schema_overrides={"code": pl.String, "account_type": pl.String},
    )


def provider_tb(
    provider: str, as_of: dt.date, fy_start: dt.date, balances: dict[str, int]
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": ["cmp_tb"] * len(balances),
            "provider": [provider] * len(balances),
            "as_of": [as_of] * len(balances),
            "account_id": list(balances),
            "account_name": [None] * len(balances),
            "balance": list(balances.values()),
            "currency": ["USD"] * len(balances),
            "fiscal_year_start": [fy_start] * len(balances),
            "extracted_at": [NOW] * len(balances),
        },
        schema=PROVIDER_TRIAL_BALANCES.polars_schema(),
    )


# QBO: bank 1, sales 3, rent 6, retained earnings 9 (subtype RetainedEarnings).
# Xero: the same accounts under its own ids, retained earnings by SystemAccount.
CHART = chart(
    (Q, "1", "Asset", "Checking"),
    (Q, "3", "Revenue", "SalesOfProductIncome"),
    (Q, "6", "Expense", "RentOrLeaseOfBuildings"),
    (Q, "9", "Equity", "RetainedEarnings"),
    (X, "x-bank", "ASSET", None),
    (X, "x-sales", "REVENUE", None),
    (X, "x-rent", "EXPENSE", None),
    (X, "x-re", "EQUITY", "RETAINEDEARNINGS"),
)
LINES = journal(
    # QBO, fiscal year from 1 January 2026: December's sale and rent are last year's
    (Q, "q1", d(12, 15, 2025), "1", 10000),
    (Q, "q1", d(12, 15, 2025), "3", -10000),
    (Q, "q2", d(12, 20, 2025), "6", 3000),
    (Q, "q2", d(12, 20, 2025), "1", -3000),
    (Q, "q3", d(2, 10), "1", 5000),
    (Q, "q3", d(2, 10), "3", -5000),
    (Q, "q4", d(3, 20), "1", 700),  # after the report date: not in it
    (Q, "q4", d(3, 20), "3", -700),
    # Xero, fiscal year from 1 July 2025 (year end June): only May 2025's rent is closed
    (X, "x1", d(5, 5, 2025), "x-rent", 2000),
    (X, "x1", d(5, 5, 2025), "x-bank", -2000),
    (X, "x2", d(8, 1, 2025), "x-bank", 9000),
    (X, "x2", d(8, 1, 2025), "x-sales", -9000),
    (X, "x3", d(2, 28), "x-rent", 1500),
    (X, "x3", d(2, 28), "x-bank", -1500),
)
AS_OF = d(2, 28)
QBO_TB = {"1": 12000, "3": -5000, "9": -7000}  # rent closed: 3000 - 10000 in RE
XERO_TB = {"x-bank": 5500, "x-sales": -9000, "x-rent": 1500, "x-re": 2000}
DIFF_COLUMNS = ["provider", "as_of", "account_id", "ledger", "provider_balance", "difference"]


def both_reports(qbo: dict[str, int] = QBO_TB, xero: dict[str, int] = XERO_TB) -> pl.DataFrame:
    return pl.concat(
        [
            provider_tb(Q, AS_OF, d(1, 1), qbo),
            provider_tb(X, AS_OF, d(7, 1, 2025), xero),
        ]
    )


def test_trial_balances_that_agree_leave_no_difference() -> None:
    diff = trial_balance_differences(LINES, both_reports(), CHART)
    assert diff.columns == DIFF_COLUMNS
    assert diff.is_empty()


def test_a_one_cent_difference_is_reported_with_both_figures() -> None:
    qbo = {**QBO_TB, "1": 12001}
    diff = trial_balance_differences(LINES, both_reports(qbo=qbo), CHART)
    assert diff.rows() == [(Q, AS_OF, "1", 12000, 12001, -1)]
    assert diff.schema["ledger"] == pl.Int64 and diff.schema["difference"] == pl.Int64


def test_an_account_only_one_side_has_is_a_difference() -> None:
    # the provider lists an account the ledger never posted to, and omits one it did
    xero = {k: v for k, v in XERO_TB.items() if k != "x-rent"} | {"x-other": 1500}
    diff = trial_balance_differences(LINES, both_reports(xero=xero), CHART)
    assert diff.rows() == [
        (X, AS_OF, "x-other", 0, 1500, -1500),
        (X, AS_OF, "x-rent", 1500, 0, 1500),
    ]


def test_income_and_expense_before_the_fiscal_year_move_to_retained_earnings() -> None:
    # A report whose fiscal year started earlier closes nothing: last December's sale and
    # rent stay on their accounts, and the figures the current-year report gives differ.
    earlier = pl.concat(
        [
            provider_tb(Q, AS_OF, d(1, 1, 2025), QBO_TB),
            provider_tb(X, AS_OF, d(7, 1, 2025), XERO_TB),
        ]
    )
    diff = trial_balance_differences(LINES, earlier, CHART)
    assert diff.rows() == [
        (Q, AS_OF, "3", -15000, -5000, -10000),
        (Q, AS_OF, "6", 3000, 0, 3000),
        (Q, AS_OF, "9", 0, -7000, 7000),
    ]
    # the same books held to a report with every year closed into retained earnings
    closed_all = provider_tb(Q, AS_OF, d(3, 1), {"1": 12000, "9": -12000})
    assert trial_balance_differences(LINES, closed_all, CHART).is_empty()


def test_lines_after_the_report_date_are_left_out() -> None:
    later = d(3, 31)
    tb = provider_tb(Q, later, d(1, 1), {"1": 12700, "3": -5700, "9": -7000})
    assert trial_balance_differences(LINES, tb, CHART).is_empty()
    # the report at 28 February does not see March's 7.00
    tb = provider_tb(Q, AS_OF, d(1, 1), {"1": 12700, "3": -5700, "9": -7000})
    assert trial_balance_differences(LINES, tb, CHART).rows() == [
        (Q, AS_OF, "1", 12000, 12700, -700),
        (Q, AS_OF, "3", -5000, -5700, 700),
    ]


def test_no_report_means_nothing_to_compare_and_no_lines_means_all_differ() -> None:
    empty_tb = pl.DataFrame(schema=PROVIDER_TRIAL_BALANCES.polars_schema())
    diff = trial_balance_differences(LINES, empty_tb, CHART)
    assert diff.is_empty() and diff.columns == DIFF_COLUMNS
    no_lines = LINES.clear()
    diff = trial_balance_differences(no_lines, provider_tb(Q, AS_OF, d(1, 1), QBO_TB), CHART)
    assert diff.rows() == [
        (Q, AS_OF, "1", 0, 12000, -12000),
        (Q, AS_OF, "3", 0, -5000, 5000),
        (Q, AS_OF, "9", 0, -7000, 7000),
    ]


def test_monthly_trial_balance_shows_the_unbalanced_month() -> None:
    lines = journal(
        (Q, "a", d(1, 5), "1", 10000),
        (Q, "a", d(1, 5), "3", -10000),
        (Q, "b", d(2, 3), "1", 5000),
        (Q, "b", d(2, 27), "3", -4999),  # a cent short, in the same month
        (Q, "c", d(2, 14), "6", 250),
        (Q, "c", d(2, 14), "1", -250),
        (X, "x", d(1, 31), "x-rent", 700),
        (X, "x", d(1, 31), "x-bank", -700),
    )
    tb = monthly_trial_balance(lines)
    assert tb.columns == ["company_id", "provider", "month", "total", "debits"]
    assert tb.rows() == [
        ("cmp_tb", Q, d(1, 1), 0, 10000),
        ("cmp_tb", Q, d(2, 1), 1, 5250),
        ("cmp_tb", X, d(1, 1), 0, 700),
    ]
    assert tb.filter(pl.col("total") != 0)["month"].to_list() == [d(2, 1)]


# ============================================================ landing rows of a world

Records = dict[tuple[str, str], list[tuple[str, dict[str, Any], bool]]]
"""(provider, entity) -> [(source id, payload, deleted)] of one company."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("books_build") / "world"
    generate_world(WorldSpec(companies=6, months=3, seed=4), root)
    return load_world(root)


@pytest.fixture(scope="module")
def companies(world: World) -> dict[str, dict[str, Any]]:
    return {c["company_id"]: c for c in world.table("companies").collect().to_dicts()}


@pytest.fixture(scope="module")
def both_id(companies: dict[str, dict[str, Any]]) -> str:
    (cid,) = [c for c, row in companies.items() if row["accounting_provider"] == "both"]
    return cid


@pytest.fixture(scope="module")
def rendered(world: World, companies: dict[str, dict[str, Any]]) -> dict[str, Records]:
    """Per company: every record the sandbox renderers serve (QBO live records; its CDC
    tombstones apart under entity ``<E>#tombstone``; Xero records and journals)."""
    out: dict[str, Records] = {}
    for rw in iter_realms(world):
        recs = out.setdefault(rw.company["company_id"], {})
        live, tombstones = render_realm(rw)
        for entity, payload in live:
            recs.setdefault((Q, entity), []).append((str(payload["Id"]), payload, False))
        for entity, payload in tombstones:
            recs.setdefault((Q, f"{entity}#tombstone"), []).append(
                (str(payload["Id"]), payload, True)
            )
    clock = SandboxClock(NOW)
    for company in companies.values():
        if company["xero_tenant_id"] is None:
            continue
        store = render_tenant(world, company, clock)
        recs = out.setdefault(company["company_id"], {})
        for endpoint, records in store.records.items():
            field = ENDPOINTS[endpoint].id_field
            recs[(X, endpoint)] = [(str(r[field]), r, False) for r in records.values()]
        field = ENDPOINTS["Journals"].id_field
        recs[(X, "Journals")] = [(str(r[field]), r, False) for r in store.journals]
    return out


def land(
    warehouse: Warehouse,
    company: dict[str, Any],
    records: Records,
    *,
    providers: tuple[str, ...] = (Q, X),
    tombstones: bool = False,
    edit: Callable[[str, str, dict[str, Any]], dict[str, Any] | None] | None = None,
) -> None:
    """Upsert ``records`` into the ``raw`` landing tables as a sync lands them; ``edit``
    (entity, source id, payload) may return a changed payload."""
    cid = company["company_id"]
    for (provider, entity), recs in records.items():
        if provider not in providers:
            continue
        if entity.endswith("#tombstone"):
            if not tombstones:
                continue
            entity = entity.removesuffix("#tombstone")
        if not recs:
            continue
        table = (QUICKBOOKS_TABLES if provider == Q else XERO_TABLES)[entity]
        tenant = company["qbo_realm_id"] if provider == Q else company["xero_tenant_id"]
        bodies = []
        for sid, payload, _ in recs:
            changed = edit(entity, sid, payload) if edit else None
            bodies.append(payloads.dumps(changed if changed is not None else payload))
        frame = pl.DataFrame(
            {
                "company_id": [cid] * len(recs),
                "tenant_id": [tenant] * len(recs),
                "source_id": [sid for sid, _, _ in recs],
                "source_updated_at": [None] * len(recs),
                "payload": bodies,
                "deleted": [gone for _, _, gone in recs],
                "extracted_at": [NOW] * len(recs),
                "sync_id": ["sync-1"] * len(recs),
            },
            schema=table.polars_schema(),
        )
        warehouse.upsert(table, frame)


def conflict_entries(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    return warehouse.read(
        AUDIT_LOG,
        company_id=company_id,
        where="kind = %s",
        params=[AuditKind.CONFLICT_RESOLUTION.value],
    )


# ============================================================ build_books + write_books


def test_books_of_a_company_on_both_sources(
    warehouse: Warehouse,
    world: World,
    companies: dict[str, dict[str, Any]],
    rendered: dict[str, Records],
    both_id: str,
) -> None:
    company = companies[both_id]
    land(warehouse, company, rendered[both_id])
    map_company(warehouse, both_id)
    books = build_books(warehouse, both_id)
    assert books.providers == (Q, X)
    assert books.rejects.is_empty(), books.rejects.head(3).to_dicts()
    assert books.unbalanced().is_empty()
    write_books(warehouse, books, now=NOW)

    # journal entries balance as written, and every line got its standard-chart code
    lines = warehouse.read(JOURNAL_LINES, company_id=both_id)
    assert lines.height == books.journal_lines.height > 1000
    sums = lines.group_by("provider", "entry_id").agg(pl.col("amount").sum())
    assert sums.filter(pl.col("amount") != 0).is_empty()
    assert lines["standard_code"].null_count() == 0
    assert monthly_trial_balance(lines).filter(pl.col("total") != 0).is_empty()

    # the journal holds the book-of-record documents only
    docs = warehouse.read(DOCUMENTS, company_id=both_id)
    assert docs.height == books.documents.height
    kept = set(docs.filter("book_of_record").select("provider", "document_id").rows())
    dropped = set(docs.filter(~pl.col("book_of_record")).select("provider", "document_id").rows())
    assert len(kept) > 600 and len(dropped) > 300
    journal_docs = set(lines.select("provider", "document_id").unique().rows())
    assert journal_docs <= kept
    assert not journal_docs & dropped

    # the conflicts, resolved under the inferred policy (no ops.source_policies row); the
    # copy a duplicate drops is the one not in the book of record
    conflicts = warehouse.read(CONFLICTS, company_id=both_id)
    assert books.conflicts is not None
    assert conflicts.height == books.conflicts.height > 300
    assert set(conflicts["policy"]) == {"inferred"}
    assert conflicts["conflict_id"].n_unique() == conflicts.height
    for row in conflicts.filter(pl.col("kind") == "duplicate").iter_rows(named=True):
        qbo_copy, xero_copy = (Q, row["quickbooks_document_id"]), (X, row["xero_document_id"])
        winner, loser = (
            (qbo_copy, xero_copy) if row["kept_provider"] == Q else (xero_copy, qbo_copy)
        )
        assert winner in kept and loser in dropped, row
    assert warehouse.count(QUARANTINE, both_id) == 0

    # one audit entry for them all; the same books written again add nothing
    entries = conflict_entries(warehouse, both_id)
    assert entries.height == 1
    details = json.loads(entries["details"][0])
    assert details["count"] == conflicts.height
    assert sum(details["by_kind"].values()) == conflicts.height
    assert entries["subject"][0] == f"books:{conflicts.height} conflict(s)"
    write_books(warehouse, books, now=NOW + dt.timedelta(hours=1))
    assert conflict_entries(warehouse, both_id).height == 1
    assert warehouse.count(CONFLICTS, both_id) == conflicts.height
    assert warehouse.count(DOCUMENTS, both_id) == docs.height
    assert warehouse.count(JOURNAL_LINES, both_id) == lines.height

    # Against the world's truth (last: the other checks above hold whatever this finds).
    # Every true duplicate pair keeps at least one copy, and of a pair that carries money
    # (neither copy void or deleted: those have no lines) never both.
    status = dict(
        zip(
            zip(docs["provider"], docs["document_id"], strict=True),
            docs["status"],
            strict=True,
        )
    )
    truth = (
        world.table("documents")
        .filter((pl.col("company_id") == both_id) & pl.col("truth_duplicate_of").is_not_null())
        .select("provider", "document_id", "truth_duplicate_of")
        .collect()
    )
    assert truth.height > 300
    both_kept = []
    for provider, doc_id, twin_id in truth.iter_rows():
        copy, twin = (provider, doc_id), (X if provider == Q else Q, twin_id)
        assert copy in kept or twin in kept, (copy, twin)
        live = status[copy] not in ("void", "deleted") and status[twin] not in ("void", "deleted")
        if live and copy in kept and twin in kept:
            both_kept.append(
                (copy, twin, docs.filter(pl.col("document_id") == twin_id)["number"][0])
            )
    assert both_kept == [], f"both twins of {len(both_kept)} true duplicate(s) kept: {both_kept}"
    # Inferred from Xero's own documents, the cut-over is not before the true one: the
    # twins issued before it keep the QuickBooks copy (test_conflicts: the inference
    # lands within two weeks after the true cut-over).
    cutover = company["migration_cutover_date"]
    issued = dict(zip(docs["document_id"], docs["issue_date"], strict=True))
    early = [
        row["kept_provider"]
        for row in conflicts.filter(pl.col("kind") == "duplicate").iter_rows(named=True)
        if issued[row["quickbooks_document_id"]] < cutover
    ]
    assert early and set(early) == {Q}


def test_an_unreadable_record_is_quarantined_and_the_rest_written(
    warehouse: Warehouse,
    world: World,
    companies: dict[str, dict[str, Any]],
    rendered: dict[str, Records],
) -> None:
    # the EUR company that invoices one customer in USD: its invoice loses its rate
    cid = "cmp_aabd404e6c"
    foreign = (
        world.table("documents")
        .filter(
            (pl.col("company_id") == cid)
            & (pl.col("doc_type") == "invoice")
            & (pl.col("currency") != "EUR")
        )
        .collect()
    )
    (bad_id,) = foreign["document_id"].to_list()
    landed: dict[str, Any] = {}

    def drop_rate(entity: str, sid: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if entity == "Invoice" and sid == bad_id:
            assert "ExchangeRate" in payload
            landed["payload"] = {k: v for k, v in payload.items() if k != "ExchangeRate"}
            return landed["payload"]
        return None

    land(warehouse, companies[cid], rendered[cid], edit=drop_rate)
    map_company(warehouse, cid)
    books = build_books(warehouse, cid)
    assert books.providers == (Q,) and books.conflicts is None
    write_books(warehouse, books, now=NOW)

    # the invoice, naming the field; and the USD payment of it, which cannot be converted
    # without the invoice's rate (a foreign settlement is never assumed at rate 1)
    allocations = world.table("allocations").filter(pl.col("company_id") == cid).collect()
    (payment_id,) = allocations.filter(pl.col("target_document_id") == bad_id)[
        "source_document_id"
    ].to_list()
    quarantined = warehouse.read(QUARANTINE, company_id=cid)
    assert sorted(quarantined.select("source", "record_id", "field").rows()) == [
        ("quickbooks/Invoice", bad_id, "ExchangeRate"),
        ("quickbooks/Payment", payment_id, "Line[0].LinkedTxn[0].TxnId"),
    ]
    rows = {r["source"]: r for r in quarantined.iter_rows(named=True)}
    row = rows["quickbooks/Invoice"]
    assert "ExchangeRate" in row["reason"] and "USD" in row["reason"]
    assert payloads.loads(row["payload"]) == payloads.loads(payloads.dumps(landed["payload"]))
    assert row["quarantined_at"] == NOW
    assert f"Invoice {bad_id}" in rows["quickbooks/Payment"]["reason"]
    assert payloads.loads(rows["quickbooks/Payment"]["payload"])["Id"] == payment_id

    # the rest of the books are there: every other live document, balanced
    truth = (
        world.table("documents")
        .filter(
            (pl.col("company_id") == cid)
            & (pl.col("provider") == Q)
            & (pl.col("status") != "deleted")
        )
        .collect()
    )
    docs = warehouse.read(DOCUMENTS, company_id=cid)
    assert set(docs["document_id"]) == set(truth["document_id"]) - {bad_id, payment_id}
    assert docs["book_of_record"].all()
    lines = warehouse.read(JOURNAL_LINES, company_id=cid)
    assert lines.height > 1000
    assert not {bad_id, payment_id} & set(lines["document_id"])
    assert (
        lines.group_by("entry_id").agg(pl.col("amount").sum()).filter(pl.col("amount") != 0)
    ).is_empty()
    assert warehouse.count(CONFLICTS, cid) == 0
    assert conflict_entries(warehouse, cid).is_empty()


def test_a_document_deleted_in_quickbooks_is_kept_with_its_status(
    warehouse: Warehouse,
) -> None:
    """QBO CDC answers a deleted transaction as a bare tombstone (Id, status, MetaData) and
    the QBO sync lands exactly that payload with ``deleted = true``. The books keep the
    document with status ``deleted`` and no lines (ledger.documents: "voided and deleted
    ones kept with their status"), and write_books writes them like any other."""
    company = {"company_id": "cmp_del", "qbo_realm_id": "realm-del", "xero_tenant_id": None}
    meta = {"CreateTime": "2026-09-01T10:00:00Z", "LastUpdatedTime": "2026-09-01T10:00:00Z"}
    chart_rows = [
        {"Id": "1", "Name": "Checking", "AccountType": "Bank", "AccountSubType": "Checking"},
        {"Id": "2", "Name": "A/R", "AccountType": "Accounts Receivable"},
        {"Id": "3", "Name": "Sales", "AccountType": "Income"},
    ]
    invoice = {
        "Id": "100",
        "DocNumber": "1001",
        "TxnDate": "2026-09-01",
        "CustomerRef": {"value": "7"},
        "TotalAmt": Decimal("50.00"),
        "Balance": Decimal("50.00"),
        "Line": [
            {
                "Amount": Decimal("50.00"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "10"}},
            },
            {"Amount": Decimal("50.00"), "DetailType": "SubTotalLineDetail"},
        ],
        "MetaData": meta,
    }
    tombstone = {
        "domain": "QBO",
        "status": "Deleted",
        "Id": "101",
        "MetaData": {"LastUpdatedTime": "2026-09-02T08:00:00-07:00"},
    }
    records: Records = {
        (Q, "Preferences"): [
            ("1", {"Id": "1", "CurrencyPrefs": {"HomeCurrency": {"value": "USD"}}}, False)
        ],
        (Q, "Account"): [(r["Id"], {**r, "MetaData": meta}, False) for r in chart_rows],
        (Q, "Item"): [
            ("10", {"Id": "10", "Name": "Widget", "IncomeAccountRef": {"value": "3"}}, False)
        ],
        (Q, "Customer"): [("7", {"Id": "7", "DisplayName": "Acme", "MetaData": meta}, False)],
        (Q, "Invoice"): [("100", invoice, False), ("101", tombstone, True)],
    }
    land(warehouse, company, records)
    map_company(warehouse, "cmp_del")
    books = build_books(warehouse, "cmp_del")
    assert books.rejects.is_empty(), books.rejects.to_dicts()
    assert sorted(books.documents.select("document_id", "status").rows()) == [
        ("100", "open"),
        ("101", "deleted"),
    ]
    write_books(warehouse, books, now=NOW)
    docs = warehouse.read(DOCUMENTS, company_id="cmp_del")
    assert sorted(docs.select("document_id", "status").rows()) == [
        ("100", "open"),
        ("101", "deleted"),
    ]
    lines = warehouse.read(JOURNAL_LINES, company_id="cmp_del")
    assert set(lines["document_id"]) == {"100"}


# ============================================================ the sources' trial balances


def _connect(
    warehouse: Warehouse, app: OAuthApp, box: SecretBox, provider: str, company_id: str
) -> TokenManager:
    """The real OAuth flow: authorize (auto-approved for ``company_id``), read the redirect,
    exchange the code, store the tokens encrypted in ``ops.oauth_tokens``."""
    url = app.authorization_url("state-1") + f"&sandbox_company={company_id}"
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    now = dt.datetime.now(UTC)
    store = TokenStore(warehouse, box)
    store.save(company_id, provider, exchange_code(app, answer.headers["location"], now), now)
    return TokenManager(app, store, company_id)


def test_fetch_trial_balances_replaces_one_provider_and_the_books_agree(
    warehouse: Warehouse,
    world: World,
    companies: dict[str, dict[str, Any]],
    rendered: dict[str, Records],
    both_id: str,
    serve_provider,
) -> None:
    creds = SandboxCredentials()
    qbo = serve_provider(world, build_quickbooks(world, creds), creds).url(Q)
    xero = serve_provider(world, build_xero(world, creds, limits=ROOMY), creds).url(X)
    box = SecretBox([generate_secret_key()])
    qbo_app = quickbooks_oauth_app(qbo, creds.client_id, creds.client_secret, REDIRECT)
    xero_app = xero_oauth_app(xero, creds.client_id, creds.client_secret, REDIRECT)

    both = companies[both_id]
    land(warehouse, both, rendered[both_id])
    map_company(warehouse, both_id)
    q_tokens = _connect(warehouse, qbo_app, box, Q, both_id)
    x_tokens = _connect(warehouse, xero_app, box, X, both_id)
    end = both["end_date"]  # 31 October 2026; the fiscal year starts in January

    first = fetch_trial_balances(
        Q, warehouse, q_tokens, both_id, [both["qbo_realm_id"]], qbo, as_of=end, now=NOW
    )
    assert first.schema == PROVIDER_TRIAL_BALANCES.polars_schema()
    assert first.height > 10
    assert set(first["provider"]) == {Q} and set(first["as_of"]) == {end}
    assert set(first["fiscal_year_start"]) == {d(1, 1)}
    assert set(first["extracted_at"]) == {NOW} and set(first["company_id"]) == {both_id}
    assert first["balance"].sum() == 0 and first["account_id"].null_count() == 0
    xero_rows = fetch_trial_balances(
        X, warehouse, x_tokens, both_id, [both["xero_tenant_id"]], xero, as_of=end, now=NOW
    )
    assert set(xero_rows["provider"]) == {X} and xero_rows.height > 10
    assert set(xero_rows["fiscal_year_start"]) == {d(1, 1)}
    assert xero_rows["balance"].sum() == 0
    stored = warehouse.read(PROVIDER_TRIAL_BALANCES, company_id=both_id)
    assert stored.height == first.height + xero_rows.height

    # each source's report equals the expansion of that source's own records (before the
    # company's twins are de-duplicated)
    books = build_books(warehouse, both_id)
    assert trial_balance_differences(books.source_journal_lines, stored, books.accounts).is_empty()

    # a later QBO fetch replaces QBO's rows only; Xero's report stays as it was
    later = NOW + dt.timedelta(days=1)
    second = fetch_trial_balances(
        Q, warehouse, q_tokens, both_id, [both["qbo_realm_id"]], qbo, as_of=d(9, 30), now=later
    )
    stored = warehouse.read(PROVIDER_TRIAL_BALANCES, company_id=both_id)
    assert set(stored.filter(pl.col("provider") == Q)["as_of"]) == {d(9, 30)}
    assert stored.filter(pl.col("provider") == Q).height == second.height
    kept = stored.filter(pl.col("provider") == X).sort("account_id")
    assert kept.equals(xero_rows.sort("account_id"))
    assert trial_balance_differences(books.source_journal_lines, stored, books.accounts).is_empty()


def test_fetched_fiscal_year_start_closes_earlier_months_like_the_report(
    warehouse: Warehouse,
    world: World,
    companies: dict[str, dict[str, Any]],
    rendered: dict[str, Records],
    serve_provider,
) -> None:
    """The US company's fiscal year starts in October (CompanyInfo.FiscalYearStartMonth): at
    31 October QBO's report holds August and September's income and expenses in Retained
    Earnings, and the stored fiscal_year_start closes the books the same way."""
    cid = "cmp_21a8553c5e"
    company = companies[cid]
    assert company["fiscal_year_start_month"] == 10
    creds = SandboxCredentials()
    qbo = serve_provider(world, build_quickbooks(world, creds), creds).url(Q)
    app = quickbooks_oauth_app(qbo, creds.client_id, creds.client_secret, REDIRECT)
    land(warehouse, company, rendered[cid])
    map_company(warehouse, cid)
    tokens = _connect(warehouse, app, SecretBox([generate_secret_key()]), Q, cid)
    end = company["end_date"]
    rows = fetch_trial_balances(
        Q, warehouse, tokens, cid, [company["qbo_realm_id"]], qbo, as_of=end, now=NOW
    )
    assert set(rows["fiscal_year_start"]) == {fiscal_year_start(end, 10)} == {d(10, 1)}
    books = build_books(warehouse, cid)
    stored = warehouse.read(PROVIDER_TRIAL_BALANCES, company_id=cid)
    assert trial_balance_differences(books.journal_lines, stored, books.accounts).is_empty()
    # held to the calendar year instead, August and September show up as differences
    calendar = stored.with_columns(pl.lit(d(1, 1)).alias("fiscal_year_start"))
    diff = trial_balance_differences(books.journal_lines, calendar, books.accounts)
    assert diff.height > 2
    retained = books.accounts.filter(pl.col("account_subtype") == "RetainedEarnings")
    (re_id,) = retained["account_id"].to_list()
    assert re_id in set(diff["account_id"])
    assert diff["difference"].sum() == 0  # the same money, on other accounts


def test_fiscal_year_start() -> None:
    assert fiscal_year_start(d(10, 31), 10) == d(10, 1)
    assert fiscal_year_start(d(9, 30), 10) == d(10, 1, 2025)
    assert fiscal_year_start(d(1, 1), 1) == d(1, 1)
    assert fiscal_year_start(d(6, 30), 7) == d(7, 1, 2025)
    assert fiscal_year_start(d(7, 1), 7) == d(7, 1)
