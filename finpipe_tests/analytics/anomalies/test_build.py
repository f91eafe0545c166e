"""Every detector on one hand-built company, the tables written on both engines (a re-run
replaces, never duplicates), and one end-to-end materialization on a small world."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finpipe.analytics.anomalies.build import detect, detect_company, write_anomalies
from finpipe.analytics.anomalies.features import CompanyTransactions, build_transactions
from finpipe.analytics.anomalies.flags import FLAG_TYPES
from finpipe.ledger.books_schema import JOURNAL_LINE_SCHEMA
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_anomalies import (
    ANOMALY_FLAGS,
    BENFORD_TESTS,
    SEASONAL_ALERTS,
)
from finpipe_tests.world_books import build_company_books, land_world

from .helpers import contacts, d, transactions


def _company() -> CompanyTransactions:
    usual = [
        {
            "document_id": f"u{i}",
            "number": f"BP-{i}",
            "issue_date": d(1 + i % 12, 1 + i % 27),
            "amount": 40_000 + 37 * i,
            "contact_id": f"v{i % 4}",
            "contact_name": f"V{i % 4}",
        }
        for i in range(80)
    ]
    tx = transactions(
        *usual,
        {
            "document_id": "dup1",
            "number": "BP-900",
            "issue_date": d(5, 4),
            "amount": 123_400,
            "paid_document_id": "b5",
        },
        {
            "document_id": "dup2",
            "number": "BP-901",
            "issue_date": d(5, 5),
            "amount": 123_400,
            "paid_document_id": "b5",
        },
    )
    return CompanyTransactions(
        company_id="co",
        currency="GBP",
        transactions=tx,
        contacts=contacts({"contact_id": "v1", "name": "Acme Ltd"}),
        journal_lines=pl.DataFrame(schema={**JOURNAL_LINE_SCHEMA, "standard_code": pl.String}),
    )


def test_detect_gives_flag_rows_with_ids_and_known_types() -> None:
    result = detect(_company())
    flags = result.flags
    assert flags.columns == ANOMALY_FLAGS.column_names
    dup = flags.filter(pl.col("type") == "duplicate_payment")
    assert sorted(dup["document_id"]) == ["dup1", "dup2"]
    assert dup["reason"][0] == (
        "paid 2 times 1,234.00 GBP to Acme Ltd within 1 day(s): BP-900, BP-901 "
        "(all against bill b5)"
    )
    assert flags["flag_id"].n_unique() == flags.height
    assert set(flags["type"]) <= set(FLAG_TYPES)
    assert flags["score"].is_between(0.0, 1.0).all()
    assert result.counts()["duplicate_payment"] == 2
    assert detect(_company()).flags.equals(flags)  # deterministic


def test_a_company_without_books_gets_empty_tables(warehouse: Warehouse) -> None:
    result = detect_company(warehouse, "nobody")
    write_anomalies(warehouse, result)
    assert (result.flags.height, result.benford.height, result.alerts.height) == (0, 0, 0)
    assert set(result.counts().values()) == {0}


def test_write_replaces_the_partition(warehouse: Warehouse) -> None:
    result = detect(_company())
    write_anomalies(warehouse, result)
    write_anomalies(warehouse, result)
    back = warehouse.read(ANOMALY_FLAGS, company_id="co").sort("flag_id")
    assert back.height == result.flags.height > 0
    assert back.select("flag_id", "type", "reason").equals(
        result.flags.select("flag_id", "type", "reason")
    )
    assert warehouse.count(BENFORD_TESTS, "co") == result.benford.height
    assert warehouse.count(SEASONAL_ALERTS, "co") == result.alerts.height


def test_transactions_keep_live_book_of_record_documents_only() -> None:
    base = {
        "company_id": "co",
        "provider": "quickbooks",
        "doc_type": "bill_payment",
        "source_type": "BillPayment",
        "number": None,
        "reference": None,
        "contact_id": "v1",
        "issue_date": d(1, 5),
        "due_date": None,
        "currency": "GBP",
        "fx_rate": None,
        "subtotal": None,
        "tax": None,
        "total": -5_000,
        "home_total": -5_000,
        "amount_due": None,
        "status": "posted",
        "cash_account_id": "1",
        "from_cash_account_id": None,
        "external_id": None,
        "updated_at": None,
        "sync_version": None,
        "book_of_record": True,
    }
    docs = pl.DataFrame(
        [
            {**base, "document_id": "live"},
            {**base, "document_id": "void", "status": "void"},
            {**base, "document_id": "twin", "book_of_record": False},
        ]
    )
    entered = pl.DataFrame(
        {
            "provider": ["quickbooks"],
            "id": ["live"],
            "created": [dt.datetime(2026, 1, 5, 3, tzinfo=dt.UTC)],
        },
        schema={"provider": pl.String, "id": pl.String, "created": pl.Datetime("us", "UTC")},
    )
    alloc = pl.DataFrame(
        {
            "company_id": ["co"],
            "provider": ["quickbooks"],
            "allocation_id": ["a1"],
            "source_document_id": ["live"],
            "target_document_id": ["b1"],
            "date": [d(1, 5)],
            "amount": [5_000],
            "currency": ["GBP"],
        }
    )
    names = contacts({"contact_id": "v1", "name": "Acme Ltd"}).with_columns(
        pl.lit(None, pl.String).alias("email")
    )
    tx = build_transactions(
        "co",
        docs,
        names,
        alloc,
        pl.DataFrame(schema={**JOURNAL_LINE_SCHEMA, "standard_code": pl.String}),
        entered,
    )
    assert tx.select("document_id", "amount", "paid_document_id", "contact_name").rows() == [
        ("live", 5_000, "b1", "Acme Ltd")
    ]
    assert tx["entered_at"][0] == dt.datetime(2026, 1, 5, 3, tzinfo=dt.UTC)


@pytest.mark.slow
def test_materialize_anomalies_on_a_small_world(tmp_path: Path) -> None:
    from finpipe.defs.anomalies.assets import anomalies
    from finpipe.defs.resources import WarehouseResource
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    generate_world(WorldSpec(companies=4, months=6, seed=11), tmp_path / "world")
    world = load_world(tmp_path / "world")
    truth = world.table("truth_anomalies").collect()
    company = sorted(truth.filter(pl.col("document_id").is_not_null())["company_id"])[0]
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    with Warehouse.open(url) as wh:
        land_world(world, wh, only=[company])
        build_company_books(wh, company)
        expected = detect_company(wh, company)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("company", [company])
    result = dg.materialize(
        [anomalies],
        partition_key=company,
        resources={"warehouse": WarehouseResource(url=url)},
        instance=instance,
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == ["flags_explained", "scores_in_range"]
    assert all(c.passed for c in checks)
    with Warehouse.open(url) as wh:
        flags = wh.read(ANOMALY_FLAGS, company_id=company).sort("flag_id")
    assert flags.height == expected.flags.height > 0
    assert flags["flag_id"].to_list() == expected.flags["flag_id"].to_list()
    meta = result.asset_materializations_for_node("anomalies")[0].metadata
    assert "| type | score |" in meta["top_flags"].value
