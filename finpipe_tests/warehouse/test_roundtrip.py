"""Round trips through the warehouse on both engines: types, nulls, exact money, idempotence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from finpipe.config import ConfigError
from finpipe.warehouse import (
    FrameSchemaError,
    Kind,
    Table,
    Warehouse,
    WarehouseConnectionError,
    WarehouseError,
)
from finpipe.warehouse.schema import col, company_id_column

UTC = dt.UTC

SAMPLE = Table(
    schema="recon",
    name="t_roundtrip",
    doc="every column kind",
    columns=(
        company_id_column(),
        col("id", Kind.TEXT, "key", nullable=False),
        col("label", Kind.TEXT, "text, may be empty or null"),
        col("amount", Kind.MONEY, "cents", nullable=False),
        col("count", Kind.INT, "int"),
        col("rate", Kind.DECIMAL, "rate", precision=18, scale=8),
        col("price", Kind.DECIMAL, "to the cent", precision=20, scale=2),
        col("score", Kind.FLOAT, "float"),
        col("flag", Kind.BOOL, "bool"),
        col("day", Kind.DATE, "date"),
        col("at", Kind.TIMESTAMP, "instant"),
        col("payload", Kind.JSON, "json"),
    ),
    primary_key=("company_id", "id"),
)

CROSS = Table(
    schema="analytics",
    name="t_cross",
    doc="cross-company",
    columns=(col("group_id", Kind.TEXT, "key", nullable=False), col("n", Kind.INT, "n")),
    primary_key=("group_id",),
    partition_column=None,
)


def rows(company: str, n: int = 3, amount_shift: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": [company] * n,
            "id": [f"{company}-{i}" for i in range(n)],
            "label": ["", None, 'quote " and, comma\nnewline'][:n] + ["x"] * max(0, n - 3),
            "amount": [-1, 0, 9_007_199_254_740_993][:n] + [i + amount_shift for i in range(n - 3)],
            "count": [None, 7, -7][:n] + [1] * max(0, n - 3),
            "rate": [Decimal("1.23456789"), None, Decimal("-0.00000001")][:n]
            + [Decimal(1)] * max(0, n - 3),
            "price": [Decimal("0.01"), Decimal("123456789012345678.99"), None][:n]
            + [Decimal("1.10")] * max(0, n - 3),
            "score": [0.1, None, float("inf")][:n] + [0.5] * max(0, n - 3),
            "flag": [True, False, None][:n] + [True] * max(0, n - 3),
            "day": [dt.date(2024, 2, 29), None, dt.date(1999, 12, 31)][:n]
            + [dt.date(2026, 1, 1)] * max(0, n - 3),
            "at": [
                dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
                None,
                dt.datetime(2000, 1, 1, tzinfo=UTC),
            ][:n]
            + [dt.datetime(2026, 1, 1, tzinfo=UTC)] * max(0, n - 3),
            "payload": ['{"Id": "1", "Amount": 10.5}', None, "[]"][:n] + ["{}"] * max(0, n - 3),
        }
    )


@pytest.fixture
def wh(warehouse: Warehouse) -> Warehouse:
    warehouse.ensure_tables([SAMPLE, CROSS])
    return warehouse


def test_every_kind_round_trips_exactly(wh: Warehouse) -> None:
    written = rows("c1")
    wh.replace_partition(SAMPLE, "c1", written)
    back = wh.read(SAMPLE, company_id="c1")
    assert back.schema == SAMPLE.polars_schema()
    assert back.drop("payload").equals(written.cast(dict(SAMPLE.polars_schema())).drop("payload"))
    assert back["label"].to_list() == ["", None, 'quote " and, comma\nnewline']
    assert back["amount"].to_list() == [-1, 0, 9_007_199_254_740_993]
    assert back["price"].to_list() == [Decimal("0.01"), Decimal("123456789012345678.99"), None]
    assert back["rate"][2] == Decimal("-0.00000001")
    assert back["at"][0] == dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
    import json

    assert json.loads(back["payload"][0]) == {"Id": "1", "Amount": 10.5}
    assert back["payload"][1] is None


def test_replace_partition_is_idempotent_and_leaves_other_companies(wh: Warehouse) -> None:
    wh.replace_partition(SAMPLE, "c2", rows("c2", 5))
    first = wh.replace_partition(SAMPLE, "c1", rows("c1", 4))
    again = wh.replace_partition(SAMPLE, "c1", rows("c1", 4))
    assert (first.rows_written, first.rows_replaced) == (4, 0)
    assert (again.rows_written, again.rows_replaced) == (4, 4)
    assert wh.count(SAMPLE, "c1") == 4
    assert wh.count(SAMPLE, "c2") == 5
    smaller = wh.replace_partition(SAMPLE, "c1", rows("c1", 2))
    assert smaller.rows_replaced == 4
    assert wh.read(SAMPLE, company_id="c1")["id"].to_list() == ["c1-0", "c1-1"]
    assert wh.count(SAMPLE, "c2") == 5


def test_upsert_updates_matching_keys_and_inserts_the_rest(wh: Warehouse) -> None:
    wh.upsert(SAMPLE, rows("c1", 3))
    changed = rows("c1", 5).with_columns(pl.lit(42).alias("count"))
    result = wh.upsert(SAMPLE, changed)
    assert (result.rows_written, result.rows_replaced, result.inserted) == (5, 3, 2)
    back = wh.read(SAMPLE, company_id="c1")
    assert back.height == 5
    assert back["count"].to_list() == [42] * 5
    again = wh.upsert(SAMPLE, changed)
    assert wh.count(SAMPLE) == 5
    assert again.inserted == 0


def test_upsert_key_must_be_the_declared_primary_key(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="differs from the declared primary key"):
        wh.upsert(SAMPLE, rows("c1"), key=["id"])


def test_failed_write_leaves_previous_rows(wh: Warehouse) -> None:
    wh.replace_partition(SAMPLE, "c1", rows("c1", 3))
    broken = rows("c1", 3).with_columns(pl.lit("{not json").alias("payload"))
    with pytest.raises(WarehouseError):
        wh.replace_partition(SAMPLE, "c1", broken)
    assert wh.read(SAMPLE, company_id="c1")["payload"][2] == "[]"
    with pytest.raises(FrameSchemaError):
        wh.replace_partition(SAMPLE, "c1", rows("c1", 3).with_columns(pl.lit(None).alias("amount")))
    assert wh.count(SAMPLE, "c1") == 3


def test_replace_all_on_cross_company_table(wh: Warehouse) -> None:
    wh.replace_all(CROSS, pl.DataFrame({"group_id": ["a", "b"], "n": [1, 2]}))
    result = wh.replace_all(CROSS, pl.DataFrame({"group_id": ["c"], "n": [3]}))
    assert result.rows_replaced == 2
    assert wh.read(CROSS)["group_id"].to_list() == ["c"]
    with pytest.raises(FrameSchemaError, match="not partitioned by company"):
        wh.replace_partition(CROSS, "c1", pl.DataFrame({"group_id": ["c"], "n": [3]}))


def test_empty_frames_are_fine(wh: Warehouse) -> None:
    wh.replace_partition(SAMPLE, "c1", rows("c1"))
    result = wh.replace_partition(SAMPLE, "c1", rows("c1").clear())
    assert result.rows_replaced == 3
    assert wh.read(SAMPLE, company_id="c1").height == 0
    assert wh.read(SAMPLE).schema == SAMPLE.polars_schema()


def test_missing_declared_column_is_added_to_an_existing_table(warehouse: Warehouse) -> None:
    narrow = Table(
        schema="ops",
        name="t_evolve",
        doc="v1",
        columns=(company_id_column(), col("id", Kind.TEXT, "key", nullable=False)),
        primary_key=("company_id", "id"),
    )
    wide = Table(
        schema="ops",
        name="t_evolve",
        doc="v2",
        columns=(*narrow.columns, col("note", Kind.TEXT, "added later")),
        primary_key=("company_id", "id"),
    )
    warehouse.ensure_tables([narrow])
    warehouse.replace_partition(narrow, "c1", pl.DataFrame({"company_id": ["c1"], "id": ["1"]}))
    warehouse.ensure_tables([wide])
    back = warehouse.read(wide)
    assert back.columns == ["company_id", "id", "note"]
    assert back.rows() == [("c1", "1", None)]


def test_query_returns_polars(wh: Warehouse) -> None:
    wh.replace_partition(SAMPLE, "c1", rows("c1", 5))
    out = wh.query(
        "SELECT company_id, count(*) AS n, sum(amount) AS total FROM recon.t_roundtrip "
        "WHERE company_id = %s GROUP BY company_id",
        ["c1"],
    )
    assert out.rows() == [("c1", 5, 9_007_199_254_740_993 - 1 + 0 + 1)]


def test_unreachable_postgres_gives_a_clear_error() -> None:
    with pytest.raises(
        WarehouseConnectionError,
        match=r"cannot reach the PostgreSQL warehouse postgresql://u:\*\*\*@127\.0\.0\.1:1/x",
    ) as info:
        Warehouse.open("postgresql://u:pw@127.0.0.1:1/x")
    assert "pw" not in str(info.value)


def test_malformed_url_gives_config_error() -> None:
    with pytest.raises(ConfigError):
        Warehouse.open("sqlite:///x.db")


def test_batch_commits_all_writes_together(wh: Warehouse) -> None:
    with wh.batch() as batch:
        batch.replace_partition(SAMPLE, "c1", rows("c1", 4))
        batch.upsert(CROSS, pl.DataFrame({"group_id": ["cursor"], "n": [4]}))
    assert [r.rows_written for r in batch.results] == [4, 1]
    assert wh.count(SAMPLE, "c1") == 4
    assert wh.read(CROSS).rows() == [("cursor", 4)]


def test_batch_failing_late_leaves_everything_as_it_was(wh: Warehouse) -> None:
    wh.replace_partition(SAMPLE, "c1", rows("c1", 2))
    wh.upsert(CROSS, pl.DataFrame({"group_id": ["cursor"], "n": [2]}))
    broken = rows("c2", 3).with_columns(pl.lit("{not json").alias("payload"))
    with pytest.raises(WarehouseError, match=r"recon\.t_roundtrip"), wh.batch() as batch:
        batch.replace_partition(SAMPLE, "c1", rows("c1", 5))
        batch.upsert(CROSS, pl.DataFrame({"group_id": ["cursor"], "n": [5]}))
        batch.replace_partition(SAMPLE, "c2", broken)
    assert wh.count(SAMPLE, "c1") == 2
    assert wh.count(SAMPLE, "c2") == 0
    assert wh.read(CROSS).rows() == [("cursor", 2)]


def test_named_lock_is_exclusive_across_handles(warehouse_url: str) -> None:
    import threading

    order: list[str] = []
    with Warehouse.open(warehouse_url) as first, Warehouse.open(warehouse_url) as second:

        def contender() -> None:
            with second.lock("oauth:c1:quickbooks", timeout=10):
                order.append("second")

        with first.lock("oauth:c1:quickbooks"):
            thread = threading.Thread(target=contender)
            thread.start()
            thread.join(0.3)  # it must still be waiting for the lock
            assert thread.is_alive()
            order.append("first")
        thread.join(10)
        assert order == ["first", "second"]
        with first.lock("other-name"), second.lock("another-name", timeout=1):
            pass


def test_lock_held_elsewhere_times_out_with_its_name(warehouse_url: str) -> None:
    import threading

    with Warehouse.open(warehouse_url) as first, Warehouse.open(warehouse_url) as second:
        errors: list[Exception] = []

        def contender() -> None:
            try:
                with second.lock("sync:c1", timeout=0.3):
                    pass
            except WarehouseError as exc:
                errors.append(exc)

        with first.lock("sync:c1"):
            thread = threading.Thread(target=contender)
            thread.start()
            thread.join(10)
    assert len(errors) == 1
    assert "lock 'sync:c1' still held" in str(errors[0])
