"""Monthly financial statements of one company from its unified ledger (no Dagster).

Every journal line (``ledger.journal_lines``, home currency, debit positive) is classified
through its standard-chart code (:mod:`finpipe.ledger.chart`) into one statement line
(:data:`LINE_OF_CODE`), summed per month, and laid out as three statements in integer minor
units of the home currency:

* **income statement** (the month's flows): revenue, cost of sales, gross profit, operating
  expenses (without depreciation), EBITDA, depreciation and amortisation, operating income,
  other income (net of FX and sundry; interest earned), EBIT, interest expense, income tax,
  net income. ``ebit = net_income + interest_expense + income_tax``.
* **balance sheet** at month end (cumulative balances): cash (net of every bank account; a
  negative net is shown as ``bank_overdraft``, a current liability), receivables, inventory, other
  current assets, unclassified (lines whose account is not mapped to the standard chart, kept
  so the sheet still balances), fixed assets (net); payables, short-term debt, other current
  liabilities, long-term debt; contributed equity (capital, drawings, opening balance
  equity), retained earnings (posted retained earnings plus the profit of earlier fiscal
  years) and current-year earnings (profit since the fiscal year start). Liabilities and
  equity are shown credit positive, so ``total_assets == total_liabilities_and_equity``.
* **cash-flow statement**, indirect method, from the change of each balance-sheet line:
  operating = net income + depreciation − Δ receivables − Δ inventory − Δ other current
  assets − Δ unclassified + Δ payables + Δ other current liabilities; investing = −(Δ fixed
  assets + depreciation) (capital expenditure); financing = Δ debt + Δ contributed equity +
  Δ posted retained earnings. Cash here is net of overdrafts (IAS 7.8): ``cash_end = cash -
  bank_overdraft``. Because every line lands on exactly one statement line, the net change
  equals the change in cash by construction; :func:`statement_problems` proves it.

The first month's changes are measured from zero, so its financing includes the opening
balances (``is_opening_month`` says which month that is).
"""

from __future__ import annotations

import polars as pl

from finpipe.ledger.chart import STANDARD_ACCOUNTS

PNL_LINES = (
    "revenue",
    "cost_of_sales",
    "operating_expenses",
    "depreciation_amortisation",
    "other_income",
    "interest_expense",
    "income_tax",
)
BS_LINES = (
    "cash",
    "accounts_receivable",
    "inventory",
    "other_current_assets",
    "unclassified",
    "fixed_assets",
    "accounts_payable",
    "short_term_debt",
    "other_current_liabilities",
    "long_term_debt",
    "contributed_equity",
    "retained_earnings_posted",
)
CREDIT_LINES = frozenset(
    {
        "revenue",
        "other_income",
        "accounts_payable",
        "short_term_debt",
        "other_current_liabilities",
        "long_term_debt",
        "contributed_equity",
        "retained_earnings_posted",
    }
)
"""Lines shown credit positive (the journal's sign flipped)."""

_BY_CODE = {
    "1100": "accounts_receivable",
    "1150": "accounts_receivable",
    "1200": "inventory",
    "2000": "accounts_payable",
    "2400": "short_term_debt",
    "3200": "retained_earnings_posted",
    "6800": "depreciation_amortisation",
    "8000": "interest_expense",
    "8100": "income_tax",
}
_BY_SECTION = {
    "cash": "cash",
    "current_asset": "other_current_assets",
    "fixed_asset": "fixed_assets",
    "current_liability": "other_current_liabilities",
    "long_term_liability": "long_term_debt",
    "equity": "contributed_equity",
    "revenue": "revenue",
    "cost_of_sales": "cost_of_sales",
    "operating_expense": "operating_expenses",
    "other_income": "other_income",
    "other_expense": "operating_expenses",
}
LINE_OF_CODE: dict[str, str] = {
    a.code: _BY_CODE.get(a.code, _BY_SECTION[a.section]) for a in STANDARD_ACCOUNTS
}
"""Standard-chart code -> statement line; a code not in the chart (or none) is
``unclassified``."""

INCOME_COLUMNS = (
    "revenue",
    "cost_of_sales",
    "gross_profit",
    "operating_expenses",
    "ebitda",
    "depreciation_amortisation",
    "operating_income",
    "other_income",
    "ebit",
    "interest_expense",
    "income_tax",
    "net_income",
)
BALANCE_COLUMNS = (
    "cash",
    "accounts_receivable",
    "inventory",
    "other_current_assets",
    "unclassified",
    "current_assets",
    "fixed_assets",
    "total_assets",
    "accounts_payable",
    "bank_overdraft",
    "short_term_debt",
    "other_current_liabilities",
    "current_liabilities",
    "long_term_debt",
    "total_liabilities",
    "contributed_equity",
    "retained_earnings",
    "current_year_earnings",
    "total_equity",
    "total_liabilities_and_equity",
)
CASH_FLOW_COLUMNS = (
    "net_income",
    "depreciation_amortisation",
    "change_receivables",
    "change_inventory",
    "change_other_current_assets",
    "change_payables",
    "change_other_current_liabilities",
    "operating",
    "capital_expenditure",
    "investing",
    "change_debt",
    "change_equity",
    "financing",
    "net_change",
    "cash_begin",
    "cash_end",
)

LINE_SCHEMA = pl.Schema(
    {"company_id": pl.String, "date": pl.Date, "standard_code": pl.String, "amount": pl.Int64}
)


def classify(journal_lines: pl.DataFrame) -> pl.DataFrame:
    """Journal lines with ``month`` (first day) and statement ``line``
    (:data:`LINE_OF_CODE`; ``unclassified`` where the code is null or unknown)."""
    return journal_lines.select(
        "company_id",
        pl.col("date").dt.truncate("1mo").alias("month"),
        pl.col("standard_code")
        .replace_strict(LINE_OF_CODE, default="unclassified", return_dtype=pl.String)
        .alias("line"),
        pl.col("amount").cast(pl.Int64),
    )


def monthly_lines(journal_lines: pl.DataFrame) -> pl.DataFrame:
    """One row per company and month, every month from the company's first to its last line
    (months without lines included), one Int64 column per statement line with the month's
    movement, credit lines sign-flipped."""
    lines = classify(journal_lines)
    every = (*PNL_LINES, *BS_LINES)
    if lines.height == 0:
        return pl.DataFrame(
            schema={"company_id": pl.String, "month": pl.Date, **dict.fromkeys(every, pl.Int64)}
        )
    sums = lines.group_by("company_id", "month", "line").agg(pl.col("amount").sum())
    wide = sums.pivot(on="line", index=["company_id", "month"], values="amount")
    spans = lines.group_by("company_id").agg(
        pl.date_ranges(pl.col("month").min(), pl.col("month").max(), "1mo").alias("month")
    )
    grid = spans.explode("month")
    out = grid.join(wide, on=["company_id", "month"], how="left")
    return out.select(
        "company_id",
        "month",
        *[
            (
                (-pl.col(c) if c in CREDIT_LINES else pl.col(c)).fill_null(0)
                if c in out.columns
                else pl.lit(0)
            )
            .cast(pl.Int64)
            .alias(c)
            for c in every
        ],
    ).sort("company_id", "month")


def income_statement(monthly: pl.DataFrame) -> pl.DataFrame:
    """The month's P&L per company (see the module docstring for each line)."""
    c = pl.col
    gross = c("revenue") - c("cost_of_sales")
    ebitda = gross - c("operating_expenses")
    operating = ebitda - c("depreciation_amortisation")
    ebit = operating + c("other_income")
    return (
        monthly.with_columns(
            gross_profit=gross,
            ebitda=ebitda,
            operating_income=operating,
            ebit=ebit,
            net_income=ebit - c("interest_expense") - c("income_tax"),
        )
        .select("company_id", "month", *INCOME_COLUMNS)
        .sort("company_id", "month")
    )


def _fiscal_year(month: pl.Expr, start_month: pl.Expr) -> pl.Expr:
    """The calendar year in which the fiscal year containing ``month`` started."""
    return month.dt.year() - (month.dt.month() < start_month).cast(pl.Int32)


def balance_sheet(monthly: pl.DataFrame, fiscal_year_start_month: int = 1) -> pl.DataFrame:
    """Month-end balances per company: the cumulative movement of every line, the profit
    split into retained earnings (earlier fiscal years) and current-year earnings (since the
    fiscal year started in ``fiscal_year_start_month``)."""
    if not 1 <= fiscal_year_start_month <= 12:
        raise ValueError(f"fiscal_year_start_month={fiscal_year_start_month} is not a month 1-12")
    c = pl.col
    income = income_statement(monthly).select("company_id", "month", "net_income")
    cum = monthly.join(income, on=["company_id", "month"]).sort("company_id", "month")
    fy = _fiscal_year(c("month"), pl.lit(fiscal_year_start_month))
    cum = cum.with_columns(
        [c(x).cum_sum().over("company_id") for x in BS_LINES],
        current_year_earnings=c("net_income").cum_sum().over("company_id", fy),
        _earnings=c("net_income").cum_sum().over("company_id"),
    )
    # Cash is net of every bank account; a negative net is a bank overdraft (a liability).
    cum = cum.with_columns(
        cash=c("cash").clip(lower_bound=0), bank_overdraft=(-c("cash")).clip(lower_bound=0)
    )
    current_assets = (
        c("cash")
        + c("accounts_receivable")
        + c("inventory")
        + c("other_current_assets")
        + c("unclassified")
    )
    current_liabilities = (
        c("accounts_payable")
        + c("bank_overdraft")
        + c("short_term_debt")
        + c("other_current_liabilities")
    )
    out = cum.with_columns(
        current_assets=current_assets,
        current_liabilities=current_liabilities,
        retained_earnings=c("retained_earnings_posted")
        + c("_earnings")
        - c("current_year_earnings"),
    ).with_columns(
        total_assets=c("current_assets") + c("fixed_assets"),
        total_liabilities=c("current_liabilities") + c("long_term_debt"),
        total_equity=c("contributed_equity") + c("retained_earnings") + c("current_year_earnings"),
    )
    out = out.with_columns(total_liabilities_and_equity=c("total_liabilities") + c("total_equity"))
    return out.select("company_id", "month", *BALANCE_COLUMNS).sort("company_id", "month")


def cash_flow(income: pl.DataFrame, balance: pl.DataFrame) -> pl.DataFrame:
    """The indirect cash-flow statement per company and month from the P&L and the change
    of each balance-sheet line since the previous month end (zero before the first month)."""
    c = pl.col
    frame = balance.join(
        income.select("company_id", "month", "net_income", "depreciation_amortisation"),
        on=["company_id", "month"],
    ).sort("company_id", "month")
    # Cash and cash equivalents net of bank overdrafts (IAS 7.8): what the flows explain.
    frame = frame.with_columns(_net_cash=c("cash") - c("bank_overdraft"))

    def delta(name: str) -> pl.Expr:
        return c(name) - c(name).shift(1).over("company_id").fill_null(0)

    out = frame.with_columns(
        change_receivables=delta("accounts_receivable"),
        change_inventory=delta("inventory"),
        change_other_current_assets=delta("other_current_assets") + delta("unclassified"),
        change_payables=delta("accounts_payable"),
        change_other_current_liabilities=delta("other_current_liabilities"),
        capital_expenditure=delta("fixed_assets") + c("depreciation_amortisation"),
        change_debt=delta("short_term_debt") + delta("long_term_debt"),
        # Equity moves other than this month's profit: capital, drawings, opening balances
        # and anything posted straight to retained earnings.
        change_equity=delta("total_equity") - c("net_income"),
        cash_begin=c("_net_cash").shift(1).over("company_id").fill_null(0),
        cash_end=c("_net_cash"),
        is_opening_month=c("month") == c("month").min().over("company_id"),
    )
    out = out.with_columns(
        operating=c("net_income")
        + c("depreciation_amortisation")
        - c("change_receivables")
        - c("change_inventory")
        - c("change_other_current_assets")
        + c("change_payables")
        + c("change_other_current_liabilities"),
        investing=-c("capital_expenditure"),
        financing=c("change_debt") + c("change_equity"),
    ).with_columns(net_change=c("operating") + c("investing") + c("financing"))
    return out.select("company_id", "month", *CASH_FLOW_COLUMNS, "is_opening_month").sort(
        "company_id", "month"
    )


def statement_problems(
    monthly: pl.DataFrame, income: pl.DataFrame, balance: pl.DataFrame, flows: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """What must hold of the statements, as the rows that break it (all empty when they tie):

    * ``unbalanced``: months where total assets differ from liabilities plus equity (the
      month's trial balance does not sum to zero);
    * ``earnings_off``: months where net income differs from the change in retained plus
      current-year earnings, less what was posted straight to retained earnings (``monthly``:
      :func:`monthly_lines`);
    * ``cash_flow_off``: months where the cash-flow net change differs from the change in
      cash.
    """
    c = pl.col
    unbalanced = balance.filter(c("total_assets") != c("total_liabilities_and_equity")).select(
        "company_id", "month", "total_assets", "total_liabilities_and_equity"
    )
    earned = balance.select(
        "company_id",
        "month",
        (c("retained_earnings") + c("current_year_earnings")).alias("_earned"),
    ).sort("company_id", "month")
    both = (
        earned.with_columns(
            change=c("_earned") - c("_earned").shift(1).over("company_id").fill_null(0)
        )
        .join(income.select("company_id", "month", "net_income"), on=["company_id", "month"])
        .join(
            monthly.select("company_id", "month", "retained_earnings_posted"),
            on=["company_id", "month"],
        )
        .with_columns(change=c("change") - c("retained_earnings_posted"))
    )
    earnings_off = both.filter(c("change") != c("net_income")).select(
        "company_id", "month", "net_income", "change"
    )
    cash_off = flows.filter(c("net_change") != c("cash_end") - c("cash_begin")).select(
        "company_id", "month", "net_change", "cash_begin", "cash_end"
    )
    return {"unbalanced": unbalanced, "earnings_off": earnings_off, "cash_flow_off": cash_off}
