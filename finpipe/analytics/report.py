"""One company's analytics in a few printable lines: what ``finpipe demo`` shows after the
runs (health score, benchmark position, top anomaly flags, top insights).

The insights are re-verified against the warehouse as they are read
(:func:`finpipe.analytics.insights.build.top_insights`): an insight whose numbers do not
recompute raises :class:`~finpipe.analytics.insights.build.UnverifiedInsightsError`, so a
demo never prints an unverified number.
"""

from __future__ import annotations

from finpipe.analytics.insights.build import top_insights
from finpipe.analytics.peers.build import benchmark_position, read_benchmarks
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_anomalies import ANOMALY_FLAGS
from finpipe.warehouse.tables.analytics_financials import HEALTH_SCORES


def health_line(wh: Warehouse, company_id: str) -> str:
    """The latest month's composite score with its change, Altman Z'' and zone."""
    scores = wh.read(HEALTH_SCORES, company_id=company_id)
    if scores.is_empty():
        return "health: no score (no books yet)"
    latest = scores.sort("month").row(scores.height - 1, named=True)
    change = latest["composite_change"]
    moved = f", {change:+.1f} on the month" if change is not None else ""
    altman = (
        f"Altman Z'' {latest['altman_z']:.2f} ({latest['altman_zone']})"
        if latest["altman_z"] is not None
        else f"Altman Z'' n/a ({latest['altman_zone']})"
    )
    mover = f"; moved most: {latest['biggest_mover']}" if latest["biggest_mover"] else ""
    return f"health {latest['month']:%Y-%m}: {latest['composite']:.0f}/100{moved}; {altman}{mover}"


def top_flags(wh: Warehouse, company_id: str, limit: int = 3) -> list[str]:
    """The ``limit`` highest-scored anomaly flags, with their reasons."""
    flags = wh.read(ANOMALY_FLAGS, company_id=company_id)
    if flags.is_empty():
        return []
    top = flags.sort(["score", "flag_id"], descending=[True, False]).head(limit)
    return [
        f"[{row['type']} {row['score']:.2f}] {row['reason']}" for row in top.iter_rows(named=True)
    ]


def company_report(wh: Warehouse, company_id: str, *, insights: int = 3) -> list[str]:
    """Printable lines for ``company_id``: health, benchmark position, the top flags (with
    how many there are) and the top insights (re-verified; raises if one does not hold)."""
    lines = [health_line(wh, company_id)]
    position = benchmark_position(read_benchmarks(wh, company_id), company_id)
    lines.append("benchmark: " + position.removeprefix(f"{company_id}: "))
    total = wh.count(ANOMALY_FLAGS, company_id)
    flags = top_flags(wh, company_id)
    lines.append(f"anomaly flags: {total}" + (", top ones:" if flags else ""))
    lines.extend(f"  {flag}" for flag in flags)
    found = top_insights(wh, company_id, limit=insights)
    lines.append(f"insights (verified against the warehouse): {len(found) or 'none'}")
    lines.extend(f"  {text}" for text in found)
    return lines
