"""Great Expectations suites derived from table declarations."""

from __future__ import annotations

import datetime as dt

import polars as pl

from finpipe.quality.expectations import validate_frame
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES

INVOICES = QUICKBOOKS_TABLES["Invoice"]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def landed(ids: list[str | None], tenants: list[str] | None = None) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "company_id": ["c1"] * n,
            "tenant_id": tenants or ["9130"] * n,
            "source_id": ids,
            "source_updated_at": [NOW] * n,
            "payload": ["{}"] * n,
            "deleted": [False] * n,
            "extracted_at": [NOW] * n,
            "sync_id": ["s1"] * n,
        },
        schema=INVOICES.polars_schema(),
    )


def test_clean_frame_passes_every_expectation() -> None:
    outcomes = validate_frame(INVOICES, landed(["1", "2", "3"]))
    assert outcomes and all(o.success for o in outcomes)
    names = {o.expectation for o in outcomes}
    assert names >= {
        "expect_table_columns_to_match_ordered_list",
        "expect_column_values_to_not_be_null",
        "expect_compound_columns_to_be_unique",
    }


def test_repeated_ids_and_null_keys_are_reported_with_examples() -> None:
    outcomes = {
        (o.expectation, o.column): o for o in validate_frame(INVOICES, landed(["1", "1", None]))
    }
    unique = outcomes[("expect_compound_columns_to_be_unique", "tenant_id,source_id")]
    assert not unique.success and unique.unexpected_count == 2
    nulls = outcomes[("expect_column_values_to_not_be_null", "source_id")]
    assert not nulls.success and nulls.unexpected_count == 1


def test_same_id_in_two_tenants_is_fine() -> None:
    outcomes = validate_frame(INVOICES, landed(["1", "1"], tenants=["a", "b"]))
    assert all(o.success for o in outcomes)
