"""The company registry and the partition bookkeeping."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.companies import (
    RegistryError,
    companies_from_world,
    connections_from_world,
    partition_changes,
    register,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS

T0 = dt.datetime(2026, 1, 1, 9, 0)
T1 = dt.datetime(2026, 2, 1, 9, 0)


def world_companies() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": ["cmp_a", "cmp_b"],
            "name": ["Alpha Cafe", "Beta Build"],
            "naics_code": ["722515", "236220"],
            "country": ["GB", "US"],
            "home_currency": ["GBP", "USD"],
            "fiscal_year_start_month": [4, 1],
            "qbo_realm_id": [None, "9130357766900456"],
            "xero_tenant_id": [
                "0f5b2c5e-7d44-4d7b-9d3e-2a1d2c3b4a59",
                "a1b2c3d4-0000-4000-8000-000000000001",
            ],
        }
    )


def world_banks() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": ["cmp_a", "cmp_b", "cmp_b", "cmp_b"],
            "bank_provider": ["openbanking", "aggregator", "aggregator", "statement"],
            "bank_account_id": ["acc-1", "acc-2", "acc-3", "acc-4"],
            "institution_name": ["Barclays", "Chase", "Chase", "Citibank"],
            "account_name": ["Current", "Checking", "Savings", "Card"],
            "iban": ["GB52BARC69347135245958", None, None, None],
            "account_number": ["35245958", "9034081199", "6178663262", "3923248387"],
        }
    )


def test_world_rows_become_registry_rows() -> None:
    companies = companies_from_world(world_companies(), T0)
    assert companies.columns == COMPANIES.column_names
    assert companies["status"].to_list() == ["active", "active"]
    connections = connections_from_world(world_companies(), world_banks(), T0)
    assert connections.columns == CONNECTIONS.column_names
    got = sorted(connections.select("company_id", "provider", "external_id").rows())
    # Bank APIs get their connection (a consent, an item) from `finpipe connect`; accounts
    # known only through statement files are connected from the start.
    assert got == [
        ("cmp_a", "xero", "0f5b2c5e-7d44-4d7b-9d3e-2a1d2c3b4a59"),
        ("cmp_b", "quickbooks", "9130357766900456"),
        ("cmp_b", "statement", "3923248387"),
        ("cmp_b", "xero", "a1b2c3d4-0000-4000-8000-000000000001"),
    ]
    status = dict(connections.select("provider", "status").unique().iter_rows())
    assert status == {"xero": "pending", "quickbooks": "pending", "statement": "active"}


def test_register_twice_keeps_created_at_and_connection_status(warehouse: Warehouse) -> None:
    register(
        warehouse,
        companies_from_world(world_companies(), T0),
        connections_from_world(world_companies(), world_banks(), T0),
    )
    warehouse.execute(
        "UPDATE ops.connections SET status = 'active', status_reason = NULL "
        "WHERE provider = 'quickbooks'"
    )
    renamed = world_companies().with_columns(pl.lit("Beta Builders").alias("name"))
    company_result, connection_result = register(
        warehouse,
        companies_from_world(renamed, T1),
        connections_from_world(renamed, world_banks(), T1),
    )
    assert (company_result.rows_written, company_result.inserted) == (2, 0)
    assert connection_result.inserted == 0
    companies = warehouse.read(COMPANIES)
    assert companies["name"].to_list() == ["Beta Builders", "Beta Builders"]
    assert set(companies["created_at"].dt.replace_time_zone(None)) == {T0}
    assert set(companies["updated_at"].dt.replace_time_zone(None)) == {T1}
    qbo = warehouse.read(CONNECTIONS, where="provider = %s", params=["quickbooks"])
    assert qbo["status"].to_list() == ["active"]
    assert qbo["status_reason"].to_list() == [None]
    assert warehouse.count(CONNECTIONS) == 4


def test_register_rejects_bad_month_and_orphan_connections(warehouse: Warehouse) -> None:
    bad = companies_from_world(world_companies(), T0).with_columns(
        pl.lit(13).alias("fiscal_year_start_month")
    )
    with pytest.raises(RegistryError, match="'cmp_a': fiscal_year_start_month 13"):
        register(warehouse, bad, connections_from_world(world_companies(), world_banks(), T0))
    only_a = companies_from_world(world_companies(), T0).filter(pl.col("company_id") == "cmp_a")
    with pytest.raises(RegistryError, match="names company 'cmp_b'"):
        register(warehouse, only_a, connections_from_world(world_companies(), world_banks(), T0))
    assert warehouse.count(COMPANIES) == 0


def test_partition_changes_follow_statuses() -> None:
    registry = pl.DataFrame(
        {
            "company_id": ["a", "b", "c", "d"],
            "status": ["active", "paused", "removed", "active"],
        }
    )
    changes = partition_changes(["b", "c", "zombie"], registry)
    assert changes.add == ("a", "d")
    assert changes.delete == ("c", "zombie")
    assert partition_changes(["a", "b", "d"], registry).empty
