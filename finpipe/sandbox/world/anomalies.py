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
* ``new_vendor_large_payment``: a vendor created days before a large bill paid by wire.
  Labels: the bill and the payment.
* ``bank_details_changed``: a vendor's bank details change and a large payment to the new
  account follows within a week. Label: the payment.
* ``benford_vendor``: one vendor per affected company whose bill amounts are drawn with
  leading digits 5-9 only (Benford's law broken). Labels: every bill of that vendor.
* ``expense_spike``: a month in which one overhead category costs several times its
  usual level. Labels: the extra expenses.
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
    """A home-currency vendor of one of ``groups`` for each company (-1 if none)."""
    c = ctx.contacts
    gidx = [cat.CATEGORY_INDEX[g] for g in groups]
    ok = np.isin(c.group, gidx) & (c.ccy == ctx.co.home_ccy[c.ci]) & (c.kind == 1)
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


def _new_vendor_names(rng: np.random.Generator, n: int, templates: tuple[str, ...]) -> list[str]:
    return [
        templates[rng.integers(len(templates))].replace(
            "{s}", ref.SURNAMES[rng.integers(len(ref.SURNAMES))]
        )
        for _ in range(n)
    ]


def benford_bills(ctx: Ctx, log: AnomalyLog) -> np.ndarray:
    """One vendor per affected company billing amounts with leading digits 5-9 only.
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
    vendor = contacts.add_vendors(
        comps.astype(np.int32),
        np.full(len(comps), cat.CATEGORY_INDEX["repairs"]),
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
    # Leading digit uniform on 5..9 with a magnitude tied to the company's size.
    magnitude = 10 ** np.floor(np.log10(co.revenue0[ci] * 0.001)).astype(np.int64)
    lead = rng.uniform(5.0, 10.0, len(ci))
    net = np.maximum((lead * magnitude).astype(np.int64), 100)
    day = day_in_month(rng, cal, m)
    bills = add_bills(
        ctx,
        rng,
        ci,
        day,
        vend,
        net.astype(float),
        ctx.role("repairs"),
        "Facility services",
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
    vendor = _home_bill_vendor(
        ctx,
        rng,
        ci,
        ("subcontract", "merchandise", "food", "materials", "prof_fees", "repairs", "hosting"),
    )
    ok = vendor >= 0
    ci, m, vendor = ci[ok], m[ok], vendor[ok]
    # one change per vendor
    _, first = np.unique(vendor, return_index=True)
    ci, m, vendor = ci[first], m[first], vendor[first]
    if not len(ci):
        return
    n = len(ci)
    change_day = day_in_month(rng, cal, m)
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
    opex_ratio = np.array([p.opex_ratio for p in ref.INDUSTRY_PROFILES])[co.industry[ci]]
    share = np.maximum(SHARES[g, co.industry[ci]], 0.03)
    monthly = opex_ratio * co.revenue0[ci] * co.cost_level[ci, m] * share
    k = rng.integers(2, 6, n)
    total = monthly * rng.uniform(3, 6, n)
    row = np.repeat(np.arange(n), k)
    w = rng.random(len(row)) + 0.5
    amount = total[row] * w / np.bincount(row, weights=w)[row]
    vendor = np.full(len(row), -1, dtype=np.int64)
    cidx = ci[row]
    has = ctx.contacts.vendors.has(cidx.astype(np.int64) * N_GROUPS + g[row])
    if has.any():
        vendor[has] = pick_vendors(rng, ctx.contacts, cidx[has], g[row][has])
    fallback = ~has
    if fallback.any():
        vendor[fallback] = _home_bill_vendor(ctx, rng, cidx[fallback], ("repairs", "prof_fees"))
    ok = vendor >= 0
    row, amount, vendor, cidx = row[ok], amount[ok], vendor[ok], cidx[ok]
    day = day_in_month(rng, cal, m[row], business=False)
    roles = np.array([ctx.role(cat.CATEGORIES[x].role) for x in g[row]])
    docs = add_expenses(ctx, rng, cidx, day, vendor, amount, roles, "Unusual spend", card=True)
    details = [
        f"{SPIKE_CATEGORIES[which[i]]} spend {int(k[i])} extra charges, "
        f"~{total[i] / max(monthly[i], 1):.1f}x the usual month"
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
