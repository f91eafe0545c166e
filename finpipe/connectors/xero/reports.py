"""Xero's own reports, read into canonical frames: the trial balance.

``GET /api.xro/2.0/Reports/TrialBalance?date=YYYY-MM-DD&paymentsOnly=false`` answers
``Reports[0]`` with ``Rows``: a ``Header`` row naming the columns (Account, Debit, Credit,
YTD Debit, YTD Credit), ``Section`` rows holding one ``Row`` per account (every cell carries
``Attributes`` ``[{"Id": "account", "Value": <AccountID>}]``) and a ``SummaryRow`` of totals.
The balance at ``date`` is YTD Debit - YTD Credit (Debit/Credit are the month's movement);
amounts are decimal text ("1190.00", "" for an empty cell).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.statements.model import currency_exponent
from finpipe.connectors.xero.client import XeroClient
from finpipe.connectors.xero.parse import XeroParseError, parse_amount
from finpipe.ledger.books_schema import TRIAL_BALANCE_SCHEMA

ENDPOINT = "Reports/TrialBalance"
_CODE_SUFFIX = re.compile(r"\s+\(([^()]*)\)$")
# ISO 4217 exponents other than 2 that a Xero organisation may report in.


def _rows(rows: Any) -> Iterator[Mapping[str, Any]]:
    """Every row of a report, sections flattened."""
    for row in rows or []:
        if not isinstance(row, Mapping):
            continue
        yield row
        if row.get("Rows"):
            yield from _rows(row["Rows"])


def _account_id(cells: list[Any]) -> str | None:
    for cell in cells:
        for attribute in (cell or {}).get("Attributes") or []:
            if isinstance(attribute, Mapping) and attribute.get("Id") == "account":
                return str(attribute.get("Value"))
    return None


def _amount(value: Any, field_name: str, record: str | None) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise XeroParseError(ENDPOINT, record, field_name, str(exc)) from None


def parse_trial_balance(
    body: Any, *, as_of: dt.date, currency: str | None, company_id: str | None = None
) -> pl.DataFrame:
    """A TrialBalance answer (JSON text or parsed) as :data:`TRIAL_BALANCE_SCHEMA` rows, one
    per account, ``balance`` = YTD Debit - YTD Credit in minor units of ``currency``.

    Raises :class:`XeroParseError` naming the account and column when the body is not
    Xero's report shape."""
    if isinstance(body, (str, bytes)):
        body = payloads.loads(body)
    reports = body.get("Reports") if isinstance(body, Mapping) else None
    if not reports or not isinstance(reports[0], Mapping):
        raise XeroParseError(ENDPOINT, None, "Reports", "the answer holds no report")
    report = reports[0]
    header = next((r for r in _rows(report.get("Rows")) if r.get("RowType") == "Header"), None)
    if header is None:
        raise XeroParseError(ENDPOINT, None, "Rows", "the report has no Header row")
    titles = [str((c or {}).get("Value") or "") for c in header.get("Cells") or []]
    debit_col, credit_col = "YTD Debit", "YTD Credit"
    if debit_col not in titles:
        debit_col, credit_col = "Debit", "Credit"
    if debit_col not in titles or credit_col not in titles:
        raise XeroParseError(ENDPOINT, None, "Header", f"no Debit/Credit columns in {titles}")
    di, ci = titles.index(debit_col), titles.index(credit_col)
    scale = Decimal(10) ** currency_exponent(currency or "")
    out = []
    for row in _rows(report.get("Rows")):
        if row.get("RowType") != "Row":
            continue
        cells = list(row.get("Cells") or [])
        account_id = _account_id(cells)
        if account_id is None or len(cells) <= max(di, ci):
            raise XeroParseError(ENDPOINT, None, "Cells", f"an account row without its id: {row}")
        label = str((cells[0] or {}).get("Value") or "")
        net = _amount(cells[di].get("Value"), debit_col, account_id) - _amount(
            cells[ci].get("Value"), credit_col, account_id
        )
        minor = net * scale
        if minor != minor.to_integral_value():
            raise XeroParseError(ENDPOINT, account_id, debit_col, f"{net} is not whole cents")
        out.append(
            {
                "company_id": company_id,
                "provider": "xero",
                "as_of": as_of,
                "account_id": account_id,
                "account_name": _CODE_SUFFIX.sub("", label),
                "balance": int(minor),
                "currency": currency,
            }
        )
    return pl.DataFrame(out, schema=TRIAL_BALANCE_SCHEMA, orient="row")


def trial_balance(
    client: XeroClient,
    tenant_id: str,
    *,
    as_of: dt.date,
    currency: str | None = None,
    company_id: str | None = None,
) -> pl.DataFrame:
    """Xero's own trial balance of ``tenant_id`` at ``as_of`` (accrual basis) in
    :data:`TRIAL_BALANCE_SCHEMA`: one row per account, balance debit positive, home minor
    units. ``currency`` is the organisation's base currency; when not given it is read
    from the Organisation endpoint (one more call)."""
    if currency is None:
        org = payloads.loads(client.get(tenant_id, "Organisation").content)
        organisations = org.get("Organisations") or []
        currency = organisations[0].get("BaseCurrency") if organisations else None
    response = client.get(
        tenant_id,
        ENDPOINT,
        params={"date": as_of.isoformat(), "paymentsOnly": "false"},
    )
    return parse_trial_balance(
        response.content, as_of=as_of, currency=currency, company_id=company_id
    )
