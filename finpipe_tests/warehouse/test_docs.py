"""The checked-in table reference must match the declarations."""

from __future__ import annotations

from pathlib import Path

from finpipe.warehouse.docs import render_reference
from finpipe.warehouse.tables import ALL_TABLES

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "tables.md"


def test_reference_page_is_current() -> None:
    assert REFERENCE.exists(), "docs/tables.md is missing: run `make docs`"
    assert REFERENCE.read_text() == render_reference(), "docs/tables.md is stale: run `make docs`"


def test_reference_names_every_table_and_column() -> None:
    page = render_reference()
    for table in ALL_TABLES:
        assert f"### `{table.qualified_name}`" in page
        for column in table.columns:
            assert f"| `{column.name}`" in page
