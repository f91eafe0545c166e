"""Injected anomalies, at documented rates, with their ground-truth labels.

Only companies not marked clean get anomalies. Rates (``RATES``) are per *affected*
company-month (Poisson counts) or per eligible document (Bernoulli), so a detector's
recall can be measured and the rates checked on any world:

* ``duplicate_payment``: a bill payment entered and paid twice (same vendor and amount,
  0-3 business days apart, both clear the bank). Labels: the original and the duplicate.
* ``split_payment``: one supplier's bill paid as 2-4 payments each just under the
  company's approval limit, on consecutive business days. Labels: the payments.
* ``round_amount``: a payment of a suspiciously round sum (1,000.00, 2,500.00...) to a
  professional-services vendor. Label: the expense.
* ``off_hours_posting``: a payment or expense entered at night or on a weekend by a user
  who does not normally post. Label: the document.
* ``new_vendor_large_payment``: a vendor created days before a large bill paid by wire
  (12-35 % of the month's revenue and at least 1.2-2x the company's 99th-percentile
  purchase so far). Labels: the bill and the payment.
* ``bank_details_changed``: an established vendor's bank details change and a large payment
  (above 1.2-2x any earlier one to it) to the new account follows within a week. Label: the
  payment.
* ``benford_vendor``: one vendor per affected company whose invented bills spread over
  two orders of magnitude, like a genuine vendor's, but whose totals all start with a digit
  5-9 (Benford's law broken). Labels: every bill of that vendor.
* ``expense_spike``: a month in which one overhead category gets 2-5 extra card charges
  (the category's own description) totalling 3-6 times its usual month, and never less
  than what a normal month of that category reaches once in ten thousand (the 99.99th
  percentile of its Poisson-count, lognormal-size spending), each charge at least what a
  routine charge reaches once in a hundred: the month and its extra charges are beyond
  the category's natural range by construction (and a category never spikes in the same
  calendar month of two years, which would be a season). Labels: the extra expenses.
* ``cash_crunch``: distressed companies (company level, no document): the month book cash
  first falls below a quarter of where it started (or its lowest month).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import catalog as cat
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.contacts import N_GROUPS, WIRE, pick_vendors, transfer_method
from finpipe.sandbox.world.context import Ctx, day_in_month, explode
from finpipe.sandbox.world.fx import RATE_SCALE
from finpipe.sandbox.world.identifiers import digits, ibans
from finpipe.sandbox.world.purchases import SHARES, add_bills, add_expenses
from finpipe.sandbox.world.spec import busday_add

ANOMALY_TYPES = (
    "duplicate_payment",
    "split_payment",
    "round_amount",
    "off_hours_posting",
    "new_vendor_large_payment",
    "bank_details_changed",
    "benford_vendor",
    "expense_spike",
    "cash_crunch",
)


@dataclass(frozen=True)
class Rate:
    value: float
    unit: str  # "company_month" (Poisson mean) | "document" (probability) | "company"


RATES: dict[str, Rate] = {
    "duplicate_payment": Rate(0.004, "document"),  # of bill payments
    "split_payment": Rate(0.06, "company_month"),
    "round_amount": Rate(0.12, "company_month"),
    "off_hours_posting": Rate(0.004, "document"),  # of payments and expenses keyed by people
    "new_vendor_large_payment": Rate(0.04, "company_month"),
    "bank_details_changed": Rate(0.04, "company_month"),
    "benford_vendor": Rate(1.0, "company"),  # one vendor per affected company
    "expense_spike": Rate(0.05, "company_month"),
    "cash_crunch": Rate(1.0, "company"),  # every distressed company
}
SPIKE_CATEGORIES = ("advertising", "travel", "repairs", "supplies", "software")


@dataclass
class AnomalyLog:
    """Labels as they are injected: one entry per (anomaly, document)."""

    anomaly: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    doc: list[np.ndarray] = field(default_factory=list)
    contact: list[np.ndarray] = field(default_factory=list)
    ci: list[np.ndarray] = field(default_factory=list)
    day: list[np.ndarray] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # per anomaly number
    n: int = 0

    def add(
        self,
        kind: str,
        anomaly_of_row: np.ndarray,
        doc: np.ndarray,
        contact: np.ndarray,
        ci: np.ndarray,
        day: np.ndarray,
        details: list[str],
    ) -> None:
        """Record anomalies; ``anomaly_of_row`` numbers them 0.. within this call."""
        self.anomaly.append(np.asarray(anomaly_of_row, dtype=np.int64) + self.n)
        self.kind.append(np.full(len(doc), ANOMALY_TYPES.index(kind), dtype=np.int8))
        self.doc.append(np.asarray(doc, dtype=np.int64))
        self.contact.append(np.asarray(contact, dtype=np.int64))
        self.ci.append(np.asarray(ci, dtype=np.int32))
        self.day.append(np.asarray(day, dtype=np.int32))
        self.details.extend(details)
        self.n += len(details)

    def columns(self) -> dict[str, np.ndarray]:
        if not self.anomaly:
            return {
                k: np.zeros(0, dtype=np.int64)
                for k in ("anomaly", "kind", "doc", "contact", "ci", "day")
            }
        return {
            "anomaly": np.concatenate(self.anomaly),
            "kind": np.concatenate(self.kind),
            "doc": np.concatenate(self.doc),
            "contact": np.concatenate(self.contact),
            "ci": np.concatenate(self.ci),
            "day": np.concatenate(self.day),
        }


def _fmt(amount_minor: int, ccy: int) -> str:
    return f"{amount_minor / 100:,.2f} {ref.CURRENCIES[ccy]}"


def affected(ctx: Ctx) -> np.ndarray:
    return np.flatnonzero(~ctx.co.clean)


def _cells(ctx: Ctx, rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Poisson anomaly counts per affected company-month -> (company, month) per anomaly."""
    lam = np.zeros((ctx.co.n, ctx.cal.months))
    lam[affected(ctx)] = RATES[kind].value
    return explode(rng.poisson(lam))


def _home_bill_vendor(
    ctx: Ctx, rng: np.random.Generator, ci: np.ndarray, groups: tuple[str, ...]
) -> np.ndarray:
    """A home-currency vendor of one of ``groups`` for each company (-1 if none), never one
    that another injection planted."""
    c = ctx.contacts
    gidx = [cat.CATEGORY_INDEX[g] for g in groups]
    ok = np.isin(c.group, gidx) & (c.ccy == ctx.co.home_ccy[c.ci]) & (c.kind == 1) & c.regular()
    rows = np.flatnonzero(ok)
    out = np.full(len(ci), -1, dtype=np.int64)
    if not len(rows):
        return out
    order = np.argsort(c.ci[rows], kind="stable")
    rows = rows[order]
    starts = np.searchsorted(c.ci[rows], ci, side="left")
    ends = np.searchsorted(c.ci[rows], ci, side="right")
    has = ends > starts
    pick = starts + (rng.random(len(ci)) * np.maximum(ends - starts, 1)).astype(np.int64)
    out[has] = rows[pick[has]]
    return out


# A payment-redirection fraud impersonates a supplier the company already pays regularly
# (the fraudster needs real invoices to copy and a payee nobody questions).
ESTABLISHED_PAYMENTS = 3
# "Unusually large" payments (a new vendor's first, a redirected one) are drawn at this
# multiple of what the company usually pays: its 99th-percentile purchase so far, or the
# vendor's largest earlier payment.
LARGE_MULTIPLE = (1.2, 2.0)


def _established_vendor(
    ctx: Ctx,
    rng: np.random.Generator,
    ci: np.ndarray,
    before: np.ndarray,
    groups: tuple[str, ...],
) -> np.ndarray:
    """Per row, a regular home-currency vendor of one of ``groups`` that the company paid at
    least :data:`ESTABLISHED_PAYMENTS` bills before day ``before`` (-1 if none)."""
    c = ctx.contacts
    docs = ctx.book.docs()
    gidx = [cat.CATEGORY_INDEX[g] for g in groups]
    eligible = (
        np.isin(c.group, gidx) & (c.ccy == ctx.co.home_ccy[c.ci]) & (c.kind == 1) & c.regular()
    )
    paid = (docs["doc_type"] == bk.BILL_PAYMENT) & (docs["status"] == bk.POSTED)
    pay_contact, pay_day = docs["contact"][paid], docs["day"][paid]
    out = np.full(len(ci), -1, dtype=np.int64)
    for i in range(len(ci)):  # a few injections per world: a loop is clearer than a join
        mine = np.flatnonzero(eligible & (c.ci == ci[i]))
        if not len(mine):
            continue
        counts = np.bincount(
            np.searchsorted(mine, pay_contact[(pay_day < before[i]) & np.isin(pay_contact, mine)]),
            minlength=len(mine),
        )
        ready = mine[counts >= ESTABLISHED_PAYMENTS]
        if len(ready):
            out[i] = ready[rng.integers(len(ready))]
    return out


def _above_vendor_payments(
    ctx: Ctx, rng: np.random.Generator, vendor: np.ndarray, before: np.ndarray
) -> np.ndarray:
    """Per row, an amount (minor units, whole hundreds) of 1.2-2x the largest bill payment
    to ``vendor`` before day ``before``: the redirected payment is the large one the
    fraudster asks for, not a routine instalment (0 without earlier payments)."""
    docs = ctx.book.docs()
    paid = (docs["doc_type"] == bk.BILL_PAYMENT) & (docs["status"] == bk.POSTED)
    contact, day, total = docs["contact"][paid], docs["day"][paid], docs["total"][paid]
    factor = rng.uniform(*LARGE_MULTIPLE, len(vendor))
    out = np.zeros(len(vendor), dtype=np.int64)
    for i in range(len(vendor)):  # a few injections per world
        past = total[(contact == vendor[i]) & (day < before[i])]
        if len(past):
            out[i] = int(np.ceil(past.max() * factor[i] / 100) * 100)
    return out


def _new_vendor_names(rng: np.random.Generator, n: int, templates: tuple[str, ...]) -> list[str]:
    return [
        templates[rng.integers(len(templates))].replace(
            "{s}", ref.SURNAMES[rng.integers(len(ref.SURNAMES))]
        )
        for _ in range(n)
    ]


def benford_bills(ctx: Ctx, log: AnomalyLog) -> np.ndarray:
    """One vendor per affected company billing invented amounts: spread over two orders of
    magnitude, with bill totals whose leading digit is 5-9 only.
    Returns the bills (they are paid by the normal bill-payment run)."""
    co, cal, contacts = ctx.co, ctx.cal, ctx.contacts
    rng = ctx.streams.get("anomaly_benford")
    comps = affected(ctx)
    if not len(comps) or cal.months < 2:
        return np.zeros(0, dtype=np.int64)
    names = _new_vendor_names(
        rng,
        len(comps),
        ("{s} Facility Services", "{s} Consulting Group", "{s} Supply Partners", "{s} Logistics"),
    )
    countries = [ref.COUNTRY_CODES[co.country[c]] for c in comps]
    account = _accounts(rng, countries)
    # The fictitious supplier hides among the company's largest cost category (food,
    # merchandise, materials, hosting, subcontractors), where a few more bills go unnoticed;
    # being a small share of it also keeps the invented bills from blurring the monthly
    # level of the overhead categories expense_spike injects into.
    group = _cover_category(ctx, comps)
    vendor = contacts.add_vendors(
        comps.astype(np.int32),
        group,
        names,
        countries,
        co.home_ccy[comps],
        transfer_method(co.country[comps]),
        account,
        created_lag=60,
    )
    per_month = rng.integers(2, 5, len(comps))
    counts = np.zeros((co.n, cal.months), dtype=np.int64)
    counts[comps] = per_month[:, None]
    ci, m = explode(counts)
    vend = vendor[np.searchsorted(comps, ci)]
    total = _invented_totals(rng, co.revenue0[ci])
    # The vendor is in the home currency, so the bill total is what the books record; the
    # net is backed out of it (the tax is rounded on the net, so the total may move by a
    # minor unit, which the mantissa margin of _invented_totals absorbs).
    tax_rate = co.purchase_tax[ci]
    net = np.rint(total / (1.0 + tax_rate)).astype(np.int64)
    day = day_in_month(rng, cal, m)
    bills = add_bills(
        ctx,
        rng,
        ci,
        day,
        vend,
        net.astype(float),
        np.array([ctx.role(cat.CATEGORIES[g].role) for g in group])[np.searchsorted(comps, ci)],
        "Supplies as invoiced",
        exact_net=net,
    )
    # One anomaly per company, one label per bill.
    anomaly_of_row = np.searchsorted(comps, ci)
    details = [
        f"vendor {names[i]}: {per_month[i]} bills a month with leading digits 5-9 only "
        "(amounts break Benford's law)"
        for i in range(len(comps))
    ]
    log.add("benford_vendor", anomaly_of_row, bills, vend, ci, day, details)
    return bills


def _cover_category(ctx: Ctx, comps: np.ndarray) -> np.ndarray:
    """Per company, the billed cost category (not one of :data:`SPIKE_CATEGORIES`) with the
    largest budget: its share of cost of sales or of overheads times that bucket's ratio."""
    industry = ctx.co.industry[comps]
    cogs = np.array([p.cogs_ratio for p in ref.INDUSTRY_PROFILES])[industry]
    opex = np.array([p.opex_ratio for p in ref.INDUSTRY_PROFILES])[industry]
    budget = np.zeros((len(comps), len(cat.CATEGORIES)))
    for g, c in enumerate(cat.CATEGORIES):
        if c.key in SPIKE_CATEGORIES or c.channel[0] == 0:  # not one that bills arrive in
            continue
        budget[:, g] = SHARES[g, industry] * (cogs if c.bucket == "cogs" else opex)
    return np.argmax(budget, axis=1)


def _invented_totals(rng: np.random.Generator, revenue0: np.ndarray) -> np.ndarray:
    """Invented bill totals (minor units) for companies of monthly revenue ``revenue0``.

    A genuine vendor's bills vary with the job, so the order of magnitude is drawn
    log-uniformly over a two-decade window starting at 0.005 % of the monthly revenue but
    never below 10.00 (the mean bill is then 0.2-1.4 % of the monthly revenue, the smaller
    companies' at the top of that range). What gives an invention away is the leading
    digit: people making up numbers avoid low first digits and spread them roughly evenly
    (Hill 1988; Nigrini 2012), so the mantissa is uniform on [5.01, 9.99): never a 1-4, and
    10 minor units from either edge of the decade so rounding the tax cannot carry the total
    into another digit.
    """
    n = len(revenue0)
    low = np.maximum(np.log10(np.maximum(revenue0, 1.0) * 0.00005), 3.0)  # 10^3 = 10.00
    decade = np.floor(low + rng.uniform(0.0, 2.0, n))
    mantissa = rng.uniform(5.01, 9.99, n)
    return np.rint(mantissa * 10.0**decade).astype(np.int64)


def _accounts(rng: np.random.Generator, countries: list[str]) -> pl.Series:
    """A bank account number / IBAN per country entry."""
    out = np.full(len(countries), None, dtype=object)
    arr = np.array(countries)
    for code in sorted(set(countries)):  # sorted: set order varies between processes
        sel = np.flatnonzero(arr == code)
        if code == "US":
            out[sel] = digits(rng, len(sel), 10).to_numpy()
        else:
            banks = [b.code for b in ref.BANKS if b.country == code] or ["0000"]
            out[sel] = ibans(
                rng,
                code if code in ("GB", "DE", "FR", "NL", "IE", "ES") else "DE",
                [banks[i] for i in rng.integers(0, len(banks), len(sel))],
            ).to_numpy()
    return pl.Series(out.tolist(), dtype=pl.String)


def inject(ctx: Ctx, log: AnomalyLog) -> None:
    """Every document-level anomaly except ``benford_vendor`` (injected with the bills)."""
    _duplicates(ctx, log)
    _splits(ctx, log)
    _round_amounts(ctx, log)
    _new_vendor_large(ctx, log)
    _bank_change(ctx, log)
    _spikes(ctx, log)
    _off_hours(ctx, log)


def _payment(
    ctx: Ctx,
    rng: np.random.Generator,
    ci: np.ndarray,
    day: np.ndarray,
    vendor: np.ndarray,
    amount: np.ndarray,
    bill: np.ndarray,
    method: np.ndarray,
) -> np.ndarray:
    n = len(ci)
    docs = ctx.book.add_docs(
        n,
        ci=ci,
        doc_type=bk.BILL_PAYMENT,
        purpose=bk.PURPOSE["bill_payment"],
        day=day,
        contact=vendor,
        ccy=ctx.co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=amount,
        total=amount,
        bank=ref.CHECKING,
        method=method,
        status=bk.POSTED,
        link=bill,
        user=rng.integers(0, 3, n),
        entry_lag=rng.integers(0, 2, n),
    )
    ctx.book.add_allocs(docs, bill, day, amount)
    return docs


def _duplicates(ctx: Ctx, log: AnomalyLog) -> None:
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("anomaly_duplicates")
    docs = ctx.book.docs()
    elig = np.flatnonzero(
        (docs["doc_type"] == bk.BILL_PAYMENT)
        & ~co.clean[docs["ci"]]
        & (docs["ccy"] == co.home_ccy[docs["ci"]])
        & (docs["status"] == bk.POSTED)
    )
    pick = elig[rng.random(len(elig)) < RATES["duplicate_payment"].value]
    day = busday_add(docs["day"][pick], rng.integers(0, 4, len(pick)))
    keep = day <= cal.end
    pick, day = pick[keep], day[keep]
    if not len(pick):
        return
    ci = docs["ci"][pick]
    dup = _payment(
        ctx,
        rng,
        ci,
        day,
        docs["contact"][pick],
        docs["total"][pick],
        docs["link"][pick],
        docs["method"][pick],
    )
    k = len(pick)
    details = [
        f"bill paid twice: {_fmt(int(docs['total'][p]), int(docs['ccy'][p]))} to the same "
        f"vendor {int(d - docs['day'][p])} day(s) apart"
        for p, d in zip(pick, day, strict=True)
    ]
    log.add(
        "duplicate_payment",
        np.r_[np.arange(k), np.arange(k)],
        np.r_[pick, dup],
        np.r_[docs["contact"][pick], docs["contact"][pick]],
        np.r_[ci, ci],
        np.r_[docs["day"][pick], day],
        details,
    )


def _splits(ctx: Ctx, log: AnomalyLog) -> None:
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("anomaly_splits")
    ci, m = _cells(ctx, rng, "split_payment")
    vendor = _home_bill_vendor(
        ctx, rng, ci, ("subcontract", "repairs", "prof_fees", "materials", "merchandise", "food")
    )
    ok = vendor >= 0
    ci, m, vendor = ci[ok], m[ok], vendor[ok]
    if not len(ci):
        return
    n = len(ci)
    limit = np.where(co.revenue0[ci] > 150_000_00, 10_000_00, 5_000_00)
    parts = rng.integers(2, 5, n)
    pay_day0 = day_in_month(rng, cal, m)
    bill_day = np.maximum(pay_day0 - rng.integers(3, 15, n), cal.start)
    row = np.repeat(np.arange(n), parts)
    amount = limit[row] - rng.integers(1, 300, len(row)) * 100
    net = np.bincount(row, weights=amount).astype(np.int64)
    bills = _zero_tax_bills(ctx, rng, ci, bill_day, vendor, net, "Works as quoted")
    offset = np.arange(len(row)) - np.repeat(np.cumsum(parts) - parts, parts)
    day = busday_add(pay_day0[row], offset)
    keep = day <= cal.end
    # A split that would run past the window is shortened: the bill stays part-paid.
    method = transfer_method(co.country[ci[row]])
    pays = _payment(
        ctx,
        rng,
        ci[row][keep],
        day[keep],
        vendor[row][keep],
        amount[keep],
        bills[row][keep],
        method[keep],
    )
    details = [
        f"{parts[i]} payments of just under the {_fmt(int(limit[i]), int(co.home_ccy[ci[i]]))} "
        "approval limit for one bill"
        for i in range(n)
    ]
    log.add("split_payment", row[keep], pays, vendor[row][keep], ci[row][keep], day[keep], details)


def _zero_tax_bills(
    ctx: Ctx,
    rng: np.random.Generator,
    ci: np.ndarray,
    day: np.ndarray,
    vendor: np.ndarray,
    net: np.ndarray,
    description: str,
) -> np.ndarray:
    saved = ctx.co.purchase_tax
    ctx.co.purchase_tax = np.zeros_like(saved)  # these bills carry no VAT
    try:
        return add_bills(
            ctx,
            rng,
            ci,
            day,
            vendor,
            net.astype(float),
            ctx.role("prof_fees"),
            description,
            exact_net=net,
            due=day + 7,
        )
    finally:
        ctx.co.purchase_tax = saved


def _round_amounts(ctx: Ctx, log: AnomalyLog) -> None:
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("anomaly_round")
    ci, m = _cells(ctx, rng, "round_amount")
    vendor = _home_bill_vendor(ctx, rng, ci, ("prof_fees", "subcontract", "repairs"))
    ok = vendor >= 0
    ci, m, vendor = ci[ok], m[ok], vendor[ok]
    if not len(ci):
        return
    n = len(ci)
    amount = rng.choice(np.array([1_000, 2_000, 2_500, 3_000, 5_000, 10_000]) * 100, n)
    amount = amount * np.where(co.revenue0[ci] > 200_000_00, 2, 1)
    day = day_in_month(rng, cal, m)
    docs = add_expenses(
        ctx,
        rng,
        ci,
        day,
        vendor,
        amount.astype(float),
        ctx.role("prof_fees"),
        "Consulting",
        card=False,
        exempt=True,
        exact=amount,
        bank=np.full(n, ref.CHECKING),
        method=transfer_method(co.country[ci]),
        user=rng.integers(0, 3, n),
    )
    details = [
        f"payment of exactly {_fmt(int(a), int(co.home_ccy[c]))}"
        for a, c in zip(amount, ci, strict=True)
    ]
    log.add("round_amount", np.arange(n), docs, vendor, ci, day, details)


def _above_usual_purchases(
    ctx: Ctx, rng: np.random.Generator, ci: np.ndarray, before: np.ndarray
) -> np.ndarray:
    """Per row, an amount (minor units, whole hundreds) of 1.2-2x the company's 99th
    percentile home-currency bill or expense total before day ``before`` (0 without any)."""
    docs = ctx.book.docs()
    buy = np.isin(docs["doc_type"], (bk.BILL, bk.EXPENSE)) & (
        docs["ccy"] == ctx.co.home_ccy[docs["ci"]]
    )
    doc_ci, day, total = docs["ci"][buy], docs["day"][buy], docs["total"][buy]
    factor = rng.uniform(*LARGE_MULTIPLE, len(ci))
    out = np.zeros(len(ci), dtype=np.int64)
    for i in range(len(ci)):  # a few injections per world
        past = total[(doc_ci == ci[i]) & (day < before[i])]
        if len(past):
            out[i] = int(np.ceil(np.quantile(past, 0.99) * factor[i] / 100) * 100)
    return out


def _new_vendor_large(ctx: Ctx, log: AnomalyLog) -> None:
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("anomaly_new_vendor")
    ci, m = _cells(ctx, rng, "new_vendor_large_payment")
    if not len(ci):
        return
    n = len(ci)
    names = _new_vendor_names(
        rng,
        n,
        (
            "{s} Global Trading",
            "{s} Advisory Ltd",
            "Apex {s} Solutions",
            "{s} International Supply",
        ),
    )
    countries = [ref.COUNTRY_CODES[co.country[c]] for c in ci]
    vendor = ctx.contacts.add_vendors(
        ci,
        np.full(n, cat.CATEGORY_INDEX["prof_fees"]),
        names,
        countries,
        co.home_ccy[ci],
        np.full(n, WIRE),
        _accounts(rng, countries),
        created_lag=2,
    )
    bill_day = day_in_month(rng, cal, m)
    net = (np.rint(ctx.revenue[ci, m] * rng.uniform(0.12, 0.35, n) / 100) * 100).astype(np.int64)
    net = np.maximum(net, _above_usual_purchases(ctx, rng, ci, bill_day))
    bills = _zero_tax_bills(ctx, rng, ci, bill_day, vendor, net, "Advance for services")
    pay_day = busday_add(bill_day, rng.integers(0, 4, n))
    keep = pay_day <= cal.end
    pays = _payment(
        ctx,
        rng,
        ci[keep],
        pay_day[keep],
        vendor[keep],
        net[keep],
        bills[keep],
        np.full(int(keep.sum()), WIRE),
    )
    details = [
        f"vendor {names[i]} created and paid {_fmt(int(net[i]), int(co.home_ccy[ci[i]]))}"
        " by wire within days"
        for i in range(n)
    ]
    idx = np.arange(n)
    log.add(
        "new_vendor_large_payment",
        np.r_[idx, idx[keep]],
        np.r_[bills, pays],
        np.r_[vendor, vendor[keep]],
        np.r_[ci, ci[keep]],
        np.r_[bill_day, pay_day[keep]],
        details,
    )


def _bank_change(ctx: Ctx, log: AnomalyLog) -> None:
    co, cal, contacts = ctx.co, ctx.cal, ctx.contacts
    rng = ctx.streams.get("anomaly_bank_change")
    ci, m = _cells(ctx, rng, "bank_details_changed")
    change_day = day_in_month(rng, cal, m)
    vendor = _established_vendor(
        ctx,
        rng,
        ci,
        change_day,
        ("subcontract", "merchandise", "food", "materials", "prof_fees", "repairs", "hosting"),
    )
    ok = vendor >= 0
    ci, m, vendor, change_day = ci[ok], m[ok], vendor[ok], change_day[ok]
    # one change per vendor
    _, first = np.unique(vendor, return_index=True)
    ci, m, vendor, change_day = ci[first], m[first], vendor[first], change_day[first]
    if not len(ci):
        return
    n = len(ci)
    countries = contacts.frame["country"].gather(vendor).to_list()
    new_account = _accounts(rng, countries)
    old = contacts.frame["account"].gather(vendor)
    frame = contacts.frame
    changed = np.asarray(contacts.bank_changed_day).copy()
    changed[vendor] = change_day
    contacts.bank_changed_day = changed
    acc = frame["account"].to_numpy().copy()
    old_acc = frame["old_account"].to_numpy().copy()
    acc[vendor] = new_account.to_numpy()
    old_acc[vendor] = old.to_numpy()
    contacts.frame = frame.with_columns(
        pl.Series("account", acc.tolist(), dtype=pl.String),
        pl.Series("old_account", old_acc.tolist(), dtype=pl.String),
        pl.Series("bank_changed_day", changed),
    )
    net = (np.rint(ctx.revenue[ci, m] * rng.uniform(0.08, 0.25, n) / 100) * 100).astype(np.int64)
    net = np.maximum(net, _above_vendor_payments(ctx, rng, vendor, change_day))
    bill_day = np.maximum(change_day - rng.integers(0, 10, n), cal.start)
    bills = _zero_tax_bills(ctx, rng, ci, bill_day, vendor, net, "Urgent order")
    pay_day = busday_add(change_day, rng.integers(1, 6, n))
    keep = pay_day <= cal.end
    pays = _payment(
        ctx,
        rng,
        ci[keep],
        pay_day[keep],
        vendor[keep],
        net[keep],
        bills[keep],
        transfer_method(co.country[ci[keep]]),
    )
    details = [
        f"bank details changed, then {_fmt(int(net[i]), int(co.home_ccy[ci[i]]))} paid "
        "to the new account within a week"
        for i in range(n)
    ]
    idx = np.flatnonzero(keep)
    log.add(
        "bank_details_changed",
        np.arange(len(idx)),
        pays,
        vendor[keep],
        ci[keep],
        pay_day[keep],
        [details[i] for i in idx],
    )


# A spike alone is beyond what the category's normal spending reaches once in ten thousand
# months. A company has about ten overhead accounts, so a once-in-a-thousand month would
# happen naturally about once per company every eight years, against 0.6 injected spikes a
# year: too close to call a spike an anomaly by construction.
SPIKE_NATURAL_QUANTILE = 0.9999
# ... and each of its charges beyond what a routine charge reaches once in a hundred
# (the standard normal's 99th percentile, on the lognormal charge size).
SPIKE_CHARGE_Z = 2.326


def _natural_month_quantile(
    lam: np.ndarray, p_card: np.ndarray, q: float = SPIKE_NATURAL_QUANTILE, draws: int = 100_000
) -> np.ndarray:
    """The ``q`` quantile of a normal month of spending, as a multiple of its mean, for each
    (``lam``, ``p_card``): the month of :func:`purchases.spending` is a Poisson(``lam``)
    count of charges, each the mean charge times a mean-1 lognormal (sigma 0.8 on a card,
    0.6 on a bill or direct debit). A compound Poisson-lognormal quantile has no closed
    form, so it is read from ``draws`` simulated months on a fixed seed: the same world
    always gets the same spikes (the estimate's error at 100,000 draws is under 10 %).
    """
    rng = np.random.default_rng(20_240_999)
    out = np.empty(len(lam))
    for i, (lm, pc) in enumerate(zip(lam, p_card, strict=True)):  # a few dozen spikes
        n = rng.poisson(lm, draws)
        sigma = np.where(rng.random(int(n.sum())) < pc, 0.8, 0.6)
        charge = rng.lognormal(-0.5 * sigma**2, sigma) / max(lm, 1e-9)
        month = np.bincount(np.repeat(np.arange(draws), n), weights=charge, minlength=draws)
        out[i] = float(np.quantile(month, q))
    return out


def _spikes(ctx: Ctx, log: AnomalyLog) -> None:
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("anomaly_spikes")
    ci, m = _cells(ctx, rng, "expense_spike")
    if not len(ci):
        return
    n = len(ci)
    spike_g = np.array([cat.CATEGORY_INDEX[k] for k in SPIKE_CATEGORIES])
    allowed = SHARES[spike_g][:, co.industry[ci]].T > 0  # the company has that kind of cost
    which = np.argmax(rng.random((n, len(spike_g))) * allowed, axis=1)
    g = spike_g[which]
    # A category spiking in the same calendar month of two years is a season (an annual
    # conference, a yearly campaign), not an anomaly: only the first of those is kept.
    _, first = np.unique(
        (ci.astype(np.int64) * len(cat.CATEGORIES) + g) * 12 + m % 12, return_index=True
    )
    keep = np.sort(first)
    ci, m, which, g, n = ci[keep], m[keep], which[keep], g[keep], len(keep)
    opex_ratio = np.array([p.opex_ratio for p in ref.INDUSTRY_PROFILES])[co.industry[ci]]
    share = np.maximum(SHARES[g, co.industry[ci]], 0.03)
    monthly = opex_ratio * co.revenue0[ci] * co.cost_level[ci, m] * share
    k = rng.integers(2, 6, n)
    # The category's natural month (as purchases.spending draws it): its mean and the
    # quantile a normal month reaches once in ten thousand. A small company with few, uneven
    # charges routinely has months at 3x its mean, so "3-6x" alone would not be unusual.
    real_share = SHARES[g, co.industry[ci]]
    natural_mean = opex_ratio * co.revenue0[ci] * co.cost_level[ci, m] * real_share
    per_month = np.array([cat.CATEGORIES[x].per_month for x in g])
    lam = per_month * co.size[ci] ** 0.6 * co.cost_level[ci, m] ** 0.5
    p_card = np.array([cat.CATEGORIES[x].channel[cat.CARD] for x in g])
    natural_high = natural_mean * _natural_month_quantile(lam, p_card)
    total = np.maximum(monthly * rng.uniform(3, 6, n), natural_high)
    row = np.repeat(np.arange(n), k)
    w = rng.random(len(row)) + 0.5
    # Each extra charge is also unusual on its own, 1-2x what a routine card charge of the
    # category reaches once in a hundred (lognormal sigma 0.8 around the mean charge):
    # the labels are documents, and a share of the month no larger than the routine
    # charges beside it could not be told from them.
    charge_high = natural_mean / lam * np.exp(-0.5 * 0.8**2 + SPIKE_CHARGE_Z * 0.8)
    amount = np.maximum(
        total[row] * w / np.bincount(row, weights=w)[row], charge_high[row] * (w + 0.5)
    )
    total = np.bincount(row, weights=amount, minlength=n)
    vendor = np.full(len(row), -1, dtype=np.int64)
    cidx = ci[row]
    has = ctx.contacts.vendors.has(cidx.astype(np.int64) * N_GROUPS + g[row])
    if has.any():
        vendor[has] = pick_vendors(rng, ctx.contacts, cidx[has], g[row][has])
    fallback = ~has
    if fallback.any():
        vendor[fallback] = _home_bill_vendor(ctx, rng, cidx[fallback], ("repairs", "prof_fees"))
    # grouped by category (stable), so each group is written with its own description
    ok = np.flatnonzero(vendor >= 0)
    ok = ok[np.argsort(g[row[ok]], kind="stable")]
    row, amount, vendor, cidx = row[ok], amount[ok], vendor[ok], cidx[ok]
    day = day_in_month(rng, cal, m[row], business=False)
    roles = np.array([ctx.role(cat.CATEGORIES[x].role) for x in g[row]], dtype=np.int64)
    # the category's own description: a spike's charges look like its routine ones
    parts = [
        add_expenses(
            ctx,
            rng,
            cidx[sel],
            day[sel],
            vendor[sel],
            amount[sel],
            roles[sel],
            cat.CATEGORIES[x].description,
            card=True,
        )
        for x in np.unique(g[row])
        if len(sel := np.flatnonzero(g[row] == x))
    ]
    docs = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    details = [
        f"{SPIKE_CATEGORIES[which[i]]} spend {int(k[i])} extra charges, "
        f"~{total[i] / max(monthly[i], 1):.1f}x the usual month "
        f"(a normal month reaches {natural_high[i] / max(natural_mean[i], 1):.1f}x "
        "once in ten thousand)"
        for i in range(n)
    ]
    log.add("expense_spike", row, docs, vendor, cidx, day, details)


def _off_hours(ctx: Ctx, log: AnomalyLog) -> None:
    co = ctx.co
    rng = ctx.streams.get("anomaly_off_hours")
    docs = ctx.book.docs()
    human = docs["user"] < bk.AUTOMATED_BASE
    elig = np.flatnonzero(
        human
        & ~co.clean[docs["ci"]]
        & (docs["status"] == bk.POSTED)
        & np.isin(docs["doc_type"], (bk.BILL_PAYMENT, bk.EXPENSE, bk.CUSTOMER_PAYMENT))
    )
    pick = elig[rng.random(len(elig)) < RATES["off_hours_posting"].value]
    if not len(pick):
        return
    user = docs["user"].copy()
    user[pick] = bk.UNUSUAL_USER
    docs["user"] = user
    ctx.book.replace_docs(docs)
    details = [
        f"entered at night or on a weekend by {ctx.co.unusual_user[c]}" for c in docs["ci"][pick]
    ]
    log.add(
        "off_hours_posting",
        np.arange(len(pick)),
        pick,
        docs["contact"][pick],
        docs["ci"][pick],
        docs["day"][pick],
        details,
    )
