"""Hand-built rows of ops.connections, ops.sync_runs, ops.oauth_tokens and the webhook
tables for the connection tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS
from finpipe.warehouse.tables.ops_health import SYNC_RUNS
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX, WEBHOOK_REJECTIONS

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def hours_ago(h: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=h)


def connection(
    company_id: str = "cmp_a",
    provider: str = "quickbooks",
    external_id: str = "realm-1",
    status: str = "active",
    *,
    last_synced_at: dt.datetime | None = None,
    created_at: dt.datetime | None = None,
    reason: str | None = None,
) -> dict[str, object]:
    created = created_at or NOW - dt.timedelta(days=30)
    return {
        "company_id": company_id,
        "provider": provider,
        "external_id": external_id,
        "display_name": f"{company_id} {provider}",
        "status": status,
        "status_reason": reason,
        "created_at": created,
        "updated_at": created,
        "last_synced_at": last_synced_at,
    }


def connections(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CONNECTIONS.polars_schema())


def run(
    run_id: str,
    finished_at: dt.datetime,
    status: str = "success",
    *,
    company_id: str = "cmp_a",
    provider: str = "quickbooks",
    external_id: str = "realm-1",
    calls: int = 0,
    rate_limited: int = 0,
    error_class: str | None = None,
    message: str | None = None,
) -> dict[str, object]:
    return {
        "company_id": company_id,
        "provider": provider,
        "external_id": external_id,
        "run_id": run_id,
        "sync_id": None,
        "trigger": "manual",
        "status": status,
        "started_at": finished_at - dt.timedelta(minutes=1),
        "finished_at": finished_at,
        "calls": calls,
        "rate_limited": rate_limited,
        "retries": 0,
        "token_refreshes": 0,
        "rows_written": 0,
        "error_class": error_class,
        "error_message": message,
        "recorded_at": finished_at,
    }


def runs(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SYNC_RUNS.polars_schema())


def token(
    company_id: str,
    provider: str,
    issued: dt.datetime,
    expires: dt.datetime | None = None,
) -> dict[str, object]:
    return {
        "company_id": company_id,
        "provider": provider,
        "ciphertext": "not-a-real-ciphertext",
        "access_expires_at": issued + dt.timedelta(hours=1),
        "refresh_issued_at": issued,
        "refresh_expires_at": expires,
        "version": 1,
        "updated_at": issued,
    }


def tokens(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=OAUTH_TOKENS.polars_schema())


def inbox_event(
    provider: str, tenant_id: str, received_at: dt.datetime, event_id: str
) -> dict[str, object]:
    return {
        "provider": provider,
        "event_id": event_id,
        "tenant_id": tenant_id,
        "entity": "invoice",
        "entity_id": "1",
        "operation": "update",
        "occurred_at": received_at,
        "received_at": received_at,
        "body_sha256": event_id.ljust(64, "0"),
        "payload": "{}",
    }


def inbox(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=WEBHOOK_INBOX.polars_schema())


def rejections(*rows: tuple[str, str, dt.date, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"provider": p, "reason": r, "day": d, "count": c, "updated_at": NOW}
            for p, r, d, c in rows
        ],
        schema=WEBHOOK_REJECTIONS.polars_schema(),
    )
