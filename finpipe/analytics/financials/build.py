"""One company's statements, KPIs and health scores from the warehouse (no Dagster).

:func:`compute_financials` is the pure part (frames in, frames out);
:func:`build_financials` reads the company's ledger and its registry row
(``ops.companies``: home currency, fiscal year start) and :func:`write_financials` replaces
its partition of every ``analytics`` financials table in one transaction. Other parts
(peer benchmarks, insights) read KPIs with :func:`read_kpis` / :func:`read_kpis_wide`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from finpipe.analytics.financials.health import health
from finpipe.analytics.financials.kpis import compute_kpis, kpi_facts, kpis_wide
from finpipe.analytics.financials.statements import (
    balance_sheet,
    cash_flow,
    income_statement,
    monthly_lines,
    statement_problems,
)
from finpipe.analytics.formats import format_money
from finpipe.errors import FinpipeError
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import (
    BALANCE_SHEET,
    CASH_FLOW,
    HEALTH_COMPONENTS,
    HEALTH_SCORES,
    INCOME_STATEMENT,
    KPIS,
    TABLES,
)
from finpipe.warehouse.tables.ledger import DOCUMENTS, JOURNAL_LINES
from finpipe.warehouse.tables.ops import COMPANIES


class FinancialsError(FinpipeError):
    """Statements or scores cannot be built as asked (bad input frame, bad parameter)."""


@dataclass(frozen=True)
class Financials:
    """One company's (or several companies') statements, KPIs and health scores."""

    monthly: pl.DataFrame  # statement lines' monthly movements (statements.monthly_lines)
    income: pl.DataFrame
    balance: pl.DataFrame
    cash_flow: pl.DataFrame
    facts: pl.DataFrame  # every KPI input (kpis.kpi_facts)
    kpis: pl.DataFrame  # long, analytics.kpis shape
    scores: pl.DataFrame  # analytics.health_scores shape
    components: pl.DataFrame  # analytics.health_components shape

    def problems(self) -> dict[str, pl.DataFrame]:
        """Rows breaking what must hold: the statements' ties
        (:func:`~finpipe.analytics.financials.statements.statement_problems`), composites
        outside [0, 100], Z″ not finite, component contributions not summing to the score."""
        out = statement_problems(self.monthly, self.income, self.balance, self.cash_flow)
        c = pl.col
        out["composite_out_of_range"] = self.scores.filter(
            c("composite").is_not_null() & ~c("composite").is_between(0.0, 100.0)
        ).select("company_id", "month", "composite")
        out["altman_not_finite"] = self.scores.filter(
            c("altman_z").is_not_null() & ~c("altman_z").is_finite()
        ).select("company_id", "month", "altman_z")
        sums = (
            self.components.filter(c("score") == "composite")
            .group_by("company_id", "month")
            .agg(c("contribution").sum().alias("_sum"))
            .join(
                self.scores.select("company_id", "month", "composite"), on=["company_id", "month"]
            )
        )
        out["contributions_off"] = sums.filter(
            c("composite").is_not_null() & ((c("_sum") - c("composite")).abs() > 1e-9)
        )
        return out

    def latest_month(self) -> object | None:
        """The last month of the statements (None without books)."""
        return self.income["month"].max() if self.income.height else None


def compute_financials(
    journal_lines: pl.DataFrame,
    documents: pl.DataFrame | None = None,
    *,
    fiscal_year_start_month: int = 1,
) -> Financials:
    """Statements, KPIs and health scores from journal lines (company_id, date,
    standard_code, amount: ``ledger.journal_lines`` columns) and, for customer concentration,
    ``ledger.documents`` rows. Raises :class:`FinancialsError` naming a missing column."""
    needed = ("company_id", "date", "standard_code", "amount")
    missing = [n for n in needed if n not in journal_lines.columns]
    if missing:
        raise FinancialsError(f"journal lines lack column(s) {missing}: pass ledger.journal_lines")
    if not 1 <= fiscal_year_start_month <= 12:
        raise FinancialsError(
            f"fiscal_year_start_month={fiscal_year_start_month} is not a month (1-12): fix "
            "ops.companies"
        )
    monthly = monthly_lines(journal_lines)
    income = income_statement(monthly)
    balance = balance_sheet(monthly, fiscal_year_start_month)
    flows = cash_flow(income, balance)
    facts = kpi_facts(income, balance, flows, documents)
    kpis = compute_kpis(facts)
    scores, components = health(facts, kpis)
    return Financials(monthly, income, balance, flows, facts, kpis, scores, components)


def company_profile(warehouse: Warehouse, company_id: str) -> tuple[str | None, int]:
    """``(home currency, fiscal year start month)`` from ``ops.companies`` (None, 1 when the
    company is not registered)."""
    row = warehouse.read(COMPANIES, where="company_id = %s", params=[company_id])
    if row.height == 0:
        return None, 1
    return row.item(0, "home_currency"), int(row.item(0, "fiscal_year_start_month"))


def build_financials(warehouse: Warehouse, company_id: str) -> Financials:
    """Read ``company_id``'s ledger and registry row and compute its financials."""
    journal = warehouse.read(JOURNAL_LINES, company_id=company_id)
    lines = journal.select("company_id", "date", "standard_code", "amount")
    documents = warehouse.read(DOCUMENTS, company_id=company_id)
    currency, fy_start = company_profile(warehouse, company_id)
    result = compute_financials(lines, documents, fiscal_year_start_month=fy_start)
    if currency is None and journal.height:
        # Not registered: the journal's most common line currency is the home one.
        currency = journal["currency"].mode().sort().item(0)
    return _with_currency(result, currency)


def _with_currency(result: Financials, currency: str | None) -> Financials:
    def add(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.lit(currency, pl.String).alias("currency"))

    return Financials(
        result.monthly,
        add(result.income),
        add(result.balance),
        add(result.cash_flow),
        result.facts,
        result.kpis,
        result.scores,
        result.components,
    )


def table_frames(result: Financials) -> dict[str, pl.DataFrame]:
    """Each analytics table's rows (by table name), in the declared column order."""
    pairs = {
        INCOME_STATEMENT: result.income,
        BALANCE_SHEET: result.balance,
        CASH_FLOW: result.cash_flow,
        KPIS: result.kpis,
        HEALTH_SCORES: result.scores,
        HEALTH_COMPONENTS: result.components,
    }
    out = {}
    for table, frame in pairs.items():
        if "currency" in table.column_names and "currency" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("currency"))
        out[table.name] = frame.select(table.column_names).cast(dict(table.polars_schema()))
    return out


def write_financials(
    warehouse: Warehouse, company_id: str, result: Financials
) -> dict[str, pl.DataFrame]:
    """Replace ``company_id``'s partition of every analytics financials table, atomically;
    returns the written frames (:func:`table_frames`) by table name."""
    frames = table_frames(result)
    with warehouse.batch() as batch:
        for table in TABLES:
            batch.replace_partition(table, company_id, frames[table.name])
    return frames


# --- reading KPIs (peer benchmarks, insights) -----------------------------------------------


def read_kpis(
    warehouse: Warehouse,
    company_id: str | None = None,
    kpis: Sequence[str] | None = None,
) -> pl.DataFrame:
    """``analytics.kpis`` rows (long), optionally one company's and some KPIs only."""
    where, params = None, []
    if kpis:
        where = "kpi IN (" + ", ".join(["%s"] * len(kpis)) + ")"
        params = list(kpis)
    return warehouse.read(KPIS, company_id=company_id, where=where, params=params)


def read_kpis_wide(warehouse: Warehouse, company_id: str | None = None) -> pl.DataFrame:
    """One row per company and month, one Float64 column per registry KPI."""
    return kpis_wide(read_kpis(warehouse, company_id))


def latest_kpis(kpis: pl.DataFrame) -> pl.DataFrame:
    """Each company's rows of its latest month (long KPI rows in, long rows out)."""
    last = kpis.group_by("company_id").agg(pl.col("month").max())
    return kpis.join(last, on=["company_id", "month"], how="semi").sort("company_id", "kpi")


# --- Markdown for the UI ----------------------------------------------------------------------


def _fmt(value: float | None, unit: str, currency: str | None = None) -> str:
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit in ("days", "months"):
        return f"{value:.1f} {unit}"
    if not math.isfinite(value):
        return str(value)
    # Money KPIs are whole minor units stored as floats; the KPI table shows no currency code.
    return format_money(round(value), currency, suffix=False)


SUMMARY_KPIS = (
    "revenue_growth_yoy",
    "revenue_growth_mom",
    "gross_margin",
    "net_margin",
    "current_ratio",
    "quick_ratio",
    "debt_to_equity",
    "dso",
    "dpo",
    "burn",
    "runway_months",
    "top_customer_share",
)


def summary_markdown(result: Financials) -> str:
    """The company's latest month in Markdown: P&L lines, key KPIs, Z″ and zone, composite
    and sub-scores with what moved them."""
    month = result.latest_month()
    if month is None:
        return "_no books yet: nothing to summarise_"
    inc = result.income.filter(pl.col("month") == month).row(0, named=True)
    ccy = inc.get("currency")
    lines = [f"### {month:%B %Y}", "", "| P&L | amount |", "|---|---|"]
    for name in ("revenue", "gross_profit", "ebitda", "operating_income", "net_income"):
        shown = "n/a" if inc[name] is None else format_money(inc[name], ccy)
        lines.append(f"| {name} | {shown} |")
    latest = result.kpis.filter(pl.col("month") == month)
    lines += ["", "| KPI | value |", "|---|---|"]
    for row in latest.filter(pl.col("kpi").is_in(SUMMARY_KPIS)).iter_rows(named=True):
        shown = _fmt(row["value"], row["unit"], ccy)
        if row["value"] is None:
            shown += f" ({row['null_reason']})"
        lines.append(f"| {row['kpi']} | {shown} |")
    score = result.scores.filter(pl.col("month") == month).row(0, named=True)
    z = score["altman_z"]
    lines += [
        "",
        f"**Altman Z″**: {'n/a' if z is None else f'{z:.2f}'} ({score['altman_zone']})"
        + (f" — {score['altman_note']}" if score["altman_note"] else ""),
        "",
        f"**Composite**: {_fmt(score['composite'], 'ratio')} / 100 — {score['explanation']}",
        "",
        "| sub-score | score | contribution | change |",
        "|---|---|---|---|",
    ]
    parts = result.components.filter(
        (pl.col("month") == month) & (pl.col("score") == "composite")
    ).sort("component")
    for row in parts.iter_rows(named=True):
        change = "n/a" if row["change"] is None else f"{row['change']:+.1f}"
        value = "n/a" if row["value"] is None else f"{row['value']:.1f}"
        contribution = "n/a" if row["contribution"] is None else f"{row['contribution']:.1f}"
        lines.append(f"| {row['component']} | {value} | {contribution} | {change} |")
    return "\n".join(lines)
