"""The warehouse round trip: the hand ledger written as ``ledger.journal_lines`` with its
registry row, built, written to ``analytics.*`` and read back through the public readers,
on both engines; a company without books writes empty partitions."""

from __future__ import annotations

import datetime as dt

import polars as pl

from finpipe.analytics.financials.build import (
    build_financials,
    latest_kpis,
    read_kpis,
    read_kpis_wide,
    summary_markdown,
    write_financials,
)
from finpipe.analytics.financials.kpis import BY_NAME
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import (
    BALANCE_SHEET,
    INCOME_STATEMENT,
    KPIS,
    TABLES,
)
from finpipe.warehouse.tables.ledger import JOURNAL_LINES
from finpipe.warehouse.tables.ops import COMPANIES
from finpipe_tests.analytics.financials.test_statements_kpis import LEDGER, MAR

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def seed(wh: Warehouse) -> None:
    n = len(LEDGER)
    lines = pl.DataFrame(
        {
            "company_id": ["c1"] * n,
            "provider": ["xero"] * n,
            "entry_id": [f"e{i // 2}" for i in range(n)],
            "line_no": [i % 2 + 1 for i in range(n)],
            "document_id": [f"d{i // 2}" for i in range(n)],
            "doc_type": ["journal"] * n,
            "date": [r[0] for r in LEDGER],
            "account_id": [f"a{r[1]}" for r in LEDGER],
            "standard_code": [r[1] for r in LEDGER],
            "amount": [r[2] for r in LEDGER],
            "currency": ["GBP"] * n,
            "foreign_amount": [r[2] for r in LEDGER],
            "contact_id": [None] * n,
            "description": [None] * n,
        },
        schema=JOURNAL_LINES.polars_schema(),
    )
    wh.replace_partition(JOURNAL_LINES, "c1", lines)
    company = pl.DataFrame(
        {
            "company_id": ["c1"],
            "name": ["Hand Ltd"],
            "naics_code": ["541211"],
            "country": ["GB"],
            "home_currency": ["GBP"],
            "fiscal_year_start_month": [2],
            "status": ["active"],
            "created_at": [NOW],
            "updated_at": [NOW],
        },
        schema=COMPANIES.polars_schema(),
    )
    wh.upsert(COMPANIES, company)


def test_round_trip_through_the_warehouse(warehouse: Warehouse) -> None:
    seed(warehouse)
    result = build_financials(warehouse, "c1")
    for _ in range(2):  # a re-run replaces the partition
        write_financials(warehouse, "c1", result)
    income = warehouse.read(INCOME_STATEMENT, company_id="c1")
    assert income["net_income"].to_list() == [18_500, 10_500, -13_000]
    assert set(income["currency"]) == {"GBP"}
    balance = warehouse.read(BALANCE_SHEET, company_id="c1").row(1, named=True)
    # the registry says the fiscal year starts in February
    assert (balance["retained_earnings"], balance["current_year_earnings"]) == (18_500, 10_500)
    assert warehouse.count(KPIS, "c1") == 3 * len(BY_NAME)
    dso = read_kpis(warehouse, "c1", kpis=["dso"])
    assert dso.height == 3 and set(dso["kpi"]) == {"dso"}
    wide = read_kpis_wide(warehouse)
    assert wide.height == 3 and wide.columns[2:] == list(BY_NAME)
    latest = latest_kpis(read_kpis(warehouse))
    assert set(latest["month"]) == {MAR} and latest.height == len(BY_NAME)
    assert "| revenue |" in summary_markdown(result)


def test_a_company_without_books_writes_empty_partitions(duck: Warehouse) -> None:
    result = build_financials(duck, "nobody")
    write_financials(duck, "nobody", result)
    assert all(duck.count(table, "nobody") == 0 for table in TABLES)
    assert all(frame.is_empty() for frame in result.problems().values())
    assert summary_markdown(result) == "_no books yet: nothing to summarise_"
