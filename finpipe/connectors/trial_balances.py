"""Fetch each accounting source's own trial balance into ``ledger.provider_trial_balances``
(no Dagster), right after a sync: the figure the canonical books are held to.

The report is taken at ``as_of`` (the run's date). Its profit-and-loss accounts cover the
fiscal year ``as_of`` falls in, earlier years closed into retained earnings, so the first day
of that fiscal year is stored with it (from QBO ``CompanyInfo.FiscalYearStartMonth``, Xero
``Organisation.FinancialYearEndMonth``): the comparison closes the ledger the same way.

Only the latest report per company and source is kept: an older one would be held against
books that have since been edited back in time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.oauth import TokenManager
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import PROVIDER_TRIAL_BALANCES
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}


def fiscal_year_start(day: dt.date, first_month: int) -> dt.date:
    """First day of the fiscal year ``day`` falls in, for a year starting in ``first_month``."""
    year = day.year if day.month >= first_month else day.year - 1
    return dt.date(year, first_month, 1)


def _first_month_quickbooks(warehouse: Warehouse, company_id: str, realm_id: str) -> int:
    rows = warehouse.read(
        QUICKBOOKS_TABLES["CompanyInfo"],
        where="company_id = %s AND tenant_id = %s AND deleted = false",
        params=[company_id, realm_id],
    )
    if rows.is_empty():
        return 1
    name = payloads.loads(rows.item(0, "payload")).get("FiscalYearStartMonth") or "January"
    return _MONTHS.get(str(name).lower(), 1)


def _first_month_xero(warehouse: Warehouse, company_id: str, tenant_id: str) -> int:
    rows = warehouse.read(
        XERO_TABLES["Organisation"],
        where="company_id = %s AND tenant_id = %s AND deleted = false",
        params=[company_id, tenant_id],
    )
    if rows.is_empty():
        return 1
    end_month = payloads.loads(rows.item(0, "payload")).get("FinancialYearEndMonth") or 12
    return int(end_month) % 12 + 1


def fetch_trial_balances(
    provider: str,
    warehouse: Warehouse,
    tokens: TokenManager,
    company_id: str,
    external_ids: Sequence[str],
    api_base: str | None,
    *,
    as_of: dt.date,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """Fetch ``provider``'s trial balance of every connected realm/tenant at ``as_of`` and
    replace the company's rows of that provider in ``ledger.provider_trial_balances``.
    Returns the rows written."""
    stamp = now or dt.datetime.now(dt.UTC)
    frames: list[pl.DataFrame] = []
    for external_id in external_ids:
        if provider == "quickbooks":
            from finpipe.connectors.quickbooks.client import QuickBooksClient
            from finpipe.connectors.quickbooks.reports import trial_balance

            client = QuickBooksClient.connect(tokens, external_id, api_base=api_base)
            frame = trial_balance(client, end_date=as_of, company_id=company_id)
            first = _first_month_quickbooks(warehouse, company_id, external_id)
        elif provider == "xero":
            from finpipe.connectors.xero.client import XeroClient
            from finpipe.connectors.xero.reports import trial_balance as xero_trial_balance

            frame = xero_trial_balance(
                XeroClient(api_base or "", tokens), external_id, as_of=as_of, company_id=company_id
            )
            first = _first_month_xero(warehouse, company_id, external_id)
        else:
            raise ValueError(f"no trial balance report for provider {provider!r}")
        frames.append(
            frame.filter(pl.col("account_id").is_not_null()).with_columns(
                pl.lit(company_id).alias("company_id"),
                pl.lit(fiscal_year_start(as_of, first)).alias("fiscal_year_start"),
                pl.lit(stamp).alias("extracted_at"),
            )
        )
    schema = PROVIDER_TRIAL_BALANCES.polars_schema()
    fetched = (
        pl.concat(frames, how="diagonal_relaxed").select(list(schema)).cast(dict(schema))
        if frames
        else pl.DataFrame(schema=schema)
    )
    # Two sources of one company may finish at once: replace this provider's rows only.
    with warehouse.lock(f"trial_balance:{company_id}"):
        kept = warehouse.read(PROVIDER_TRIAL_BALANCES, company_id=company_id).filter(
            pl.col("provider") != provider
        )
        warehouse.replace_partition(PROVIDER_TRIAL_BALANCES, company_id, pl.concat([kept, fetched]))
    return fetched
