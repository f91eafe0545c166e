"""Impact and confidence estimates per insight kind, and the ranking (no Dagster).

Insights are ranked by ``score = impact_minor x confidence`` (highest first; ties by kind then
insight id, so the order is deterministic). Impact is an estimate of the money at stake in the
company's home currency, minor units; confidence in [0, 1] is how likely that money is real.

==============  ===============================================  ==============================
kind            impact (minor units)                             confidence
==============  ===============================================  ==============================
collections     overdue amount of the top customers              0.7 (0.8 when DSO also rose)
kpi_change      DSO: receivables x (now - before) / now          0.8 (KPIs are exact; the
                (cash tied up by the slower collection);         estimate assumes steady sales)
                margins: |drop| x trailing-12-month revenue;     0.6
                current ratio: not money -> 0
runway          burn x max(0, 6 - runway months): cash needed    0.8
                to get back to six months of runway
cash_warning    the shortfall: -lower bound (or -cash) when      0.9 if the point forecast or
                below zero, else the monthly burn proxy 0        cash is below zero; 0.5 for an
                                                                 80 % band crossing; 0.3 for 95 %
anomalies       sum of the flagged amounts                       mean detector score of the flags
health          one month's revenue x |composite change| / 100   0.4 (a score, not cash)
                (distress zone: x 2)
peer_position   margins: (median - value) x revenue TTM;         0.5 (peers differ)
                DSO: (value - median) / 365 x revenue TTM;
                current / quick ratio: (median - value) x
                current liabilities (liquid assets missing to
                reach the median); equity ratio: (median -
                value) x total assets (equity missing)
revenue_growth  fall: revenue lost in the window x 12 / window   0.6 for three months against
                months x gross margin (a year of the gross       three; 0.4 for shorter
                profit lost if it goes on); rise: revenue        windows (one month against
                gained in the window x gross margin (the gross   one swings with the timing of
                profit at stake in keeping it, not annualised:   a single invoice)
                nobody should bank on it); no gross margin ->
                the revenue itself
concentration   the top customer's sales over twelve months x    0.3 (losing it is a risk, not
                gross margin (the gross profit gone if it        an expectation)
                leaves; no gross margin -> its sales)
==============  ===============================================  ==============================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finpipe.analytics.insights.generate import Insight

RUNWAY_TARGET_MONTHS = 6.0
CONCENTRATION_CONFIDENCE = 0.3


def score(impact_minor: int, confidence: float) -> float:
    """The ranking key."""
    return float(impact_minor) * float(confidence)


def rank(insights: Sequence[Insight]) -> list[Insight]:
    """``insights`` sorted by score (desc), kind, id, with ``rank`` 1..n set."""
    ordered = sorted(
        insights, key=lambda i: (-score(i.impact_minor, i.confidence), i.kind, i.insight_id)
    )
    return [replace(insight, rank=n) for n, insight in enumerate(ordered, start=1)]


def dso_impact(receivables: int | None, now: float, before: float) -> int:
    """Cash tied up by a DSO rise: the part of today's receivables the extra days explain."""
    if not receivables or now <= 0 or now <= before:
        return 0
    return max(0, round(receivables * (now - before) / now))


def margin_impact(drop: float, revenue_ttm: float | None) -> int:
    """A margin drop (fraction) applied to trailing-12-month revenue."""
    if not revenue_ttm or drop <= 0:
        return 0
    return max(0, round(drop * revenue_ttm))


def runway_impact(burn: int, runway: float) -> int:
    """Cash needed to bring the runway back to :data:`RUNWAY_TARGET_MONTHS`."""
    return max(0, round(burn * max(0.0, RUNWAY_TARGET_MONTHS - runway)))


def warning_estimate(
    cash: int, lower: int | None, expected: int | None, band: int | None
) -> tuple[int, float]:
    """``(impact, confidence)`` of a cash warning (see the module table)."""
    low = min(v for v in (cash, lower) if v is not None)
    impact = max(0, -low)
    if cash < 0 or (expected is not None and expected < 0):
        return impact, 0.9
    return impact, 0.5 if band == 80 else 0.3


def health_impact(monthly_revenue: int, change: float | None, zone: str | None) -> int:
    """One month's revenue scaled by the score points lost (doubled in the distress zone)."""
    lost = abs(change) if change is not None and change < 0 else 0.0
    impact = round(max(0, monthly_revenue) * lost / 100)
    return impact * 2 if zone == "distress" else impact


def peer_impact(
    kpi: str,
    value: float,
    median: float,
    revenue_ttm: float | None,
    *,
    current_liabilities: int | None = None,
    total_assets: int | None = None,
) -> int:
    """Money the gap to the peer median is worth: a year of revenue for the margins and DSO,
    the balance sheet amount missing for the liquidity and leverage ratios."""
    if kpi in ("current_ratio", "quick_ratio"):
        return max(0, round((median - value) * (current_liabilities or 0)))
    if kpi == "equity_ratio":
        return max(0, round((median - value) * (total_assets or 0)))
    if not revenue_ttm:
        return 0
    if kpi == "dso":
        return max(0, round((value - median) / 365 * revenue_ttm))
    return max(0, round((median - value) * revenue_ttm))


def _gross(amount: int, gross_margin: float | None) -> int:
    """``amount`` of revenue as gross profit (the margin clipped to [0, 1]; none: all of it)."""
    margin = 1.0 if gross_margin is None else min(1.0, max(0.0, gross_margin))
    return round(abs(amount) * margin)


def growth_estimate(
    difference: int, gross_margin: float | None, window: int, *, months: int
) -> tuple[int, float]:
    """``(impact, confidence)`` of a revenue change of ``difference`` over ``window`` months
    against the window before (``months``: the full window; see the module table)."""
    confidence = 0.6 if window >= months else 0.4
    if difference < 0:
        return round(_gross(difference, gross_margin) * 12 / window), confidence
    return _gross(difference, gross_margin), confidence


def concentration_impact(top_sales: int, gross_margin: float | None) -> int:
    """The gross profit of the top customer's twelve months of sales."""
    return _gross(max(0, top_sales), gross_margin)
