"""QBO reports read into frames (no Dagster): ``reports/TrialBalance``.

The trial balance is QuickBooks' own figure per account, used to prove the canonical books
expanded from the landed documents: the same accounts must carry the same balances.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError
from finpipe.connectors.quickbooks.client import PROVIDER, QuickBooksClient
from finpipe.connectors.quickbooks.parse import QuickBooksParseError, parse_response
from finpipe.connectors.statements.model import currency_exponent
from finpipe.ledger.books_schema import TRIAL_BALANCE_SCHEMA

REPORT = "TrialBalance"


def trial_balance(
    client: QuickBooksClient,
    *,
    end_date: dt.date,
    company_id: str | None = None,
    accounting_method: str = "Accrual",
) -> pl.DataFrame:
    """QBO's trial balance at ``end_date`` (``GET reports/TrialBalance?end_date=...``) in
    ``TRIAL_BALANCE_SCHEMA``: one row per account with a balance, home-currency minor units,
    debit positive (Debit column +, Credit column -). ``account_id`` is the report's
    ``ColData[0].id`` (null on a row QBO prints without one, such as a synthesised Retained
    Earnings line). ``company_id`` is finpipe's id for the realm (null when not given).

    Raises :class:`QuickBooksFault` for QBO's error answers, :class:`QuickBooksParseError`
    for an unreadable body and :class:`ConnectorError` when the rows do not add up to the
    report's own GrandTotal."""
    url = f"{client.company_url}/reports/{REPORT}"
    response = client.http.request(
        "GET",
        url,
        params={
            "end_date": end_date.isoformat(),
            "accounting_method": accounting_method,
            "minorversion": client.minor_version,
        },
        headers={"Accept": "application/json"},
    )
    try:
        body = payloads.loads(response.content)
    except ValueError as exc:
        raise QuickBooksParseError(REPORT, None, "(body)", f"not JSON ({exc})") from None
    parsed = parse_response(body, entity=REPORT, status=response.status_code)
    report = parsed.report
    if parsed.kind != "report" or report is None or report.name != REPORT:
        raise QuickBooksParseError(
            REPORT, None, "Header.ReportName", f"expected a {REPORT} report, got {parsed.kind}"
        )
    currency = report.currency
    if not currency:
        raise QuickBooksParseError(REPORT, None, "Header.Currency", "missing")
    as_of = report.end or end_date
    titles = [c.lower() for c in report.columns]
    try:
        debit_col, credit_col = titles.index("debit"), titles.index("credit")
    except ValueError:
        raise QuickBooksParseError(
            REPORT, None, "Columns.Column", f"no Debit / Credit columns in {report.columns}"
        ) from None
    rows: list[dict[str, Any]] = []
    totals: list[tuple[int, int]] = []
    for kind, cells in _rows(body.get("Rows")):
        values = [c.get("value", "") if isinstance(c, Mapping) else "" for c in cells]
        debit = _minor(values, debit_col, currency)
        credit = _minor(values, credit_col, currency)
        if kind == "total":
            totals.append((debit, credit))
            continue
        first = cells[0] if cells and isinstance(cells[0], Mapping) else {}
        rows.append(
            {
                "company_id": company_id,
                "provider": PROVIDER,
                "as_of": as_of,
                "account_id": None if first.get("id") in (None, "") else str(first["id"]),
                "account_name": str(first.get("value") or ""),
                "balance": debit - credit,
                "currency": currency,
            }
        )
    if totals:
        debit_total, credit_total = totals[-1]
        got = (
            sum(max(r["balance"], 0) for r in rows),
            sum(max(-r["balance"], 0) for r in rows),
        )
        if got != (debit_total, credit_total):
            raise ConnectorError(
                f"quickbooks {REPORT} of realm {client.realm_id} at {as_of}: the account rows "
                f"add up to {got} but the report's GrandTotal says "
                f"{(debit_total, credit_total)} (minor units); re-run the report"
            )
    if not rows:
        return pl.DataFrame(schema=TRIAL_BALANCE_SCHEMA)
    return pl.DataFrame(rows, schema=TRIAL_BALANCE_SCHEMA, orient="row")


def _rows(container: Any) -> Iterator[tuple[str, list[Any]]]:
    """("data" | "total", ColData) of every account row and of the GrandTotal summary,
    depth first (QBO may nest accounts inside sections)."""
    if not isinstance(container, Mapping):
        return
    for row in container.get("Row") or []:
        if not isinstance(row, Mapping):
            continue
        if isinstance(row.get("ColData"), list):
            yield "data", row["ColData"]
        if "Rows" in row:
            yield from _rows(row["Rows"])
        summary = row.get("Summary")
        if row.get("group") == "GrandTotal" and isinstance(summary, Mapping):
            yield "total", list(summary.get("ColData") or [])


def _minor(values: list[Any], index: int, currency: str) -> int:
    """A report money cell ("1234.56", "" for none) as minor units of ``currency``."""
    text = str(values[index]).strip() if index < len(values) else ""
    if not text:
        return 0
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise QuickBooksParseError(
            REPORT, None, f"ColData[{index}].value", f"{text!r} is not an amount"
        ) from None
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise QuickBooksParseError(
            REPORT, None, f"ColData[{index}].value", f"{text} has sub-{currency} decimals"
        )
    return int(scaled)
