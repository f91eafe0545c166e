"""The glue that reconciles one company from the warehouse (``finpipe.reconcile.build``), on
both engines, over hand-built ``ledger`` tables: what ``recon.*`` holds after
``write_recon`` (matches, aged exceptions, the summary), movements older than the bank feed
set aside, invoice matching over the book-of-record documents only, and write-back planned
from the company's settings."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from finpipe.compliance.audit import AuditKind
from finpipe.ledger.account_mapping import ACCOUNT_SCHEMA, map_accounts
from finpipe.ledger.books_schema import ALLOCATION_SCHEMA
from finpipe.reconcile.build import (
    AGE_BUCKETS,
    before_bank_history,
    match_company_invoices,
    plan_company_writeback,
    reconcile_company,
    record_writeback,
    write_invoices,
    write_recon,
)
from finpipe.reconcile.cascade import ReconConfig
from finpipe.reconcile.writeback import PROPOSAL_SCHEMA
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG
from finpipe.warehouse.tables.ledger import (
    ALLOCATIONS,
    BANK_ACCOUNT_LINKS,
    BANK_ACCOUNTS,
    BANK_LINES,
    CASH_MOVEMENTS,
    DOCUMENTS,
)
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP
from finpipe.warehouse.tables.ops import WRITEBACK_SETTINGS
from finpipe.warehouse.tables.recon import (
    INVOICE_MATCHES,
    MATCHES,
    OPEN_ITEMS,
    SUGGESTIONS,
    SUMMARY,
    UNAPPLIED_PAYMENTS,
    UNMATCHED_BANK_LINES,
    UNMATCHED_MOVEMENTS,
    WRITEBACK_LOG,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 1, 9, tzinfo=UTC)
CO = "cmp_r"
ACC = "acc-1"
FIRST_LINE = dt.date(2026, 8, 1)  # the bank feed's first line on ACC


def d(month: int, day: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, day)


def line_id(n: int) -> str:
    return f"openbanking:{ACC}:tx-{n}"


def bank_lines(*rows: dict[str, Any]) -> pl.DataFrame:
    """``ledger.bank_lines`` rows from (n, day, amount, description, and any column)."""
    full = []
    for r in rows:
        r = dict(r)
        n = r.pop("n")
        full.append(
            {
                "company_id": CO,
                "line_id": line_id(n),
                "bank_account_id": ACC,
                "source": "openbanking",
                "source_id": f"tx-{n}",
                "booked_date": r.pop("day"),
                "value_date": None,
                "amount": r.pop("amount"),
                "currency": "USD",
                "status": "booked",
                "description": r.pop("description"),
                "counterparty_name": None,
                "counterparty_account": None,
                "reference": None,
                "bank_transaction_code": None,
                "running_balance": None,
                "pending_source_id": None,
                "also_reported_by": None,
                "extracted_at": NOW,
                **r,
            }
        )
    return pl.DataFrame(full, schema=BANK_LINES.polars_schema())


def movements(*rows: dict[str, Any]) -> pl.DataFrame:
    """``ledger.cash_movements`` rows from (id, day, amount, and any column)."""
    full = []
    for r in rows:
        r = dict(r)
        mid = r.pop("id")
        full.append(
            {
                "company_id": CO,
                "movement_id": f"quickbooks:{mid}:0",
                "provider": "quickbooks",
                "document_id": mid,
                "document_number": None,
                "document_type": r.pop("type", "customer_payment"),
                "cash_account_id": "35",
                "bank_account_id": ACC,
                "date": r.pop("day"),
                "amount": r.pop("amount"),
                "currency": "USD",
                "document_currency": "USD",
                "counterparty_name": None,
                "counterparty_account": None,
                "reference": None,
                "external_id": None,
                **r,
            }
        )
    return pl.DataFrame(full, schema=CASH_MOVEMENTS.polars_schema())


def bank_account(first: dt.date | None = FIRST_LINE, account: str = ACC) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "company_id": CO,
                "bank_account_id": account,
                "source": "openbanking",
                "institution_name": "Bank",
                "account_name": "Current",
                "account_type": "checking",
                "iban": None,
                "account_number": "12345678",
                "currency": "USD",
                "reported_balance": None,
                "reported_balance_date": None,
                "lines": 5,
                "first_booked_date": first,
                "last_booked_date": d(10, 6),
            }
        ],
        schema=BANK_ACCOUNTS.polars_schema(),
    )


FEE = "MONTHLY ACCOUNT FEE"
LINES = bank_lines(
    # found by the payment id the bank also reports (exact_id)
    {"n": 1, "day": d(10, 2), "amount": 12000, "description": "ACME LTD PAYMENT"},
    # same amount a day apart (amount_date)
    {"n": 2, "day": d(10, 5), "amount": -4500, "description": "CARD 1234 OFFICE DEPOT"},
    # a fee the books lack: unmatched, 51 days old at the reconciliation date
    {"n": 3, "day": d(8, 20), "amount": -1500, "description": FEE},
    # a fee the books have: matched, so never written back
    {"n": 5, "day": d(10, 6), "amount": -2500, "description": "WIRE FEE"},
    # pending: never matched, not counted as booked
    {"n": 4, "day": d(10, 8), "amount": -999, "description": "PENDING", "status": "pending"},
)
MOVES = movements(
    {"id": "m1", "day": d(10, 1), "amount": 12000, "external_id": "tx-1"},
    {"id": "m2", "day": d(10, 4), "amount": -4500, "type": "expense"},
    {"id": "m5", "day": d(10, 6), "amount": -2500, "type": "expense"},
    # in the books, not (yet) at the bank: unmatched
    {"id": "m3", "day": d(10, 10), "amount": 9999},
    # 4 days before the feed's first line: inside the date window, so it is an exception
    {"id": "m4", "day": d(7, 28), "amount": -2000, "type": "expense"},
    # the opening balance, months before the feed starts: set aside
    {"id": "ob", "day": d(1, 1), "amount": 100000, "type": "journal"},
)


@pytest.fixture
def books(warehouse: Warehouse) -> Warehouse:
    warehouse.replace_partition(BANK_LINES, CO, LINES)
    warehouse.replace_partition(BANK_ACCOUNTS, CO, bank_account())
    warehouse.replace_partition(CASH_MOVEMENTS, CO, MOVES)
    return warehouse


def mid(name: str) -> str:
    return f"quickbooks:{name}:0"


# ------------------------------------------------------------------- reconcile_company


def test_reconcile_and_write_recon(books: Warehouse) -> None:
    recon = reconcile_company(books, CO)
    # the latest date either side reached, not the wall clock
    assert recon.as_of == d(10, 10)
    assert recon.before_history["movement_id"].to_list() == [mid("ob")]
    assert mid("ob") not in set(recon.movements["movement_id"])
    assert recon.rates_by_rule() == {"amount_date": 2, "exact_id": 1}
    write_recon(books, recon)

    matches = books.read(MATCHES, company_id=CO).sort("bank_line_id")
    assert matches.select("bank_line_id", "movement_id", "rule", "match_type").rows() == [
        (line_id(1), mid("m1"), "exact_id", "1:1"),
        (line_id(2), mid("m2"), "amount_date", "1:1"),
        (line_id(5), mid("m5"), "amount_date", "1:1"),
    ]
    assert matches["amount_difference"].to_list() == [0, 0, 0]
    assert ((matches["confidence"] > 0) & (matches["confidence"] <= 1)).all()
    assert (matches["match_id"] == matches["group_id"]).all()
    assert books.count(SUGGESTIONS, CO) == 0

    unmatched = books.read(UNMATCHED_BANK_LINES, company_id=CO)
    assert unmatched.select(
        "line_id", "booked_date", "amount", "description", "age_days", "age_bucket", "suggested"
    ).rows() == [(line_id(3), d(8, 20), -1500, FEE, 51, "31-60", False)]
    moves = books.read(UNMATCHED_MOVEMENTS, company_id=CO).sort("movement_id")
    assert moves.select("movement_id", "date", "amount", "age_days", "age_bucket").rows() == [
        (mid("m3"), d(10, 10), 9999, 0, "0-7"),
        (mid("m4"), d(7, 28), -2000, 74, "61-90"),
    ]
    assert set(moves["age_bucket"]) <= set(AGE_BUCKETS)

    summary = books.read(SUMMARY, company_id=CO)
    assert summary.columns == [c.name for c in SUMMARY.columns]
    assert recon.summary.columns == summary.columns
    (row,) = summary.iter_rows(named=True)
    assert row == {
        "company_id": CO,
        "currency": "USD",
        "bank_lines_booked": 4,
        "bank_lines_matched": 3,
        "matched_share": pytest.approx(0.75),
        "matched_exact_id": 1,
        "matched_reference": 0,
        "matched_amount_date": 2,
        "matched_tolerance": 0,
        "matched_counterparty": 0,
        "matched_subset_sum": 0,
        "bank_lines_suggested": 0,
        "bank_lines_unmatched": 1,
        "bank_unmatched_amount": 1500,
        "bank_unmatched_0_7": 0,
        "bank_unmatched_8_30": 0,
        "bank_unmatched_31_60": 1500,
        "bank_unmatched_61_90": 0,
        "bank_unmatched_over_90": 0,
        "movements": 5,  # the opening balance is not one of them
        "movements_unmatched": 2,
        "movement_unmatched_amount": 11999,
        "movement_unmatched_0_7": 9999,
        "movement_unmatched_8_30": 0,
        "movement_unmatched_31_60": 0,
        "movement_unmatched_61_90": 2000,
        "movement_unmatched_over_90": 0,
        "auto_reconciled_amount_share": pytest.approx(19000 / 20500),
    }

    # a re-run replaces the company's rows, never adds to them
    write_recon(books, reconcile_company(books, CO))
    assert books.count(MATCHES, CO) == 3
    assert books.count(UNMATCHED_BANK_LINES, CO) == 1
    assert books.count(UNMATCHED_MOVEMENTS, CO) == 2
    assert books.count(SUMMARY, CO) == 1


def test_a_later_reconciliation_date_ages_what_is_left(books: Warehouse) -> None:
    recon = reconcile_company(books, CO, as_of=d(11, 30))
    assert recon.as_of == d(11, 30)
    assert recon.unmatched_bank_lines.select("age_days", "age_bucket").rows() == [(102, "90+")]
    ages = dict(
        recon.unmatched_movements.select("movement_id", "age_bucket").iter_rows()  # type: ignore[arg-type]
    )
    assert ages == {mid("m3"): "31-60", mid("m4"): "90+"}
    (row,) = recon.summary.iter_rows(named=True)
    assert (row["bank_unmatched_over_90"], row["bank_unmatched_31_60"]) == (1500, 0)
    assert (row["movement_unmatched_31_60"], row["movement_unmatched_over_90"]) == (9999, 2000)


def test_before_bank_history_sets_aside_only_what_is_older_than_the_window() -> None:
    config = ReconConfig()
    assert config.window_max_days == 7
    first = FIRST_LINE
    frame = movements(
        {"id": "old", "day": first - dt.timedelta(days=8), "amount": 100},
        {"id": "edge", "day": first - dt.timedelta(days=7), "amount": 200},
        {"id": "inside", "day": first + dt.timedelta(days=3), "amount": 300},
        {"id": "other", "day": d(1, 1), "amount": 400, "bank_account_id": "acc-unknown"},
        {"id": "unlinked", "day": d(1, 1), "amount": 500, "bank_account_id": None},
    )
    accounts = pl.concat([bank_account(), bank_account(first=None, account="acc-new")])
    kept, old = before_bank_history(frame, accounts, config)
    assert old["document_id"].to_list() == ["old"]
    assert sorted(kept["document_id"]) == ["edge", "inside", "other", "unlinked"]
    assert kept.columns == frame.columns and old.columns == frame.columns
    # a wider window keeps it
    kept, old = before_bank_history(frame, accounts, ReconConfig(window_max_days=30))
    assert old.is_empty() and kept.height == frame.height


# ------------------------------------------------------------------ invoice matching


def documents(*rows: tuple) -> pl.DataFrame:
    """(provider, id, doc_type, contact, issue_date, total, book_of_record)."""
    frame = pl.DataFrame(
        [
            {
                "company_id": CO,
                "provider": p,
                "document_id": i,
                "doc_type": t,
                "source_type": t,
                "number": i.upper(),
                "contact_id": c,
                "issue_date": day,
                "due_date": day + dt.timedelta(days=30),
                "currency": "USD",
                "total": total,
                "home_total": total,
                "amount_due": total if t == "invoice" else None,
                "status": "open" if t == "invoice" else "posted",
                "book_of_record": keep,
            }
            for p, i, t, c, day, total, keep in rows
        ]
    )
    schema = DOCUMENTS.polars_schema()
    missing = [pl.lit(None, t).alias(n) for n, t in schema.items() if n not in frame.columns]
    return frame.with_columns(missing).select(list(schema)).cast(dict(schema))


def allocations(*rows: tuple[str, str, str, str, int]) -> pl.DataFrame:
    """(provider, id, source, target, amount)."""
    return pl.DataFrame(
        [
            {
                "company_id": CO,
                "provider": p,
                "allocation_id": a,
                "source_document_id": s,
                "target_document_id": t,
                "date": d(9, 20),
                "amount": amount,
                "currency": "USD",
            }
            for p, a, s, t, amount in rows
        ],
        schema=ALLOCATION_SCHEMA,
    )


def test_invoices_are_matched_in_the_book_of_record_only(warehouse: Warehouse) -> None:
    Q, X = "quickbooks", "xero"
    docs = documents(
        (Q, "inv1", "invoice", "c1", d(9, 1), 10000, True),
        (Q, "pay1", "customer_payment", "c1", d(9, 15), 10000, True),  # unapplied: by amount
        (Q, "inv2", "invoice", "c2", d(9, 5), 5000, True),
        (Q, "pay2", "customer_payment", "c2", d(9, 20), 5000, True),  # the books apply it
        # the Xero copies the company dropped (twins of the QuickBooks documents)
        (X, "x-inv1", "invoice", "xc1", d(9, 1), 10000, False),
        (X, "x-pay1", "customer_payment", "xc1", d(9, 15), 10000, False),
        (X, "x-inv3", "invoice", "xc1", d(9, 25), 7000, False),
        (X, "x-pay3", "customer_payment", "xc1", d(9, 26), 3000, False),
    )
    warehouse.replace_partition(DOCUMENTS, CO, docs)
    warehouse.replace_partition(
        ALLOCATIONS,
        CO,
        allocations(
            (Q, "a1", "pay2", "inv2", 5000),
            (X, "xa1", "x-pay3", "x-inv3", 3000),
        ),
    )
    invoices = match_company_invoices(warehouse, CO)
    assert invoices.as_of == d(9, 20)  # the latest book-of-record document
    write_invoices(warehouse, invoices)

    matches = warehouse.read(INVOICE_MATCHES, company_id=CO).sort("payment_document_id")
    assert matches.select(
        "provider", "payment_document_id", "invoice_document_id", "amount", "rule"
    ).rows() == [
        (Q, "pay1", "inv1", 10000, "amount"),
        (Q, "pay2", "inv2", 5000, "books"),
    ]
    assert invoices.counts["books"] == 1 and invoices.counts["amount"] == 1
    items = warehouse.read(OPEN_ITEMS, company_id=CO)
    assert items.select("provider", "document_id", "applied", "open_balance", "status").rows() == [
        (Q, "inv1", 10000, 0, "paid"),
        (Q, "inv2", 5000, 0, "paid"),
    ]
    assert set(items["as_of"]) == {d(9, 20)}
    assert warehouse.count(UNAPPLIED_PAYMENTS, CO) == 0
    assert invoices.rejects.is_empty()

    # the same company with the Xero copies as its book of record instead
    swapped = docs.with_columns(pl.col("book_of_record").not_())
    warehouse.replace_partition(DOCUMENTS, CO, swapped)
    invoices = match_company_invoices(warehouse, CO, as_of=d(9, 30))
    write_invoices(warehouse, invoices)
    matches = warehouse.read(INVOICE_MATCHES, company_id=CO).sort("payment_document_id")
    assert matches.select(
        "provider", "payment_document_id", "invoice_document_id", "amount", "rule"
    ).rows() == [
        (X, "x-pay1", "x-inv1", 10000, "amount"),
        (X, "x-pay3", "x-inv3", 3000, "books"),
    ]
    items = warehouse.read(OPEN_ITEMS, company_id=CO)
    assert items.select("document_id", "open_balance", "status").rows() == [
        ("x-inv1", 0, "paid"),
        ("x-inv3", 4000, "partially_paid"),
    ]
    assert set(items["provider"]) == {X}


# ------------------------------------------------------------------------- write-back


def chart_and_links(warehouse: Warehouse) -> None:
    """QBO accounts mapped as ledger.account_map holds them; the bank feed linked to 35."""
    accounts = pl.DataFrame(
        [
            ("35", "Checking", "Bank", "Checking", "Asset"),
            ("60", "Bank Service Charges", "Expense", "BankCharges", "Expense"),
            ("61", "Office Supplies", "Expense", "SuppliesMaterials", "Expense"),
        ],
        schema=["account_id", "name", "account_type", "account_subtype", "classification"],
        orient="row",
    ).with_columns(
        pl.lit(CO).alias("company_id"),
        pl.lit("quickbooks").alias("provider"),
        pl.lit(None, pl.String).alias("code"),
        pl.lit("USD").alias("currency"),
    )
    mapped = map_accounts(accounts.select(list(ACCOUNT_SCHEMA)))
    assert dict(mapped.select("account_id", "standard_code").iter_rows())["60"] == "6600"
    warehouse.replace_partition(ACCOUNT_MAP, CO, mapped)
    warehouse.replace_partition(
        BANK_ACCOUNT_LINKS,
        CO,
        pl.DataFrame(
            [
                {
                    "company_id": CO,
                    "bank_account_id": ACC,
                    "provider": "quickbooks",
                    "cash_account_id": "35",
                    "method": "account_number",
                }
            ],
            schema=BANK_ACCOUNT_LINKS.polars_schema(),
        ),
    )


def settings(enabled: bool, dry_run: bool | None) -> pl.DataFrame:
    return pl.DataFrame(
        [{"company_id": CO, "enabled": enabled, "dry_run": dry_run, "provider": None,
          "updated_at": NOW}],
        schema=WRITEBACK_SETTINGS.polars_schema(),
    )  # fmt: skip


def test_writeback_is_off_without_settings(books: Warehouse) -> None:
    chart_and_links(books)
    write_recon(books, reconcile_company(books, CO))
    plan = plan_company_writeback(books, CO)
    assert (plan.enabled, plan.dry_run) == (False, True)
    assert plan.plan.is_empty() and plan.plan.schema == PROPOSAL_SCHEMA
    assert plan.providers == ()
    assert plan.previous.is_empty()


def test_writeback_plans_the_fee_the_books_lack(books: Warehouse) -> None:
    chart_and_links(books)
    write_recon(books, reconcile_company(books, CO))
    books.upsert(WRITEBACK_SETTINGS, settings(True, None))
    plan = plan_company_writeback(books, CO)
    assert (plan.enabled, plan.dry_run) == (True, True)  # null dry_run means rehearse

    books.upsert(WRITEBACK_SETTINGS, settings(True, False))
    plan = plan_company_writeback(books, CO)
    assert (plan.enabled, plan.dry_run) == (True, False)
    assert plan.providers == ("quickbooks",)
    assert plan.rejects.is_empty(), plan.rejects.to_dicts()
    # the unmatched MONTHLY ACCOUNT FEE only: WIRE FEE is matched to an expense already
    (row,) = plan.plan.iter_rows(named=True)
    assert {k: row[k] for k in row if k not in ("payload", "idempotency_key", "memo")} == {
        "company_id": CO,
        "provider": "quickbooks",
        "bank_line_id": line_id(3),
        "bank_account_id": ACC,
        "kind": "bank_fee",
        "rule": "narration",
        "confidence": pytest.approx(0.85),
        "entity": "Purchase",
        "transaction_type": "Cash",
        "cash_account_id": "35",
        "target_account_id": "60",
        "target_account_code": None,
        "date": d(8, 20),
        "amount": -1500,
        "currency": "USD",
        "dry_run": False,
    }
    assert FEE in row["memo"] and line_id(3) in row["memo"]
    body = json.loads(row["payload"], parse_float=Decimal)
    assert body["AccountRef"] == {"value": "35"}
    assert body["TxnDate"] == "2026-08-20"
    (item,) = body["Line"]
    assert item["Amount"] == Decimal("15.00")
    assert item["AccountBasedExpenseLineDetail"]["AccountRef"] == {"value": "60"}
    # the same line planned again gets the same key (what makes a re-run idempotent)
    assert plan_company_writeback(books, CO).plan["idempotency_key"].to_list() == [
        row["idempotency_key"]
    ]

    # a run's log and audit events are appended, never rewritten
    log = pl.DataFrame(
        [
            {
                "company_id": CO,
                "provider": "quickbooks",
                "bank_line_id": line_id(3),
                "idempotency_key": row["idempotency_key"],
                "entity": "Purchase",
                "source_id": "900",
                "source_version": "0",
                "amount": -1500,
                "status": "created",
                "detail": None,
                "attempted_at": NOW,
            }
        ],
        schema=WRITEBACK_LOG.polars_schema(),
    )
    event = {
        "subject": f"quickbooks:Purchase:{line_id(3)}",
        "details": {"status": "created", "amount": -1500},
        "actor": "finpipe.writeback",
    }
    record_writeback(books, CO, log, [event])
    record_writeback(books, CO, log.clear(), [])
    assert books.count(WRITEBACK_LOG, CO) == 1
    audit = books.read(
        AUDIT_LOG, company_id=CO, where="kind = %s", params=[AuditKind.WRITE_BACK.value]
    )
    assert audit["subject"].to_list() == [event["subject"]]
    again = plan_company_writeback(books, CO)
    assert again.previous["status"].to_list() == ["created"]
