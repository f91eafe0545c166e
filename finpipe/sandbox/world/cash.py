"""Cash legs: how much each live document moves through which bank account.

The single source of truth for the journal (its bank lines), the bank statements (their
lines) and the transfer logic (sweeps need account flows). A transfer has two legs; every
other cash document one. Amounts are signed (money in positive) and given both in the
account's currency and in home currency.
"""

from __future__ import annotations

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.companies import Companies
from finpipe.sandbox.world.fx import convert

INFLOW_TYPES = (bk.CUSTOMER_PAYMENT, bk.SALES_RECEIPT, bk.DEPOSIT)


def live_mask(docs: dict[str, np.ndarray]) -> np.ndarray:
    """Documents that affect the books (not void, not deleted)."""
    return ~np.isin(docs["status"], (bk.VOID, bk.DELETED))


def account_ccy(co: Companies, ci: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Currency of bank account ``kind`` of company ``ci``."""
    return np.where(kind == ref.FX_CHECKING, co.foreign_ccy[ci], co.home_ccy[ci]).astype(np.int8)


def legs(co: Companies, docs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per (live document, bank account) movement, ordered by document.

    Columns: ``doc`` (row index into ``docs``), ``ci``, ``kind``, ``day``, ``amount``
    (account currency), ``home`` (home currency), ``doc_amount`` (document currency),
    ``transfer_from`` (True for the paying leg of a transfer).
    """
    live = live_mask(docs)
    t = docs["doc_type"]
    one = np.flatnonzero(live & (docs["bank"] >= 0) & (t != bk.TRANSFER))
    tr = np.flatnonzero(live & (t == bk.TRANSFER))
    doc = np.concatenate([one, tr, tr])
    kind = np.concatenate([docs["bank"][one], docs["bank"][tr], docs["from_bank"][tr]])
    sign = np.concatenate(
        [np.where(np.isin(t[one], INFLOW_TYPES), 1, -1), np.ones(len(tr)), -np.ones(len(tr))]
    ).astype(np.int64)
    is_from = np.concatenate([np.zeros(len(one) + len(tr), bool), np.ones(len(tr), bool)])
    ci = docs["ci"][doc]
    total = docs["total"][doc]
    home = convert(total, docs["rate"][doc])
    same_ccy = account_ccy(co, ci, kind) == docs["ccy"][doc]
    amount = np.where(same_ccy, total, home)
    order = np.argsort(doc, kind="stable")
    return {
        "doc": doc[order],
        "ci": ci[order],
        "kind": kind[order].astype(np.int8),
        "day": docs["day"][doc][order],
        "amount": (sign * amount)[order],
        "home": (sign * home)[order],
        "doc_amount": (sign * total)[order],
        "transfer_from": is_from[order],
    }


def monthly_flows(
    co: Companies, docs: dict[str, np.ndarray], month_of, months: int, kind: int
) -> np.ndarray:
    """(companies, months) net movement through account ``kind`` in its own currency."""
    lg = legs(co, docs)
    sel = lg["kind"] == kind
    out = np.zeros((co.n, months), dtype=np.int64)
    m = month_of(lg["day"][sel])
    ok = (m >= 0) & (m < months)
    np.add.at(out, (lg["ci"][sel][ok], m[ok]), lg["amount"][sel][ok])
    return out
