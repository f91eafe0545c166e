"""Document numbers and references as people and systems write them.

Numbers belong to the economic document (a migrated invoice keeps its number in both
files); their style follows the file the company started in: QuickBooks counts plainly
(``1043``), Xero prefixes (``INV-0043``). Bills carry the supplier's own reference.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.columns import prefixed, rank_in_runs
from finpipe.sandbox.world.contacts import CHECK
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.rng import hex_strings


def _seq(ci: np.ndarray, day: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """1-based sequence of the selected documents within each company by date."""
    order = np.lexsort((doc, day, ci))
    out = np.empty(len(ci), dtype=np.int64)
    out[order] = rank_in_runs(ci[order]) + 1
    return out


def _dates(day: np.ndarray, fmt: str) -> pl.Series:
    return pl.Series(day.astype(np.int32)).cast(pl.Date).dt.strftime(fmt)


def numbers(ctx: Ctx) -> tuple[pl.Series, pl.Series]:
    """(number, reference) of every canonical document (nullable strings)."""
    co, book = ctx.co, ctx.book
    rng = ctx.streams.get("numbering")
    docs = book.docs()
    n = book.n_docs
    t, ci, day, doc = docs["doc_type"], docs["ci"], docs["day"], docs["doc"]
    purpose = docs["purpose"]
    xero_style = co.provider[ci] == ref.XERO
    offset = rng.integers(1, 1200, co.n)
    number = pl.Series("number", [None] * n, dtype=pl.String)
    reference = pl.Series("reference", [None] * n, dtype=pl.String)

    def put(series: pl.Series, sel: np.ndarray, values: pl.Series) -> pl.Series:
        full = np.full(n, -1, dtype=np.int64)
        full[sel] = np.arange(len(sel))
        idx = pl.Series(full)
        gathered = values.gather(idx.clip(0, max(len(sel) - 1, 0))) if len(sel) else None
        if gathered is None:
            return series
        return gathered.zip_with(idx >= 0, series)  # new value where set, else keep

    for types, q_prefix, x_prefix in (
        ((bk.INVOICE,), "", "INV-"),
        ((bk.CREDIT_NOTE,), "CN-", "CN-"),
    ):
        sel = np.flatnonzero(np.isin(t, types))
        seq = _seq(ci[sel], day[sel], doc[sel]) + offset[ci[sel]] + 1000 * (q_prefix == "")
        num = pl.Series(seq).cast(pl.String)
        padded = pl.Series(seq).cast(pl.String).str.zfill(4)
        values = (
            pl.DataFrame({"q": num, "x": padded, "xs": xero_style[sel]})
            .select(
                pl.when(pl.col("xs"))
                .then(pl.lit(x_prefix) + pl.col("x"))
                .otherwise(pl.lit(q_prefix) + pl.col("q"))
            )
            .to_series()
        )
        number = put(number, sel, values)

    # Supplier references on bills and vendor credits.
    sel = np.flatnonzero(np.isin(t, (bk.BILL, bk.VENDOR_CREDIT)))
    prefixes = np.array(["INV-", "SI-", "", "RE-", "F"])
    vendor = docs["contact"][sel]
    pref = pl.Series(prefixes[np.maximum(vendor, 0) % len(prefixes)])
    digits = pl.Series(rng.integers(10_000, 9_999_999, len(sel))).cast(pl.String)
    credit = pl.Series(np.where(t[sel] == bk.VENDOR_CREDIT, "CR-", ""))
    number = put(number, sel, credit + pref + digits)

    # Cheque numbers on cheque payments.
    sel = np.flatnonzero((t == bk.BILL_PAYMENT) & (docs["method"] == CHECK))
    seq = _seq(ci[sel], day[sel], doc[sel]) + offset[ci[sel]] + 1000
    number = put(number, sel, pl.Series(seq).cast(pl.String))
    sel = np.flatnonzero((t == bk.CUSTOMER_PAYMENT) & (docs["method"] == CHECK))
    reference = put(
        reference,
        sel,
        prefixed("Chk ", pl.Series(rng.integers(100, 99_999, len(sel))).cast(pl.String)),
    )

    # Journals: payroll runs, depreciation, opening balances.
    for p, prefix, fmt in (
        ("payroll", "PR-", "%Y%m%d"),
        ("depreciation", "DEP-", "%Y-%m"),
        ("opening", "OB-", "%Y-%m-%d"),
    ):
        sel = np.flatnonzero((purpose == bk.PURPOSE[p]) & (t == bk.JOURNAL))
        number = put(number, sel, prefixed(prefix, _dates(day[sel], fmt)))

    # Payments remit the invoice / bill number they settle.
    link = docs["link"]
    sel = np.flatnonzero(np.isin(t, (bk.CUSTOMER_PAYMENT, bk.BILL_PAYMENT)) & (link >= 0))
    remit = number.gather(pl.Series(link[sel]))
    has_ref = reference.gather(pl.Series(sel)).is_null()
    sel_ok = sel[has_ref.to_numpy()]
    reference = put(reference, sel_ok, remit.filter(has_ref))

    # Processor payouts carry the processor's payout id.
    sel = np.flatnonzero(purpose == bk.PURPOSE["payout"])
    payout = prefixed("po_", hex_strings(rng.integers(0, 256, (len(sel), 8), dtype=np.uint8)))
    reference = put(reference, sel, payout)
    sel = np.flatnonzero(purpose == bk.PURPOSE["card_sales"])
    reference = put(reference, sel, prefixed("Sales ", _dates(day[sel], "%Y-%m-%d")))
    return number, reference
