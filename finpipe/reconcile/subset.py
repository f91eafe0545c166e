"""Pass 6 search: which subsets of a small block of amounts sum exactly to a target.

A *block* is one anchor (a bank line for ``1:n``, a movement for ``n:1``) and the
candidates that could make it up (the other side's leftovers in its date window). Every
subset of a block is enumerated with numpy (all subset sums by doubling: ``2**k`` sums
for ``k`` candidates), exactly, in integers. Blocks of up to ``VECTOR_MAX_ITEMS``
candidates (nearly all of them) are solved together, one numpy pass per block size; the
few larger ones (the caller caps them at ``subset_max_candidates``) run one by one under a
per-block time budget and a memory cap (``MAX_SUMS``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

# Subset sums held at once (32 MiB of int64): a block larger than 22 candidates is never
# fully enumerated, whatever its time budget.
MAX_SUMS = 1 << 22

BLOCK_SCHEMA = pl.Schema(
    {
        "block": pl.UInt32,  # anchor key
        "item": pl.UInt32,  # candidate key
        "amount": pl.Int64,  # the candidate's amount (minor units)
        "target": pl.Int64,  # the anchor's amount (same on every row of the block)
        "truncated": pl.Boolean,  # the block had more candidates than were searched
    }
)

SOLUTION_SCHEMA = pl.Schema(
    {
        "block": pl.UInt32,
        "solution": pl.UInt32,  # 0.. within the block
        "item": pl.UInt32,
        "n_solutions": pl.UInt32,  # exact solutions found in the block (capped)
        "complete": pl.Boolean,  # the whole block was searched, untruncated, within budget
    }
)


@dataclass(frozen=True)
class SubsetSearch:
    """Outcome of one block: the solutions (candidate positions) and whether the search
    covered every subset in time."""

    solutions: list[np.ndarray]
    complete: bool


def exact_subsets(
    amounts: np.ndarray,
    target: int,
    *,
    min_size: int = 2,
    max_solutions: int = 5,
    budget_s: float = 0.05,
) -> SubsetSearch:
    """Subsets (as arrays of positions into ``amounts``) of at least ``min_size`` items
    summing exactly to ``target``; at most ``max_solutions`` are returned (one more is
    looked for, so ``len(solutions) > 1`` reliably means "not unique").

    Every subset sum is built by doubling (``sums[mask]`` is the sum of the items whose
    bits are set in ``mask``), so the cost is ``2**len(amounts)``: callers cap the block
    size; the budget (and ``MAX_SUMS``) is checked between doublings, and a search over
    either returns no solution with ``complete=False``.
    """
    started = time.perf_counter()
    amounts = np.asarray(amounts, dtype=np.int64)
    sums = np.zeros(1, dtype=np.int64)
    for a in amounts:
        if len(sums) >= MAX_SUMS or time.perf_counter() - started > budget_s:
            return SubsetSearch([], False)
        sums = np.concatenate((sums, sums + a))
    masks = np.flatnonzero(sums == target)
    masks = masks[np.bitwise_count(masks) >= min_size][: max_solutions + 1]
    bits = np.arange(len(amounts))
    solutions = [bits[(int(mask) >> bits) & 1 == 1] for mask in masks]
    return SubsetSearch(solutions, True)


def _small_blocks(
    k: int,
    block: np.ndarray,
    item: np.ndarray,
    amount: np.ndarray,
    target: np.ndarray,
    truncated: np.ndarray,
    max_solutions: int,
) -> pl.DataFrame:
    """All blocks of exactly ``k`` items at once: the ``2**k`` subset sums of every block
    by doubling along a numpy axis (no Python loop per block), in chunks of bounded
    memory. Rows are ``k`` per block, sorted by block then item."""
    a = amount.reshape(-1, k)
    t = target.reshape(-1, k)[:, 0]
    masks = np.arange(1 << k)
    big = np.bitwise_count(masks) >= 2
    chunk = max(1, MAX_SUMS // (1 << k))
    parts: list[pl.DataFrame] = []
    for lo in range(0, len(a), chunk):
        sums = np.zeros((len(a[lo : lo + chunk]), 1), dtype=np.int64)
        for j in range(k):
            sums = np.concatenate((sums, sums + a[lo : lo + chunk, j : j + 1]), axis=1)
        hits = (sums == t[lo : lo + chunk, None]) & big
        b_idx, mask = np.nonzero(hits)  # row-major: by block, masks ascending
        if not len(b_idx):
            continue
        first = np.searchsorted(b_idx, b_idx)  # position of each block's first solution
        rank = np.arange(len(b_idx)) - first
        count = np.minimum(hits.sum(axis=1), max_solutions + 1)
        keep = rank < max_solutions
        b_idx, mask, rank = b_idx[keep], mask[keep], rank[keep]
        sol_i, pos = np.nonzero((mask[:, None] >> np.arange(k)) & 1)
        row = (lo + b_idx[sol_i]) * k + pos
        parts.append(
            pl.DataFrame(
                {
                    "block": block[row],
                    "solution": rank[sol_i],
                    "item": item[row],
                    "n_solutions": count[b_idx[sol_i]],
                    "complete": ~truncated[row],
                }
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame(schema=SOLUTION_SCHEMA)


# Blocks up to this size are solved together per size (2**10 sums each); larger ones one by
# one under the time budget.
VECTOR_MAX_ITEMS = 10


def search_blocks(
    blocks: pl.DataFrame, *, max_solutions: int = 5, budget_ms: float = 50.0
) -> pl.DataFrame:
    """Exact subset-sum solutions of every block of ``blocks`` (``BLOCK_SCHEMA``, already
    capped in size by the caller) as ``SOLUTION_SCHEMA`` rows, one per item of a solution;
    at most ``max_solutions`` per block, ``n_solutions`` capped at ``max_solutions + 1``.

    A block is *complete* when it was not truncated and the search finished within
    ``budget_ms``; only a complete block's unique solution may be accepted automatically.
    Blocks of up to ``VECTOR_MAX_ITEMS`` items are solved by size class, vectorised; the
    Python loop only sees the few larger ones.
    """
    if blocks.is_empty():
        return pl.DataFrame(schema=SOLUTION_SCHEMA)
    blocks = blocks.sort("block", "item").with_columns(pl.len().over("block").alias("k"))
    found: list[pl.DataFrame] = []
    for (k,), part in (
        blocks.filter(pl.col("k") <= VECTOR_MAX_ITEMS).partition_by("k", as_dict=True).items()
    ):
        found.append(
            _small_blocks(
                int(k),
                part["block"].to_numpy(),
                part["item"].to_numpy(),
                part["amount"].to_numpy(),
                part["target"].to_numpy(),
                part["truncated"].to_numpy(),
                max_solutions,
            )
        )
    large = blocks.filter(pl.col("k") > VECTOR_MAX_ITEMS)
    out: dict[str, list] = {name: [] for name in SOLUTION_SCHEMA}
    block = large["block"].to_numpy()
    item = large["item"].to_numpy()
    amount = large["amount"].to_numpy()
    target = large["target"].to_numpy()
    truncated = large["truncated"].to_numpy()
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]]) if len(block) else []
    ends = np.r_[starts[1:], len(block)] if len(block) else []
    for s, e in zip(list(starts), list(ends), strict=True):
        res = exact_subsets(
            amount[s:e], int(target[s]), max_solutions=max_solutions, budget_s=budget_ms / 1000
        )
        if not res.solutions:
            continue
        complete = res.complete and not bool(truncated[s])
        for k, positions in enumerate(res.solutions[:max_solutions]):
            n = len(positions)
            out["block"].extend([int(block[s])] * n)
            out["solution"].extend([k] * n)
            out["item"].extend(item[s + positions].tolist())
            out["n_solutions"].extend([len(res.solutions)] * n)
            out["complete"].extend([complete] * n)
    found.append(pl.DataFrame(out, schema=SOLUTION_SCHEMA))
    return pl.concat([f.cast(dict(SOLUTION_SCHEMA)) for f in found]).sort(
        "block", "solution", "item"
    )


__all__ = ["BLOCK_SCHEMA", "SOLUTION_SCHEMA", "SubsetSearch", "exact_subsets", "search_blocks"]
