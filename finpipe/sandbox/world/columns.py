"""Small vectorised helpers that turn index arrays into typed Polars columns."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

UTC = pl.Datetime("us", "UTC")


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """True where a run of equal keys begins (``sorted_keys`` grouped; empty-safe)."""
    k = np.asarray(sorted_keys)
    out = np.ones(len(k), dtype=bool)
    if len(k) > 1:
        out[1:] = k[1:] != k[:-1]
    return out


def rank_in_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal keys (empty-safe)."""
    starts = run_starts(sorted_keys)
    idx = np.arange(len(starts))
    return idx - np.maximum.accumulate(np.where(starts, idx, 0)) if len(idx) else idx


def prefixed(prefix: str, series: pl.Series) -> pl.Series:
    """``prefix`` + each string (also right for an empty column, unlike ``str + Series``)."""
    name = series.name or "v"
    frame = series.alias(name).to_frame()
    return frame.select(pl.concat_str([pl.lit(prefix), pl.col(name)])).to_series()


def keep(series: pl.Series, mask: np.ndarray | pl.Series) -> pl.Series:
    """``series`` where ``mask`` is true, null elsewhere."""
    mask = mask if isinstance(mask, pl.Series) else pl.Series(np.asarray(mask, dtype=bool))
    name = series.name or "v"
    return (
        series.alias(name)
        .to_frame()
        .select(pl.when(mask).then(pl.col(name)).alias(name))
        .to_series()
        .alias(series.name)
    )


def lookup(values: list[str] | tuple[str, ...], idx: np.ndarray) -> pl.Series:
    """``values[idx]`` as a string column; negative indices give null."""
    idx = np.asarray(idx, dtype=np.int64)
    table = pl.Series(list(values), dtype=pl.String)
    return keep(table.gather(pl.Series(np.maximum(idx, 0))), idx >= 0)


def gather(series: pl.Series, idx: np.ndarray) -> pl.Series:
    """``series[idx]`` with nulls where ``idx`` < 0."""
    idx = np.asarray(idx, dtype=np.int64)
    if not len(series):
        return pl.Series([None] * len(idx), dtype=series.dtype)
    return keep(series.gather(pl.Series(np.maximum(idx, 0))), idx >= 0)


def decimal(unscaled: np.ndarray, precision: int, scale: int) -> pl.Series:
    """Fixed-point integers as an exact Decimal column (no float on the way)."""
    v = np.asarray(unscaled, dtype=np.int64)
    words = np.empty((len(v), 2), dtype=np.int64)
    words[:, 0] = v
    words[:, 1] = np.where(v < 0, -1, 0)
    arr = pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(v), [None, pa.py_buffer(words.tobytes())]
    )
    return pl.Series(pl.from_arrow(arr))


def dates(days: np.ndarray) -> pl.Series:
    """Day numbers (days since 1970-01-01) as a Date column."""
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def nullable_dates(days: np.ndarray) -> pl.Series:
    days = np.asarray(days, dtype=np.int64)
    return keep(dates(np.maximum(days, 0)), days >= 0)


def stamps(us: np.ndarray) -> pl.Series:
    """Microseconds since the epoch as UTC timestamps."""
    return pl.Series(np.asarray(us, dtype=np.int64)).cast(UTC)


def nullable_money(values: np.ndarray, present: np.ndarray) -> pl.Series:
    return keep(pl.Series(np.asarray(values, dtype=np.int64)), present)


def choose(mask: np.ndarray | pl.Series, a: pl.Series, b: pl.Series) -> pl.Series:
    """``a`` where ``mask`` else ``b``."""
    mask = mask if isinstance(mask, pl.Series) else pl.Series(np.asarray(mask, dtype=bool))
    return (
        pl.DataFrame({"a": a, "b": b})
        .select(pl.when(mask).then(pl.col("a")).otherwise(pl.col("b")))
        .to_series()
    )
