"""One company's insights end to end (no Dagster): facts -> insights -> verified rows.

:func:`build_insights` reads the company (:func:`.facts.load_company`), extracts every fact,
generates and ranks the insights, verifies each one through the checker against the same
warehouse and returns the ``analytics.insights`` rows; :func:`write_insights` replaces the
company's partition (the asset checks use the build's own verifications, not a re-read).
:func:`verify_stored` re-checks what is stored (the tests use it) and :func:`top_insights` is
what the demo prints: it raises
:class:`UnverifiedInsightsError` naming every unverified insight and number.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

import polars as pl

from finpipe.analytics.insights import facts as F
from finpipe.analytics.insights.formats import fmt
from finpipe.analytics.insights.generate import Insight, generate
from finpipe.analytics.insights.verify import InsightError, Verification, verify_row
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_insights import INSIGHTS

P = ParamSpec("P")
T = TypeVar("T")


def _kept_open(
    fn: Callable[Concatenate[Warehouse, P], T],
) -> Callable[Concatenate[Warehouse, P], T]:
    """Building and checking run some hundred small reads: keep a DuckDB file loaded for the
    call (Warehouse.keep_open) instead of opening it per read (~20-40 ms each)."""

    @functools.wraps(fn)
    def call(warehouse: Warehouse, *args: P.args, **kwargs: P.kwargs) -> T:
        with warehouse.keep_open():
            return fn(warehouse, *args, **kwargs)

    return call


class UnverifiedInsightsError(InsightError):
    """Some stored insight cites a number the warehouse does not give back."""


@dataclass(frozen=True)
class CompanyInsights:
    """One company's ranked insights as ``analytics.insights`` rows, and their verdicts."""

    company_id: str
    frame: pl.DataFrame
    verifications: list[Verification]

    @property
    def unverified(self) -> list[Verification]:
        return [v for v in self.verifications if not v.verified]


def company_facts(data: F.CompanyData) -> list[F.Fact]:
    """Every fact the company's data supports (a missing source gives no fact of its kind)."""
    if data.month is None:
        return []
    found: list[F.Fact | None] = [
        F.fact_kpi_change(data, kpi)
        for kpi in ("dso", "gross_margin", "net_margin", "current_ratio")
    ]
    found += [
        F.fact_overdue(data),
        F.fact_health(data),
        F.fact_runway(data),
        F.fact_cash_warning(data),
        F.fact_anomalies(data),
        F.fact_revenue_growth(data),
        F.fact_concentration(data),
    ]
    found += F.fact_peer_positions(data)
    return [f for f in found if f is not None]


def _row(company_id: str, month: dt.date, currency: str | None, insight: Insight) -> dict:
    return {
        "company_id": company_id,
        "insight_id": insight.insight_id,
        "rank": insight.rank,
        "kind": insight.kind,
        "subject": insight.subject,
        "month": month,
        "currency": currency,
        "title": insight.title,
        "text": insight.text,
        "impact_minor": int(insight.impact_minor),
        "confidence": float(insight.confidence),
        "score": insight.score,
        "facts": json.dumps([n.to_json() for n in insight.numbers], sort_keys=True),
        "source_rows": json.dumps(list(insight.rows), sort_keys=True, default=str),
        "verified": False,
        "verification": None,
    }


def insights_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows as an ``analytics.insights`` frame (declared dtypes, rank order)."""
    schema = INSIGHTS.polars_schema()
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema).sort("company_id", "rank")


@_kept_open
def build_insights(warehouse: Warehouse, company_id: str) -> CompanyInsights:
    """Facts, ranked insights and their verification for ``company_id``."""
    data = F.load_company(warehouse, company_id)
    if data.month is None:
        return CompanyInsights(company_id, insights_frame([]), [])
    insights = generate(company_facts(data))
    rows, verdicts = [], []
    for insight in insights:
        row = _row(company_id, data.month, data.currency, insight)
        verdict = verify_row(warehouse, row)
        row["verified"], row["verification"] = verdict.verified, verdict.to_json()
        rows.append(row)
        verdicts.append(verdict)
    return CompanyInsights(company_id, insights_frame(rows), verdicts)


def write_insights(warehouse: Warehouse, result: CompanyInsights) -> None:
    """Replace the company's partition of ``analytics.insights``."""
    warehouse.replace_partition(INSIGHTS, result.company_id, result.frame)


def read_insights(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    """The company's stored insights in rank order."""
    return warehouse.read(INSIGHTS, company_id=company_id, order_by=["rank"])


@_kept_open
def verify_stored(warehouse: Warehouse, company_id: str) -> list[Verification]:
    """Re-check every stored insight of the company against the warehouse now."""
    return [
        verify_row(warehouse, row)
        for row in read_insights(warehouse, company_id).iter_rows(named=True)
    ]


def rank_problems(frame: pl.DataFrame) -> list[str]:
    """What is wrong with the ranks per company (they must be 1..n, ordered by score)."""
    problems = []
    for (company,), part in frame.group_by("company_id"):
        ranks = sorted(part["rank"].to_list())
        if ranks != list(range(1, len(ranks) + 1)):
            problems.append(f"{company}: ranks {ranks} are not 1..{len(ranks)}")
        scores = part.sort("rank")["score"].to_list()
        if any(a < b for a, b in itertools.pairwise(scores)):
            problems.append(f"{company}: scores do not decrease with rank")
    return problems


def summary_markdown(frame: pl.DataFrame, limit: int = 5) -> str:
    """The top ``limit`` insights as a Markdown list (rank, title, text, impact, verified)."""
    if frame.height == 0:
        return "_no insights: nothing stood out (or no books yet)_"
    lines = []
    for row in frame.sort("rank").head(limit).iter_rows(named=True):
        mark = "verified" if row["verified"] else "**NOT VERIFIED**"
        impact = fmt(row["impact_minor"], "money", row["currency"])
        lines.append(
            f"{row['rank']}. **{row['title']}** — {row['text']} "
            f"_(impact ~{impact} x confidence {row['confidence']:.2f}; {mark})_"
        )
    return "\n".join(lines)


@_kept_open
def top_insights(warehouse: Warehouse, company_id: str, limit: int = 5) -> list[str]:
    """The company's top ``limit`` stored insights as printable lines, each re-verified
    against the warehouse; raises :class:`UnverifiedInsightsError` naming every insight and
    number that does not verify (the demo fails loudly on it)."""
    frame = read_insights(warehouse, company_id)
    verdicts = [verify_row(warehouse, row) for row in frame.iter_rows(named=True)]
    bad = [v for v in verdicts if not v.verified]
    if bad:
        raise UnverifiedInsightsError(
            f"{len(bad)} insight(s) of company {company_id} do not verify against the "
            "warehouse; rebuild analytics/insights or fix the generator: "
            + " | ".join(v.describe() for v in bad)
        )
    return [
        f"{row['rank']}. {row['title']}: {row['text']}"
        for row in frame.sort("rank").head(limit).iter_rows(named=True)
    ]
