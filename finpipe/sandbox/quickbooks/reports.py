"""QBO's reports in the sandbox: ``GET /v3/company/{realmId}/reports/TrialBalance``.

The figures come from the world's true books (``journal_lines`` of the company's QuickBooks
documents that exist at the sandbox clock, dated through ``EndPeriod``), not from the
rendered records, so the report is the provider's own figure, independent of any expansion
code that reads the records. Month-end revaluations of foreign bank balances
(world entries without a document) have no QBO transaction and are left out. Purchases and
deposits created through the sandbox API (finpipe's write-back, the webhook benchmark) are
posted from their current payloads the way QBO posts them (:func:`api_postings`); other
transaction types created through the API are not in the report (the sandbox has no
posting rules for them), and API edits of world documents are not reflected.

Shape (QBO's, as recorded from the API): ``Header`` (``Time``, ``ReportName``
"TrialBalance", ``DateMacro`` when one was asked for, ``ReportBasis``, ``StartPeriod``,
``EndPeriod``, ``SummarizeColumnsBy`` "Total", ``Currency``, ``Option`` with
``NoReportData``), ``Columns`` (Account, Debit, Credit) and ``Rows.Row``: one data row per
account with a balance, ``ColData`` ``[{"value": name, "id": account id}, {"value":
debit}, {"value": credit}]`` (a net balance sits in one column, the other is ""), then the
``GrandTotal`` section with the ``Summary`` "TOTAL" row.

Balances at ``EndPeriod``: balance-sheet accounts since inception; income and expense
accounts since the start of the fiscal year ``EndPeriod`` falls in (CompanyInfo's
``FiscalYearStartMonth``), earlier years closed into the Retained Earnings account, as
QBO's trial balance shows them. ``start_date`` only names the period (``StartPeriod``).

Query parameters: ``start_date`` / ``end_date`` (``YYYY-MM-DD``) or ``date_macro`` (Today,
Yesterday, This Week, This Week-to-date, Last Week, This Month, This Month-to-date, Last
Month, Last Month-to-date, This Calendar Quarter, This Calendar Quarter-to-date, Last
Calendar Quarter, This Calendar Year, This Calendar Year-to-date, Last Calendar Year, This
Fiscal Year, This Fiscal Year-to-date, Last Fiscal Year; case-insensitive); with none of
them QBO's default, This Month-to-date. ``accounting_method`` Accrual (default); Cash is
not simulated and answers a 400 ValidationFault.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from finpipe.sandbox.quickbooks.errors import QboFault

CENT = Decimal("0.01")
PROFIT_AND_LOSS = ("Revenue", "Expense")
# QBO lists trial-balance rows in chart order: by account type, then name.
TYPE_ORDER = (
    "Bank",
    "Accounts Receivable",
    "Other Current Asset",
    "Fixed Asset",
    "Other Asset",
    "Accounts Payable",
    "Credit Card",
    "Other Current Liability",
    "Long Term Liability",
    "Equity",
    "Income",
    "Cost of Goods Sold",
    "Expense",
    "Other Income",
    "Other Expense",
)


def report_fault(detail: str, element: str) -> QboFault:
    """QBO's answer to a report parameter it cannot use (400 ValidationFault)."""
    return QboFault("Invalid Report Parameter", detail, "2010", element=element)


def _money(minor: int) -> str:
    return str((Decimal(int(minor)) / 100).quantize(CENT))


def _day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise report_fault(f"{name} {value!r} is not a date (yyyy-MM-dd)", name) from None


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_end(day: dt.date) -> dt.date:
    return _month_start(day, -1) - dt.timedelta(days=1)


def fiscal_year_start(day: dt.date, first_month: int) -> dt.date:
    """First day of the fiscal year ``day`` falls in."""
    year = day.year if day.month >= first_month else day.year - 1
    return dt.date(year, first_month, 1)


def macro_range(macro: str, today: dt.date, first_month: int) -> tuple[dt.date, dt.date]:
    """(start, end) of a QBO ``date_macro`` relative to ``today`` (the realm's local date)."""
    key = macro.strip().lower()
    week = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # QBO weeks start Sunday
    quarter = _month_start(today, (today.month - 1) % 3)
    fiscal = fiscal_year_start(today, first_month)
    year = dt.date(today.year, 1, 1)
    ranges = {
        "today": (today, today),
        "yesterday": (today - dt.timedelta(days=1),) * 2,
        "this week": (week, week + dt.timedelta(days=6)),
        "this week-to-date": (week, today),
        "last week": (week - dt.timedelta(days=7), week - dt.timedelta(days=1)),
        "this month": (_month_start(today), _month_end(today)),
        "this month-to-date": (_month_start(today), today),
        "last month": (_month_start(today, 1), _month_start(today) - dt.timedelta(days=1)),
        "last month-to-date": (
            _month_start(today, 1),
            min(
                _month_start(today, 1) + dt.timedelta(days=today.day - 1),
                _month_start(today) - dt.timedelta(days=1),
            ),
        ),
        "this calendar quarter": (quarter, _month_end(_month_start(quarter, -2))),
        "this calendar quarter-to-date": (quarter, today),
        "last calendar quarter": (_month_start(quarter, 3), quarter - dt.timedelta(days=1)),
        "this calendar year": (year, dt.date(today.year, 12, 31)),
        "this calendar year-to-date": (year, today),
        "last calendar year": (dt.date(today.year - 1, 1, 1), year - dt.timedelta(days=1)),
        "this fiscal year": (fiscal, _month_start(fiscal, -12) - dt.timedelta(days=1)),
        "this fiscal year-to-date": (fiscal, today),
        "last fiscal year": (_month_start(fiscal, 12), fiscal - dt.timedelta(days=1)),
    }
    if key not in ranges:
        raise report_fault(f"date_macro {macro!r} is not a QBO date macro", "date_macro")
    return ranges[key]


def report_period(
    params: Mapping[str, str], today: dt.date, first_month: int
) -> tuple[dt.date, dt.date, str | None]:
    """(start, end, macro) from the query: explicit dates win over ``date_macro``; with
    neither, QBO's default This Month-to-date. 400 when start is after end."""
    start_raw, end_raw = params.get("start_date"), params.get("end_date")
    macro = params.get("date_macro")
    if start_raw or end_raw:
        # One bound only: the other is today (a start alone) or the first of the end's
        # month (an end alone); the balances depend on the end only.
        end = _day(end_raw, "end_date") if end_raw else max(today, _day(start_raw, "start_date"))
        start = _day(start_raw, "start_date") if start_raw else _month_start(end)
        macro = None
    else:
        macro = macro or "This Month-to-date"
        start, end = macro_range(macro, today, first_month)
    if start > end:
        raise report_fault(f"start_date {start} is after end_date {end}", "start_date")
    return start, end, macro


API_POSTED = ("Purchase", "Deposit")


def _minor(value: Any, exponent: int, rate: Any) -> int:
    amount = Decimal(str(value or 0)) * Decimal(str(rate or 1))
    return int((amount * (Decimal(10) ** exponent)).quantize(Decimal(1), ROUND_HALF_UP))


def api_postings(records: Iterable[Any], home_exponent: int) -> pl.DataFrame:
    """Journal lines (``account_id``, ``date``, ``amount`` in home minor units, debit
    positive) of Purchases and Deposits created through the API, as QBO posts them: a
    Purchase debits each account-based line's account and credits its ``AccountRef`` (the
    reverse for a card credit, ``Credit`` true); a Deposit credits each line's account and
    debits ``DepositToAccountRef``. A voided one has zero amounts and posts nothing. Amounts
    are converted at the document's ``ExchangeRate``."""
    rows: list[tuple[str, dt.date, int]] = []
    for stored in records:
        entity, payload = stored.entity, stored.payload
        if entity not in API_POSTED:
            continue
        day = dt.date.fromisoformat(str(payload.get("TxnDate") or "")[:10])
        rate = payload.get("ExchangeRate") or 1
        sign = -1 if entity == "Deposit" else 1
        if entity == "Purchase" and payload.get("Credit"):
            sign = -sign
        detail = "AccountBasedExpenseLineDetail" if entity == "Purchase" else "DepositLineDetail"
        total = 0
        for line in payload.get("Line") or []:
            account = ((line.get(detail) or {}).get("AccountRef") or {}).get("value")
            if not account:
                continue
            minor = _minor(line.get("Amount"), home_exponent, rate)
            rows.append((str(account), day, sign * minor))
            total += minor
        cash = payload.get("AccountRef" if entity == "Purchase" else "DepositToAccountRef") or {}
        if total and cash.get("value"):
            rows.append((str(cash["value"]), day, -sign * total))
    return pl.DataFrame(
        rows, schema={"account_id": pl.String, "date": pl.Date, "amount": pl.Int64}, orient="row"
    )


def trial_balance(
    world: Any,
    company: Mapping[str, Any],
    *,
    now: dt.datetime,
    tz: dt.tzinfo,
    params: Mapping[str, str],
    api_lines: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """The TrialBalance report body of ``company``'s realm at the sandbox clock ``now``;
    ``api_lines`` (:func:`api_postings`) are the postings of API-created transactions."""
    method = (params.get("accounting_method") or "Accrual").strip()
    if method.lower() not in ("accrual", "cash"):
        raise report_fault(
            f"accounting_method {method!r}: use Accrual or Cash", "accounting_method"
        )
    if method.lower() == "cash":
        raise report_fault(
            "accounting_method Cash is not simulated by the sandbox; ask for Accrual",
            "accounting_method",
        )
    first_month = int(company.get("fiscal_year_start_month") or 1)
    local_now = now.astimezone(tz)
    start, end, macro = report_period(params, local_now.date(), first_month)
    cid = company["company_id"]
    visible = (
        world.table("documents")
        .filter(
            (pl.col("company_id") == cid)
            & (pl.col("provider") == "quickbooks")
            & (pl.col("created_at") <= now)
        )
        .select("document_id")
    )
    lines = (
        world.table("journal_lines")
        .filter(
            (pl.col("company_id") == cid)
            & (pl.col("provider") == "quickbooks")
            & (pl.col("date") <= end)
        )
        .join(visible, on="document_id", how="semi")  # drops revaluations (no document)
        .select("account_id", "date", "amount")
    )
    if api_lines is not None and api_lines.height:
        lines = pl.concat(
            [lines, api_lines.lazy().filter(pl.col("date") <= end)], how="vertical_relaxed"
        )
    accounts = (
        world.table("accounts")
        .filter((pl.col("company_id") == cid) & (pl.col("provider") == "quickbooks"))
        .select("account_id", "name", "account_type", "account_subtype", "classification", "active")
        .collect()
    )
    fy_start = fiscal_year_start(end, first_month)
    sums = (
        lines.join(accounts.lazy(), on="account_id", how="left")
        .with_columns(
            (pl.col("classification").is_in(PROFIT_AND_LOSS) & (pl.col("date") < fy_start)).alias(
                "closed"
            )
        )
        .group_by("account_id", "closed")
        .agg(pl.col("amount").sum())
        .collect()
    )
    retained = accounts.filter(pl.col("account_subtype") == "RetainedEarnings")["account_id"]
    closed = int(sums.filter(pl.col("closed"))["amount"].sum())
    balances: dict[str, int] = {}
    for account_id, amount in sums.filter(~pl.col("closed")).select("account_id", "amount").rows():
        balances[account_id] = balances.get(account_id, 0) + int(amount)
    if closed and retained.len():
        balances[retained[0]] = balances.get(retained[0], 0) + closed
    rank = {t: i for i, t in enumerate(TYPE_ORDER)}
    info = {r["account_id"]: r for r in accounts.iter_rows(named=True)}
    rows: list[dict[str, Any]] = []
    debit_total = credit_total = 0

    def order(account_id: str) -> tuple[int, str]:
        acc = info.get(account_id) or {}
        return rank.get(acc.get("account_type") or "", len(rank)), acc.get("name") or ""

    for account_id in sorted(balances, key=order):
        amount = balances[account_id]
        if amount == 0:
            continue  # QBO leaves zero balances out
        acc = info.get(account_id) or {}
        name = acc.get("name") or account_id
        if acc.get("active") is False:
            name = f"{name} (deleted)"  # how QBO names an inactive account
        debit = _money(amount) if amount > 0 else ""
        credit = _money(-amount) if amount < 0 else ""
        debit_total += max(amount, 0)
        credit_total += max(-amount, 0)
        rows.append(
            {"ColData": [{"value": name, "id": account_id}, {"value": debit}, {"value": credit}]}
        )
    if closed and not retained.len():
        # No Retained Earnings account in the chart: QBO still shows the closed years.
        side = [{"value": _money(closed)}, {"value": ""}]
        if closed < 0:
            side.reverse()
            side[1] = {"value": _money(-closed)}
        rows.append({"ColData": [{"value": "Retained Earnings"}, *side]})
        debit_total += max(closed, 0)
        credit_total += max(-closed, 0)
    rows.append(
        {
            "Summary": {
                "ColData": [
                    {"value": "TOTAL"},
                    {"value": _money(debit_total)},
                    {"value": _money(credit_total)},
                ]
            },
            "type": "Section",
            "group": "GrandTotal",
        }
    )
    header: dict[str, Any] = {
        "Time": local_now.replace(microsecond=0).isoformat(),
        "ReportName": "TrialBalance",
    }
    if macro:
        header["DateMacro"] = macro.strip().lower()
    header.update(
        {
            "ReportBasis": "Accrual",
            "StartPeriod": start.isoformat(),
            "EndPeriod": end.isoformat(),
            "SummarizeColumnsBy": "Total",
            "Currency": str(company["home_currency"]),
            "Option": [{"Name": "NoReportData", "Value": "false" if len(rows) > 1 else "true"}],
        }
    )
    return {
        "Header": header,
        "Columns": {
            "Column": [
                {
                    "ColTitle": "",
                    "ColType": "Account",
                    "MetaData": [{"Name": "ColKey", "Value": "account"}],
                },
                {
                    "ColTitle": "Debit",
                    "ColType": "Money",
                    "MetaData": [{"Name": "ColKey", "Value": "Debit"}],
                },
                {
                    "ColTitle": "Credit",
                    "ColType": "Money",
                    "MetaData": [{"Name": "ColKey", "Value": "Credit"}],
                },
            ]
        },
        "Rows": {"Row": rows},
    }
