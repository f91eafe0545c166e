"""Which accounting provider holds each document, under which id, created when.

* ``quickbooks`` / ``xero`` companies: every document in that provider.
* ``both`` (a migration): the book of record is QuickBooks before the cutover date and
  Xero from it. Documents dated in a window around the cutover (45 days before, 14
  after) exist in both files with different ids: people keep keying into QuickBooks for
  two weeks, and the last weeks are re-entered into Xero. Items still open in that window
  are migrated with their history (an invoice issued in QuickBooks months earlier and paid
  after the cutover is re-entered in Xero with its earlier payments); QuickBooks keeps
  them open, as an abandoned file does. The copy that is *not* the book of record carries
  ``truth_duplicate_of`` = the book-of-record document's id.

Ids follow each provider's style: QuickBooks numeric strings counting up per realm in
creation order, Xero random UUIDs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.rng import uuid4_strings
from finpipe.sandbox.world.spec import busday_add, busday_on_or_before, weekday
from finpipe.sandbox.world.timezones import company_countries, local_to_utc

OVERLAP_BEFORE = 45
OVERLAP_AFTER = 14
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000


@dataclass
class DocRows:
    """One row per (document, provider): the documents as the providers hold them."""

    doc: np.ndarray
    p: np.ndarray  # 0 quickbooks, 1 xero
    primary: np.ndarray  # this copy is the book of record
    document_id: pl.Series
    created_us: np.ndarray
    updated_us: np.ndarray
    user: np.ndarray
    twin_row: np.ndarray  # row of the book-of-record copy for duplicates, else -1
    row_of: np.ndarray  # (docs, 2) -> row, -1 if absent


def _components(n: int, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Connected components of documents linked by allocations (label propagation)."""
    label = np.arange(n, dtype=np.int64)
    if not len(source):
        return label
    for _ in range(64):  # chains are short (invoice <- payments, credit carried forward)
        lo = np.minimum(label[source], label[target])
        before = label.copy()
        np.minimum.at(label, source, lo)
        np.minimum.at(label, target, lo)
        label = label[label]
        if np.array_equal(before, label):
            break
    return label


def assign(ctx: Ctx, edits: dict[str, np.ndarray]) -> DocRows:
    """Provider copies of every document, with ids and timestamps."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("providers")
    docs = book.docs()
    al = book.allocs()
    n = book.n_docs
    ci = docs["ci"]
    prov = co.provider[ci]
    cut = co.cutover[ci].astype(np.int64)
    day = docs["day"].astype(np.int64)
    in_qbo = prov == ref.QBO
    in_xero = prov == ref.XERO
    both = prov == ref.BOTH
    if both.any():
        # QuickBooks stops being used shortly after the cutover; Xero receives everything
        # from shortly before it, plus the history of items still open then.
        comp = _components(n, al["source"], al["target"])
        last = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(last, comp, day)
        in_qbo = in_qbo | (both & (day < cut + OVERLAP_AFTER))
        in_xero = in_xero | (both & (last[comp] >= cut - OVERLAP_BEFORE))
    primary_p = np.where(prov == ref.BOTH, (day >= cut).astype(np.int8), prov).astype(np.int8)

    doc = np.concatenate([np.flatnonzero(in_qbo), np.flatnonzero(in_xero)])
    p = np.concatenate([np.zeros(int(in_qbo.sum()), np.int8), np.ones(int(in_xero.sum()), np.int8)])
    primary = p == primary_p[doc]

    # Entry timestamps, drawn on the company's local clock and turned into UTC instants at
    # the end (a person in Auckland keys at 10:00 NZ time, 21:00 or 22:00 UTC the day
    # before). People key documents on business days in office hours; the unusual user
    # posts at night or at the weekend. Automated documents come in *runs*: every document
    # of one run is created seconds apart at the run's time.
    # * QuickBooks bank feeds download once a night: Intuit's automatic updates "normally
    #   begin around 10 pm PT" (QuickBooks Online help, "Use automatic and manual online
    #   banking updates"), and auto-add bank rules create the matching transactions in that
    #   download. Each company's download is at its own stable point of that nightly job
    #   (drawn over its first hours), a few minutes later or earlier night to night.
    # * Xero bank rules only *suggest* a transaction: a person reconciles the statement
    #   line and clicks OK (Xero help, "Reconcile a statement line with a transaction
    #   suggested by a bank rule"), so those documents are keyed in office hours on business
    #   days like any other (the user name stays "Bank feed rule").
    # * The payroll sync posts a pay run's journal when someone approves the run in the
    #   payroll app (office hours); the card processor syncs daily at a company-specific
    #   time of day (its settlement schedule, any hour).
    user = docs["user"].astype(np.int64)[doc]
    k = len(doc)
    cik = ci[doc].astype(np.int64)
    country = company_countries(co.country[cik])
    entry = np.minimum(day[doc] + docs["entry_lag"][doc], cal.end)
    feed = user == bk.AUTOMATED_BASE + bk.BANK_FEED
    human = (user < bk.AUTOMATED_BASE) | (feed & (p == 1))
    fwd = busday_add(entry, 0)
    entry = np.where(human, np.where(fwd <= cal.end, fwd, busday_on_or_before(entry)), entry)
    office = rng.integers(8 * US_PER_HOUR, 18 * US_PER_HOUR + US_PER_HOUR // 2, k)
    run = ~human & (user != bk.AUTOMATED_BASE + bk.PAYROLL_SYNC)
    # the last download within the world is the night before its last day (that night's
    # would come after it ends); documents dated on the last day come in that one too
    entry = np.where(run & feed & (p == 0), np.minimum(entry, cal.end - 1), entry)
    # one run per (company, provider, integration, day)
    run_key = ((cik * 2 + p) * 8 + (user - bk.AUTOMATED_BASE)) * 1_000_000 + entry
    _, run_id, run_size = np.unique(
        np.where(run, run_key, -1), return_inverse=True, return_counts=True
    )
    n_runs = len(run_size)
    # the run's place in the company's schedule (a stable time of day per company and
    # integration) plus a few minutes' drift from night to night
    slot = rng.integers(0, 24 * US_PER_HOUR, (co.n, 2, len(bk.AUTOMATED)))
    slot[:, 0, bk.BANK_FEED] = 22 * US_PER_HOUR + rng.integers(0, 2 * US_PER_HOUR, co.n)
    drift = rng.integers(0, 5 * 60_000_000, n_runs)
    run_at = (
        slot[cik, p, np.clip(user - bk.AUTOMATED_BASE, 0, len(bk.AUTOMATED) - 1)] + drift[run_id]
    )
    # documents of one run follow each other within seconds (1-20 s apart)
    order = np.lexsort((rng.random(k), run_id))
    gap = np.zeros(k, dtype=np.int64)
    gap[order] = rng.integers(1_000_000, 20_000_000, k)
    first = np.r_[True, run_id[order][1:] != run_id[order][:-1]]
    gap[order[first]] = 0
    within = np.empty(k, dtype=np.int64)
    cum = np.cumsum(gap[order])
    within[order] = cum - np.maximum.accumulate(np.where(first, cum, 0))
    hour_us = np.where(human | ~run, office, run_at + within)
    # only the book-of-record copy was keyed by the unusual user
    user = np.where((user == bk.UNUSUAL_USER) & ~primary, 0, user)
    odd = user == bk.UNUSUAL_USER
    saturday = entry + (5 - weekday(entry)) % 7
    weekend = odd & (rng.random(k) < 0.4) & (saturday <= cal.end)
    entry = np.where(weekend, saturday, entry)
    night_hour = rng.integers(US_PER_HOUR // 2, 4 * US_PER_HOUR + US_PER_HOUR // 2, k)
    weekend_hour = rng.integers(10 * US_PER_HOUR, 22 * US_PER_HOUR, k)
    hour_us = np.where(odd, np.where(weekend, weekend_hour, night_hour), hour_us)
    # Migration copies (Xero copies of QuickBooks-era documents) are made by the tool.
    mig = ~primary & (p == 1)
    mig_day = np.minimum(np.maximum(entry, cut[doc] - 7) + rng.integers(0, 4, k), cal.end)
    entry = np.where(mig, mig_day, entry)
    user = np.where(mig, bk.AUTOMATED_BASE + bk.MIGRATION, user)
    # the QuickBooks download runs on Pacific time whatever the company's own zone
    qbo_feed = run & feed & (p == 0) & ~mig
    clock = np.where(qbo_feed, "US", country)
    wall = entry.astype(np.int64) * US_PER_DAY + hour_us
    # a sync late on the world's last day is kept within it (QuickBooks downloads end the
    # night before, see above)
    wall = np.where(qbo_feed, wall, np.minimum(wall, (int(cal.end) + 1) * US_PER_DAY - 1))
    created = local_to_utc(wall, clock)

    edit_day = edits["edit_day"][doc]
    # an abandoned QuickBooks file sees no edits keyed into Xero after the cutover
    abandoned = (prov[doc] == ref.BOTH) & (p == 0) & (edit_day >= cut[doc] + OVERLAP_AFTER)
    edit_day = np.where(abandoned, -1, edit_day)
    status = docs["status"][doc]
    voided = np.isin(status, (bk.VOID, bk.DELETED))
    void_day = np.minimum(entry + rng.integers(0, 6, k), cal.end)
    edit_day = np.where(voided, void_day, edit_day)
    edit_us = local_to_utc(
        edit_day.astype(np.int64) * US_PER_DAY + rng.integers(8 * US_PER_HOUR, 19 * US_PER_HOUR, k),
        country,
    )
    updated = np.where((edit_day >= 0) & (edit_us > created), edit_us, created)

    # Provider ids: QBO counts up per realm in creation order; Xero ids are UUIDs.
    order = np.lexsort((doc, created, p, ci[doc]))
    rank = np.empty(k, dtype=np.int64)
    sorted_key = ci[doc][order].astype(np.int64) * 2 + p[order]
    change = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    starts = np.flatnonzero(change)
    rank[order] = np.arange(k) - np.repeat(starts, np.diff(np.r_[starts, k]))
    offset = rng.integers(100, 900, co.n)
    qbo_id = pl.Series(rank + offset[ci[doc]] + 1).cast(pl.String)
    xero_id = uuid4_strings(rng, k)
    document_id = qbo_id.zip_with(pl.Series(p == 0), xero_id)

    row_of = np.full((n, 2), -1, dtype=np.int64)
    row_of[doc, p] = np.arange(k)
    twin_row = np.where(primary, -1, row_of[doc, primary_p[doc]])
    return DocRows(
        doc=doc,
        p=p,
        primary=primary,
        document_id=document_id,
        created_us=created,
        updated_us=updated,
        user=user,
        twin_row=twin_row,
        row_of=row_of,
    )
