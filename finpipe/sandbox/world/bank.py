"""Bank statements derived from the cash legs of the books, with real statement mess.

* posting lags of 0-5 business days after the ledger date (card purchases 1-3, cheques
  2-5, transfers 0-2); lines booked after the window end are not on the statement yet;
* cheques received are banked together: one deposit line for several customer payments
  (``1:n``); payroll leaves as net pay and taxes, two lines for one journal (``n:1``);
* card purchases show first as *pending* lines (sometimes for a different amount: tips,
  fuel pre-authorisations), then booked lines that name the pending line they replace;
* bank-only lines with no ledger counterpart: monthly account fees, wire fees, overdraft
  fees (``bank_fee``) and savings interest (``interest``);
* a few issued cheques never clear (ledger cash without a bank line);
* running balances = opening balance + booked amounts in statement order (where the bank
  API reports balances).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import catalog as cat
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.bank_accounts import BankAccounts
from finpipe.sandbox.world.cash import legs
from finpipe.sandbox.world.companies import last_business_days
from finpipe.sandbox.world.contacts import (
    ACH,
    CARD,
    CARD_SETTLEMENT,
    CASH,
    CHECK,
    DIRECT_DEBIT,
    PAYROLL,
    WIRE,
)
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.spec import busday_add

TRUTH_KINDS = ("ledger_cash", "bank_fee", "interest")
LEDGER_CASH, BANK_FEE, INTEREST = range(3)
BOOKED, PENDING = 0, 1

TEMPLATES = (
    "card_pos",
    "card_cc",
    "transfer_in",
    "transfer_out",
    "direct_debit",
    "check_out",
    "check_deposit",
    "cash_deposit",
    "payout",
    "wire_out",
    "wire_in",
    "payroll_net",
    "payroll_tax",
    "own_transfer_out",
    "own_transfer_in",
    "card_payment_in",
    "card_payment_out",
    "loan",
    "tax",
    "owner",
    "fee_monthly",
    "fee_wire",
    "fee_overdraft",
    "interest",
    "refund",
    "fx_out",
    "fx_in",
)
T = {name: i for i, name in enumerate(TEMPLATES)}
UNCLEARED_CHEQUES = 0.03  # share of issued cheques never cashed
PENDING_SHARE = 0.35  # share of card purchases first seen as pending


@dataclass
class Statement:
    """Bank lines (statement order) and which documents they settle."""

    cols: dict[str, np.ndarray]
    # match rows: line row, document, match type (0 1:1, 1 1:n, 2 n:1), amount, group key
    match_line: np.ndarray
    match_doc: np.ndarray
    match_type: np.ndarray
    match_amount: np.ndarray
    match_group: np.ndarray
    uncleared_docs: np.ndarray


def _template(
    docs: dict[str, np.ndarray],
    doc: np.ndarray,
    kind: np.ndarray,
    is_from: np.ndarray,
    amount: np.ndarray,
    part: np.ndarray,
) -> np.ndarray:
    t = docs["doc_type"][doc]
    purpose = docs["purpose"][doc]
    method = docs["method"][doc]
    P = bk.PURPOSE
    out = np.full(len(doc), T["transfer_out"], dtype=np.int8)
    inflow = amount > 0
    out[inflow] = T["transfer_in"]
    out[(method == WIRE) & inflow] = T["wire_in"]
    out[(method == WIRE) & ~inflow] = T["wire_out"]
    out[(method == CHECK) & inflow] = T["check_deposit"]
    out[(method == CHECK) & ~inflow] = T["check_out"]
    out[(method == DIRECT_DEBIT) | ((method == ACH) & (purpose == P["direct_debit"]))] = T[
        "direct_debit"
    ]
    out[method == CASH] = T["cash_deposit"]
    out[method == CARD_SETTLEMENT] = T["payout"]
    card = method == CARD
    out[card] = np.where(kind[card] == ref.CREDIT_CARD, T["card_cc"], T["card_pos"])
    out[purpose == P["loan_payment"]] = T["loan"]
    out[purpose == P["tax_payment"]] = T["tax"]
    out[purpose == P["owner_draw"]] = T["owner"]
    out[purpose == P["refund"]] = T["refund"]
    pay = method == PAYROLL
    out[pay] = np.where(part[pay] == 0, T["payroll_net"], T["payroll_tax"])
    tr = t == bk.TRANSFER
    payoff = tr & (purpose == P["card_payoff"])
    fx = tr & (purpose == P["fx_sweep"])
    own = tr & ~payoff & ~fx
    out[own] = np.where(is_from[own], T["own_transfer_out"], T["own_transfer_in"])
    out[payoff] = np.where(is_from[payoff], T["card_payment_out"], T["card_payment_in"])
    out[fx] = np.where(is_from[fx], T["fx_out"], T["fx_in"])
    return out


def build_statement(ctx: Ctx, accounts: BankAccounts, opening: np.ndarray) -> Statement:
    """Every bank line of every account, plus the truth of what they settle."""
    co, cal, book, contacts = ctx.co, ctx.cal, ctx.book, ctx.contacts
    rng = ctx.streams.get("bank")
    # opening balance of each bank account row
    opening = opening[accounts.frame["ci"].to_numpy(), accounts.frame["kind"].to_numpy()]
    docs = book.docs()
    lg = legs(co, docs)
    sp = book.splits()
    split_docs = np.unique(sp["doc"])
    keep = ~np.isin(lg["doc"], split_docs)
    sp_ci = docs["ci"][sp["doc"]]
    leg = {
        "doc": np.r_[lg["doc"][keep], sp["doc"]],
        "ci": np.r_[lg["ci"][keep], sp_ci],
        "kind": np.r_[lg["kind"][keep], np.full(len(sp_ci), ref.CHECKING, np.int8)],
        "day": np.r_[lg["day"][keep], sp["day"]],
        "amount": np.r_[lg["amount"][keep], sp["amount"]],
        "from": np.r_[lg["transfer_from"][keep], np.zeros(len(sp_ci), bool)],
        "split": np.r_[np.zeros(int(keep.sum()), bool), np.ones(len(sp_ci), bool)],
        "part": np.r_[np.zeros(int(keep.sum()), np.int8), sp["part"]],
    }
    n = len(leg["doc"])
    method = docs["method"][leg["doc"]]
    t = docs["doc_type"][leg["doc"]]
    amount = leg["amount"]

    # Issued cheques that are never cashed: in the books, never on the statement.
    uncleared = (method == CHECK) & (amount < 0) & (rng.random(n) < UNCLEARED_CHEQUES)

    # Posting lag in business days, by payment method.
    u = rng.random(n)
    lag = np.where(amount > 0, (u < 0.5).astype(np.int64) + (u < 0.15), (u < 0.4).astype(np.int64))
    lag = np.where(method == CARD, rng.integers(1, 4, n), lag)
    lag = np.where((method == CHECK) & (amount < 0), rng.integers(2, 6, n), lag)
    lag = np.where(np.isin(method, (CARD_SETTLEMENT, PAYROLL)), (u < 0.1).astype(np.int64), lag)
    lag = np.where(t == bk.TRANSFER, 0, lag)
    lag = np.where(method == WIRE, (u < 0.3).astype(np.int64), lag)
    booked = busday_add(leg["day"], lag)

    # Cheques received are paid in together at the next banking trip.
    batch = (method == CHECK) & (amount > 0) & (t == bk.CUSTOMER_PAYMENT)
    deposit_day = busday_add(leg["day"], rng.integers(1, 3, n))
    booked = np.where(batch, deposit_day, booked)
    group = np.arange(n, dtype=np.int64)
    if batch.any():
        bsel = np.flatnonzero(batch)
        key = (leg["ci"][bsel].astype(np.int64) * 8 + leg["kind"][bsel]) * 100_000 + deposit_day[
            bsel
        ]
        _, first = np.unique(key, return_inverse=True)
        uniq_first = np.full(first.max() + 1, -1, dtype=np.int64)
        np.maximum.at(uniq_first, first, bsel)  # any member as the group id
        group[bsel] = uniq_first[first]

    live = ~uncleared
    g_sel = np.flatnonzero(live)
    groups, g_inv, g_count = np.unique(group[g_sel], return_inverse=True, return_counts=True)
    m = len(groups)
    line_amount = np.bincount(g_inv, weights=amount[g_sel], minlength=m).astype(np.int64)
    rep = groups  # representative leg of each line (group id is a member leg)
    line = {
        "ci": leg["ci"][rep],
        "kind": leg["kind"][rep],
        "booked": booked[rep].astype(np.int32),
        "value": leg["day"][rep].astype(np.int32),
        "amount": line_amount,
        "doc": leg["doc"][rep],
        "template": _template(
            docs, leg["doc"][rep], leg["kind"][rep], leg["from"][rep], line_amount, leg["part"][rep]
        ),
        "truth": np.zeros(m, dtype=np.int8),
        "status": np.zeros(m, dtype=np.int8),
        "n_docs": g_count,
        "pending_of": np.full(m, -1, dtype=np.int64),
    }
    line["value"] = np.where(method[rep] == CARD, line["value"], line["booked"]).astype(np.int32)
    leg_line = np.full(n, -1, dtype=np.int64)
    leg_line[g_sel] = g_inv

    # Pending previews of card purchases (tips and fuel pre-authorisations change).
    card_line = (method[rep] == CARD) & (line["amount"] < 0) & (line["value"] <= cal.end)
    pend = card_line & (rng.random(m) < PENDING_SHARE)
    pend |= card_line & (line["booked"] > cal.end)  # not booked yet: pending only
    group_of_contact = contacts.group[np.maximum(docs["contact"][line["doc"]], 0)]
    tip = (group_of_contact == cat.CATEGORY_INDEX["meals"]) & (rng.random(m) < 0.5)
    preauth = (group_of_contact == cat.CATEGORY_INDEX["fuel"]) & (rng.random(m) < 0.3)
    p_amount = np.where(
        tip, np.rint(line["amount"] * rng.uniform(0.8, 0.92, m)), line["amount"]
    ).astype(np.int64)
    p_amount = np.where(preauth, -100, p_amount)
    p_idx = np.flatnonzero(pend)
    pending = {
        "ci": line["ci"][p_idx],
        "kind": line["kind"][p_idx],
        "booked": line["value"][p_idx],
        "value": line["value"][p_idx],
        "amount": p_amount[p_idx],
        "doc": line["doc"][p_idx],
        "template": line["template"][p_idx],
        "truth": np.zeros(len(p_idx), np.int8),
        "status": np.ones(len(p_idx), np.int8),
        "n_docs": np.ones(len(p_idx), np.int64),
        "pending_of": np.full(len(p_idx), -1, np.int64),
    }
    # Booked lines remember their pending line (its position among all lines, set below).
    pending_for_line = np.full(m, -1, dtype=np.int64)
    pending_for_line[p_idx] = np.arange(len(p_idx)) + m

    on_statement = line["booked"] <= cal.end
    # Bank-only lines: monthly fees, wire fees.
    fees = _fee_lines(ctx, accounts, line, method[rep], rng)
    all_lines = _concat([line, pending, fees])
    all_lines["pending_of"][:m] = pending_for_line
    keep_rows = np.r_[on_statement, np.ones(len(p_idx) + len(fees["ci"]), bool)]

    # Interest and overdraft charges need balances: compute, add, recompute.
    order, balance = _running(all_lines, keep_rows, accounts, opening)
    extra = _balance_lines(ctx, accounts, all_lines, order, balance, opening)
    if len(extra["ci"]):
        all_lines = _concat([all_lines, extra])
        keep_rows = np.r_[keep_rows, np.ones(len(extra["ci"]), bool)]
    order, balance = _running(all_lines, keep_rows, accounts, opening)

    # Statement order; renumber row references.
    new_pos = np.full(len(all_lines["ci"]), -1, dtype=np.int64)
    new_pos[order] = np.arange(len(order))
    cols = {k: v[order] for k, v in all_lines.items()}
    cols["running"] = balance
    cols["pending_of"] = np.where(
        cols["pending_of"] >= 0, new_pos[np.maximum(cols["pending_of"], 0)], -1
    )
    # A booked line replacing a pending line that is off the statement: drop the link.
    cols["pending_of"] = np.where(cols["pending_of"] >= 0, cols["pending_of"], -1)

    # Truth matches: legs on booked ledger lines.
    on_line = leg_line >= 0
    lrow = np.where(on_line, new_pos[np.maximum(leg_line, 0)], -1)
    ok = on_line & (lrow >= 0)
    li = np.flatnonzero(ok)
    match_line = lrow[li]
    match_doc = leg["doc"][li]
    n_docs_line = cols["n_docs"][match_line]
    is_split = leg["split"][li]
    match_type = np.where(is_split, 2, np.where(n_docs_line > 1, 1, 0)).astype(np.int8)
    match_amount = np.where(match_type == 1, amount[li], cols["amount"][match_line])
    match_group = np.where(match_type == 2, -1 - match_doc, match_line)
    return Statement(
        cols=cols,
        match_line=match_line,
        match_doc=match_doc,
        match_type=match_type,
        match_amount=match_amount.astype(np.int64),
        match_group=match_group,
        uncleared_docs=leg["doc"][uncleared],
    )


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _empty_lines(n: int) -> dict[str, np.ndarray]:
    return {
        "ci": np.zeros(n, np.int32),
        "kind": np.zeros(n, np.int8),
        "booked": np.zeros(n, np.int32),
        "value": np.zeros(n, np.int32),
        "amount": np.zeros(n, np.int64),
        "doc": np.full(n, -1, np.int64),
        "template": np.zeros(n, np.int8),
        "truth": np.zeros(n, np.int8),
        "status": np.zeros(n, np.int8),
        "n_docs": np.zeros(n, np.int64),
        "pending_of": np.full(n, -1, np.int64),
    }


def _fee_lines(
    ctx: Ctx,
    accounts: BankAccounts,
    line: dict[str, np.ndarray],
    method: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    co, cal = ctx.co, ctx.cal
    frame = accounts.frame
    a_ci = frame["ci"].to_numpy()
    a_kind = frame["kind"].to_numpy()
    region_fee = np.select([co.country == ref.US_, co.country == ref.GB_], [2000, 700], 900)
    charged = (a_kind != ref.CREDIT_CARD) & (rng.random(len(a_ci)) < 0.7)
    fee = (region_fee[a_ci] * rng.uniform(0.6, 1.5, len(a_ci))).astype(np.int64) // 100 * 100
    last_bd = last_business_days(cal)
    acc = np.repeat(np.flatnonzero(charged), cal.months)
    mon = np.tile(np.arange(cal.months), int(charged.sum()))
    monthly = _empty_lines(len(acc))
    monthly.update(
        ci=a_ci[acc],
        kind=a_kind[acc],
        booked=last_bd[mon],
        value=last_bd[mon],
        amount=-fee[acc],
        template=np.full(len(acc), T["fee_monthly"], np.int8),
        truth=np.full(len(acc), BANK_FEE, np.int8),
    )
    wires = np.flatnonzero((method == WIRE) & (line["booked"] <= cal.end))
    wire_fee = np.select([co.country == ref.US_, co.country == ref.GB_], [3000, 1500], 1200)
    wired = _empty_lines(len(wires))
    w_ci = line["ci"][wires]
    wired.update(
        ci=w_ci,
        kind=line["kind"][wires],
        booked=line["booked"][wires],
        value=line["booked"][wires],
        amount=-np.where(line["amount"][wires] > 0, wire_fee[w_ci] // 2, wire_fee[w_ci]),
        template=np.full(len(wires), T["fee_wire"], np.int8),
        truth=np.full(len(wires), BANK_FEE, np.int8),
    )
    return _concat([monthly, wired])


def _running(
    lines: dict[str, np.ndarray],
    keep: np.ndarray,
    accounts: BankAccounts,
    opening: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Statement order (kept rows only) and the running balance of each ordered row
    (booked lines; pending rows carry the balance unchanged)."""
    acc_row = accounts.row_of[lines["ci"], lines["kind"]]
    tiebreak = (lines["doc"] * 2654435761 + lines["amount"]) % 1_000_003
    rows = np.flatnonzero(keep)
    order = rows[
        np.lexsort((tiebreak[rows], lines["status"][rows], lines["booked"][rows], acc_row[rows]))
    ]
    amt = np.where(lines["status"][order] == BOOKED, lines["amount"][order], 0)
    acc = acc_row[order]
    cum = np.cumsum(amt)
    change = np.r_[True, acc[1:] != acc[:-1]]
    starts = np.flatnonzero(change)
    counts = np.diff(np.r_[starts, len(acc)])
    base = np.repeat(np.r_[0, cum[starts[1:] - 1]], counts)
    balance = opening[acc] + cum - base
    return order, balance


def _balance_lines(
    ctx: Ctx,
    accounts: BankAccounts,
    lines: dict[str, np.ndarray],
    order: np.ndarray,
    balance: np.ndarray,
    opening: np.ndarray,
) -> dict[str, np.ndarray]:
    """Savings interest (monthly, on the month-end balance) and overdraft fees (a month
    in which a current account went below zero)."""
    co, cal = ctx.co, ctx.cal
    acc_row = accounts.row_of[lines["ci"][order], lines["kind"][order]]
    month = cal.month_of(lines["booked"][order])
    booked = lines["status"][order] == BOOKED
    n_acc = accounts.frame.height
    key = acc_row * cal.months + month
    # month-end balance: the last booked row of each (account, month), carried forward
    last = np.full(n_acc * cal.months, -1, dtype=np.int64)
    np.maximum.at(last, key[booked], np.flatnonzero(booked))
    eom = np.where(last >= 0, balance[np.maximum(last, 0)], np.nan).reshape(n_acc, cal.months)
    for mm in range(cal.months):  # carry balances through months without lines
        gap = np.isnan(eom[:, mm])
        eom[gap, mm] = opening[gap] if mm == 0 else eom[gap, mm - 1]
    minimum = np.full(n_acc * cal.months, np.inf)
    np.minimum.at(minimum, key[booked], balance[booked])
    minimum = minimum.reshape(n_acc, cal.months)
    frame = accounts.frame
    a_ci = frame["ci"].to_numpy()
    a_kind = frame["kind"].to_numpy()
    parts = []
    # interest on savings, credited on the first business day of the next month
    sav = np.flatnonzero(a_kind == ref.SAVINGS)
    if len(sav) and cal.months > 1:
        rate = 0.005 + (a_ci[sav] % 7) * 0.005
        acc = np.repeat(sav, cal.months - 1)
        mon = np.tile(np.arange(cal.months - 1), len(sav))
        bal = np.nan_to_num(eom[acc, mon], nan=0.0)
        amount = np.rint(np.maximum(bal, 0) * np.repeat(rate, cal.months - 1) / 12).astype(np.int64)
        day = busday_add(cal.month_starts[mon + 1], 0)
        ok = (amount > 0) & (day <= cal.end)
        lines_i = _empty_lines(int(ok.sum()))
        lines_i.update(
            ci=a_ci[acc[ok]],
            kind=a_kind[acc[ok]],
            booked=day[ok],
            value=day[ok],
            amount=amount[ok],
            template=np.full(int(ok.sum()), T["interest"], np.int8),
            truth=np.full(int(ok.sum()), INTEREST, np.int8),
        )
        parts.append(lines_i)
    # overdraft fee on current accounts that went negative in the month
    cur = np.flatnonzero(np.isin(a_kind, (ref.CHECKING, ref.FX_CHECKING)))
    if len(cur):
        acc = np.repeat(cur, cal.months)
        mon = np.tile(np.arange(cal.months), len(cur))
        neg = minimum[acc, mon] < 0
        fee = np.select([co.country == ref.US_, co.country == ref.GB_], [3500, 2500], 1500)
        day = last_business_days(cal)[mon]
        ok = neg & (day <= cal.end)
        lines_o = _empty_lines(int(ok.sum()))
        lines_o.update(
            ci=a_ci[acc[ok]],
            kind=a_kind[acc[ok]],
            booked=day[ok],
            value=day[ok],
            amount=-fee[a_ci[acc[ok]]],
            template=np.full(int(ok.sum()), T["fee_overdraft"], np.int8),
            truth=np.full(int(ok.sum()), BANK_FEE, np.int8),
        )
        parts.append(lines_o)
    if not parts:
        return _empty_lines(0)
    return _concat(parts)
