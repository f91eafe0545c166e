"""What happens to documents after they are entered: mistakes voided or deleted, and the
payment status and edit history that allocations give invoices and bills."""

from __future__ import annotations

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world.context import Ctx

VOID_RATE = 0.012  # of invoices, bills, expenses and payments: entered by mistake


def mistakes(ctx: Ctx) -> np.ndarray:
    """Clone a few documents as entry mistakes that were then voided or deleted.

    A voided or deleted document stays in the documents (and keeps its lines, as entered)
    but has no journal lines, no allocations and never reaches the bank. Returns the
    clones' document numbers.
    """
    cal, book = ctx.cal, ctx.book
    rng = ctx.streams.get("mistakes")
    docs = book.docs()
    kinds = (bk.INVOICE, bk.BILL, bk.EXPENSE, bk.CUSTOMER_PAYMENT, bk.BILL_PAYMENT)
    elig = np.flatnonzero(
        np.isin(docs["doc_type"], kinds)
        & ~np.isin(docs["status"], (bk.VOID, bk.DELETED))
        & (docs["user"] < bk.AUTOMATED_BASE)
        & (docs["user"] != bk.UNUSUAL_USER)
    )
    src = elig[rng.random(len(elig)) < VOID_RATE]
    n = len(src)
    if not n:
        return np.zeros(0, dtype=np.int64)
    cols = {k: docs[k][src] for k in bk.DOC_FIELDS}
    cols["day"] = np.maximum(cols["day"] - rng.integers(0, 4, n), cal.start).astype(np.int32)
    cols["status"] = np.where(rng.random(n) < 0.6, bk.VOID, bk.DELETED).astype(np.int8)
    cols["entry_lag"] = np.zeros(n, dtype=np.int16)
    clones = book.add_docs(n, **cols)
    lines = book.lines()
    sel = np.flatnonzero(np.isin(lines["doc"], src))
    mapping = np.full(book.n_docs, -1, dtype=np.int64)
    mapping[src] = clones
    cols_l = {k: lines[k][sel] for k in bk.LINE_FIELDS if k != "doc"}
    book.add_lines(mapping[lines["doc"][sel]], **cols_l)
    return clones


def statuses(ctx: Ctx) -> dict[str, np.ndarray]:
    """Set invoice and bill statuses from their allocations; return per-document edit
    counts and last-edit days (``edits``, ``edit_day``) for timestamps and sync tokens."""
    book = ctx.book
    docs = book.docs()
    al = book.allocs()
    n = book.n_docs
    applied = np.bincount(al["target"], weights=al["amount"], minlength=n).astype(np.int64)
    edits = np.bincount(al["target"], minlength=n) + np.bincount(al["source"], minlength=n) * 0
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, al["target"], al["day"].astype(np.int64))
    t = docs["doc_type"]
    settle = np.isin(t, (bk.INVOICE, bk.BILL)) & ~np.isin(docs["status"], (bk.VOID, bk.DELETED))
    status = docs["status"].copy()
    status[settle] = np.where(
        applied[settle] >= docs["total"][settle],
        bk.PAID,
        np.where(applied[settle] > 0, bk.PARTIALLY_PAID, bk.OPEN),
    )
    docs["status"] = status.astype(np.int8)
    book.replace_docs(docs)
    voided = np.isin(status, (bk.VOID, bk.DELETED))
    edits = edits + voided
    return {"edits": edits.astype(np.int64), "edit_day": last}
