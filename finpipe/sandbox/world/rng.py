"""Deterministic randomness and id formatting.

Every generation step draws from its own named stream (``streams.get("contacts")``), so
adding draws to one step never shifts the numbers another step sees, and the same seed
always gives the same world. Ids are formatted in bulk (Arrow buffers, Polars string
kernels), never one Python string at a time.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl
import pyarrow as pa


class Streams:
    """Named, independent random generators derived from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self, name: str) -> np.random.Generator:
        key = zlib.crc32(name.encode())
        return np.random.default_rng(np.random.SeedSequence([self.seed, key]))


def random_bytes(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """``n`` x ``width`` random bytes."""
    return rng.integers(0, 256, size=(n, width), dtype=np.uint8)


def hex_strings(raw: np.ndarray, upper: bool = False) -> pl.Series:
    """Each row of a ``(n, width)`` uint8 array as a ``2 * width`` character hex string."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    n, width = raw.shape
    arr = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), n, [None, pa.py_buffer(raw.tobytes())]
    )
    out = pl.Series(pl.from_arrow(arr)).cast(pl.Binary).bin.encode("hex")
    return out.str.to_uppercase() if upper else out


def uuid4_strings(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` RFC 4122 version-4 UUIDs (Xero ids), drawn from ``rng``."""
    raw = random_bytes(rng, n, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = hex_strings(raw)
    frame = pl.DataFrame({"h": h})
    return frame.select(
        pl.concat_str(
            [
                pl.col("h").str.slice(0, 8),
                pl.col("h").str.slice(8, 4),
                pl.col("h").str.slice(12, 4),
                pl.col("h").str.slice(16, 4),
                pl.col("h").str.slice(20, 12),
            ],
            separator="-",
        )
    ).to_series()


def digit_strings(rng: np.random.Generator, n: int, digits: int) -> pl.Series:
    """``n`` strings of exactly ``digits`` random decimal digits (leading digit non-zero)."""
    if digits <= 18:
        lo, hi = 10 ** (digits - 1), 10**digits
        return pl.Series(rng.integers(lo, hi, n, dtype=np.int64)).cast(pl.String)
    head = digit_strings(rng, n, digits - 9)
    tail = pl.Series(rng.integers(0, 10**9, n, dtype=np.int64)).cast(pl.String).str.zfill(9)
    return head + tail


def lognormal_mean1(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Lognormal multipliers with mean exactly 1 in expectation (for amount noise)."""
    return rng.lognormal(-0.5 * sigma * sigma, sigma, n)


class WeightedPicker:
    """Weighted random picks of rows within groups of a table, vectorised.

    ``groups`` is the (sorted, non-decreasing) group number of each table row and
    ``weights`` its weight. ``pick(rng, g)`` returns, for each requested group number in
    ``g``, one row of that group (its ``rows`` value, by default its index). Each group's
    cumulative weights are laid out on ``[group, group + 1]`` so one ``searchsorted``
    serves every group at once.
    """

    def __init__(
        self, groups: np.ndarray, weights: np.ndarray, rows: np.ndarray | None = None
    ) -> None:
        self.rows = np.arange(len(groups)) if rows is None else np.asarray(rows)
        groups = np.asarray(groups, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        if len(groups) and np.any(np.diff(groups) < 0):
            raise ValueError("WeightedPicker: groups must be sorted")
        cum = np.cumsum(weights)
        starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
        ends = np.r_[starts[1:], len(groups)]
        base = np.repeat(np.r_[0.0, cum][starts], ends - starts)
        total = np.repeat(cum[ends - 1] - np.r_[0.0, cum][starts], ends - starts)
        self.edges = groups + (cum - base) / total
        self.groups = groups
        self.present = np.unique(groups)

    def has(self, g: np.ndarray) -> np.ndarray:
        """Which requested group numbers have at least one row."""
        return np.isin(g, self.present)

    def pick(self, rng: np.random.Generator, g: np.ndarray) -> np.ndarray:
        u = rng.random(len(g)) * 0.999999
        idx = np.searchsorted(self.edges, np.asarray(g, dtype=np.float64) + u, side="right")
        idx = np.minimum(idx, len(self.edges) - 1)
        if len(g) and not np.array_equal(self.groups[idx], np.asarray(g, dtype=np.int64)):
            raise ValueError("WeightedPicker: a requested group has no rows")
        return self.rows[idx]
