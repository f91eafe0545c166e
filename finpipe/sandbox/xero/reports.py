"""Xero's reports in the sandbox: ``GET /api.xro/2.0/Reports/TrialBalance``.

The figures come from the world's true books (``journal_lines`` of the company's Xero
documents that exist at the sandbox clock), not from the rendered records, so the report is
the provider's own figure and independent of any expansion code that reads the records.

Shape (Xero's): ``Reports[0]`` with ``ReportID``/``ReportType`` ``TrialBalance``,
``ReportName`` "Trial Balance", ``ReportTitles`` [name, organisation, "As at 31 October
2026"], ``ReportDate``, ``UpdatedDateUTC``, ``Fields`` and ``Rows``: a ``Header`` row
(Account, Debit, Credit, YTD Debit, YTD Credit), one ``Section`` per class (Revenue,
Expenses, Assets, Liabilities, Equity) whose ``Row`` cells carry the account id as
``Attributes`` ``[{"Value": <AccountID>, "Id": "account"}]``, and a last untitled section
with the ``SummaryRow`` "Total".

Columns: Debit/Credit are the net movement of the month ``date`` falls in (from its first
day through ``date``); YTD Debit/YTD Credit the balance at ``date``: since inception for
balance-sheet accounts, since the start of the financial year for revenue and expense
accounts, whose earlier years are closed into the RETAINEDEARNINGS system account. A net
amount sits in one column (debit when positive) and the other is empty; a zero shows as
``0.00`` on the account's natural side. Accounts with neither movement nor balance are
left out, as Xero does. ``paymentsOnly=true`` (cash basis) is not simulated: 400.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from finpipe.sandbox.world import World
from finpipe.sandbox.xero.store import ms_date

SECTIONS = (
    ("Revenue", ("REVENUE",)),
    ("Expenses", ("EXPENSE",)),
    ("Assets", ("ASSET",)),
    ("Liabilities", ("LIABILITY",)),
    ("Equity", ("EQUITY",)),
)
PROFIT_AND_LOSS = ("REVENUE", "EXPENSE")
CREDIT_NATURED = ("REVENUE", "LIABILITY", "EQUITY")
CENT = Decimal("0.01")


class ReportRequestError(ValueError):
    """A report query Xero would refuse (the message is Xero's validation text)."""


def _money(minor: int) -> str:
    return str((Decimal(int(minor)) / 100).quantize(CENT))


def parse_report_date(value: str | None, today: dt.date) -> dt.date:
    """The ``date`` query parameter (``YYYY-MM-DD``); today at the sandbox clock when absent."""
    if not value:
        return today
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ReportRequestError(f"date {value!r} is not a date (use YYYY-MM-DD)") from None


def fiscal_year_start(day: dt.date, start_month: int) -> dt.date:
    """First day of the financial year ``day`` falls in."""
    year = day.year if day.month >= start_month else day.year - 1
    return dt.date(year, start_month, 1)


def trial_balance_figures(
    world: World, company: dict[str, Any], as_of: dt.date, now: dt.datetime
) -> pl.DataFrame:
    """Per account of the company's Xero chart: ``month`` (movement in the month of
    ``as_of`` through ``as_of``) and ``ytd`` (balance at ``as_of``), home minor units, debit
    positive; joined with the account's code, name and class. Only documents created by
    ``now`` (the sandbox clock) count."""
    cid = company["company_id"]
    accounts = (
        world.table("accounts")
        .filter((pl.col("company_id") == cid) & (pl.col("provider") == "xero"))
        .select(
            "account_id",
            "code",
            "name",
            "account_subtype",
            pl.col("classification").str.to_uppercase().alias("class"),
        )
        .collect()
    )
    visible = (
        world.table("documents")
        .filter(
            (pl.col("company_id") == cid)
            & (pl.col("provider") == "xero")
            & (pl.col("created_at") <= now)
        )
        .select("document_id")
        .collect()
    )
    lines = (
        world.table("journal_lines")
        .filter(
            (pl.col("company_id") == cid)
            & (pl.col("provider") == "xero")
            & (pl.col("date") <= as_of)
        )
        .select("document_id", "date", "account_id", "amount")
        .collect()
    )
    # Entries without a document (month-end revaluations) exist once their date has passed.
    lines = lines.filter(
        pl.col("document_id").is_null()
        | pl.col("document_id").is_in(visible["document_id"].implode())
    )
    fy_start = fiscal_year_start(as_of, int(company.get("fiscal_year_start_month") or 1))
    month_start = as_of.replace(day=1)
    retained = accounts.filter(pl.col("account_subtype") == "RETAINEDEARNINGS")["account_id"]
    retained_id = retained[0] if len(retained) else None
    lines = lines.join(accounts.select("account_id", "class"), on="account_id", how="left")
    closed = pl.col("class").is_in(PROFIT_AND_LOSS) & (pl.col("date") < fy_start)
    # Earlier years' profit and loss is closed into retained earnings.
    ytd_account = (
        pl.when(closed & pl.lit(retained_id is not None))
        .then(pl.lit(retained_id, pl.String))
        .otherwise(pl.col("account_id"))
    )
    ytd = lines.group_by(ytd_account.alias("account_id")).agg(pl.col("amount").sum().alias("ytd"))
    month = (
        lines.filter(pl.col("date") >= month_start)
        .group_by("account_id")
        .agg(pl.col("amount").sum().alias("month"))
    )
    return (
        accounts.join(ytd, on="account_id", how="left")
        .join(month, on="account_id", how="left")
        .with_columns(pl.col("ytd").fill_null(0), pl.col("month").fill_null(0))
        .filter((pl.col("ytd") != 0) | (pl.col("month") != 0))
        .sort("name", "account_id")
    )


def _pair(amount: int, credit_natured: bool) -> tuple[str, str]:
    """(debit cell, credit cell) of a net amount, as Xero shows it."""
    if amount > 0:
        return _money(amount), ""
    if amount < 0:
        return "", _money(-amount)
    return ("", "0.00") if credit_natured else ("0.00", "")


def trial_balance_report(
    world: World,
    company: dict[str, Any],
    as_of: dt.date,
    now: dt.datetime,
) -> dict[str, Any]:
    """The ``Reports[0]`` object of Xero's TrialBalance for ``company`` at ``as_of``."""
    figures = trial_balance_figures(world, company, as_of, now)
    rows: list[dict[str, Any]] = [
        {
            "RowType": "Header",
            "Cells": [
                {"Value": "Account"},
                {"Value": "Debit"},
                {"Value": "Credit"},
                {"Value": "YTD Debit"},
                {"Value": "YTD Credit"},
            ],
        }
    ]
    totals = [0, 0, 0, 0]
    for title, classes in SECTIONS:
        section = figures.filter(pl.col("class").is_in(classes))
        section_rows = []
        for acc in section.iter_rows(named=True):
            credit_natured = acc["class"] in CREDIT_NATURED
            cells = [*_pair(acc["month"], credit_natured), *_pair(acc["ytd"], credit_natured)]
            for i, amount in enumerate((acc["month"], acc["ytd"])):
                totals[2 * i] += max(amount, 0)
                totals[2 * i + 1] += max(-amount, 0)
            label = f"{acc['name']} ({acc['code']})" if acc["code"] else acc["name"]
            attributes = [{"Value": acc["account_id"], "Id": "account"}]
            section_rows.append(
                {
                    "RowType": "Row",
                    "Cells": [
                        {"Value": value, "Attributes": attributes} for value in (label, *cells)
                    ],
                }
            )
        rows.append({"RowType": "Section", "Title": title, "Rows": section_rows})
    rows.append(
        {
            "RowType": "Section",
            "Title": "",
            "Rows": [
                {
                    "RowType": "SummaryRow",
                    "Cells": [{"Value": "Total"}, *({"Value": _money(t)} for t in totals)],
                }
            ],
        }
    )
    as_at = f"As at {as_of.day} {as_of:%B %Y}"
    return {
        "ReportID": "TrialBalance",
        "ReportName": "Trial Balance",
        "ReportType": "TrialBalance",
        "ReportTitles": ["Trial Balance", company["name"], as_at],
        "ReportDate": f"{now.day} {now:%B %Y}",
        "UpdatedDateUTC": ms_date(now),
        "Fields": [],
        "Rows": rows,
    }
