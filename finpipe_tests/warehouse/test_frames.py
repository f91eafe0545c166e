"""The write path's checks, without any database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from finpipe.warehouse import FrameSchemaError, Kind, Table
from finpipe.warehouse.frames import check_partition, conform, to_arrow
from finpipe.warehouse.schema import col, company_id_column

LEDGER = Table(
    schema="ledger",
    name="t_frames",
    doc="test",
    columns=(
        company_id_column(),
        col("id", Kind.TEXT, "id", nullable=False),
        col("amount", Kind.MONEY, "cents", nullable=False),
        col("rate", Kind.DECIMAL, "rate", precision=18, scale=8),
        col("booked", Kind.DATE, "date"),
    ),
    primary_key=("company_id", "id"),
)


def frame(**overrides: object) -> pl.DataFrame:
    data: dict[str, object] = {
        "company_id": ["c1", "c1"],
        "id": ["a", "b"],
        "amount": [100, -250],
        "rate": [Decimal("1.23456789"), None],
        "booked": [dt.date(2026, 1, 2), None],
    }
    data.update(overrides)
    return pl.DataFrame(data)


def test_conform_orders_and_types_columns() -> None:
    shuffled = frame().select("booked", "rate", "amount", "id", "company_id")
    shaped = conform(LEDGER, shuffled)
    assert shaped.columns == LEDGER.column_names
    assert shaped.schema["rate"] == pl.Decimal(18, 8)
    assert shaped["rate"][0] == Decimal("1.23456789")
    arrow = to_arrow(LEDGER, shaped)
    assert str(arrow.schema.field("rate").type) == "decimal128(18, 8)"


def test_missing_and_extra_columns_are_named() -> None:
    with pytest.raises(FrameSchemaError, match=r"lacks column\(s\) \['amount'\]"):
        conform(LEDGER, frame().drop("amount"))
    with pytest.raises(FrameSchemaError, match=r"undeclared column\(s\) \['note'\]"):
        conform(LEDGER, frame(note=["x", "y"]))


def test_float_money_that_is_not_whole_is_refused() -> None:
    with pytest.raises(FrameSchemaError, match="'amount' holds binary floats"):
        conform(LEDGER, frame(amount=[1.5, 2.0]))


def test_null_in_required_column_names_the_key() -> None:
    with pytest.raises(
        FrameSchemaError,
        match=r"'amount' is declared NOT NULL but 1 row\(s\) are null, e.g. keys \[\('c1', 'b'\)\]",
    ):
        conform(LEDGER, frame(amount=[1, None]))


def test_repeated_primary_key_is_refused() -> None:
    with pytest.raises(FrameSchemaError, match=r"repeats in the frame \(2 rows\)"):
        conform(LEDGER, frame(id=["a", "a"]))


def test_partition_write_rejects_rows_of_another_company() -> None:
    shaped = conform(LEDGER, frame(company_id=["c1", "c2"]))
    with pytest.raises(FrameSchemaError, match=r"writing partition 'c1' but 1 row\(s\)"):
        check_partition(LEDGER, "c1", shaped)
