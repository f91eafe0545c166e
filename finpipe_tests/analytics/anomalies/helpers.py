"""Hand-built transaction frames for the anomaly tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from finpipe.analytics.anomalies.features import CONTACT_FEATURE_SCHEMA, TRANSACTION_SCHEMA

UTC = dt.UTC


def d(month: int, day: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, day)


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


DEFAULTS: dict[str, Any] = {
    "company_id": "co",
    "provider": "quickbooks",
    "doc_type": "bill_payment",
    "number": None,
    "reference": None,
    "contact_id": "v1",
    "contact_name": "Acme Ltd",
    "contact_kind": "vendor",
    "currency": "GBP",
    "created_by": None,
    "account_id": None,
    "standard_code": None,
    "paid_document_id": None,
    "cash_account_id": "1",
}


def transactions(*rows: dict[str, Any]) -> pl.DataFrame:
    """TRANSACTION_SCHEMA rows; ``document_id``, ``issue_date`` and ``amount`` are required,
    ``entered_at`` defaults to 10:00 UTC on the issue date."""
    out = []
    for row in rows:
        full = {**DEFAULTS, **row}
        full.setdefault(
            "entered_at", dt.datetime.combine(full["issue_date"], dt.time(10), tzinfo=UTC)
        )
        out.append({k: full.get(k) for k in TRANSACTION_SCHEMA})
    return pl.DataFrame(out, schema=TRANSACTION_SCHEMA)


def contacts(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {"company_id": "co", "provider": "quickbooks", "kind": "vendor"}
    return pl.DataFrame(
        [{k: {**base, **r}.get(k) for k in CONTACT_FEATURE_SCHEMA} for r in rows],
        schema=CONTACT_FEATURE_SCHEMA,
    )
