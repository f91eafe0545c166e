"""Plain-language insights and recommendations from facts, by template (no Dagster).

Every number in an insight's title and text is a cited :class:`~.facts.Number` written with
its unit's rule (:mod:`.formats`); templates hold no digits of their own (counts up to three
are words). :func:`generate` turns one company's facts into ranked insights (:mod:`.rank`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from finpipe.analytics.insights import rank as ranking
from finpipe.analytics.insights.facts import GROWTH_WINDOW_MONTHS as GROWTH_MONTHS
from finpipe.analytics.insights.facts import Fact, Number

LABELS = {
    "dso": "DSO",
    "dpo": "DPO",
    "gross_margin": "Gross margin",
    "operating_margin": "Operating margin",
    "net_margin": "Net margin",
    "current_ratio": "Current ratio",
    "quick_ratio": "Quick ratio",
    "equity_ratio": "Equity ratio",
}
# When a KPI move is worth an insight: the worsening that matters (KPI units: days, fractions).
DSO_RISE_DAYS = 5.0
MARGIN_DROP = 0.02
CURRENT_RATIO_DROP = 0.2
CURRENT_RATIO_CONCERN = 1.5
HEALTH_DROP_POINTS = 3.0
CHANGE_KPIS = ("dso", "gross_margin", "net_margin", "current_ratio")
# Revenue growth worth telling: a tenth up or down on the window before.
REVENUE_CHANGE = 0.10
# Customer concentration worth telling: one customer a fifth of sales (a common lender and
# auditor threshold is 10 %; a fifth is where losing it hurts a small business), or the top
# three half of them.
TOP_SHARE_CONCERN = 0.20
TOP3_SHARE_CONCERN = 0.50
WORDS = {1: "One", 2: "Two", 3: "Three"}


@dataclass(frozen=True)
class Insight:
    """One ranked insight: its text, estimates and the numbers it cites."""

    insight_id: str
    kind: str
    subject: str
    title: str
    text: str
    impact_minor: int
    confidence: float
    numbers: tuple[Number, ...]
    rows: tuple[dict[str, Any], ...]
    rank: int = 0

    @property
    def score(self) -> float:
        return ranking.score(self.impact_minor, self.confidence)


def _cite(fact: Fact, prefix: str = "") -> tuple[Number, ...]:
    return tuple(replace(n, key=prefix + n.key) for n in fact.numbers)


def _dso_rose(fact: Fact | None) -> bool:
    return fact is not None and fact.attrs["delta"] >= DSO_RISE_DAYS


def _dso_sentence(fact: Fact) -> str:
    s = {k: fact.n(k).shown for k in ("before", "now", "since")}
    return f"DSO rose from {s['before']} to {s['now']} days since {s['since']}."


def collections(overdue: Fact, dso: Fact | None) -> Insight:
    """Overdue receivables by customer and the oldest invoices; with DSO when it rose."""
    s = {n.key: n.shown for n in overdue.numbers}
    customers = overdue.attrs["customers"]
    parts: list[str] = []
    numbers = _cite(overdue)
    rows = overdue.rows
    title = f"{s['total']} of receivables overdue"
    if _dso_rose(dso):
        assert dso is not None
        parts.append(_dso_sentence(dso))
        numbers += _cite(dso, "dso_")
        rows += dso.rows
        title = f"DSO up to {dso.n('now').shown} days; {s['total']} overdue"
    if customers:
        names = ", ".join(
            f"{s[f'customer_{i}']} ({s[f'customer_{i}_amount']})" for i in range(1, customers + 1)
        )
        verb = "accounts" if customers == 1 else "account"
        noun = "customer" if customers == 1 else "customers"
        parts.append(
            f"{WORDS[customers]} {noun} {verb} for {s['top_share']} of the {s['total']} of "
            f"receivables overdue at {s['as_of']}: {names}."
        )
    else:
        parts.append(f"{s['total']} of receivables are overdue at {s['as_of']}.")
    invoices = ", ".join(
        f"invoice {s[f'invoice_{i}']} (due {s[f'invoice_{i}_due']}, {s[f'invoice_{i}_amount']})"
        for i in range(1, overdue.attrs["invoices"] + 1)
    )
    parts.append(f"Chase the oldest invoices first: {invoices}.")
    impact = overdue.attrs["top_amount"] or overdue.n("total").value
    return Insight(
        "collections:receivables",
        "collections",
        "receivables",
        title,
        " ".join(parts),
        int(impact),
        0.8 if _dso_rose(dso) else 0.7,
        numbers,
        rows,
    )


def kpi_change(fact: Fact) -> Insight | None:
    """A KPI that worsened enough since the comparison month, with what to do."""
    kpi, delta = fact.attrs["kpi"], fact.attrs["delta"]
    s = {k: fact.n(k).shown for k in ("before", "now", "since")}
    before, now = float(fact.n("before").value), float(fact.n("now").value)
    label = LABELS.get(kpi, kpi)
    if kpi == "dso" and delta >= DSO_RISE_DAYS:
        title = f"DSO up to {s['now']} days"
        text = (
            f"{_dso_sentence(fact)} Invoice promptly, shorten payment terms and follow up "
            "before the due date."
        )
        impact = ranking.dso_impact(fact.attrs["accounts_receivable"], now, before)
        confidence = 0.8
    elif kpi in ("gross_margin", "net_margin", "operating_margin") and -delta >= MARGIN_DROP:
        title = f"{label} down to {s['now']}"
        text = (
            f"{label} fell from {s['before']} to {s['now']} since {s['since']} (trailing "
            "twelve months). Review prices, discounts and direct costs of the products that "
            "sell most."
        )
        impact = ranking.margin_impact(-delta, fact.attrs["revenue_ttm"])
        confidence = 0.6
    elif kpi == "current_ratio" and -delta >= CURRENT_RATIO_DROP and now < CURRENT_RATIO_CONCERN:
        title = f"Current ratio down to {s['now']}"
        text = (
            f"Current ratio fell from {s['before']} to {s['now']} since {s['since']}: "
            "short-term obligations grow faster than liquid assets. Build cash or move "
            "short-term debt to longer terms."
        )
        impact, confidence = 0, 0.6
    else:
        return None
    return Insight(
        f"kpi_change:{kpi}",
        "kpi_change",
        kpi,
        title,
        text,
        impact,
        confidence,
        _cite(fact),
        fact.rows,
    )


def health(fact: Fact) -> Insight | None:
    """The composite falling, or Altman Z″ in the distress zone."""
    change, zone = fact.attrs["composite_change"], fact.attrs["zone"]
    falling = change is not None and change <= -HEALTH_DROP_POINTS
    if not falling and zone != "distress":
        return None
    s = {n.key: n.shown for n in fact.numbers}
    parts = []
    if falling:
        title = f"Health score down {s['change']} points"
        parts.append(f"The health score fell {s['change']} points to {s['composite']}.")
    else:
        title = f"Health score {s['composite']}, Altman Z″ in distress"
        parts.append(f"The health score is {s['composite']}.")
        if fact.has("change"):
            parts.append(f"It moved {s['change']} points since last month.")
    if fact.has("mover"):
        parts.append(
            f"The biggest mover was {s['mover']} ({s['mover_change']} points of contribution): "
            "look at it first."
        )
    if fact.has("altman_z"):
        parts.append(f"Altman Z″ is {s['altman_z']}, {s['zone']} zone.")
    impact = ranking.health_impact(fact.attrs["monthly_revenue"], change, zone)
    return Insight(
        "health:composite", "health", "composite", title, " ".join(parts), impact, 0.4,
        _cite(fact), fact.rows,
    )  # fmt: skip


def runway(fact: Fact) -> Insight | None:
    """Runway under :data:`~.rank.RUNWAY_TARGET_MONTHS` months."""
    months = fact.attrs["runway"]
    if months >= ranking.RUNWAY_TARGET_MONTHS:
        return None
    s = {n.key: n.shown for n in fact.numbers}
    text = (
        f"Cash of {s['cash']} covers {s['runway']} months at the current burn of {s['burn']} a "
        "month. Cut discretionary spending or arrange financing while there is time."
    )
    impact = ranking.runway_impact(fact.attrs["burn"], months)
    return Insight(
        "runway:runway_months", "runway", "runway_months", f"Runway {s['runway']} months", text,
        impact, 0.8, _cite(fact), fact.rows,
    )  # fmt: skip


def cash_warning(fact: Fact) -> Insight:
    """The forecast's warning that cash may go, or is, below zero."""
    s = {n.key: n.shown for n in fact.numbers}
    a = fact.attrs
    since = f" on {s['as_of']}" if fact.has("as_of") else ""
    if a["kind"] == "cash_negative" or not fact.has("period"):
        title = "Book cash below zero"
        text = (
            f"Book cash is {s['cash_balance']}{since}. Fund the account or hold payments to "
            "avoid overdraft fees."
        )
    else:
        band = f"{s['band']} % " if fact.has("band") else ""
        low = f" to {s['lower_balance']}" if fact.has("lower_balance") else " below zero"
        title = f"Cash may run out from {s['period']}"
        text = (
            f"The cash forecast's {band}lower bound falls{low} in the period starting "
            f"{s['period']}, from {s['cash_balance']}{since}. Line up a credit facility or "
            "bring collections forward before then."
        )
    impact, confidence = ranking.warning_estimate(
        a["cash_balance"], a["lower_balance"], a["expected_balance"], a["band"]
    )
    return Insight(
        f"cash_warning:{fact.subject}", "cash_warning", fact.subject, title, text, impact,
        confidence, _cite(fact), fact.rows,
    )  # fmt: skip


def _flag_label(fact: Fact, i: int, s: dict[str, str]) -> str:
    """How flag ``i`` is named: its type, then the document a person can find (type, number,
    date, contact), then amount and score."""
    where = [s[f"flag_{i}_doc_type"]]
    for key, before in (("number", ""), ("date", "dated "), ("document", "")):
        if fact.has(f"flag_{i}_{key}"):
            where.append(before + s[f"flag_{i}_{key}"])
    contact = f", {s[f'flag_{i}_contact']}" if fact.has(f"flag_{i}_contact") else ""
    return (
        f"{s[f'flag_{i}_type']} on {' '.join(where)}{contact} "
        f"({s[f'flag_{i}_amount']}, score {s[f'flag_{i}_score']})"
    )


def anomalies(fact: Fact) -> Insight:
    """The most suspicious transactions."""
    s = {n.key: n.shown for n in fact.numbers}
    count = len(fact.attrs["amounts"])
    items = "; ".join(_flag_label(fact, i, s) for i in range(1, count + 1))
    noun = "transaction looks" if count == 1 else "transactions look"
    text = (
        f"{WORDS[count]} {noun} suspicious ({s['total']} in all): {items}. Check them against "
        "their invoices and approvals before paying or closing the month."
    )
    scores = fact.attrs["scores"]
    return Insight(
        "anomalies:flags", "anomalies", "flags", f"Suspicious transactions: {s['total']}", text,
        int(fact.n("total").value), sum(scores) / len(scores), _cite(fact), fact.rows,
    )  # fmt: skip


def revenue_growth(fact: Fact) -> Insight | None:
    """Revenue up or down by at least :data:`REVENUE_CHANGE` on the window before."""
    a = fact.attrs
    if abs(a["growth"]) < REVENUE_CHANGE:
        return None
    s = {n.key: n.shown for n in fact.numbers}
    way = "up" if a["growth"] > 0 else "down"
    if a["window"] == 1:
        period, earlier = f"in {s['to']}", s["before_to"]
    else:
        n = WORDS[a["window"]].lower()
        period = f"over the last {n} months ({s['from']} to {s['to']})"
        earlier = f"the {n} months before ({s['before_from']} to {s['before_to']})"
    text = (
        f"Revenue {period} is {way} {s['change']} on {earlier}: {s['now']} against {s['before']}. "
    )
    if way == "up":
        text += (
            "Growth ties up cash in receivables and stock before it comes in: invoice "
            "promptly and check that the cash forecast covers it."
        )
    else:
        text += (
            "Find out which customers or products fell away and follow up with them; trim the "
            "costs that do not shrink with sales."
        )
    impact, confidence = ranking.growth_estimate(
        a["difference"], a["gross_margin"], a["window"], months=GROWTH_MONTHS
    )
    return Insight(
        "revenue_growth:revenue", "revenue_growth", "revenue",
        f"Revenue {way} {s['change']}", text, impact, confidence, _cite(fact), fact.rows,
    )  # fmt: skip


def concentration(fact: Fact) -> Insight | None:
    """Sales concentrated on few customers: the top one at :data:`TOP_SHARE_CONCERN` or
    more, or the top three at :data:`TOP3_SHARE_CONCERN` or more."""
    a = fact.attrs
    if a["top_share"] < TOP_SHARE_CONCERN and a["top3_share"] < TOP3_SHARE_CONCERN:
        return None
    s = {n.key: n.shown for n in fact.numbers}
    customers = a["customers"]
    text = (
        f"{s['customer_1']} bought {s['top_share']} of your sales in the twelve months to "
        f"{s['to']} ({s['customer_1_sales']} of {s['total']})"
    )
    title = f"Top customer {s['top_share']} of sales"
    if customers > 1:
        names = ", ".join(
            f"{s[f'customer_{i}']} ({s[f'customer_{i}_sales']})" for i in range(1, customers + 1)
        )
        text += f"; your top {WORDS[customers].lower()} customers {s['top3_share']}: {names}"
        title += f"; top {WORDS[customers].lower()} {s['top3_share']}"
    text += (
        ". Losing one of them would cut revenue hard: win more customers of their size and keep "
        "their payment terms and discounts in check."
    )
    impact = ranking.concentration_impact(a["top_sales"], a["gross_margin"])
    return Insight(
        "concentration:customers", "concentration", "customers", title, text, impact,
        ranking.CONCENTRATION_CONFIDENCE, _cite(fact), fact.rows,
    )  # fmt: skip


PEER_ADVICE = {
    "gross_margin": "Compare your prices and direct costs with the sector's.",
    "net_margin": "Look for overheads the sector runs without.",
    "dso": "Your customers pay later than your peers': tighten terms and chase earlier.",
    "current_ratio": "Short-term assets cover short-term debts less well than the sector's: "
    "build cash or move short-term debt to longer terms.",
    "quick_ratio": "Cash and receivables cover short-term debts less well than the sector's: "
    "collect faster or keep more cash.",
    "equity_ratio": "More of the business runs on borrowed money than in the sector: retain "
    "profits or bring in equity before borrowing more.",
}


def peer_position(fact: Fact) -> Insight:
    """A KPI in the bottom quartile of the company's peers (or the industry reference)."""
    s = {n.key: n.shown for n in fact.numbers}
    kpi = fact.attrs["kpi"]
    who = "your peers" if fact.attrs["source"] == "peers" else "the industry reference"
    unit = " days" if kpi == "dso" else ""
    text = (
        f"{LABELS.get(kpi, kpi)} of {s['value']}{unit} is in the bottom quartile of {who}: "
        f"percentile {s['percentile']}, median {s['median']}{unit}. {PEER_ADVICE.get(kpi, '')}"
    ).strip()
    impact = ranking.peer_impact(
        kpi,
        float(fact.n("value").value),
        float(fact.n("median").value),
        fact.attrs["revenue_ttm"],
        current_liabilities=fact.attrs.get("current_liabilities"),
        total_assets=fact.attrs.get("total_assets"),
    )
    return Insight(
        f"peer_position:{kpi}", "peer_position", kpi,
        f"{LABELS.get(kpi, kpi)} in the bottom quartile", text, impact, 0.5, _cite(fact),
        fact.rows,
    )  # fmt: skip


def generate(facts: Sequence[Fact]) -> list[Insight]:
    """One company's ranked insights from its facts (any kind may be missing)."""
    by_kind: dict[str, list[Fact]] = {}
    for fact in facts:
        by_kind.setdefault(fact.kind, []).append(fact)
    changes = {f.subject: f for f in by_kind.get("kpi_change", [])}
    out: list[Insight] = []
    overdue = by_kind.get("overdue_receivables", [])
    if overdue:
        out.append(collections(overdue[0], changes.get("dso")))
    for kpi, fact in sorted(changes.items()):
        if kpi == "dso" and overdue:
            continue  # told in the collections insight
        made = kpi_change(fact)
        if made:
            out.append(made)
    makers = {
        "health": health,
        "runway": runway,
        "revenue_growth": revenue_growth,
        "concentration": concentration,
    }
    for kind, make in makers.items():
        for fact in by_kind.get(kind, []):
            made = make(fact)
            if made:
                out.append(made)
    out += [cash_warning(f) for f in by_kind.get("cash_warning", [])]
    out += [anomalies(f) for f in by_kind.get("anomalies", [])]
    out += [peer_position(f) for f in by_kind.get("peer_position", [])]
    return ranking.rank(out)
