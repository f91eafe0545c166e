"""Weekly and monthly net cash flow and book cash balance per company, from the ledger.

Book cash is every journal line (``ledger.journal_lines``, home currency, debit positive)
on an account the account map places in the standard chart's ``cash`` section: cash on
hand and every bank account, foreign-currency ones at the books' rate. Money parked in a
payment-processor clearing account or undeposited funds has not reached a bank yet and is
not cash. The balance is the running sum from the first line, so opening balances posted
as journals are in it; the net flow leaves out the cash lines of opening-balance entries
(those posting to opening balance equity, 3900): a balance brought forward is not money
that moved, and counting it would make the first period look like a windfall.

Periods are weeks starting on Monday and calendar months, each labelled by its first day.
The books are taken as closed through ``as_of`` (by default each company's latest posting
date); a trailing period counts as complete when at most its closing weekend lies after
``as_of`` (two days of a week, three of a month). An incomplete trailing period is left out:
a half-month of flows would read as a collapse. Periods without a cash line have a zero
flow and carry the balance forward.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from finpipe.analytics.forecast.config import FREQUENCIES, MONTHLY, WEEKLY, ForecastError
from finpipe.ledger.chart import STANDARD_ACCOUNTS

CASH_CODES: tuple[str, ...] = tuple(a.code for a in STANDARD_ACCOUNTS if a.section == "cash")
"""Standard chart codes whose balance is book cash (1000 cash on hand, 1010-1030 banks)."""
OPENING_BALANCE_CODE = "3900"

SERIES_SCHEMA = pl.Schema(
    {
        "company_id": pl.String(),
        "frequency": pl.String(),
        "period": pl.Date(),
        "period_end": pl.Date(),
        "net_flow": pl.Int64(),
        "balance": pl.Int64(),
    }
)
_TRUNCATE = {WEEKLY: "1w", MONTHLY: "1mo"}
_SLACK_DAYS = {WEEKLY: 2, MONTHLY: 3}


def period_start(day: pl.Expr, frequency: str) -> pl.Expr:
    """The first day of the week (Monday) or month containing ``day``."""
    return day.dt.truncate(_TRUNCATE[frequency])


def period_end(start: pl.Expr, frequency: str) -> pl.Expr:
    """The last day of the period starting on ``start``."""
    if frequency == WEEKLY:
        return start + pl.duration(days=6)
    return start.dt.month_end()


def next_periods(last: dt.date, frequency: str, count: int) -> list[dt.date]:
    """The ``count`` period starts after the period starting on ``last``."""
    if frequency == WEEKLY:
        return [last + dt.timedelta(weeks=k) for k in range(1, count + 1)]
    index = last.year * 12 + last.month - 1
    return [dt.date((index + k) // 12, (index + k) % 12 + 1, 1) for k in range(1, count + 1)]


def cash_series(
    journal_lines: pl.DataFrame, frequency: str, as_of: dt.date | None = None
) -> pl.DataFrame:
    """``SERIES_SCHEMA`` rows: every complete ``frequency`` period of every company in
    ``journal_lines`` (``ledger.journal_lines`` columns company_id, provider, entry_id, date,
    standard_code, amount) from its first cash line, with the period's net cash flow and
    closing balance.

    ``as_of`` overrides the date the books are closed through (each company's latest
    posting date otherwise); lines after the last complete period are left out."""
    if frequency not in FREQUENCIES:
        raise ForecastError(f"cash_series: frequency {frequency!r} is not one of {FREQUENCIES}")
    needed = {"company_id", "provider", "entry_id", "date", "standard_code", "amount"}
    missing = needed - set(journal_lines.columns)
    if missing:
        raise ForecastError(
            f"cash_series: journal lines lack column(s) {sorted(missing)}; pass "
            "ledger.journal_lines rows"
        )
    if journal_lines.is_empty():
        return pl.DataFrame(schema=SERIES_SCHEMA)
    closed = (pl.lit(as_of, pl.Date) if as_of is not None else pl.col("date").max()).alias("as_of")
    entry = ["company_id", "provider", "entry_id"]
    opening = journal_lines.filter(pl.col("standard_code") == OPENING_BALANCE_CODE).select(entry)
    cash = (
        journal_lines.filter(pl.col("standard_code").is_in(CASH_CODES))
        .join(opening.unique().with_columns(pl.lit(True).alias("opening")), on=entry, how="left")
        .with_columns(pl.col("opening").fill_null(False))
    )
    bounds = (
        journal_lines.group_by("company_id")
        .agg(closed)
        .join(
            cash.group_by("company_id").agg(pl.col("date").min().alias("first_day")),
            on="company_id",
        )
        .with_columns(
            period_start(pl.col("first_day"), frequency).alias("first"),
            # the last period whose end is at most the slack after as_of
            period_start(
                pl.col("as_of") + pl.duration(days=_SLACK_DAYS[frequency] + 1), frequency
            ).alias("_after"),
        )
    )
    # the period before _after is the last complete one
    step = "1w" if frequency == WEEKLY else "1mo"
    bounds = bounds.with_columns(pl.col("_after").dt.offset_by(f"-{step}").alias("last")).filter(
        pl.col("last") >= pl.col("first")
    )
    if bounds.is_empty():
        return pl.DataFrame(schema=SERIES_SCHEMA)
    periods = bounds.select(
        "company_id",
        pl.date_ranges("first", "last", interval=step).alias("period"),
    ).explode("period")
    flows = (
        cash.with_columns(period_start(pl.col("date"), frequency).alias("period"))
        .group_by("company_id", "period")
        .agg(
            pl.col("amount").filter(~pl.col("opening")).sum().cast(pl.Int64).alias("net_flow"),
            pl.col("amount").sum().cast(pl.Int64).alias("change"),
        )
    )
    return (
        periods.join(flows, on=["company_id", "period"], how="left")
        .with_columns(pl.col("net_flow", "change").fill_null(0))
        .sort("company_id", "period")
        .with_columns(
            pl.lit(frequency).alias("frequency"),
            period_end(pl.col("period"), frequency).alias("period_end"),
            pl.col("change").cum_sum().over("company_id").alias("balance"),
        )
        .select(list(SERIES_SCHEMA))
        .cast(dict(SERIES_SCHEMA))  # type: ignore[arg-type]
    )
