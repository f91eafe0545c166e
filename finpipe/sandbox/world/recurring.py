"""Recurring and structural entries: opening balances, payroll runs, depreciation, loan
repayments, owner drawings, sales-tax / VAT returns and transfers between the company's
own accounts (savings sweeps, credit-card payoffs, foreign-currency sweeps)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.cash import monthly_flows
from finpipe.sandbox.world.companies import last_business_days
from finpipe.sandbox.world.contacts import PAYROLL, special_vendor, transfer_method
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.fx import RATE_SCALE, convert
from finpipe.sandbox.world.purchases import add_expenses
from finpipe.sandbox.world.spec import busday_add, weekday


@dataclass
class Openings:
    """Opening balances per company (home minor units unless said otherwise)."""

    bank: np.ndarray  # (companies, 4 kinds): in each account's own currency
    equipment: np.ndarray
    vehicles: np.ndarray
    accumulated: np.ndarray
    inventory: np.ndarray
    loan: np.ndarray
    loan_rate: np.ndarray
    loan_months: np.ndarray


def _round_units(x: np.ndarray, unit: int = 100) -> np.ndarray:
    return (np.rint(x / unit) * unit).astype(np.int64)


def monthly_costs(ctx: Ctx) -> np.ndarray:
    """Expected monthly costs at the start, home minor units."""
    p = ref.INDUSTRY_PROFILES
    ratio = np.array([x.cogs_ratio + x.payroll_ratio + x.rent_ratio + x.opex_ratio for x in p])
    return ctx.co.revenue0 * ratio[ctx.co.industry]


def openings(ctx: Ctx) -> Openings:
    """Draw opening balances and post them as one opening journal per company."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("openings")
    n = co.n
    costs = monthly_costs(ctx)
    cash = costs * co.cash_cover
    bank = np.zeros((n, 4), dtype=np.int64)
    savings_share = np.where(co.has_kind[:, ref.SAVINGS], rng.uniform(0.3, 0.5, n), 0.0)
    bank[:, ref.CHECKING] = _round_units(cash * (1 - savings_share), 1)
    bank[:, ref.SAVINGS] = _round_units(cash * savings_share, 1)
    opex = np.array([x.opex_ratio for x in ref.INDUSTRY_PROFILES])[co.industry] * co.revenue0
    bank[:, ref.CREDIT_CARD] = np.where(
        co.has_kind[:, ref.CREDIT_CARD], -_round_units(opex * rng.uniform(0.2, 0.4, n), 1), 0
    )
    fx_rate0 = ctx.fx.rate(np.maximum(co.foreign_ccy, 0), co.home_ccy, np.full(n, cal.start))
    fx_home = co.revenue0 * rng.uniform(0.05, 0.2, n)
    bank[:, ref.FX_CHECKING] = np.where(
        co.has_kind[:, ref.FX_CHECKING], _round_units(fx_home * RATE_SCALE / fx_rate0, 1), 0
    )
    equipment = _round_units(co.revenue0 * rng.uniform(0.4, 1.5, n))
    vehicles = np.where(
        co.industry == ref.CONSTRUCTION, _round_units(co.revenue0 * rng.uniform(0.3, 0.8, n)), 0
    )
    accumulated = _round_units((equipment + vehicles) * rng.uniform(0.1, 0.6, n))
    inv_ratio = np.array([0.15, 0.0, 0.1, 0.9, 0.0])[co.industry]
    inventory = _round_units(co.revenue0 * inv_ratio * rng.uniform(0.7, 1.3, n))
    loan = np.where(co.has_loan, _round_units(co.revenue0 * rng.uniform(0.8, 3.0, n), 100_00), 0)
    loan_rate = rng.uniform(0.06, 0.12, n)
    loan_months = rng.integers(36, 85, n)

    fx_bank_home = convert(bank[:, ref.FX_CHECKING], fx_rate0)
    # One opening journal per company: banks, fixed assets, stock, loan; equity balances it.
    roles = [
        "checking",
        "savings",
        "card",
        "fx_bank",
        "equipment",
        "vehicles",
        "accum_dep",
        "inventory",
        "loan",
    ]
    amounts = np.stack(
        [
            bank[:, ref.CHECKING],
            bank[:, ref.SAVINGS],
            bank[:, ref.CREDIT_CARD],
            fx_bank_home,
            equipment,
            vehicles,
            -accumulated,
            inventory,
            -loan,
        ],
        axis=1,
    )
    present = amounts != 0
    present[:, 0] = True
    obe = -amounts.sum(axis=1)
    docs = book.add_docs(
        n,
        ci=np.arange(n, dtype=np.int32),
        doc_type=bk.JOURNAL,
        purpose=bk.PURPOSE["opening"],
        day=cal.start,
        ccy=co.home_ccy,
        rate=RATE_SCALE,
        subtotal=np.abs(amounts).sum(axis=1) // 2,
        total=np.abs(amounts).sum(axis=1) // 2,
        status=bk.POSTED,
        user=0,
    )
    ci_idx, col = np.nonzero(present)
    line_no = (np.cumsum(present, axis=1) - 1)[ci_idx, col] + 1
    role_ids = np.array([ctx.role(r) for r in roles])[col]
    line_ccy = np.where(col == 3, co.foreign_ccy[ci_idx], -1)
    fx_amount = np.where(col == 3, bank[ci_idx, ref.FX_CHECKING], 0)
    book.add_lines(
        docs[ci_idx],
        line_no=line_no,
        role=role_ids,
        amount=amounts[ci_idx, col],
        desc=book.desc("Opening balance"),
        ccy=line_ccy,
        fx_amount=fx_amount,
    )
    book.add_lines(
        docs,
        line_no=present.sum(axis=1) + 1,
        role=ctx.role("obe"),
        amount=obe,
        desc=book.desc("Opening balance equity"),
    )
    return Openings(bank, equipment, vehicles, accumulated, inventory, loan, loan_rate, loan_months)


def payroll(ctx: Ctx) -> None:
    """Payroll runs: gross pay and employer taxes expensed, net pay and taxes leaving the
    bank as two lines (the payroll provider debits them separately)."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("payroll")
    days = np.arange(cal.start, cal.end + 1, dtype=np.int32)
    fridays = days[weekday(days) == 4]
    week = (fridays - fridays[0]) // 7
    us = co.country == ref.US_
    weekly = us & np.isin(co.industry, (ref.CONSTRUCTION, ref.RESTAURANT))
    weekly |= (co.country == ref.GB_) & (co.industry == ref.RESTAURANT) & (rng.random(co.n) < 0.3)
    biweekly = us & ~weekly
    parity = rng.integers(0, 2, co.n)
    last_bd = last_business_days(cal)
    ci_list, day_list = [], []
    for ci in range(co.n):  # per company: its pay calendar
        if weekly[ci]:
            run_days = fridays
        elif biweekly[ci]:
            run_days = fridays[week % 2 == parity[ci]]
        else:
            run_days = last_bd
        ci_list.append(np.full(len(run_days), ci, dtype=np.int32))
        day_list.append(run_days.astype(np.int32))
    ci = np.concatenate(ci_list)
    day = np.concatenate(day_list)
    m = cal.month_of(day)
    runs_per_month = np.where(weekly, 52 / 12, np.where(biweekly, 26 / 12, 1.0))[ci]
    ratio = np.array([p.payroll_ratio for p in ref.INDUSTRY_PROFILES])[co.industry[ci]]
    seasonal = np.isin(co.industry[ci], (ref.RESTAURANT, ref.CONSTRUCTION, ref.RETAIL))
    season = np.where(seasonal, co.season[ci, m] ** 0.5, 1.0)
    er = np.array([c.payroll_tax_employer for c in ref.COUNTRIES])[co.country[ci]]
    # the payroll ratio covers gross pay and employer taxes together
    gross = ratio * co.revenue0[ci] * co.cost_level[ci, m] * season / runs_per_month / (1 + er)
    gross = np.rint(gross * rng.uniform(0.97, 1.03, len(ci))).astype(np.int64)
    wh = np.array([c.payroll_withholding for c in ref.COUNTRIES])[co.country[ci]]
    employer = np.rint(gross * er).astype(np.int64)
    withheld = np.rint(gross * wh).astype(np.int64)
    net = gross - withheld
    total = gross + employer
    n = len(ci)
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.JOURNAL,
        purpose=bk.PURPOSE["payroll"],
        day=day,
        ccy=co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=total,
        total=total,
        bank=ref.CHECKING,
        method=PAYROLL,
        status=bk.POSTED,
        user=bk.AUTOMATED_BASE + bk.PAYROLL_SYNC,
    )
    book.add_lines(
        docs, line_no=1, role=ctx.role("wages"), amount=gross, desc=book.desc("Gross wages")
    )
    book.add_lines(
        docs,
        line_no=2,
        role=ctx.role("payroll_taxes"),
        amount=employer,
        desc=book.desc("Employer payroll taxes"),
    )
    book.add_lines(
        docs,
        line_no=3,
        role=ctx.role("checking"),
        amount=-total,
        desc=book.desc("Net pay and taxes"),
    )
    # Net pay leaves on the run day; the taxes a few days later outside the US.
    tax_day = np.where(co.country[ci] == ref.US_, day, busday_add(day, rng.integers(1, 4, n)))
    tax_day = np.minimum(tax_day, cal.end)
    book.add_splits(
        np.concatenate([docs, docs]),
        np.concatenate([day, tax_day]),
        np.concatenate([-net, -(withheld + employer)]),
        np.concatenate([np.zeros(n), np.ones(n)]),
    )


def depreciation(ctx: Ctx, op: Openings) -> None:
    """Monthly straight-line depreciation of the opening fixed assets (no cash)."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    ci = np.repeat(np.arange(co.n), cal.months).astype(np.int32)
    m = np.tile(np.arange(cal.months), co.n)
    charge = np.rint((op.equipment + op.vehicles)[ci] / 60).astype(np.int64)
    keep = charge > 0
    ci, m, charge = ci[keep], m[keep], charge[keep]
    docs = book.add_docs(
        len(ci),
        ci=ci,
        doc_type=bk.JOURNAL,
        purpose=bk.PURPOSE["depreciation"],
        day=cal.month_starts[m + 1] - 1,
        ccy=co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=charge,
        total=charge,
        status=bk.POSTED,
        user=0,
    )
    book.add_lines(
        docs,
        line_no=1,
        role=ctx.role("depreciation"),
        amount=charge,
        desc=book.desc("Monthly depreciation"),
    )
    book.add_lines(
        docs,
        line_no=2,
        role=ctx.role("accum_dep"),
        amount=-charge,
        desc=book.desc("Monthly depreciation"),
    )


def loan_payments(ctx: Ctx, op: Openings) -> None:
    """Monthly loan instalments by direct debit: principal and interest lines."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("loans")
    comps = np.flatnonzero(op.loan > 0)
    ci = np.repeat(comps, cal.months).astype(np.int32)
    m = np.tile(np.arange(cal.months), len(comps))
    principal = np.rint(op.loan[ci] / op.loan_months[ci]).astype(np.int64)
    balance = op.loan[ci] - principal * m
    keep = balance > 0
    ci, m, principal, balance = ci[keep], m[keep], principal[keep], balance[keep]
    principal = np.minimum(principal, balance)
    interest = np.rint(balance * op.loan_rate[ci] / 12).astype(np.int64)
    day = busday_add(cal.month_starts[m] + 4 + ci % 20, 0)
    keep = day <= cal.end
    ci, principal, interest, day = ci[keep], principal[keep], interest[keep], day[keep]
    n = len(ci)
    vendor = special_vendor(ctx.contacts, ci, "lender")
    method = np.where(co.country[ci] == ref.US_, 0, 9)  # ach | direct_debit
    docs = book.add_docs(
        n,
        ci=ci,
        doc_type=bk.EXPENSE,
        purpose=bk.PURPOSE["loan_payment"],
        day=day,
        contact=vendor,
        ccy=co.home_ccy[ci],
        rate=RATE_SCALE,
        subtotal=principal + interest,
        total=principal + interest,
        bank=ref.CHECKING,
        method=method,
        status=bk.POSTED,
        user=np.where(rng.random(n) < 0.5, bk.AUTOMATED_BASE + bk.BANK_FEED, 0),
        entry_lag=rng.integers(0, 5, n),
    )
    book.add_lines(
        docs, line_no=1, role=ctx.role("loan"), amount=principal, desc=book.desc("Loan principal")
    )
    book.add_lines(
        docs,
        line_no=2,
        role=ctx.role("interest_expense"),
        amount=interest,
        desc=book.desc("Loan interest"),
    )


def owner_draws(ctx: Ctx) -> None:
    """Quarterly drawings by the owners of healthy companies."""
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("draws")
    healthy = np.isin(co.trajectory, (ref.GROWING, ref.STABLE))
    months = np.flatnonzero(cal.month_of_year % 3 == 0)
    ci = np.repeat(np.flatnonzero(healthy), len(months)).astype(np.int32)
    m = np.tile(months, int(healthy.sum()))
    if not len(ci):
        return
    quarter = ctx.revenue[ci, m] * 3
    amount = np.rint(quarter * rng.uniform(0.03, 0.07, len(ci)) / 100_00) * 100_00
    amount = np.maximum(amount, 100_00).astype(np.int64)
    day = busday_add(cal.month_starts[m] + rng.integers(10, 25, len(ci)), 0)
    keep = day <= cal.end
    ci, day, amount = ci[keep], day[keep], amount[keep]
    owner = special_vendor(ctx.contacts, ci, "owner")
    add_expenses(
        ctx,
        rng,
        ci,
        day,
        owner,
        amount.astype(float),
        ctx.role("drawings"),
        "Owner drawings",
        card=False,
        exempt=True,
        exact=amount,
        purpose="owner_draw",
        bank=np.full(len(ci), ref.CHECKING),
        user=np.zeros(len(ci), dtype=np.int64),
        method=transfer_method(co.country[ci]),
    )


def tax_returns(ctx: Ctx) -> None:
    """Sales-tax (US, monthly) and VAT (quarterly) payments of the net tax collected."""
    co, cal, book = ctx.co, ctx.cal, ctx.book
    rng = ctx.streams.get("tax_returns")
    docs = book.docs()
    live = ~np.isin(docs["status"], (bk.VOID, bk.DELETED)) & (docs["tax"] != 0)
    sign_by_type = np.zeros(len(bk.DOC_TYPES), dtype=np.int64)
    for t, s in (
        (bk.INVOICE, 1),
        (bk.SALES_RECEIPT, 1),
        (bk.CREDIT_NOTE, -1),
        (bk.REFUND, -1),
        (bk.BILL, -1),
        (bk.EXPENSE, -1),
        (bk.VENDOR_CREDIT, 1),
    ):
        sign_by_type[t] = s
    idx = np.flatnonzero(live)
    ci = docs["ci"][idx]
    tax_home = convert(docs["tax"][idx], docs["rate"][idx]) * sign_by_type[docs["doc_type"][idx]]
    m = cal.month_of(docs["day"][idx])
    abs_month = (cal.start_date.year * 12 + cal.start_date.month - 1) + m
    periods = co.tax_periods[ci].astype(np.int64)
    period = abs_month // periods
    key = ci.astype(np.int64) * 100_000 + period
    uniq, inv = np.unique(key, return_inverse=True)
    net = np.bincount(inv, weights=tax_home).astype(np.int64)
    p_ci = (uniq // 100_000).astype(np.int32)
    p_end_abs = (uniq % 100_000 + 1) * co.tax_periods[p_ci] - 1  # last month of the period
    first_abs = cal.start_date.year * 12 + cal.start_date.month - 1
    pay_month = p_end_abs + 1 - first_abs
    ok = (net > 0) & (pay_month < cal.months)
    p_ci, net, pay_month = p_ci[ok], net[ok], pay_month[ok]
    dom = np.where(co.country[p_ci] == ref.US_, 19, np.where(co.country[p_ci] == ref.GB_, 6, 9))
    day = busday_add(cal.month_starts[pay_month] + dom, 0)
    keep = day <= cal.end
    p_ci, net, day = p_ci[keep], net[keep], day[keep]
    vendor = special_vendor(ctx.contacts, p_ci, "tax")
    add_expenses(
        ctx,
        rng,
        p_ci,
        day,
        vendor,
        net.astype(float),
        ctx.role("sales_tax"),
        "Sales tax / VAT return",
        card=False,
        exempt=True,
        exact=net,
        purpose="tax_payment",
        bank=np.full(len(p_ci), ref.CHECKING),
        user=np.zeros(len(p_ci), dtype=np.int64),
    )


def _monthly_flows(ctx: Ctx, kind: int) -> np.ndarray:
    return monthly_flows(ctx.co, ctx.book.docs(), ctx.cal.month_of, ctx.cal.months, kind)


def transfers(ctx: Ctx, op: Openings) -> None:
    """Savings sweeps, credit-card payoffs and foreign-currency sweeps."""
    co, cal = ctx.co, ctx.cal
    rng = ctx.streams.get("transfers")
    parts_ci, parts_day, parts_amount, parts_from, parts_to, parts_ccy = [], [], [], [], [], []

    # Savings: healthy companies put money aside monthly, distressed ones draw it down.
    sav = np.flatnonzero(co.has_kind[:, ref.SAVINGS])
    if len(sav):
        ci = np.repeat(sav, cal.months).astype(np.int32)
        m = np.tile(np.arange(cal.months), len(sav))
        traj = co.trajectory[ci]
        put = np.isin(traj, (ref.GROWING, ref.STABLE)) | (
            (traj == ref.DECLINING) & (rng.random(len(ci)) < 0.4)
        )
        amount = np.rint(co.revenue0[ci] * rng.uniform(0.02, 0.06, len(ci)) / 100_00) * 100_00
        draw = (traj == ref.DISTRESSED) & (m >= 1) & (m <= 4)
        amount = np.where(draw, np.rint(op.bank[ci, ref.SAVINGS] / 4 / 100) * 100, amount)
        keep = (put | draw) & (amount > 0)
        day = busday_add(cal.month_starts[m] + 14, 0)
        keep &= day <= cal.end
        parts_ci.append(ci[keep])
        parts_day.append(day[keep])
        parts_amount.append(amount[keep].astype(np.int64))
        parts_from.append(np.where(draw, ref.SAVINGS, ref.CHECKING)[keep])
        parts_to.append(np.where(draw, ref.CHECKING, ref.SAVINGS)[keep])
        parts_ccy.append(co.home_ccy[ci[keep]])

    # Credit card: last month's spend paid off around the 20th (month 0: the opening debt).
    card = np.flatnonzero(co.has_kind[:, ref.CREDIT_CARD])
    if len(card):
        flows = _monthly_flows(ctx, ref.CREDIT_CARD)
        owed = np.concatenate([-op.bank[:, ref.CREDIT_CARD][:, None], -flows[:, :-1]], axis=1)
        ci = np.repeat(card, cal.months).astype(np.int32)
        m = np.tile(np.arange(cal.months), len(card))
        amount = owed[ci, m]
        day = busday_add(cal.month_starts[m] + 19 + rng.integers(0, 4, len(ci)), 0)
        keep = (amount > 0) & (day <= cal.end)
        parts_ci.append(ci[keep])
        parts_day.append(day[keep])
        parts_amount.append(amount[keep])
        parts_from.append(np.full(int(keep.sum()), ref.CHECKING))
        parts_to.append(np.full(int(keep.sum()), ref.CREDIT_CARD))
        parts_ccy.append(co.home_ccy[ci[keep]])

    _add_transfers(
        ctx, rng, parts_ci, parts_day, parts_amount, parts_from, parts_to, parts_ccy, purpose=None
    )

    # Foreign-currency account: sweep the surplus home at month end, top up a deficit.
    fxc = np.flatnonzero(co.has_kind[:, ref.FX_CHECKING])
    if len(fxc):
        flows = _monthly_flows(ctx, ref.FX_CHECKING)[fxc]
        keep_level = np.maximum(op.bank[fxc, ref.FX_CHECKING] // 2, 100_00)
        balance = op.bank[fxc, ref.FX_CHECKING].astype(np.int64).copy()
        sweep = np.zeros((len(fxc), cal.months), dtype=np.int64)
        for m in range(cal.months):  # per month, vectorised over companies
            balance += flows[:, m]
            excess = balance - keep_level
            s = np.where(
                excess > 0,
                excess // 100 * 100 * 8 // 10,
                np.where(balance < 0, -(keep_level - balance) // 100 * 100, 0),
            )
            sweep[:, m] = s
            balance -= s
        ci = np.repeat(fxc, cal.months).astype(np.int32)
        m = np.tile(np.arange(cal.months), len(fxc))
        amount = sweep.ravel()
        day = busday_add(cal.month_starts[m + 1] - 3, 0)
        keep = (amount != 0) & (day <= cal.end)
        out = amount > 0
        _add_transfers(
            ctx,
            rng,
            [ci[keep]],
            [day[keep]],
            [np.abs(amount)[keep]],
            [np.where(out, ref.FX_CHECKING, ref.CHECKING)[keep]],
            [np.where(out, ref.CHECKING, ref.FX_CHECKING)[keep]],
            [co.foreign_ccy[ci[keep]]],
            purpose="fx_sweep",
        )


def _add_transfers(
    ctx: Ctx,
    rng: np.random.Generator,
    parts_ci: list,
    parts_day: list,
    parts_amount: list,
    parts_from: list,
    parts_to: list,
    parts_ccy: list,
    purpose: str | None,
) -> None:
    if not parts_ci:
        return
    ci = np.concatenate(parts_ci).astype(np.int32)
    if not len(ci):
        return
    day = np.concatenate(parts_day)
    amount = np.concatenate(parts_amount)
    frm = np.concatenate(parts_from)
    to = np.concatenate(parts_to)
    ccy = np.concatenate(parts_ccy)
    rate = ctx.rate_to_home(ccy, ci, day)
    if purpose is None:
        kind = np.where(
            (frm == ref.CREDIT_CARD) | (to == ref.CREDIT_CARD), "card_payoff", "savings_transfer"
        )
        purposes = np.array([bk.PURPOSE[k] for k in kind], dtype=np.int8)
    else:
        purposes = np.full(len(ci), bk.PURPOSE[purpose], dtype=np.int8)
    ctx.book.add_docs(
        len(ci),
        ci=ci,
        doc_type=bk.TRANSFER,
        purpose=purposes,
        day=day,
        ccy=ccy,
        rate=rate,
        subtotal=amount,
        total=amount,
        bank=to,
        from_bank=frm,
        status=bk.POSTED,
        user=rng.integers(0, 2, len(ci)),
        entry_lag=rng.integers(0, 3, len(ci)),
    )
