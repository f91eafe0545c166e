"""Ground truth computed from the true books: monthly statements and the cash crunch.

The canonical journal is the book of record (each economic document once, FX
revaluations included), so these figures are what a perfect pipeline would report.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.chart import STD_OF
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.standard_chart import BY_CODE
from finpipe.sandbox.world.standard_chart import CLASSES as _CLASSES
from finpipe.sandbox.world.standard_chart import SECTIONS as _SECTIONS

# small integer codes per template account, so masks are integer compares
_SECTION_OF_TMPL = np.array([_SECTIONS.index(BY_CODE[s].section) for s in STD_OF])
_CLASS_OF_TMPL = np.array([_CLASSES.index(BY_CODE[s].account_class) for s in STD_OF])
_AR_AP_OF_TMPL = np.array([{"1100": 1, "2000": 2}.get(s, 0) for s in STD_OF])


def monthly(
    ctx: Ctx, roles: np.ndarray, jl: dict[str, np.ndarray]
) -> tuple[pl.DataFrame, np.ndarray]:
    """world_truth_monthly rows and the (companies, months) month-end book cash."""
    co, cal = ctx.co, ctx.cal
    p = np.where(co.provider == ref.QBO, 0, 1)
    tmpl = roles[jl["ci"], p[jl["ci"]], jl["role"]]
    section = _SECTION_OF_TMPL[tmpl]
    klass = _CLASS_OF_TMPL[tmpl]
    code = _AR_AP_OF_TMPL[tmpl]
    cell = jl["ci"].astype(np.int64) * cal.months + cal.month_of(jl["day"])
    amount = jl["home"]
    shape = (co.n, cal.months)

    def total(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(co.n * cal.months, dtype=np.int64)
        np.add.at(out, cell[mask], amount[mask])
        return out.reshape(shape)

    S = {name: i for i, name in enumerate(_SECTIONS)}
    C = {name: i for i, name in enumerate(_CLASSES)}
    revenue = -total(section == S["revenue"])
    cos = total(section == S["cost_of_sales"])
    opex = total(section == S["operating_expense"])
    other = -total((section == S["other_income"]) | (section == S["other_expense"]))
    net = revenue - cos - opex + other
    cash = np.cumsum(total(section == S["cash"]), axis=1)
    ar = np.cumsum(total(code == 1), axis=1)
    ap = -np.cumsum(total(code == 2), axis=1)
    assets = np.cumsum(total(klass == C["asset"]), axis=1)
    liabilities = -np.cumsum(total(klass == C["liability"]), axis=1)
    equity = -np.cumsum(total(klass == C["equity"]), axis=1) + np.cumsum(net, axis=1)
    ci = np.repeat(np.arange(co.n), cal.months)
    frame = pl.DataFrame(
        {
            "company_id": co.company_id.gather(pl.Series(ci)),
            "month": pl.Series(np.tile(cal.month_starts[:-1], co.n)).cast(pl.Date),
            "revenue": revenue.ravel(),
            "cost_of_sales": cos.ravel(),
            "operating_expenses": opex.ravel(),
            "other_income_expense": other.ravel(),
            "net_income": net.ravel(),
            "cash": cash.ravel(),
            "accounts_receivable": ar.ravel(),
            "accounts_payable": ap.ravel(),
            "total_assets": assets.ravel(),
            "total_liabilities": liabilities.ravel(),
            "total_equity": equity.ravel(),
        }
    )
    return frame, cash


def cash_crunch(
    ctx: Ctx, cash: np.ndarray, opening_cash: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """For each distressed company: the month its book cash first fell below a quarter of
    the opening cash (else its lowest month), with a description."""
    co = ctx.co
    comps = np.flatnonzero(co.trajectory == ref.DISTRESSED)
    months = []
    details = []
    for c in comps:  # per distressed company: a scan over its months
        start = opening_cash[c]
        below = np.flatnonzero(cash[c] < 0.25 * start)
        m = int(below[0]) if len(below) else int(np.argmin(cash[c]))
        months.append(m)
        ccy = ref.CURRENCIES[co.home_ccy[c]]
        details.append(
            f"book cash down to {cash[c, m] / 100:,.2f} {ccy} at month end "
            f"(opening cash {start / 100:,.2f} {ccy}): the company is running out of "
            "cash"
        )
    return comps.astype(np.int32), np.array(months, dtype=np.int64), details
