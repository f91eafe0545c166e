"""Typed facts per company, each number with the recipe that recomputes it (no Dagster).

:func:`load_company` reads what one company's facts need (every source optional: a company
without forecast, anomaly or peer rows simply gets no fact of that kind); the ``fact_*``
extractors compute facts from those frames with Polars. Each :class:`Number` carries its value,
unit (:mod:`.formats`), and a :mod:`.recipes` recipe that the checker runs as SQL, and each
:class:`Fact` cites the rows behind it (table and ids).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from finpipe.analytics.financials.kpis import SALES_CREDIT_TYPES, SALES_DOC_TYPES
from finpipe.analytics.insights.formats import fmt
from finpipe.analytics.insights.recipes import HOME_AMOUNT_DUE, HOME_GROSS, Recipe, op, read
from finpipe.analytics.peers.build import read_benchmarks
from finpipe.ledger.books_schema import DEAD_STATUSES
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_anomalies import ANOMALY_FLAGS
from finpipe.warehouse.tables.analytics_financials import (
    BALANCE_SHEET,
    HEALTH_COMPONENTS,
    HEALTH_SCORES,
    INCOME_STATEMENT,
    KPIS,
)
from finpipe.warehouse.tables.analytics_forecast import CASH_WARNINGS
from finpipe.warehouse.tables.analytics_peers import PEER_BENCHMARKS
from finpipe.warehouse.tables.ledger import CONTACTS, DOCUMENTS

# KPIs of the registry written as percentages (their stored value is a fraction).
PERCENT_KPIS = frozenset(
    {
        "gross_margin",
        "operating_margin",
        "net_margin",
        "revenue_growth_mom",
        "revenue_growth_yoy",
        "revenue_growth_3m",
        "top_customer_share",
        "top3_customer_share",
        "equity_ratio",
    }
)
LOOKBACK_MONTHS = 3  # "now vs N months ago" (the earliest month when the books are shorter)
TOP_CUSTOMERS = 3
OLDEST_INVOICES = 3
TOP_FLAGS = 3
MIN_FLAG_SCORE = 0.7
OPEN_STATUSES = ("open", "partially_paid")
GROWTH_WINDOW_MONTHS = 3  # revenue of the last N months against the N before
SALES_WINDOW_MONTHS = 12  # customer concentration over the trailing twelve months (as the KPI)


@dataclass(frozen=True)
class Number:
    """One cited number: its value, unit, the recipe recomputing it and how it is shown."""

    key: str
    value: Any
    unit: str
    recipe: Recipe
    currency: str | None = None

    @property
    def shown(self) -> str:
        return fmt(self.value, self.unit, self.currency)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "unit": self.unit,
            "currency": self.currency,
            "shown": self.shown,
            "recipe": self.recipe,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Number:
        return cls(data["key"], data["value"], data["unit"], data["recipe"], data.get("currency"))


@dataclass(frozen=True)
class Fact:
    """A computed fact: its numbers and the rows behind it; ``attrs`` holds what the
    templates and impact estimates need but the text does not show."""

    kind: str
    subject: str
    numbers: tuple[Number, ...]
    rows: tuple[dict[str, Any], ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)

    def n(self, key: str) -> Number:
        for number in self.numbers:
            if number.key == key:
                return number
        raise KeyError(f"fact {self.kind}:{self.subject} has no number {key!r}")

    def has(self, key: str) -> bool:
        return any(number.key == key for number in self.numbers)


@dataclass(frozen=True)
class CompanyData:
    """Everything one company's facts read, as frames (empty when a source has no rows)."""

    company_id: str
    currency: str | None
    month: dt.date | None  # latest month of analytics.kpis
    kpis: pl.DataFrame
    income: pl.DataFrame
    balance: pl.DataFrame
    scores: pl.DataFrame
    components: pl.DataFrame
    documents: pl.DataFrame
    contacts: pl.DataFrame
    flags: pl.DataFrame
    warnings: pl.DataFrame
    peers: pl.DataFrame


def load_company(warehouse: Warehouse, company_id: str) -> CompanyData:
    """Read ``company_id``'s statements, KPIs, scores, ledger documents and contacts and, when
    present, its anomaly flags, cash warnings and peer benchmarks."""
    kpis = warehouse.read(KPIS, company_id=company_id)
    income = warehouse.read(INCOME_STATEMENT, company_id=company_id)
    month = kpis["month"].max() if kpis.height else None
    currencies = income.sort("month")["currency"].drop_nulls()
    currency = currencies[-1] if currencies.len() else None
    return CompanyData(
        company_id=company_id,
        currency=currency,
        month=month,  # type: ignore[arg-type]
        kpis=kpis,
        income=income,
        balance=warehouse.read(BALANCE_SHEET, company_id=company_id),
        scores=warehouse.read(HEALTH_SCORES, company_id=company_id),
        components=warehouse.read(HEALTH_COMPONENTS, company_id=company_id),
        documents=warehouse.read(DOCUMENTS, company_id=company_id),
        contacts=warehouse.read(CONTACTS, company_id=company_id),
        flags=warehouse.read(ANOMALY_FLAGS, company_id=company_id),
        warnings=warehouse.read(CASH_WARNINGS, company_id=company_id),
        peers=read_benchmarks(warehouse, company_id),
    )


# --- KPIs --------------------------------------------------------------------------------------


def kpi_unit(kpi: str, unit: str) -> str:
    """The display unit of a registry KPI (``analytics.kpis.unit`` refined)."""
    if kpi in PERCENT_KPIS:
        return "percent"
    return {"days": "days", "months": "months", "money": "money"}.get(unit, "ratio")


def _kpi_number(data: CompanyData, key: str, row: dict[str, Any]) -> Number:
    unit = kpi_unit(row["kpi"], row["unit"])
    column = "amount" if unit == "money" else "value"
    where = {"company_id": data.company_id, "month": row["month"], "kpi": row["kpi"]}
    return Number(key, row[column], unit, read(KPIS.qualified_name, where, column), data.currency)


def kpi_row(data: CompanyData, kpi: str, month: dt.date | None) -> dict[str, Any] | None:
    """The company's ``analytics.kpis`` row of ``kpi`` in ``month`` with a value (or None)."""
    rows = data.kpis.filter(
        (pl.col("kpi") == kpi) & (pl.col("month") == month) & pl.col("value").is_not_null()
    )
    return rows.row(0, named=True) if rows.height else None


def comparison_month(data: CompanyData) -> dt.date | None:
    """The month :data:`LOOKBACK_MONTHS` before the latest, or the earliest one when the books
    are shorter (None with a single month)."""
    months = sorted(set(data.kpis["month"].to_list()))
    if len(months) < 2:
        return None
    latest = months[-1]
    back = latest.month - 1 - LOOKBACK_MONTHS
    target = dt.date(latest.year + back // 12, back % 12 + 1, 1)
    return target if target in months else months[0]


def _kpi_input(row: dict[str, Any], name: str) -> float | None:
    value = json.loads(row["inputs"] or "{}").get(name)
    return None if value is None else float(value)


def fact_kpi_change(data: CompanyData, kpi: str) -> Fact | None:
    """``kpi`` now (latest month) and at the comparison month, both with values."""
    before_month = comparison_month(data)
    now = kpi_row(data, kpi, data.month)
    before = kpi_row(data, kpi, before_month)
    if now is None or before is None:
        return None
    month_number = Number(
        "since",
        before_month.isoformat(),  # type: ignore[union-attr]
        "month",
        read(KPIS.qualified_name, {k: before[k] for k in ("company_id", "month", "kpi")}, "month"),
    )
    attrs = {
        "kpi": kpi,
        "delta": float(now["value"]) - float(before["value"]),
        "revenue_ttm": _kpi_input(kpi_row(data, "gross_margin", data.month) or now, "revenue_ttm"),
        "accounts_receivable": _balance(data, "accounts_receivable"),
    }
    return Fact(
        "kpi_change",
        kpi,
        (_kpi_number(data, "before", before), _kpi_number(data, "now", now), month_number),
        (
            {
                "table": KPIS.qualified_name,
                "ids": {"kpi": kpi, "months": [str(before_month), str(data.month)]},
            },
        ),
        attrs,
    )


def _balance(data: CompanyData, column: str) -> int | None:
    rows = data.balance.filter(pl.col("month") == data.month)
    return int(rows.item(0, column)) if rows.height else None


# --- receivables -------------------------------------------------------------------------------


def _home(amount: int, currency: str | None, fx_rate: Decimal | None, home: str | None) -> int:
    # Same rule as the recipe column home_amount_due, half away from zero.
    if currency == home or fx_rate is None:
        return int(amount)
    return int((Decimal(int(amount)) * Decimal(fx_rate)).quantize(Decimal(1), ROUND_HALF_UP))


def as_of_date(data: CompanyData) -> dt.date | None:
    """The books' date: the latest issue date of a live book-of-record document."""
    live = data.documents.filter(pl.col("book_of_record") & ~pl.col("status").is_in(DEAD_STATUSES))
    value = live["issue_date"].max()
    return value  # type: ignore[return-value]


def overdue_where(company_id: str, as_of: dt.date) -> dict[str, Any]:
    """The filter of overdue receivables (open invoices due before the books' date)."""
    return {
        "company_id": company_id,
        "doc_type": "invoice",
        "status": list(OPEN_STATUSES),
        "book_of_record": True,
        "amount_due": {"gt": 0},
        "due_date": {"lt": as_of},
    }


def overdue_invoices(data: CompanyData, as_of: dt.date) -> pl.DataFrame:
    """Overdue invoices with their open balance in home currency (``home_due``)."""
    c = pl.col
    rows = data.documents.filter(
        (c("doc_type") == "invoice")
        & c("status").is_in(OPEN_STATUSES)
        & c("book_of_record")
        & (c("amount_due") > 0)
        & (c("due_date") < as_of)
    )
    home = [
        _home(a, cur, fx, data.currency)
        for a, cur, fx in zip(rows["amount_due"], rows["currency"], rows["fx_rate"], strict=True)
    ]
    return rows.with_columns(home_due=pl.Series(home, dtype=pl.Int64))


def fact_overdue(data: CompanyData) -> Fact | None:
    """Overdue receivables: the total, the top customers with their amounts and share, and
    the oldest invoices (number, due date, open amount)."""
    as_of = as_of_date(data)
    if as_of is None:
        return None
    overdue = overdue_invoices(data, as_of)
    if overdue.height == 0:
        return None
    cid, ccy, docs = data.company_id, data.currency, DOCUMENTS.qualified_name
    where = overdue_where(cid, as_of)
    ids = overdue["document_id"].to_list()
    numbers = [
        Number(
            "as_of",
            as_of.isoformat(),
            "date",
            read(
                docs,
                {
                    "company_id": cid,
                    "book_of_record": True,
                    "status": {"not_in": list(DEAD_STATUSES)},
                },
                "issue_date",
                "max",
            ),
        ),
        Number(
            "total",
            int(overdue["home_due"].sum()),
            "money",
            read(docs, where, HOME_AMOUNT_DUE, "sum", ids=("document_id", ids), home_currency=ccy),
            ccy,
        ),
    ]
    by_customer = (
        overdue.filter(pl.col("contact_id").is_not_null())
        .group_by("provider", "contact_id")
        .agg(pl.col("home_due").sum(), pl.col("document_id"))
        .join(data.contacts.select("provider", "contact_id", "name"), on=["provider", "contact_id"])
        .sort(["home_due", "contact_id"], descending=[True, False])
        .head(TOP_CUSTOMERS)
    )
    top_ids: list[str] = []
    for i, row in enumerate(by_customer.iter_rows(named=True), start=1):
        key = {"company_id": cid, "provider": row["provider"], "contact_id": row["contact_id"]}
        numbers.append(
            Number(f"customer_{i}", row["name"], "text", read(CONTACTS.qualified_name, key, "name"))
        )
        numbers.append(
            Number(
                f"customer_{i}_amount",
                int(row["home_due"]),
                "money",
                read(
                    docs,
                    {**where, "provider": row["provider"], "contact_id": row["contact_id"]},
                    HOME_AMOUNT_DUE,
                    "sum",
                    ids=("document_id", row["document_id"]),
                    home_currency=ccy,
                ),
                ccy,
            )
        )
        top_ids.append(row["contact_id"])
    if top_ids:
        top_sum = int(by_customer["home_due"].sum())
        numbers.append(
            Number(
                "top_share",
                top_sum / int(overdue["home_due"].sum()),
                "percent",
                op(
                    "div",
                    read(
                        docs,
                        {**where, "contact_id": top_ids},
                        HOME_AMOUNT_DUE,
                        "sum",
                        home_currency=ccy,
                    ),
                    read(docs, where, HOME_AMOUNT_DUE, "sum", home_currency=ccy),
                ),
            )
        )
    oldest = overdue.sort(["due_date", "document_id"]).head(OLDEST_INVOICES)
    for i, row in enumerate(oldest.iter_rows(named=True), start=1):
        key = {"company_id": cid, "provider": row["provider"], "document_id": row["document_id"]}
        label_column = "number" if row["number"] else "document_id"
        numbers += [
            Number(f"invoice_{i}", row[label_column], "text", read(docs, key, label_column)),
            Number(
                f"invoice_{i}_due", row["due_date"].isoformat(), "date", read(docs, key, "due_date")
            ),
            Number(
                f"invoice_{i}_amount",
                int(row["home_due"]),
                "money",
                read(docs, key, HOME_AMOUNT_DUE, home_currency=ccy),
                ccy,
            ),
        ]
    return Fact(
        "overdue_receivables",
        "receivables",
        tuple(numbers),
        ({"table": docs, "ids": {"document_id": sorted(ids)}},),
        {
            "customers": len(top_ids),
            "invoices": len(oldest),
            "top_amount": int(by_customer["home_due"].sum()) if top_ids else 0,
        },
    )


# --- health, runway ------------------------------------------------------------------------------


def fact_health(data: CompanyData) -> Fact | None:
    """The latest composite score, its change, the biggest mover and Altman Z″ with zone."""
    latest = data.scores.filter(pl.col("month") == data.month)
    if latest.height == 0 or latest.item(0, "composite") is None:
        return None
    row = latest.row(0, named=True)
    cid, table = data.company_id, HEALTH_SCORES.qualified_name
    key = {"company_id": cid, "month": row["month"]}
    numbers = [Number("composite", row["composite"], "points", read(table, key, "composite"))]
    if row["composite_change"] is not None:
        numbers.append(
            Number(
                "change",
                abs(row["composite_change"]),
                "points",
                op("abs", read(table, key, "composite_change")),
            )
        )
    mover = row["biggest_mover"]
    parts = data.components.filter(
        (pl.col("month") == data.month)
        & (pl.col("score") == "composite")
        & (pl.col("component") == mover)
    )
    if mover and parts.height and parts.item(0, "change") is not None:
        numbers.append(Number("mover", mover, "text", read(table, key, "biggest_mover")))
        numbers.append(
            Number(
                "mover_change",
                parts.item(0, "change"),
                "points",
                read(
                    HEALTH_COMPONENTS.qualified_name,
                    {**key, "score": "composite", "component": mover},
                    "change",
                ),
            )
        )
    if row["altman_z"] is not None:
        numbers.append(Number("altman_z", row["altman_z"], "ratio", read(table, key, "altman_z")))
        numbers.append(Number("zone", row["altman_zone"], "text", read(table, key, "altman_zone")))
    revenue = data.income.sort("month").tail(12)["revenue"].sum()
    return Fact(
        "health",
        "composite",
        tuple(numbers),
        ({"table": table, "ids": {"month": str(data.month)}},),
        {
            "composite_change": row["composite_change"],
            "zone": row["altman_zone"],
            "monthly_revenue": int(revenue) // max(1, min(12, data.income.height)),
        },
    )


def fact_runway(data: CompanyData) -> Fact | None:
    """Runway in months at the current burn, with the burn and the cash it divides."""
    runway = kpi_row(data, "runway_months", data.month)
    burn = kpi_row(data, "burn", data.month)
    cash = _balance(data, "cash")
    if runway is None or burn is None or cash is None:
        return None
    where = {"company_id": data.company_id, "month": data.month}
    return Fact(
        "runway",
        "runway_months",
        (
            _kpi_number(data, "runway", runway),
            _kpi_number(data, "burn", burn),
            Number(
                "cash",
                cash,
                "money",
                read(BALANCE_SHEET.qualified_name, where, "cash"),
                data.currency,
            ),
        ),
        (
            {
                "table": KPIS.qualified_name,
                "ids": {"kpi": ["runway_months", "burn"], "month": str(data.month)},
            },
        ),
        {"runway": float(runway["value"]), "burn": int(burn["amount"])},
    )


# --- optional sources: forecast warnings, anomaly flags, peer benchmarks ----------------------


def fact_cash_warning(data: CompanyData) -> Fact | None:
    """The most severe forecast warning that cash may go (or is) below zero."""
    rows = data.warnings.filter(pl.col("kind").is_in(["balance_may_cross_zero", "cash_negative"]))
    if rows.height == 0:
        return None
    row = rows.sort(
        [pl.col("severity") != "critical", pl.col("period"), pl.col("warning_id")],
        nulls_last=True,
    ).row(0, named=True)
    table = CASH_WARNINGS.qualified_name
    key = {"company_id": data.company_id, "warning_id": row["warning_id"]}
    ccy = row["currency"] or data.currency
    numbers = [
        Number(
            "cash_balance", int(row["cash_balance"]), "money", read(table, key, "cash_balance"), ccy
        )
    ]
    if row["as_of"] is not None:
        numbers.append(Number("as_of", row["as_of"].isoformat(), "date", read(table, key, "as_of")))
    crossing = row["kind"] == "balance_may_cross_zero" and row["period"] is not None
    for name, unit in (("period", "date"), ("lower_balance", "money"), ("band", "count")):
        value = row[name] if crossing else None  # book cash below zero needs no forecast
        if value is not None:
            value = value.isoformat() if unit == "date" else int(value)
            numbers.append(Number(name, value, unit, read(table, key, name), ccy))
    return Fact(
        "cash_warning",
        row["warning_id"],
        tuple(numbers),
        ({"table": table, "ids": {"warning_id": row["warning_id"]}},),
        {
            "kind": row["kind"],
            "severity": row["severity"],
            "expected_balance": row["expected_balance"],
            "lower_balance": row["lower_balance"],
            "cash_balance": int(row["cash_balance"]),
            "band": row["band"],
        },
    )


def _flag_contact(data: CompanyData, provider: str, document_id: str) -> str | None:
    """The name of the contact of the flagged document (None when it has none)."""
    doc = data.documents.filter(
        (pl.col("provider") == provider) & (pl.col("document_id") == document_id)
    )
    if doc.height == 0 or doc.item(0, "contact_id") is None:
        return None
    names = data.contacts.filter(
        (pl.col("provider") == provider) & (pl.col("contact_id") == doc.item(0, "contact_id"))
    )
    return names.item(0, "name") if names.height and names.item(0, "name") else None


def fact_anomalies(data: CompanyData) -> Fact | None:
    """The top flagged transactions (score >= :data:`MIN_FLAG_SCORE`) with their amounts, each
    named the way a person finds it in the books: document type, number (when the document
    has one), date and contact (read through the flagged document), never a bare provider
    id unless there is nothing else."""
    top = (
        data.flags.filter(pl.col("score") >= MIN_FLAG_SCORE)
        .sort(["score", "amount", "flag_id"], descending=[True, True, False])
        .head(TOP_FLAGS)
    )
    if top.height == 0:
        return None
    table, cid = ANOMALY_FLAGS.qualified_name, data.company_id
    ids = top["flag_id"].to_list()
    numbers = [
        Number(
            "total",
            int(top["amount"].sum()),
            "money",
            read(table, {"company_id": cid, "flag_id": ids}, "amount", "sum", ids=("flag_id", ids)),
            data.currency,
        )
    ]
    documents = []
    for i, row in enumerate(top.iter_rows(named=True), start=1):
        key = {"company_id": cid, "flag_id": row["flag_id"]}
        numbers += [
            Number(f"flag_{i}_type", row["type"], "text", read(table, key, "type")),
            Number(f"flag_{i}_doc_type", row["doc_type"], "text", read(table, key, "doc_type")),
        ]
        if row["document_number"]:
            numbers.append(
                Number(
                    f"flag_{i}_number",
                    row["document_number"],
                    "text",
                    read(table, key, "document_number"),
                )
            )
        if row["issue_date"] is not None:
            numbers.append(
                Number(
                    f"flag_{i}_date",
                    row["issue_date"].isoformat(),
                    "date",
                    read(table, key, "issue_date"),
                )
            )
        if not row["document_number"] and row["issue_date"] is None:
            # Nothing a person would recognise: the provider's id is still better than nothing.
            numbers.append(
                Number(
                    f"flag_{i}_document",
                    row["document_id"],
                    "text",
                    read(table, key, "document_id"),
                )
            )
        contact = _flag_contact(data, row["provider"], row["document_id"])
        if contact is not None:
            # Flag -> its document -> the document's contact, each step a lookup the checker
            # repeats (the recipe does not take the generator's word for the contact id).
            document_key = {
                "company_id": cid,
                "provider": row["provider"],
                "document_id": {"of": read(table, key, "document_id")},
            }
            contact_key = {
                "company_id": cid,
                "provider": row["provider"],
                "contact_id": {"of": read(DOCUMENTS.qualified_name, document_key, "contact_id")},
            }
            numbers.append(
                Number(
                    f"flag_{i}_contact",
                    contact,
                    "text",
                    read(CONTACTS.qualified_name, contact_key, "name"),
                )
            )
            documents.append(row["document_id"])
        numbers += [
            Number(
                f"flag_{i}_amount",
                int(row["amount"]),
                "money",
                read(table, key, "amount"),
                row["currency"],
            ),
            Number(f"flag_{i}_score", float(row["score"]), "score", read(table, key, "score")),
        ]
    rows: list[dict[str, Any]] = [{"table": table, "ids": {"flag_id": sorted(ids)}}]
    if documents:
        rows.append({"table": DOCUMENTS.qualified_name, "ids": {"document_id": sorted(documents)}})
    return Fact(
        "anomalies",
        "flags",
        tuple(numbers),
        tuple(rows),
        {"amounts": top["amount"].to_list(), "scores": top["score"].to_list()},
    )


# --- revenue growth and customer concentration --------------------------------------------------


def shift_month(month: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after (negative: before) ``month``."""
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def fact_revenue_growth(data: CompanyData) -> Fact | None:
    """Revenue (``analytics.income_statement``) of the last :data:`GROWTH_WINDOW_MONTHS`
    months against the same number of months before; with shorter books the window is half
    the unbroken run of months ending at the latest (one month against one with two months
    of books). None when the earlier window's revenue is not positive: growth on nothing or
    on a loss of revenue says nothing a person can act on."""
    if data.month is None:
        return None
    revenue = {
        m: int(r) for m, r in data.income.select("month", "revenue").iter_rows() if r is not None
    }
    run = 0
    while shift_month(data.month, -run) in revenue:
        run += 1
    window = min(GROWTH_WINDOW_MONTHS, run // 2)
    if window == 0:
        return None
    recent = [shift_month(data.month, i - window + 1) for i in range(window)]
    prior = [shift_month(m, -window) for m in recent]
    now, before = sum(revenue[m] for m in recent), sum(revenue[m] for m in prior)
    if before <= 0:
        return None
    cid, ccy, table = data.company_id, data.currency, INCOME_STATEMENT.qualified_name

    def total(months: list[dt.date]) -> Recipe:
        iso = [m.isoformat() for m in months]
        return read(table, {"company_id": cid, "month": iso}, "revenue", "sum", ids=("month", iso))

    def month(key: str, value: dt.date) -> Number:
        where = {"company_id": cid, "month": value}
        return Number(key, value.isoformat(), "month", read(table, where, "month"))

    growth = (now - before) / abs(before)
    numbers = [
        Number("now", now, "money", total(recent), ccy),
        Number("before", before, "money", total(prior), ccy),
        Number(
            "change",
            abs(growth),
            "percent",
            op("abs", op("div", op("sub", total(recent), total(prior)), op("abs", total(prior)))),
        ),
        month("to", recent[-1]),
        month("before_to", prior[-1]),
    ]
    if window > 1:
        numbers += [month("from", recent[0]), month("before_from", prior[0])]
    margin = kpi_row(data, "gross_margin", data.month)
    return Fact(
        "revenue_growth",
        "revenue",
        tuple(numbers),
        (
            {
                "table": table,
                "ids": {"month": [m.isoformat() for m in (*prior, *recent)]},
            },
        ),
        {
            "window": window,
            "growth": growth,
            "difference": now - before,
            "gross_margin": float(margin["value"]) if margin else None,
        },
    )


def sales_where(company_id: str, doc_types: tuple[str, ...], month: dt.date) -> dict[str, Any]:
    """The filter of the live book-of-record sales documents of ``doc_types`` issued in the
    :data:`SALES_WINDOW_MONTHS` months ending with ``month`` (the KPI's rule)."""
    return {
        "company_id": company_id,
        "doc_type": list(doc_types),
        "status": {"not_in": list(DEAD_STATUSES)},
        "book_of_record": True,
        "issue_date": {
            "ge": shift_month(month, 1 - SALES_WINDOW_MONTHS),
            "lt": shift_month(month, 1),
        },
    }


def sales_documents(data: CompanyData) -> pl.DataFrame:
    """The company's sales documents of the window (:func:`sales_where`) with ``sales``: the
    gross in home currency (``home_total``, else ``total``), negative for credits."""
    c = pl.col
    assert data.month is not None
    start, end = shift_month(data.month, 1 - SALES_WINDOW_MONTHS), shift_month(data.month, 1)
    credit = c("doc_type").is_in(SALES_CREDIT_TYPES)
    return data.documents.filter(
        c("doc_type").is_in([*SALES_DOC_TYPES, *SALES_CREDIT_TYPES])
        & ~c("status").is_in(DEAD_STATUSES)
        & c("book_of_record")
        & (c("issue_date") >= start)
        & (c("issue_date") < end)
    ).with_columns(
        credit=credit,
        sales=pl.coalesce("home_total", "total").cast(pl.Int64)
        * pl.when(credit).then(-1).otherwise(1),
    )


def fact_concentration(data: CompanyData) -> Fact | None:
    """Sales of the largest customers over the trailing twelve months: the top customer's
    and the top three's share of all sales (invoices and sales receipts less credit notes and
    refunds, as the ``top_customer_share`` KPIs count them), each customer named with its
    sales and the documents behind them."""
    if data.month is None:
        return None
    docs = sales_documents(data)
    total = int(docs["sales"].sum() or 0)
    if total <= 0:
        return None
    c = pl.col
    top = (
        docs.filter(c("contact_id").is_not_null())
        .group_by("provider", "contact_id")
        .agg(
            c("sales").sum(),
            c("document_id").filter(~c("credit")).alias("sale_ids"),
            c("document_id").filter(c("credit")).alias("credit_ids"),
        )
        .join(data.contacts.select("provider", "contact_id", "name"), on=["provider", "contact_id"])
        .filter((c("sales") > 0) & c("name").is_not_null())
        .sort(["sales", "provider", "contact_id"], descending=[True, False, False])
        .head(TOP_CUSTOMERS)
    )
    if top.height == 0:
        return None
    cid, ccy, docs_table = data.company_id, data.currency, DOCUMENTS.qualified_name
    sales, credits = (
        sales_where(cid, SALES_DOC_TYPES, data.month),
        sales_where(cid, SALES_CREDIT_TYPES, data.month),
    )
    total_recipe = op(
        "sub",
        read(docs_table, sales, HOME_GROSS, "sum"),
        read(docs_table, credits, HOME_GROSS, "sum"),
    )
    numbers = [
        Number(
            "to",
            data.month.isoformat(),
            "month",
            read(
                INCOME_STATEMENT.qualified_name, {"company_id": cid, "month": data.month}, "month"
            ),
        ),
        Number("total", total, "money", total_recipe, ccy),
    ]
    customer_recipes, cited = [], []
    for i, row in enumerate(top.iter_rows(named=True), start=1):
        who = {"provider": row["provider"], "contact_id": row["contact_id"]}
        recipe = op(
            "sub",
            read(
                docs_table,
                {**sales, **who},
                HOME_GROSS,
                "sum",
                ids=("document_id", row["sale_ids"]),
            ),
            read(
                docs_table,
                {**credits, **who},
                HOME_GROSS,
                "sum",
                ids=("document_id", row["credit_ids"]),
            ),
        )
        customer_recipes.append(recipe)
        cited += [*row["sale_ids"], *row["credit_ids"]]
        numbers += [
            Number(
                f"customer_{i}",
                row["name"],
                "text",
                read(CONTACTS.qualified_name, {"company_id": cid, **who}, "name"),
            ),
            Number(f"customer_{i}_sales", int(row["sales"]), "money", recipe, ccy),
        ]
    top_sales = int(top.item(0, "sales"))
    numbers.append(
        Number(
            "top_share", top_sales / total, "percent", op("div", customer_recipes[0], total_recipe)
        )
    )
    if top.height > 1:
        numbers.append(
            Number(
                "top3_share",
                int(top["sales"].sum()) / total,
                "percent",
                op("div", op("add", *customer_recipes), total_recipe),
            )
        )
    margin = kpi_row(data, "gross_margin", data.month)
    return Fact(
        "concentration",
        "customers",
        tuple(numbers),
        ({"table": docs_table, "ids": {"document_id": sorted(cited)}},),
        {
            "customers": top.height,
            "top_share": top_sales / total,
            "top3_share": int(top["sales"].sum()) / total,
            "top_sales": top_sales,
            "gross_margin": float(margin["value"]) if margin else None,
        },
    )


# KPIs a bottom-quartile position of which is worth an insight: the ones the peer groups and
# the reference table rank that have a money lever (margins, collection, liquidity, leverage).
PEER_KPIS = ("gross_margin", "net_margin", "dso", "current_ratio", "quick_ratio", "equity_ratio")
BOTTOM_QUARTILE = 25.0


def fact_peer_positions(data: CompanyData) -> list[Fact]:
    """KPIs (of :data:`PEER_KPIS`) in the bottom quartile of the peer group in the latest
    benchmarked month (peer groups first, the reference table when there is no group)."""
    if data.peers.height == 0:
        return []
    month = data.peers["month"].max()
    rows = data.peers.filter(
        (pl.col("month") == month)
        & pl.col("kpi").is_in(PEER_KPIS)
        & pl.col("source").is_in(["peers", "reference"])
        & pl.col("value").is_not_null()
    ).sort(["kpi", pl.col("source") != "peers", "group_id"])
    out = []
    table = PEER_BENCHMARKS.qualified_name
    for row in rows.unique("kpi", keep="first", maintain_order=True).iter_rows(named=True):
        if row["percentile"] > BOTTOM_QUARTILE or row["group_median"] is None:
            continue
        unit = kpi_unit(row["kpi"], "days" if row["kpi"] == "dso" else "ratio")
        key = {k: row[k] for k in ("company_id", "month", "kpi", "group_id")}
        revenue = kpi_row(data, "gross_margin", data.month)
        out.append(
            Fact(
                "peer_position",
                row["kpi"],
                (
                    Number("value", row["value"], unit, read(table, key, "value")),
                    Number(
                        "percentile",
                        row["percentile"],
                        "percentile",
                        read(table, key, "percentile"),
                    ),
                    Number("median", row["group_median"], unit, read(table, key, "group_median")),
                ),
                ({"table": table, "ids": {k: str(v) for k, v in key.items()}},),
                {
                    "kpi": row["kpi"],
                    "source": row["source"],
                    "revenue_ttm": _kpi_input(revenue, "revenue_ttm") if revenue else None,
                    "current_liabilities": _balance(data, "current_liabilities"),
                    "total_assets": _balance(data, "total_assets"),
                },
            )
        )
    return out
