"""Early warnings on a company's cash, each with a plain-language reason citing its numbers.

* ``cash_negative`` (critical): book cash is already below zero; the other two are moot.
* ``balance_may_cross_zero``: the lower bound of the chosen model's balance interval (80 %
  by default, :class:`ForecastConfig.warning_band`) falls below zero within the horizon and
  stays there the period after; the warning names the first week or month it does.
  Critical when the point forecast itself goes below zero within the horizon, high
  otherwise. One per frequency. A bound that dips under zero for a single period and comes
  back (a month-end payroll week, a seasonal trough) is a lower-decile path touching zero
  once, which an overdraft buffer or a timed payment absorbs; a cash shortfall worth a
  warning lasts. Each frequency checks 12-13 bounds, so without this a company with a thin
  buffer was warned on noise (``bench_forecast.py``: a warning at a third of growing
  companies' re-runs). A crossing at the horizon's last period waits for the next run.
* ``runway_below_threshold``: cash / average monthly burn (the mean net outflow of the
  last ``burn_months`` complete months, fewer when the history is shorter) is under the
  threshold (6 months by default). Critical under half the threshold, high otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from finpipe.analytics.forecast.config import WEEKLY, ForecastConfig
from finpipe.analytics.forecast.models import LABELS
from finpipe.analytics.formats import format_money
from finpipe.warehouse.tables.analytics_forecast import CASH_WARNINGS

WARNING_SCHEMA = CASH_WARNINGS.polars_schema()
CASH_NEGATIVE = "cash_negative"
MAY_CROSS_ZERO = "balance_may_cross_zero"
RUNWAY = "runway_below_threshold"


def period_label(period: dt.date, frequency: str) -> str:
    """``the week of 2026-12-07`` or ``December 2026``."""
    if frequency == WEEKLY:
        return f"the week of {period.isoformat()}"
    return period.strftime("%B %Y")


def monthly_burn(net_flows: Sequence[int]) -> int:
    """Average monthly burn in minor units (positive: cash consumed) of the given months'
    net flows; zero or negative when they generated cash."""
    if not net_flows:
        return 0
    return -round(sum(net_flows) / len(net_flows))


def _row(company_id: str, kind: str, severity: str, **values: object) -> dict[str, object]:
    frequency = values.get("frequency")
    return {
        "company_id": company_id,
        "warning_id": f"{kind}:{frequency or 'all'}",
        "kind": kind,
        "severity": severity,
        **values,
    }


def cash_negative(
    company_id: str, cash: int, as_of: dt.date, currency: str | None
) -> dict[str, object] | None:
    """The warning that book cash is already below zero, or None."""
    if cash >= 0:
        return None
    return _row(
        company_id,
        CASH_NEGATIVE,
        "critical",
        as_of=as_of,
        currency=currency,
        cash_balance=cash,
        reason=f"Book cash is already negative: {format_money(cash, currency)} at "
        f"{as_of.isoformat()}. "
        "The bank and cash accounts are overdrawn; fund them or cut payments now.",
    )


def zero_crossing(
    company_id: str,
    frequency: str,
    forecast: pl.DataFrame,
    cash: int,
    as_of: dt.date,
    currency: str | None,
    band: int = 80,
) -> dict[str, object] | None:
    """The warning that the chosen model's lower balance bound (``band`` %) goes below zero
    within ``forecast`` (``analytics.cash_forecast`` rows of one model and frequency) and
    stays below it the next period, or None. Names the first period it does."""
    rows = forecast.sort("step")
    lower = f"balance_lo{band}"
    negative = pl.col(lower) < 0
    below = rows.filter(negative & negative.shift(-1).fill_null(False))
    if below.is_empty():
        return None
    first = below.row(0, named=True)
    point_below = rows.filter(pl.col("balance_point") < 0)
    unit = "week" if frequency == WEEKLY else "month"
    where = f"{period_label(first['period'], frequency)} ({unit} {first['step']} of {rows.height})"
    reason = (
        f"Cash may run out by {where}: the {band} % lower bound of the balance falls to "
        f"{format_money(first[lower], currency)} there (expected "
        f"{format_money(first['balance_point'], currency)}), from "
        f"{format_money(cash, currency)} at "
        f"{as_of.isoformat()}, by the {LABELS.get(first['model'], first['model'])} forecast."
    )
    severity = "high"
    if not point_below.is_empty():
        p = point_below.row(0, named=True)
        severity = "critical"
        reason += (
            f" The expected balance itself turns negative in {period_label(p['period'], frequency)}"
            f" ({format_money(p['balance_point'], currency)})."
        )
    return _row(
        company_id,
        MAY_CROSS_ZERO,
        severity,
        frequency=frequency,
        period=first["period"],
        periods_ahead=first["step"],
        as_of=as_of,
        currency=currency,
        cash_balance=cash,
        expected_balance=first["balance_point"],
        lower_balance=first[lower],
        band=band,
        model=first["model"],
        reason=reason,
    )


def runway(
    company_id: str,
    cash: int,
    recent_months: Sequence[int],
    as_of: dt.date,
    currency: str | None,
    threshold_months: float = 6.0,
) -> dict[str, object] | None:
    """The warning that runway (``cash`` / average burn of ``recent_months`` net flows) is
    under ``threshold_months``, or None (no burn, or enough runway)."""
    burn = monthly_burn(recent_months)
    if burn <= 0 or cash <= 0:
        return None
    months = cash / burn
    if months >= threshold_months:
        return None
    flows = ", ".join(format_money(f, currency, suffix=False) for f in recent_months)
    n = len(recent_months)
    reason = (
        f"Runway is {months:.1f} months, under the {threshold_months:g}-month threshold: "
        f"{format_money(cash, currency)} of cash at {as_of.isoformat()} and an average "
        "monthly burn "
        f"of {format_money(burn, currency)} over the last {n} month{'s' if n != 1 else ''} "
        f"(net flows {flows}{' ' + currency if currency else ''})."
    )
    return _row(
        company_id,
        RUNWAY,
        "critical" if months < threshold_months / 2 else "high",
        as_of=as_of,
        currency=currency,
        cash_balance=cash,
        monthly_burn=burn,
        runway_months=round(months, 4),
        threshold_months=float(threshold_months),
        reason=reason,
    )


def early_warnings(
    company_id: str,
    *,
    cash: int,
    as_of: dt.date,
    currency: str | None,
    recent_months: Sequence[int],
    forecasts: dict[str, pl.DataFrame],
    config: ForecastConfig,
) -> pl.DataFrame:
    """``analytics.cash_warnings`` rows of one company: ``cash`` at ``as_of``, the net flows
    of its last complete months (oldest first, at most ``config.burn_months`` are used) and
    its chosen forecasts per frequency."""
    rows: list[dict[str, object]] = []
    negative = cash_negative(company_id, cash, as_of, currency)
    if negative is not None:
        rows.append(negative)
    else:
        for frequency, forecast in forecasts.items():
            if forecast.height:
                w = zero_crossing(
                    company_id, frequency, forecast, cash, as_of, currency, config.warning_band
                )
                if w is not None:
                    rows.append(w)
        recent = list(recent_months)[-config.burn_months :]
        w = runway(company_id, cash, recent, as_of, currency, config.runway_threshold_months)
        if w is not None:
            rows.append(w)
    return pl.DataFrame(
        [{c: r.get(c) for c in WARNING_SCHEMA} for r in rows], schema=WARNING_SCHEMA
    )
