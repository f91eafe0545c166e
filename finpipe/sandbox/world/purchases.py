"""Spending: supplier bills and their payments, card purchases, direct debits and rent.

Each cost category of :mod:`catalog` gets a monthly budget (a share of cost of sales or of
overheads) and a document count; documents split the budget with lognormal noise, so
amounts follow Benford's law naturally (the ``benford_vendor`` anomaly breaks it on
purpose).
"""

from __future__ import annotations

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import catalog as cat
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.contacts import (
    ACH,
    CARD,
    DIRECT_DEBIT,
    pick_vendors,
    special_vendor,
    transfer_method,
)
from finpipe.sandbox.world.context import Ctx, day_in_month, explode, money
from finpipe.sandbox.world.fx import RATE_SCALE
from finpipe.sandbox.world.rng import lognormal_mean1
from finpipe.sandbox.world.spec import busday_add


def _share_table() -> np.ndarray:
    """(categories, industries) share of the category's bucket, normalised per bucket."""
    table = np.zeros((len(cat.CATEGORIES), 5))
    for g, c in enumerate(cat.CATEGORIES):
        for ind, share in c.share.items():
            table[g, ind] = share
    for bucket in ("cogs", "opex"):
        rows = [g for g, c in enumerate(cat.CATEGORIES) if c.bucket == bucket]
        total = table[rows].sum(axis=0)
        table[rows] /= np.where(total > 0, total, 1)
    return table


SHARES = _share_table()


def direct_debit_day(vendor: np.ndarray) -> np.ndarray:
    """The day of month (1-28) a vendor collects its direct debit: fixed per vendor."""
    return (vendor * 2654435761 % 28 + 1).astype(np.int32)


def spending(ctx: Ctx) -> np.ndarray:
    """Bills, card purchases and direct debits of every cost category; returns the bills."""
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("spending")
    prof = ref.INDUSTRY_PROFILES
    cogs_ratio = np.array([p.cogs_ratio for p in prof])[co.industry]
    opex_ratio = np.array([p.opex_ratio for p in prof])[co.industry]
    bills: list[np.ndarray] = []
    for g, category in enumerate(cat.CATEGORIES):  # one pass per category, vectorised
        share = SHARES[g, co.industry]
        if not (share > 0).any():
            continue
        if category.bucket == "cogs":
            activity = co.level
            budget = cogs_ratio[:, None] * ctx.revenue * share[:, None]
        else:
            activity = co.cost_level
            budget = (opex_ratio * co.revenue0 * share)[:, None] * co.cost_level
        lam = (category.per_month * co.size**0.6 * (share > 0))[:, None] * activity**0.5
        counts = rng.poisson(lam)
        ci, m = explode(counts)
        if not len(ci):
            continue
        n = len(ci)
        channel = np.searchsorted(np.cumsum(category.channel), rng.random(n), side="right")
        channel = np.minimum(channel, 2)
        sigma = np.where(channel == cat.CARD, 0.8, 0.6)
        target_home = budget[ci, m] / lam[ci, m] * rng.lognormal(-0.5 * sigma**2, sigma)
        vendor = pick_vendors(rng, ctx.contacts, ci, np.full(n, g))
        is_bill = channel == cat.BILL
        if is_bill.any():
            sel = np.flatnonzero(is_bill)
            day = day_in_month(rng, cal, m[sel])
            bills.append(
                add_bills(
                    ctx,
                    rng,
                    ci[sel],
                    day,
                    vendor[sel],
                    target_home[sel],
                    ctx.role(category.role),
                    category.description,
                )
            )
        for ch in (cat.CARD, cat.DEBIT):
            sel = np.flatnonzero(channel == ch)
            if not len(sel):
                continue
            if ch == cat.CARD:
                day = day_in_month(rng, cal, m[sel], business=False)
            else:
                start = cal.month_starts[m[sel]]
                day = busday_add(start + direct_debit_day(vendor[sel]) - 1, 0)
                day = np.minimum(day, cal.end)
            add_expenses(
                ctx,
                rng,
                ci[sel],
                day,
                vendor[sel],
                target_home[sel],
                ctx.role(category.role),
                category.description,
                card=ch == cat.CARD,
                exempt=category.key == "insurance",
            )
    return np.concatenate(bills) if bills else np.zeros(0, dtype=np.int64)


def add_bills(
    ctx: Ctx,
    rng: np.random.Generator,
    ci: np.ndarray,
    day: np.ndarray,
    vendor: np.ndarray,
    target_home: np.ndarray,
    role: int | np.ndarray,
    description: str,
    exact_net: np.ndarray | None = None,
    due: np.ndarray | None = None,
    purpose: str = "bill",
    user: np.ndarray | None = None,
) -> np.ndarray:
    """Supplier bills (net ``target_home`` converted to the vendor's currency, plus
    recoverable VAT where it applies); ``exact_net`` overrides the net amount."""
    co, book = ctx.co, ctx.book
    n = len(ci)
    ccy = ctx.contacts.ccy[vendor]
    rate = ctx.rate_to_home(ccy, ci, day)
    net = money(ctx.from_home(target_home, rate)) if exact_net is None else exact_net
    foreign = ccy != co.home_ccy[ci]
    tax_rate = np.where(foreign, 0.0, co.purchase_tax[ci])
    tax = np.rint(net * tax_rate).astype(np.int64)
    two = (rng.random(n) < 0.2) & (net > 2_000) & (exact_net is None)
    first = np.where(two, np.rint(net * rng.uniform(0.5, 0.9, n)), net).astype(np.int64)
    first_tax = np.where(two, np.rint(tax * first / np.maximum(net, 1)), tax).astype(np.int64)
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.BILL,
        purpose=bk.PURPOSE[purpose],
        day=day,
        due=day + ctx.contacts.terms[vendor] if due is None else due,
        contact=vendor,
        ccy=ccy,
        rate=rate,
        subtotal=net,
        tax=tax,
        total=net + tax,
        status=bk.OPEN,
        user=rng.integers(0, 3, n) if user is None else user,
        entry_lag=rng.integers(0, 6, n),
    )
    tax_kind = np.where(foreign, bk.TAX_ZERO, np.where(tax > 0, bk.TAX_PURCHASE, bk.TAX_NONE))
    role = np.broadcast_to(np.asarray(role), (n,))
    book.add_lines(
        docs,
        line_no=1,
        role=role,
        amount=first,
        tax=first_tax,
        tax_kind=tax_kind,
        desc=book.desc(description),
    )
    book.add_lines(
        docs[two],
        line_no=2,
        role=role[two],
        amount=(net - first)[two],
        tax=(tax - first_tax)[two],
        tax_kind=tax_kind[two],
        desc=book.desc(description + " - delivery"),
    )
    return docs


def add_expenses(
    ctx: Ctx,
    rng: np.random.Generator,
    ci: np.ndarray,
    day: np.ndarray,
    vendor: np.ndarray,
    gross_home: np.ndarray,
    role: int | np.ndarray,
    description: str,
    card: bool,
    exempt: bool = False,
    exact: np.ndarray | None = None,
    purpose: str | None = None,
    bank: np.ndarray | None = None,
    user: np.ndarray | None = None,
    method: np.ndarray | None = None,
) -> np.ndarray:
    """Direct purchases paid at once by card (debit card or the credit card account) or
    by direct debit, VAT included in the price where it applies."""
    co, book = ctx.co, ctx.book
    n = len(ci)
    gross = money(gross_home) if exact is None else exact
    tax_rate = 0.0 if exempt else co.purchase_tax[ci]
    net = np.rint(gross / (1.0 + tax_rate)).astype(np.int64)
    tax = gross - net
    if bank is None:
        on_card = co.has_kind[ci, ref.CREDIT_CARD] & (rng.random(n) < 0.65) & card
        bank = np.where(on_card, ref.CREDIT_CARD, ref.CHECKING)
    if method is None and card:
        method = np.full(n, CARD)
    elif method is None:
        method = np.where(co.country[ci] == ref.US_, ACH, DIRECT_DEBIT)
    if user is None:
        user = np.where(
            rng.random(n) < 0.5, bk.AUTOMATED_BASE + bk.BANK_FEED, rng.integers(0, 3, n)
        )
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.EXPENSE,
        purpose=bk.PURPOSE[purpose or ("card_expense" if card else "direct_debit")],
        day=day,
        contact=vendor,
        ccy=co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=net,
        tax=tax,
        total=gross,
        bank=bank,
        method=method,
        status=bk.POSTED,
        user=user,
        entry_lag=rng.integers(1, 7, n),
    )
    tax_kind = bk.TAX_EXEMPT if exempt else np.where(tax > 0, bk.TAX_PURCHASE, bk.TAX_NONE)
    book.add_lines(
        docs,
        line_no=1,
        role=role,
        amount=net,
        tax=tax,
        tax_kind=tax_kind,
        desc=book.desc(description),
    )
    return docs


def opening_bills(ctx: Ctx) -> np.ndarray:
    """Supplier bills unpaid at the start, entered as opening balances (against opening
    balance equity) so the first month pays suppliers as a running business does."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("opening_bills")
    cogs_ratio = np.array([p.cogs_ratio for p in ref.INDUSTRY_PROFILES])[co.industry]
    parts_ci, parts_vendor, parts_amount = [], [], []
    for g, category in enumerate(cat.CATEGORIES):  # per category, vectorised over companies
        if category.channel[0] <= 0:
            continue
        share = SHARES[g, co.industry]
        comps = np.flatnonzero(share > 0)
        if not len(comps):
            continue
        budget = np.where(category.bucket == "cogs", cogs_ratio, 0.1) * co.revenue0 * share
        k = rng.poisson(np.maximum(category.per_month * category.channel[0] * 0.6, 0.3), len(comps))
        ci = np.repeat(comps, k).astype(np.int32)
        if not len(ci):
            continue
        parts_ci.append(ci)
        parts_vendor.append(pick_vendors(rng, ctx.contacts, ci, np.full(len(ci), g)))
        amount = (
            budget[ci] * 0.8 / np.repeat(np.maximum(k, 1), k) * lognormal_mean1(rng, 0.5, len(ci))
        )
        parts_amount.append(amount)
    if not parts_ci:
        return np.zeros(0, dtype=np.int64)
    ci = np.concatenate(parts_ci)
    vendor = np.concatenate(parts_vendor)
    n = len(ci)
    ccy = ctx.contacts.ccy[vendor]
    day = np.full(n, cal.start, dtype=np.int32)
    rate = ctx.rate_to_home(ccy, ci, day)
    total = money(ctx.from_home(np.concatenate(parts_amount), rate))
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.BILL,
        purpose=bk.PURPOSE["opening"],
        day=day,
        due=cal.start + rng.integers(0, 30, n),
        contact=vendor,
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


def rent(ctx: Ctx) -> np.ndarray:
    """The monthly rent bill from the landlord, dated a few days before the month."""
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("rent")
    ratio = np.array([p.rent_ratio for p in ref.INDUSTRY_PROFILES])[co.industry]
    base = np.rint(ratio * co.revenue0 / 5_000) * 5_000  # leases are round numbers
    ci = np.repeat(np.arange(co.n), cal.months).astype(np.int32)
    m = np.tile(np.arange(cal.months), co.n)
    amount = (base[ci] * 1.03 ** (m // 12)).astype(np.int64) // 100 * 100
    day = np.maximum(cal.month_starts[m] - 5, cal.start)
    vendor = special_vendor(ctx.contacts, ci, "landlord")
    # Leases are due on the first of the month.
    return add_bills(
        ctx,
        rng,
        ci,
        day.astype(np.int32),
        vendor,
        amount.astype(float),
        ctx.role("rent"),
        "Monthly rent",
        exact_net=amount,
        due=cal.month_starts[m],
        purpose="rent",
    )


def pay_bills(ctx: Ctx, bills: np.ndarray) -> None:
    """Bill payments (around the due date; later and later for distressed companies),
    a few partial payments and vendor credits, with their allocations."""
    co, cal, book, contacts = ctx.co, ctx.cal, ctx.book, ctx.contacts
    rng = ctx.streams.get("pay_bills")
    docs = book.docs()
    ci, day, due = docs["ci"][bills], docs["day"][bills], docs["due"][bills]
    vendor, ccy = docs["contact"][bills], docs["ccy"][bills]
    total, tax = docs["total"][bills], docs["tax"][bills]
    purpose = docs["purpose"][bills]
    n = len(bills)
    traj = co.trajectory[ci]
    progress = (day - cal.start) / max(cal.end - cal.start, 1)

    vc = (rng.random(n) < 0.01) & (purpose == bk.PURPOSE["bill"])
    vc_day = day + rng.integers(3, 20, n)
    vc &= vc_day <= cal.end
    frac = rng.uniform(0.05, 0.25, n)
    vc_total = np.where(vc, np.maximum(np.rint(total * frac), 1), 0).astype(np.int64)
    vc_tax = np.minimum(np.where(vc, np.rint(tax * frac), 0), vc_total).astype(np.int64)
    k = int(vc.sum())
    if k:
        # A supplier credit reverses the bill's own first-line account.
        lines = book.lines()
        first_line = np.flatnonzero(np.isin(lines["doc"], bills[vc]) & (lines["line_no"] == 1))
        role_of = dict(zip(lines["doc"][first_line], lines["role"][first_line], strict=True))
        roles = np.array([role_of[b] for b in bills[vc]], dtype=np.int16)
        book.add_credits(
            rng,
            bills[vc],
            vc_day[vc],
            vc_total[vc],
            vc_tax[vc],
            doc_type=bk.VENDOR_CREDIT,
            purpose=bk.PURPOSE["vendor_credit"],
            role=roles,
            tax_kind=bk.TAX_PURCHASE,
            desc="Supplier credit",
        )
    remaining = total - vc_total

    delay = rng.normal(-2, 4, n)
    delay += np.where(traj == ref.DECLINING, rng.uniform(0, 8, n), 0)
    delay += np.where(traj == ref.DISTRESSED, progress * 30 + rng.normal(0, 6, n), 0)
    is_rent = purpose == bk.PURPOSE["rent"]
    delay = np.where(is_rent, np.where(traj == ref.DISTRESSED, progress * 20, 0), delay)
    p1 = busday_add(np.maximum(due + np.rint(delay).astype(np.int32), day), 0)
    never = rng.random(n) < np.where(traj == ref.DISTRESSED, 0.02 + 0.08 * progress, 0.01)
    never &= ~is_rent
    part = (rng.random(n) < 0.03) & (remaining > 1_000) & ~is_rent
    first = np.where(part, np.rint(remaining * rng.uniform(0.3, 0.7, n)), remaining)
    first = first.astype(np.int64)
    p2 = busday_add(p1 + rng.integers(14, 40, n), 0)
    pay1 = ~never & (p1 <= cal.end) & (remaining > 0)
    pay2 = pay1 & part & (p2 <= cal.end)
    method = np.where(is_rent, transfer_method(co.country[ci]), contacts.method[vendor])
    bank = ctx.bank_for(ci, ccy)
    for mask, pday, amount in ((pay1, p1, first), (pay2, p2, remaining - first)):
        k = int(mask.sum())
        if not k:
            continue
        prate = ctx.rate_to_home(ccy[mask], ci[mask], pday[mask])
        pays = book.add_docs(
            k,
            ci=ci[mask],
            doc_type=bk.BILL_PAYMENT,
            purpose=bk.PURPOSE["bill_payment"],
            day=pday[mask],
            contact=vendor[mask],
            ccy=ccy[mask],
            rate=prate,
            subtotal=amount[mask],
            total=amount[mask],
            bank=bank[mask],
            method=method[mask],
            status=bk.POSTED,
            link=bills[mask],
            user=rng.integers(0, 3, k),
            entry_lag=rng.integers(0, 2, k),
        )
        book.add_allocs(pays, bills[mask], pday[mask], amount[mask])
