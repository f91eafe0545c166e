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
                DSO: (value - median) / 365 x revenue TTM
==============  ===============================================  ==============================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finpipe.analytics.insights.generate import Insight

RUNWAY_TARGET_MONTHS = 6.0


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


def peer_impact(kpi: str, value: float, median: float, revenue_ttm: float | None) -> int:
    """Money the gap to the peer median is worth over a year."""
    if not revenue_ttm:
        return 0
    if kpi == "dso":
        return max(0, round((value - median) / 365 * revenue_ttm))
    return max(0, round((median - value) * revenue_ttm))
