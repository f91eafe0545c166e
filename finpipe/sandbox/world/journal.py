"""The true double-entry books, derived from the canonical documents.

Every live document becomes one balanced entry in home currency (debit positive):

====================  =========================================================
invoice / credit      AR (control) | revenue lines | output tax
bill / vendor credit  AP (control) | expense lines | recoverable input tax
sales receipt         bank or processor clearing | revenue lines | output tax
expense / refund      bank or card account | expense (revenue) lines | tax
deposit (payout)      bank (net) | clearing (gross) | merchant fees
customer / bill pay   bank | AR / AP relief at the invoice's rate | FX gain or loss
transfer              receiving account | paying account
journal               its own signed lines (payroll, depreciation, opening balances)
====================  =========================================================

Rounding: each line is converted at the document's rate; the difference to the
control total lands on the first line, so every entry sums to exactly zero. Settlements
relieve AR/AP cumulatively (``round(cum * rate) - round(prev * rate)``), so a fully paid
foreign invoice leaves exactly zero behind and the exchange difference goes to FX gain/loss.
Foreign-currency bank balances are revalued at month end (entries without a document).
"""

from __future__ import annotations

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.cash import legs, live_mask
from finpipe.sandbox.world.chart import ROLE
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.fx import convert

BANK_ROLE = np.array([ROLE["checking"], ROLE["savings"], ROLE["card"], ROLE["fx_bank"]])
# Sign of the control line per document type (+1: the control account is debited).
CONTROL_SIGN = np.zeros(len(bk.DOC_TYPES), dtype=np.int64)
for _t, _s in (
    (bk.INVOICE, 1),
    (bk.SALES_RECEIPT, 1),
    (bk.DEPOSIT, 1),
    (bk.VENDOR_CREDIT, 1),
    (bk.CREDIT_NOTE, -1),
    (bk.REFUND, -1),
    (bk.BILL, -1),
    (bk.EXPENSE, -1),
):
    CONTROL_SIGN[_t] = _s
ITEM_TYPES = (
    bk.INVOICE,
    bk.SALES_RECEIPT,
    bk.DEPOSIT,
    bk.VENDOR_CREDIT,
    bk.CREDIT_NOTE,
    bk.REFUND,
    bk.BILL,
    bk.EXPENSE,
)
# Part order inside an entry: control / bank first, then lines, tax, FX.
PART_CONTROL, PART_LINE, PART_TAX, PART_FX = range(4)


def reliefs(docs: dict[str, np.ndarray], al: dict[str, np.ndarray]) -> np.ndarray:
    """Home-currency AR/AP relief of each allocation (cumulative rounding per target)."""
    if not len(al["target"]):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((al["source"], al["day"], al["target"]))
    target = al["target"][order]
    amount = al["amount"][order]
    start = np.r_[True, target[1:] != target[:-1]]
    group_start = np.flatnonzero(start)
    cum = np.cumsum(amount)
    base = np.repeat(np.r_[0, cum[group_start[1:] - 1]], np.diff(np.r_[group_start, len(cum)]))
    within = cum - base
    rate = docs["rate"][target]
    cum_home = convert(within, rate)
    prev = np.r_[0, cum_home[:-1]]
    prev[start] = 0
    out = np.empty(len(order), dtype=np.int64)
    out[order] = cum_home - prev
    return out


def build_journal(ctx: Ctx) -> dict[str, np.ndarray]:
    """Canonical journal lines: doc, ci, day, role, home, foreign, ccy, desc, line_no
    (``doc`` = -1 and ``reval`` >= 0 for revaluation entries)."""
    co, book = ctx.co, ctx.book
    docs = book.docs()
    lines = book.lines()
    al = book.allocs()
    live = live_mask(docs)
    t = docs["doc_type"]
    ctl_sign = CONTROL_SIGN[t]
    parts: list[dict[str, np.ndarray]] = []
    d_ctl = {
        k: book.desc(v)
        for k, v in (
            ("ar", "Accounts receivable"),
            ("ap", "Accounts payable"),
            ("bank", "Bank"),
            ("clearing", "Processor clearing"),
            ("tax", "Sales tax / VAT"),
            ("fx", "Exchange difference"),
            ("reval", "Revaluation of foreign currency balance"),
        )
    }

    def part(doc, role, home, foreign, order, sub, desc, ccy=None):
        doc = np.asarray(doc, dtype=np.int64)
        parts.append(
            {
                "doc": doc,
                "role": np.broadcast_to(np.asarray(role, dtype=np.int16), doc.shape).copy(),
                "home": np.asarray(home, dtype=np.int64),
                "foreign": np.asarray(foreign, dtype=np.int64),
                "order": np.full(len(doc), order, dtype=np.int8),
                "sub": np.broadcast_to(np.asarray(sub, dtype=np.int32), doc.shape).copy(),
                "desc": np.broadcast_to(np.asarray(desc, dtype=np.int32), doc.shape).copy(),
                "ccy": (
                    docs["ccy"][doc]
                    if ccy is None
                    else np.broadcast_to(np.asarray(ccy, dtype=np.int8), doc.shape).copy()
                ),
            }
        )

    # Allocation reliefs -> settlement amounts per source document.
    relief = reliefs(docs, al)
    n = book.n_docs
    relief_by_source = np.bincount(al["source"], weights=relief, minlength=n).astype(np.int64)
    applied_by_source = np.bincount(al["source"], weights=al["amount"], minlength=n)
    applied_by_source = applied_by_source.astype(np.int64)

    # Control totals (home) of documents with item lines.
    control_home = convert(docs["total"], docs["rate"])
    credits = np.isin(t, (bk.CREDIT_NOTE, bk.VENDOR_CREDIT))
    control_home = np.where(credits, relief_by_source, control_home)

    # (a) AR / AP / clearing control lines.
    for types, role, desc in (
        ((bk.INVOICE, bk.CREDIT_NOTE), ROLE["ar"], d_ctl["ar"]),
        ((bk.BILL, bk.VENDOR_CREDIT), ROLE["ap"], d_ctl["ap"]),
    ):
        sel = np.flatnonzero(live & np.isin(t, types))
        part(
            sel,
            role,
            ctl_sign[sel] * control_home[sel],
            ctl_sign[sel] * docs["total"][sel],
            PART_CONTROL,
            0,
            desc,
        )
    sel = np.flatnonzero(live & (t == bk.SALES_RECEIPT) & (docs["bank"] < 0))
    part(
        sel,
        ROLE["clearing"],
        control_home[sel],
        docs["total"][sel],
        PART_CONTROL,
        0,
        d_ctl["clearing"],
    )

    # (a') bank legs of cash documents (journals carry their bank line themselves).
    lg = legs(co, docs)
    keep = t[lg["doc"]] != bk.JOURNAL
    part(
        lg["doc"][keep],
        BANK_ROLE[lg["kind"][keep]],
        lg["home"][keep],
        lg["doc_amount"][keep],
        PART_CONTROL,
        lg["transfer_from"][keep].astype(np.int32),
        d_ctl["bank"],
    )

    # (b) item lines with the rounding residual on line 1, (c) tax lines.
    item_docs = live & np.isin(t, ITEM_TYPES)
    lsel = np.flatnonzero(item_docs[lines["doc"]])
    ldoc = lines["doc"][lsel]
    l_home = convert(lines["amount"][lsel], docs["rate"][ldoc])
    tax_home = convert(docs["tax"], docs["rate"])
    line_sum = np.bincount(ldoc, weights=l_home, minlength=n).astype(np.int64)
    residual = control_home - tax_home - line_sum
    first = lines["line_no"][lsel] == 1
    l_home = l_home + np.where(first, residual[ldoc], 0)
    part(
        ldoc,
        lines["role"][lsel],
        -ctl_sign[ldoc] * l_home,
        -ctl_sign[ldoc] * lines["amount"][lsel],
        PART_LINE,
        lines["line_no"][lsel],
        lines["desc"][lsel],
    )
    tsel = np.flatnonzero(item_docs & (docs["tax"] != 0))
    part(
        tsel,
        ROLE["sales_tax"],
        -ctl_sign[tsel] * tax_home[tsel],
        -ctl_sign[tsel] * docs["tax"][tsel],
        PART_TAX,
        0,
        d_ctl["tax"],
    )

    # (d) journal documents: their own signed lines.
    jsel = np.flatnonzero(live[lines["doc"]] & (t[lines["doc"]] == bk.JOURNAL))
    jdoc = lines["doc"][jsel]
    jccy = np.where(lines["ccy"][jsel] >= 0, lines["ccy"][jsel], docs["ccy"][jdoc])
    jforeign = np.where(lines["ccy"][jsel] >= 0, lines["fx_amount"][jsel], lines["amount"][jsel])
    part(
        jdoc,
        lines["role"][jsel],
        convert(lines["amount"][jsel], docs["rate"][jdoc]),
        jforeign,
        PART_LINE,
        lines["line_no"][jsel],
        lines["desc"][jsel],
        ccy=jccy,
    )

    # (e) settlements: AR / AP relief and the exchange difference.
    pays = np.flatnonzero(live & np.isin(t, (bk.CUSTOMER_PAYMENT, bk.BILL_PAYMENT)))
    s = np.where(t[pays] == bk.CUSTOMER_PAYMENT, 1, -1)
    unapplied = docs["total"][pays] - applied_by_source[pays]
    relief_home = relief_by_source[pays] + convert(unapplied, docs["rate"][pays])
    role = np.where(s == 1, ROLE["ar"], ROLE["ap"])
    part(
        pays,
        role,
        -s * relief_home,
        -s * docs["total"][pays],
        PART_LINE,
        1,
        np.where(s == 1, d_ctl["ar"], d_ctl["ap"]),
    )
    bank_home = np.zeros(n, dtype=np.int64)
    np.add.at(bank_home, lg["doc"], lg["home"])
    fx = -(bank_home[pays] - s * relief_home)
    has_fx = fx != 0
    part(
        pays[has_fx],
        ROLE["fx_realised"],
        fx[has_fx],
        np.zeros(int(has_fx.sum())),
        PART_FX,
        0,
        d_ctl["fx"],
    )

    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((out["sub"], out["order"], out["doc"]))
    out = {k: v[order] for k, v in out.items()}
    out["ci"] = docs["ci"][out["doc"]]
    out["day"] = docs["day"][out["doc"]]
    out["reval"] = np.full(len(out["doc"]), -1, dtype=np.int32)
    out = _append_revaluations(ctx, out, d_ctl["reval"])
    out["line_no"] = _line_numbers(out["doc"], out["reval"], out["ci"])
    del out["order"], out["sub"]
    return out


def _line_numbers(doc: np.ndarray, reval: np.ndarray, ci: np.ndarray) -> np.ndarray:
    key = np.where(doc >= 0, doc, -1 - (ci.astype(np.int64) * 1_000 + reval))
    change = np.r_[True, key[1:] != key[:-1]]
    starts = np.flatnonzero(change)
    counts = np.diff(np.r_[starts, len(key)])
    return (np.arange(len(key)) - np.repeat(starts, counts) + 1).astype(np.int32)


def _append_revaluations(ctx: Ctx, out: dict[str, np.ndarray], desc: int) -> dict[str, np.ndarray]:
    """Month-end revaluation of foreign-currency bank accounts to the month-end rate."""
    co, cal = ctx.co, ctx.cal
    comps = np.flatnonzero(co.has_kind[:, ref.FX_CHECKING])
    if not len(comps):
        return out
    sel = out["role"] == ROLE["fx_bank"]
    m = cal.month_of(out["day"][sel])
    ci = out["ci"][sel]
    home = np.zeros((co.n, cal.months), dtype=np.int64)
    foreign = np.zeros((co.n, cal.months), dtype=np.int64)
    np.add.at(home, (ci, m), out["home"][sel])
    np.add.at(foreign, (ci, m), out["foreign"][sel])
    home_c = np.cumsum(home, axis=1)[comps]
    foreign_c = np.cumsum(foreign, axis=1)[comps]
    month_end = cal.month_starts[1:] - 1
    rate = ctx.fx.rate(
        co.foreign_ccy[comps][:, None],
        co.home_ccy[comps][:, None],
        np.broadcast_to(month_end, (len(comps), cal.months)),
    )
    gap = convert(foreign_c, rate) - home_c  # cumulative revaluation needed
    step = np.diff(np.concatenate([np.zeros((len(comps), 1), np.int64), gap], axis=1), axis=1)
    c_idx, m_idx = np.nonzero(step)
    if not len(c_idx):
        return out
    amount = step[c_idx, m_idx]
    k = len(c_idx)
    rci = comps[c_idx].astype(np.int32)
    fccy = co.foreign_ccy[rci]
    add = {
        "doc": np.full(2 * k, -1, dtype=np.int64),
        "role": np.r_[np.full(k, ROLE["fx_bank"]), np.full(k, ROLE["bank_revaluation"])].astype(
            np.int16
        ),
        "home": np.r_[amount, -amount],
        "foreign": np.zeros(2 * k, dtype=np.int64),
        "order": np.zeros(2 * k, dtype=np.int8),
        "sub": np.r_[np.zeros(k), np.ones(k)].astype(np.int32),
        "desc": np.full(2 * k, desc, dtype=np.int32),
        "ccy": np.r_[fccy, co.home_ccy[rci]].astype(np.int8),
        "ci": np.r_[rci, rci],
        "day": np.r_[month_end[m_idx], month_end[m_idx]].astype(np.int32),
        "reval": np.r_[m_idx, m_idx].astype(np.int32),
    }
    order = np.lexsort((add["sub"], add["reval"], add["ci"]))
    add = {key: v[order] for key, v in add.items()}
    return {key: np.concatenate([out[key], add[key]]) for key in out}
