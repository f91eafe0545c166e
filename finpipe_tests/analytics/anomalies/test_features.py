"""Entry times as the detectors read them: the instant and the company's own clock."""

from __future__ import annotations

import datetime as dt

import polars as pl

from finpipe.analytics.anomalies.features import (
    build_transactions,
    qbo_entry_times,
    xero_entry_times,
    xero_zone,
)


def test_quickbooks_create_times_keep_the_company_clock() -> None:
    frame = pl.DataFrame(
        {
            "provider": ["quickbooks", "quickbooks"],
            "id": ["1", "2"],
            "t": ["2026-03-11T01:30:00+13:00", "2026-07-06T09:15:00-07:00"],
        }
    )
    out = qbo_entry_times(frame)
    assert out["created"].to_list() == [
        dt.datetime(2026, 3, 10, 12, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 6, 16, 15, tzinfo=dt.UTC),
    ]
    assert out["created_local"].to_list() == [
        dt.datetime(2026, 3, 11, 1, 30),
        dt.datetime(2026, 7, 6, 9, 15),
    ]


def test_xero_journal_times_on_the_organisation_clock() -> None:
    # 2026-03-10 12:30 UTC, two journals of one document: the first is its entry
    journals = pl.DataFrame(
        {
            "id": ["doc", "doc", None],
            "t": ["/Date(1773145800000+0000)/", "/Date(1773232200000+0000)/", "/Date(0)/"],
        }
    )
    zone = xero_zone("NEWZEALANDSTANDARDTIME")
    assert zone == "Pacific/Auckland"
    out = xero_entry_times(journals, zone)
    assert out.rows() == [
        (
            "xero",
            "doc",
            dt.datetime(2026, 3, 10, 12, 30, tzinfo=dt.UTC),
            dt.datetime(2026, 3, 11, 1, 30),
        )
    ]
    # an organisation in a zone finpipe does not know: no company clock, UTC stands in
    assert xero_zone("MARSSTANDARDTIME") is None
    assert xero_entry_times(journals, None)["created_local"].to_list() == [None]


def test_transactions_carry_the_company_clock() -> None:
    from finpipe.ledger.books_schema import JOURNAL_LINE_SCHEMA

    base = {
        "company_id": "co",
        "provider": "xero",
        "doc_type": "bill_payment",
        "number": None,
        "reference": None,
        "contact_id": None,
        "issue_date": dt.date(2026, 3, 10),
        "total": 5_000,
        "home_total": 5_000,
        "currency": "NZD",
        "status": "posted",
        "cash_account_id": "1",
        "book_of_record": True,
    }
    docs = pl.DataFrame(
        [{**base, "document_id": "a"}, {**base, "document_id": "b"}],
        schema_overrides={"number": pl.String, "reference": pl.String, "contact_id": pl.String},
    )
    entered = xero_entry_times(
        pl.DataFrame({"id": ["a"], "t": ["/Date(1773145800000+0000)/"]}), "Pacific/Auckland"
    )
    empty = pl.DataFrame(
        schema={
            "provider": pl.String,
            "contact_id": pl.String,
            "name": pl.String,
            "kind": pl.String,
        }
    )
    alloc = pl.DataFrame(
        schema={
            "provider": pl.String,
            "allocation_id": pl.String,
            "source_document_id": pl.String,
            "target_document_id": pl.String,
        }
    )
    lines = pl.DataFrame(schema={**JOURNAL_LINE_SCHEMA, "standard_code": pl.String})
    tx = build_transactions("co", docs, empty, alloc, lines, entered)
    assert tx.select("document_id", "entered_local").rows() == [
        ("a", dt.datetime(2026, 3, 11, 1, 30)),
        ("b", None),
    ]
    # entry times without a wall clock (an older caller): the clock stays unknown
    tx = build_transactions("co", docs, empty, alloc, lines, entered.drop("created_local"))
    assert tx["entered_local"].to_list() == [None, None]
