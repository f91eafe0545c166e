"""Revenue: card sales paid out net of fees, banked cash takings, and invoices with their
collection (partial payments, over-payments carried to the next invoice, credit notes)."""

from __future__ import annotations

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.companies import PROCESSOR_NAMES
from finpipe.sandbox.world.contacts import (
    CARD,
    CARD_SETTLEMENT,
    CASH,
    pick_customers,
    transfer_method,
)
from finpipe.sandbox.world.context import Ctx, day_in_month, explode, money
from finpipe.sandbox.world.fx import RATE_SCALE
from finpipe.sandbox.world.rng import lognormal_mean1
from finpipe.sandbox.world.spec import busday_add, weekday

# Sales by weekday (Mon..Sun) for card takings.
WEEKDAY_SHAPE = np.array(
    [
        [0.7, 0.8, 0.9, 1.0, 1.4, 1.55, 1.1],  # restaurant
        [1.1, 1.1, 1.1, 1.1, 1.05, 0.6, 0.55],  # software (online subscriptions)
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],  # construction (no card sales)
        [0.8, 0.8, 0.85, 0.95, 1.15, 1.6, 0.9],  # retail
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],  # professional services
    ]
)
RESTAURANT_FOOD_SHARE = 0.72


def _tax_split(gross: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(net, tax) of tax-inclusive gross amounts."""
    net = np.rint(gross / (1.0 + rate)).astype(np.int64)
    return net, gross - net


def card_sales(ctx: Ctx) -> None:
    """Daily card takings (sales receipts into the clearing account) and processor payouts
    (deposits of gross minus fees into the bank)."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("card_sales")
    comps = np.flatnonzero(co.processor >= 0)
    if not len(comps):
        return
    days = np.arange(cal.start, cal.end + 1, dtype=np.int32)
    wd = weekday(days)
    shape = WEEKDAY_SHAPE[co.industry[comps]][:, wd]  # (companies, days)
    closed_monday = (co.industry[comps] == ref.RESTAURANT) & (rng.random(len(comps)) < 0.4)
    shape[np.ix_(closed_monday, wd == 0)] = 0.0
    closed_sunday = (co.industry[comps] == ref.RETAIL) & (co.home_ccy[comps] == ref.EUR)
    shape[np.ix_(closed_sunday, wd == 6)] = 0.0
    month = cal.month_of(days)
    norm = np.zeros((len(comps), cal.months))
    for m in range(cal.months):  # per month: a column sum
        norm[:, m] = shape[:, month == m].sum(axis=1)
    c_idx, d_idx = np.nonzero(shape > 0)
    ci = comps[c_idx].astype(np.int32)
    day = days[d_idx]
    m = month[d_idx]
    share = np.array([ref.INDUSTRY_PROFILES[i].card_share for i in range(5)])[co.industry[ci]]
    tax_rate = co.sales_tax[ci]
    # revenue targets are net of tax; takings include it
    expected = ctx.revenue[ci, m] * share * shape[c_idx, d_idx] / norm[c_idx, m] * (1 + tax_rate)
    gross = money(expected * lognormal_mean1(rng, 0.2, len(ci)))
    net, tax = _tax_split(gross, tax_rate)
    n = len(ci)
    receipts = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.SALES_RECEIPT,
        purpose=bk.PURPOSE["card_sales"],
        day=day,
        ccy=co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=net,
        tax=tax,
        total=gross,
        method=CARD,
        status=bk.POSTED,
        user=bk.AUTOMATED_BASE + bk.PROCESSOR_SYNC,
    )
    item = ctx.items.receipt_first[ci]
    tax_kind = np.where(tax > 0, bk.TAX_SALES, bk.TAX_NONE)
    two = co.industry[ci] == ref.RESTAURANT
    food = np.where(two, np.rint(net * RESTAURANT_FOOD_SHARE).astype(np.int64), net)
    food_tax = np.where(two, np.rint(tax * RESTAURANT_FOOD_SHARE).astype(np.int64), tax)
    d_sales = book.desc("Daily card sales")
    book.add_lines(
        receipts,
        line_no=1,
        role=ctx.role("revenue_main"),
        item=item,
        qty4=10_000,
        unit=food,
        amount=food,
        tax=food_tax,
        tax_kind=tax_kind,
        desc=d_sales,
    )
    r2 = receipts[two]
    book.add_lines(
        r2,
        line_no=2,
        role=ctx.role("revenue_second"),
        item=item[two] + 1,
        qty4=10_000,
        unit=(net - food)[two],
        amount=(net - food)[two],
        tax=(tax - food_tax)[two],
        tax_kind=tax_kind[two],
        desc=d_sales,
    )

    proc = co.processor[ci]
    fee_rate = np.array([ref.PROCESSOR_FEE[p] for p in PROCESSOR_NAMES])[proc]
    fee = money(gross * fee_rate * rng.uniform(0.96, 1.04, n))
    stripe = np.array([p == "Stripe" for p in PROCESSOR_NAMES])[proc]
    payout_day = np.where(stripe, busday_add(day, 2), busday_add(day + 1, 0))
    keep = payout_day <= cal.end
    k = int(keep.sum())
    payouts = book.add_docs(
        k,
        ci=ci[keep],
        doc_type=bk.DEPOSIT,
        purpose=bk.PURPOSE["payout"],
        day=payout_day[keep],
        ccy=co.home_ccy[ci[keep]],
        rate=RATE_SCALE,
        subtotal=(gross - fee)[keep],
        total=(gross - fee)[keep],
        bank=ref.CHECKING,
        method=CARD_SETTLEMENT,
        status=bk.POSTED,
        user=bk.AUTOMATED_BASE + bk.PROCESSOR_SYNC,
        link=receipts[keep],
    )
    book.add_lines(
        payouts,
        line_no=1,
        role=ctx.role("clearing"),
        amount=gross[keep],
        desc=book.desc("Card sales payout"),
    )
    book.add_lines(
        payouts,
        line_no=2,
        role=ctx.role("merchant_fees"),
        amount=-fee[keep],
        desc=book.desc("Processing fees"),
    )


def cash_sales(ctx: Ctx) -> None:
    """Cash takings banked twice a week (Monday and Thursday) as sales receipts."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("cash_sales")
    share = np.array([ref.INDUSTRY_PROFILES[i].cash_share for i in range(5)])[co.industry]
    comps = np.flatnonzero(share > 0)
    if not len(comps):
        return
    days = np.arange(cal.start, cal.end + 1, dtype=np.int32)
    deposit_days = days[np.isin(weekday(days), (0, 3))]
    month = cal.month_of(deposit_days)
    per_month = np.bincount(month, minlength=cal.months)
    ci = np.repeat(comps, len(deposit_days)).astype(np.int32)
    day = np.tile(deposit_days, len(comps))
    m = np.tile(month, len(comps))
    expected = ctx.revenue[ci, m] * share[ci] / per_month[m] * (1 + co.sales_tax[ci])
    gross = money(expected * lognormal_mean1(rng, 0.18, len(ci)))
    net, tax = _tax_split(gross, co.sales_tax[ci])
    users = rng.integers(0, 3, len(ci))
    docs = book.add_docs(
        len(ci),
        ci=ci,
        doc_type=bk.SALES_RECEIPT,
        purpose=bk.PURPOSE["cash_sales"],
        day=day,
        ccy=co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=net,
        tax=tax,
        total=gross,
        bank=ref.CHECKING,
        method=CASH,
        status=bk.POSTED,
        user=users,
        entry_lag=rng.integers(0, 2, len(ci)),
    )
    retail = co.industry[ci] == ref.RETAIL
    item = ctx.items.receipt_first[ci] + retail  # retail: the "Cash sales" item
    book.add_lines(
        docs,
        line_no=1,
        role=ctx.role("revenue_main"),
        item=item,
        qty4=10_000,
        unit=net,
        amount=net,
        tax=tax,
        tax_kind=np.where(tax > 0, bk.TAX_SALES, bk.TAX_NONE),
        desc=book.desc("Cash takings banked"),
    )


def refunds(ctx: Ctx) -> None:
    """Shops and restaurants refund a few customers by bank transfer (returns, complaints):
    refund receipts that reverse revenue and output tax and pay out of the bank."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("refunds")
    rate = np.where(np.isin(co.industry, (ref.RETAIL, ref.RESTAURANT)), 1.5, 0.0)
    counts = rng.poisson((rate * co.size)[:, None] * np.ones(cal.months))
    ci, m = explode(counts)
    n = len(ci)
    if not n:
        return
    day = day_in_month(rng, cal, m)
    contact = pick_customers(rng, ctx.contacts, ci)
    home = co.home_ccy[ci]
    gross = money(co.revenue0[ci] * 0.002 * lognormal_mean1(rng, 0.7, n))
    net, tax = _tax_split(gross, co.sales_tax[ci])
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.REFUND,
        purpose=bk.PURPOSE["refund"],
        day=day,
        contact=contact,
        ccy=home,
        rate=RATE_SCALE,
        subtotal=net,
        tax=tax,
        total=gross,
        bank=ref.CHECKING,
        method=transfer_method(co.country[ci]),
        status=bk.POSTED,
        user=rng.integers(0, 3, n),
        entry_lag=rng.integers(0, 3, n),
    )
    book.add_lines(
        docs,
        line_no=1,
        role=ctx.role("discounts"),
        amount=net,
        tax=tax,
        tax_kind=np.where(tax > 0, bk.TAX_SALES, bk.TAX_NONE),
        desc=book.desc("Refund to customer"),
    )


def invoices(ctx: Ctx) -> np.ndarray:
    """Invoices with 1-3 item lines; returns their document numbers."""
    co, cal, book, items = ctx.co, ctx.cal, ctx.book, ctx.items
    rng = ctx.streams.get("invoices")
    prof = ref.INDUSTRY_PROFILES
    inv_share = np.array([1 - p.card_share - p.cash_share for p in prof])[co.industry]
    per_month = np.array([p.invoices_per_month for p in prof])[co.industry]
    # Software: annual contracts renew in one month of the year (the renewal spike).
    renew = (co.industry == ref.SOFTWARE)[:, None] & (
        cal.month_of_year[None, :] == co.renewal_moy[:, None]
    )
    count_factor = np.where(renew, 1.8, np.where(co.industry[:, None] == ref.SOFTWARE, 0.93, 1))
    amount_factor = np.where(renew, 2.6, np.where(co.industry[:, None] == ref.SOFTWARE, 0.85, 1))
    lam = (per_month * co.size**0.7)[:, None] * co.level**0.6 * count_factor
    counts = rng.poisson(lam)
    ci, m = explode(counts)
    n = len(ci)
    day = day_in_month(rng, cal, m)
    contact = pick_customers(rng, ctx.contacts, ci)
    ccy = ctx.contacts.ccy[contact]
    rate = ctx.rate_to_home(ccy, ci, day)
    target_home = (
        ctx.revenue[ci, m]
        * inv_share[ci]
        * amount_factor[ci, m]
        / lam[ci, m]
        * lognormal_mean1(rng, 0.55, n)
    )
    target = ctx.from_home(target_home, rate).astype(np.float64)
    n_lines = 1 + (rng.random(n) < 0.45) + (rng.random(n) < 0.2)
    doc_of_line = np.repeat(np.arange(n), n_lines)
    line_no = (np.arange(len(doc_of_line)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)) + 1
    w = rng.random(len(doc_of_line)) + 0.3
    w_sum = np.bincount(doc_of_line, weights=w)
    line_target = target[doc_of_line] * w / w_sum[doc_of_line]
    item = items.invoice.pick(rng, ci[doc_of_line])
    qlo, qhi = items.qty_lo[item], items.qty_hi[item]
    qty = rng.integers(qlo, qhi + 1)
    half = items.hourly[item] & (rng.random(len(item)) < 0.3) & (qty > 1)
    qty4 = qty * 10_000 - half * 5_000
    unit = np.maximum(np.rint(line_target * 10_000 / qty4), 100).astype(np.int64)
    # Round unit prices like people do: whole units above 50, cents below.
    unit = np.where(unit > 5_000, np.rint(unit / 100).astype(np.int64) * 100, unit)
    amount = (unit * qty4 + 5_000) // 10_000
    exported = ccy[doc_of_line] != co.home_ccy[ci[doc_of_line]]
    line_rate = np.where(exported, 0.0, co.sales_tax[ci[doc_of_line]])
    line_tax = np.rint(amount * line_rate).astype(np.int64)
    tax_kind = np.where(exported, bk.TAX_ZERO, np.where(line_rate > 0, bk.TAX_SALES, bk.TAX_EXEMPT))
    subtotal = np.bincount(doc_of_line, weights=amount, minlength=n).astype(np.int64)
    tax = np.bincount(doc_of_line, weights=line_tax, minlength=n).astype(np.int64)
    terms = ctx.contacts.terms[contact]
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.INVOICE,
        purpose=bk.PURPOSE["invoice"],
        day=day,
        due=day + terms,
        contact=contact,
        ccy=ccy,
        rate=rate,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        status=bk.OPEN,
        user=rng.integers(0, 3, n),
        entry_lag=rng.integers(0, 3, n),
    )
    descs = np.array([book.desc(name) for name in items.frame["name"].to_list()])
    book.add_lines(
        docs[doc_of_line],
        line_no=line_no,
        role=items.role[item],
        item=item,
        qty4=qty4,
        unit=unit,
        amount=amount,
        tax=line_tax,
        tax_kind=tax_kind,
        desc=descs[item],
    )
    return docs


def opening_invoices(ctx: Ctx) -> np.ndarray:
    """Invoices still unpaid at the start, entered as opening balances (AR against opening
    balance equity, as QuickBooks and Xero conversions do), so collections start at once."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("opening_invoices")
    prof = ref.INDUSTRY_PROFILES
    inv_share = np.array([1 - p.card_share - p.cash_share for p in prof])[co.industry]
    per_month = np.array([p.invoices_per_month for p in prof])[co.industry]
    lam = per_month * co.size**0.7 * 1.3
    counts = rng.poisson(lam)
    ci = np.repeat(np.arange(co.n), counts).astype(np.int32)
    n = len(ci)
    if not n:
        return np.zeros(0, dtype=np.int64)
    contact = pick_customers(rng, ctx.contacts, ci)
    ccy = ctx.contacts.ccy[contact]
    day = np.full(n, cal.start, dtype=np.int32)
    rate = ctx.rate_to_home(ccy, ci, day)
    # outstanding: about (payment terms + typical lateness) worth of invoiced revenue
    months_out = (np.array([np.mean(p.terms) for p in prof])[co.industry] + 10) / 30
    target_home = (
        co.revenue0[ci] * inv_share[ci] * months_out[ci] / lam[ci] * lognormal_mean1(rng, 0.55, n)
    )
    total = money(ctx.from_home(target_home, rate))
    due = cal.start + rng.integers(0, 40, n)
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.INVOICE,
        purpose=bk.PURPOSE["opening"],
        day=day,
        due=due,
        contact=contact,
        ccy=ccy,
        rate=rate,
        subtotal=total,
        total=total,
        status=bk.OPEN,
        user=0,
    )
    book.add_lines(
        docs, line_no=1, role=ctx.role("obe"), amount=total, desc=book.desc("Opening balance")
    )
    return docs


def collect(ctx: Ctx, inv: np.ndarray) -> None:
    """Credit notes, customer payments and allocations for the invoices ``inv``."""
    co, cal, book, contacts = ctx.co, ctx.cal, ctx.book, ctx.contacts
    rng = ctx.streams.get("collect")
    docs = book.docs()
    ci, day, due = docs["ci"][inv], docs["day"][inv], docs["due"][inv]
    contact, ccy = docs["contact"][inv], docs["ccy"][inv]
    total, tax = docs["total"][inv], docs["tax"][inv]
    n = len(inv)
    home = ccy == co.home_ccy[ci]

    # Credit notes (a share of the invoice, at the invoice's rate so AR clears exactly).
    cn = rng.random(n) < 0.03
    cn_day = day + rng.integers(2, 26, n)
    cn &= cn_day <= cal.end
    frac = rng.uniform(0.05, 0.3, n)
    cn_total = np.where(cn, np.maximum(np.rint(total * frac), 1), 0).astype(np.int64)
    cn_tax = np.where(cn, np.rint(tax * frac), 0).astype(np.int64)
    cn_tax = np.minimum(cn_tax, cn_total)
    k = int(cn.sum())
    if k:
        book.add_credits(
            rng,
            inv[cn],
            cn_day[cn],
            cn_total[cn],
            cn_tax[cn],
            doc_type=bk.CREDIT_NOTE,
            purpose=bk.PURPOSE["credit_note"],
            role=ctx.role("discounts"),
            tax_kind=bk.TAX_SALES,
            desc="Credit for returned / disputed items",
        )

    # Over-payments (home currency only) are carried to the customer's next invoice.
    order = np.lexsort((inv, day, contact))
    nxt = np.full(n, -1, dtype=np.int64)
    same = contact[order][1:] == contact[order][:-1]
    nxt[order[:-1][same]] = order[1:][same]
    over_extra = rng.integers(1, 50, n) * 100
    credit_room = np.where(nxt >= 0, total[np.maximum(nxt, 0)] - cn_total[np.maximum(nxt, 0)], 0)
    late = contacts.late_mean[contact] + rng.normal(0, 4, n)
    p1 = busday_add(np.maximum(due + np.rint(late).astype(np.int32), day + 1), 0)
    never = rng.random(n) < np.where(contacts.late_mean[contact] > 30, 0.08, 0.025)
    nxt_safe = np.maximum(nxt, 0)
    carry_day = np.maximum(p1, day[nxt_safe])
    # Only a payment that happens inside the window can leave a credit for the next one;
    # the extra must fit in the next invoice, so every invoice still has something to pay.
    over = (
        home
        & (nxt >= 0)
        & ~never
        & (p1 <= cal.end)
        & (carry_day <= cal.end)
        & (rng.random(n) < 0.025)
        & (over_extra < credit_room)
    )
    credit_in = np.zeros(n, dtype=np.int64)
    credit_in[nxt[over]] = over_extra[over]
    remaining = total - cn_total - credit_in
    part = (rng.random(n) < contacts.partial[contact]) & ~over & (remaining > 200)
    first = np.where(
        part, np.maximum(np.rint(remaining * rng.uniform(0.3, 0.7, n) / 100) * 100, 100), remaining
    ).astype(np.int64)
    first = np.where(part, np.minimum(first, remaining - 100), first)
    p2 = busday_add(p1 + rng.integers(10, 40, n), 0)
    pay1 = ~never & (remaining > 0) & (p1 <= cal.end)
    pay2 = pay1 & part & (p2 <= cal.end)
    amount1 = first + np.where(over, over_extra, 0)
    method = contacts.method[contact]
    bank = ctx.bank_for(ci, ccy)

    def _pay(mask: np.ndarray, pday: np.ndarray, amount: np.ndarray) -> np.ndarray:
        k = int(mask.sum())
        prate = ctx.rate_to_home(ccy[mask], ci[mask], pday[mask])
        return book.add_docs(
            k,
            ci=ci[mask],
            doc_type=bk.CUSTOMER_PAYMENT,
            purpose=bk.PURPOSE["customer_payment"],
            day=pday[mask],
            contact=contact[mask],
            ccy=ccy[mask],
            rate=prate,
            subtotal=amount[mask],
            total=amount[mask],
            bank=bank[mask],
            method=method[mask],
            status=bk.POSTED,
            link=inv[mask],
            user=rng.integers(0, 3, k),
            entry_lag=rng.integers(0, 3, k),
        )

    pay1_docs = _pay(pay1, p1, amount1)
    book.add_allocs(pay1_docs, inv[pay1], p1[pay1], first[pay1])
    carry = over[pay1]
    book.add_allocs(
        pay1_docs[carry], inv[nxt[pay1][carry]], carry_day[pay1][carry], over_extra[pay1][carry]
    )
    pay2_docs = _pay(pay2, p2, remaining - first)
    book.add_allocs(pay2_docs, inv[pay2], p2[pay2], (remaining - first)[pay2])
