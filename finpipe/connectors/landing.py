"""Landing provider records in ``raw.*`` together with the cursor that covers them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.warehouse import Table, Warehouse, WriteResult
from finpipe.warehouse.tables.ops import CONNECTIONS, SYNC_CURSORS


@dataclass(frozen=True)
class CursorKey:
    company_id: str
    provider: str
    tenant_id: str
    entity: str


def read_cursor(warehouse: Warehouse, key: CursorKey) -> str | None:
    """The committed cursor of ``key``, or None before the first sync."""
    rows = warehouse.read(
        SYNC_CURSORS,
        where="company_id = %s AND provider = %s AND tenant_id = %s AND entity = %s",
        params=[key.company_id, key.provider, key.tenant_id, key.entity],
    )
    return None if rows.is_empty() else str(rows.item(0, "cursor"))


def reset_cursors(warehouse: Warehouse, company_id: str, provider: str) -> int:
    """Forget every committed cursor of ``provider`` for ``company_id`` so the next sync
    reads everything again (a full refresh: catches changes no webhook or incremental
    query reported). Landing upserts by key, so nothing is duplicated. Returns how many
    cursors were dropped."""
    where = "company_id = %s AND provider = %s"
    count = warehouse.read(SYNC_CURSORS, where=where, params=[company_id, provider]).height
    warehouse.execute(
        f"DELETE FROM {SYNC_CURSORS.qualified_name} WHERE {where}", [company_id, provider]
    )
    return count


def landing_frame(
    table: Table,
    company_id: str,
    tenant_id: str,
    records: Sequence[dict[str, Any]],
    *,
    source_id: Callable[[dict[str, Any]], str],
    updated_at: Callable[[dict[str, Any]], dt.datetime | None],
    deleted: Callable[[dict[str, Any]], bool],
    extracted_at: dt.datetime,
    sync_id: str,
) -> pl.DataFrame:
    """Rows of a landing table for ``records`` (a page: hundreds of rows, so a list
    comprehension per field is the right tool; the heavy lifting is the warehouse write)."""
    return pl.DataFrame(
        {
            "company_id": [company_id] * len(records),
            "tenant_id": [tenant_id] * len(records),
            "source_id": [source_id(r) for r in records],
            "source_updated_at": [updated_at(r) for r in records],
            "payload": [payloads.dumps(r) for r in records],
            "deleted": [deleted(r) for r in records],
            "extracted_at": [extracted_at] * len(records),
            "sync_id": [sync_id] * len(records),
        },
        schema=table.polars_schema(),
    )


def commit_page(
    warehouse: Warehouse,
    table: Table,
    rows: pl.DataFrame,
    key: CursorKey,
    cursor: str,
    now: dt.datetime,
) -> WriteResult | None:
    """Upsert ``rows`` and move the cursor in one transaction: a run killed at any point
    re-reads from the last committed cursor and lands nothing twice."""
    cursor_row = pl.DataFrame(
        {
            "company_id": [key.company_id],
            "provider": [key.provider],
            "tenant_id": [key.tenant_id],
            "entity": [key.entity],
            "cursor": [cursor],
            "updated_at": [now],
        },
        schema=SYNC_CURSORS.polars_schema(),
    )
    # Last version of a record within the page wins (a record edited while paging).
    rows = rows.unique(subset=list(table.primary_key), keep="last", maintain_order=True)
    with warehouse.batch() as batch:
        batch.upsert(table, rows)
        batch.upsert(SYNC_CURSORS, cursor_row)
    return batch.results[0] if rows.height else None


def soft_delete(
    warehouse: Warehouse,
    table: Table,
    company_id: str,
    keys: Sequence[tuple[str, str]],
    *,
    extracted_at: dt.datetime,
    sync_id: str,
    cursor: tuple[CursorKey, str] | None = None,
) -> int:
    """Mark the landed rows ``(tenant_id, source_id)`` deleted (payload kept), optionally
    moving a cursor in the same transaction; returns how many rows changed. Used for
    records the provider says are gone (aggregator ``removed``) and for pending bank lines a
    later pull no longer returns (they posted or were withdrawn)."""
    if not keys:
        return 0
    wanted = pl.DataFrame(
        {"tenant_id": [k[0] for k in keys], "source_id": [k[1] for k in keys]},
        schema={"tenant_id": pl.String(), "source_id": pl.String()},
    ).unique()
    current = (
        warehouse.read(table, company_id=company_id)
        .join(wanted, on=["tenant_id", "source_id"], how="semi")
        .filter(~pl.col("deleted"))
    )
    rows = current.with_columns(
        pl.lit(True).alias("deleted"),
        pl.lit(extracted_at).cast(pl.Datetime("us", "UTC")).alias("extracted_at"),
        pl.lit(sync_id).alias("sync_id"),
    )
    with warehouse.batch() as batch:
        if rows.height:
            batch.upsert(table, rows)
        if cursor is not None:
            key, value = cursor
            batch.upsert(
                SYNC_CURSORS,
                pl.DataFrame(
                    {
                        "company_id": [key.company_id],
                        "provider": [key.provider],
                        "tenant_id": [key.tenant_id],
                        "entity": [key.entity],
                        "cursor": [value],
                        "updated_at": [extracted_at],
                    },
                    schema=SYNC_CURSORS.polars_schema(),
                ),
            )
    return rows.height


def mark_synced(
    warehouse: Warehouse, company_id: str, provider: str, external_id: str, now: dt.datetime
) -> None:
    """Stamp a connection's ``last_synced_at`` (integration health reads it) after a
    sync of it completed."""
    rows = warehouse.read(
        CONNECTIONS,
        where="company_id = %s AND provider = %s AND external_id = %s",
        params=[company_id, provider, external_id],
    )
    if rows.is_empty():
        return
    stamp = pl.lit(now, dtype=pl.Datetime("us", "UTC"))
    warehouse.upsert(
        CONNECTIONS,
        rows.with_columns(stamp.alias("last_synced_at"), stamp.alias("updated_at")),
    )
