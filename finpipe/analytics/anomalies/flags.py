"""The flag frame every detector returns, the known flag types and reason formatting."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

from finpipe.analytics.formats import format_money
from finpipe.errors import FinpipeError


class AnomalyError(FinpipeError):
    """A detector was configured or called wrongly."""


# Types a flag may carry. The first eight are the rule and statistical detectors named after
# the world's injected anomaly types; ``unusual_user`` needs the posting user (no provider
# API gives it, see features.py); ``model_outlier`` is the unsupervised model's.
FLAG_TYPES: tuple[str, ...] = (
    "duplicate_payment",
    "split_payment",
    "round_amount",
    "off_hours_posting",
    "new_vendor_large_payment",
    "bank_details_changed",
    "benford_vendor",
    "expense_spike",
    "unusual_user",
    "model_outlier",
)
DETECTORS: tuple[str, ...] = ("rules", "benford", "model", "seasonal")

FLAG_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "document_id": pl.String,
        "doc_type": pl.String,
        "number": pl.String,
        "issue_date": pl.Date,
        "amount": pl.Int64,
        "currency": pl.String,
        "type": pl.String,
        "score": pl.Float64,
        "reason": pl.String,
        "detector": pl.String,
        "related_document_ids": pl.String,
    }
)


def empty_flags() -> pl.DataFrame:
    return pl.DataFrame(schema=FLAG_SCHEMA)


def money(minor: int | None, currency: str | None = None, *, suffix: bool = True) -> str:
    """``431000, "GBP"`` -> ``"4,310.00 GBP"`` (:func:`finpipe.analytics.formats.format_money`;
    ``"?"`` for a missing amount)."""
    return "?" if minor is None else format_money(minor, currency, suffix=suffix)


def label(number: str | None, document_id: str, issued: dt.date | None = None) -> str:
    """How a reason names a document: its number, else its date (a person finds an
    unnumbered expense by date, amount and contact, not by the provider's id), else its id."""
    if number:
        return number
    return f"dated {issued:%Y-%m-%d}" if issued is not None else f"#{document_id}"


def finish(frame: pl.DataFrame, flag_type: str, detector: str) -> pl.DataFrame:
    """A detector's rows (transaction columns + score, reason, related) as :data:`FLAG_SCHEMA`."""
    if frame.is_empty():
        return empty_flags()
    out = frame.with_columns(
        pl.lit(flag_type).alias("type"),
        pl.lit(detector).alias("detector"),
        pl.col("score").clip(0.0, 1.0).cast(pl.Float64),
    )
    if "related_document_ids" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.String).alias("related_document_ids"))
    return out.select(list(FLAG_SCHEMA)).cast(dict(FLAG_SCHEMA))


def flag_id(company_id: str, provider: str, document_id: str, flag_type: str) -> str:
    """Deterministic id of a (document, type) flag."""
    key = "\x1f".join((company_id, provider, document_id, flag_type))
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def with_flag_ids(flags: pl.DataFrame) -> pl.DataFrame:
    """One flag per (document, type), the highest score kept, with its ``flag_id``."""
    if flags.is_empty():
        return flags.with_columns(pl.lit(None, pl.String).alias("flag_id"))
    best = flags.sort(
        ["company_id", "provider", "document_id", "type", "score", "reason"],
        descending=[False, False, False, False, True, False],
    ).unique(["company_id", "provider", "document_id", "type"], keep="first", maintain_order=True)
    ids = [
        flag_id(c, p, d, t)
        for c, p, d, t in best.select("company_id", "provider", "document_id", "type").iter_rows()
    ]
    return best.with_columns(pl.Series("flag_id", ids, dtype=pl.String))
