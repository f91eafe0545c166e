"""Fixtures of the webhook receiver tests: warehouses with the webhook tables, the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables import webhooks as webhook_tables


@pytest.fixture
def wh(warehouse: Warehouse) -> Warehouse:
    """The parametrised warehouse (DuckDB and PostgreSQL) with the webhook tables; they are
    created here because the table catalog may not list them yet."""
    warehouse.ensure_tables(webhook_tables.TABLES)
    return warehouse


@pytest.fixture
def duck_wh(duck: Warehouse) -> Iterator[Warehouse]:
    """DuckDB only (tests about the HTTP surface rather than storage engines)."""
    duck.ensure_tables(webhook_tables.TABLES)
    yield duck
