"""KPIs per company and month from the statements (no Dagster).

Every KPI is declared once in :data:`KPIS` — name, formula, inputs, unit and whether higher
is better — and computed from one frame of facts (:func:`kpi_facts`: the statements plus
trailing sums). :func:`compute_kpis` returns them in long format, one row per company, month
and KPI, with the value, the exact money amount for money KPIs, the inputs as JSON and, when
the value is null, why (a zero denominator is never turned into an infinity).

Windows: ``_ttm`` inputs are trailing sums over the last 12 months *available* (fewer at
the start of the books; ``months_ttm`` says how many), and day-based KPIs scale by
``days_ttm = months_ttm * 365 / 12``. The opening month's cash change contains the opening
balances, so burn leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from finpipe.ledger.books_schema import DEAD_STATUSES

TTM = 12
DAYS_PER_MONTH = 365 / 12
SALES_DOC_TYPES = ("invoice", "sales_receipt")
SALES_CREDIT_TYPES = ("credit_note", "refund")


@dataclass(frozen=True)
class Kpi:
    """One KPI: its formula in words, the fact columns it reads, its unit and direction."""

    name: str
    formula: str
    inputs: tuple[str, ...]
    unit: str  # ratio | days | months | money (minor units, home currency)
    higher_is_better: bool
    description: str


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "revenue_growth_mom",
        "(revenue - revenue_prev_month) / |revenue_prev_month|",
        ("revenue", "revenue_prev_month"),
        "ratio",
        True,
        "month-on-month revenue growth",
    ),
    Kpi(
        "revenue_growth_yoy",
        "(revenue - revenue_prev_year) / |revenue_prev_year|",
        ("revenue", "revenue_prev_year"),
        "ratio",
        True,
        "growth on the same month a year earlier (needs 13 months of books)",
    ),
    Kpi(
        "revenue_growth_3m",
        "(revenue_3m - revenue_prev_3m) / |revenue_prev_3m|",
        ("revenue_3m", "revenue_prev_3m"),
        "ratio",
        True,
        "last 3 months' revenue against the 3 months before (needs 6 months)",
    ),
    Kpi(
        "gross_margin",
        "gross_profit_ttm / revenue_ttm",
        ("gross_profit_ttm", "revenue_ttm"),
        "ratio",
        True,
        "gross profit per unit of revenue, trailing 12 months",
    ),
    Kpi(
        "operating_margin",
        "operating_income_ttm / revenue_ttm",
        ("operating_income_ttm", "revenue_ttm"),
        "ratio",
        True,
        "operating income (after depreciation) per unit of revenue, trailing 12 months",
    ),
    Kpi(
        "net_margin",
        "net_income_ttm / revenue_ttm",
        ("net_income_ttm", "revenue_ttm"),
        "ratio",
        True,
        "net income per unit of revenue, trailing 12 months",
    ),
    Kpi(
        "ebitda",
        "revenue - cost_of_sales - operating_expenses (the month)",
        ("ebitda",),
        "money",
        True,
        "earnings before interest, tax, depreciation and amortisation of the month",
    ),
    Kpi(
        "current_ratio",
        "current_assets / current_liabilities",
        ("current_assets", "current_liabilities"),
        "ratio",
        True,
        "month-end current assets over current liabilities",
    ),
    Kpi(
        "quick_ratio",
        "(cash + accounts_receivable) / current_liabilities",
        ("cash", "accounts_receivable", "current_liabilities"),
        "ratio",
        True,
        "liquid assets (no inventory, no prepayments) over current liabilities",
    ),
    Kpi(
        "cash_ratio",
        "cash / current_liabilities",
        ("cash", "current_liabilities"),
        "ratio",
        True,
        "cash over current liabilities",
    ),
    Kpi(
        "working_capital",
        "current_assets - current_liabilities",
        ("current_assets", "current_liabilities"),
        "money",
        True,
        "month-end working capital",
    ),
    Kpi(
        "debt_to_equity",
        "(bank_overdraft + short_term_debt + long_term_debt) / total_equity (null when "
        "equity <= 0)",
        ("bank_overdraft", "short_term_debt", "long_term_debt", "total_equity"),
        "ratio",
        False,
        "interest-bearing debt per unit of book equity",
    ),
    Kpi(
        "equity_ratio",
        "total_equity / total_assets (null when assets <= 0)",
        ("total_equity", "total_assets"),
        "ratio",
        True,
        "share of the assets financed by the owners",
    ),
    Kpi(
        "dscr",
        "ebitda_ttm / (interest_expense_ttm + principal_repaid_ttm)",
        ("ebitda_ttm", "interest_expense_ttm", "principal_repaid_ttm"),
        "ratio",
        True,
        "debt service coverage: EBITDA over interest plus debt repaid, trailing 12 months",
    ),
    Kpi(
        "interest_coverage",
        "ebit_ttm / interest_expense_ttm",
        ("ebit_ttm", "interest_expense_ttm"),
        "ratio",
        True,
        "times EBIT covers interest, trailing 12 months",
    ),
    Kpi(
        "dso",
        "accounts_receivable / revenue_ttm * days_ttm",
        ("accounts_receivable", "revenue_ttm", "days_ttm"),
        "days",
        False,
        "days sales outstanding",
    ),
    Kpi(
        "dpo",
        "accounts_payable / purchases_ttm * days_ttm; purchases = cost_of_sales + "
        "operating_expenses (small businesses' bills are mostly overheads)",
        ("accounts_payable", "purchases_ttm", "days_ttm"),
        "days",
        False,
        "days payables outstanding (long means paying late)",
    ),
    Kpi(
        "dio",
        "inventory / cost_of_sales_ttm * days_ttm (0 when no inventory is held)",
        ("inventory", "cost_of_sales_ttm", "days_ttm"),
        "days",
        False,
        "days inventory outstanding",
    ),
    Kpi(
        "cash_conversion_cycle",
        "dso + dio - dpo",
        ("dso", "dio", "dpo"),
        "days",
        False,
        "days between paying for inputs and collecting from customers",
    ),
    Kpi(
        "burn",
        "max(0, -mean(net cash change of the last <= 3 months, opening month excluded))",
        ("net_change_3m_mean",),
        "money",
        False,
        "average monthly net cash outflow",
    ),
    Kpi(
        "runway_months",
        "cash / burn (null when not burning cash)",
        ("cash", "burn"),
        "months",
        True,
        "months of cash left at the current burn",
    ),
    Kpi(
        "top_customer_share",
        "sales of the largest customer / all sales, trailing 12 months (documents)",
        ("top_customer_sales_ttm", "sales_ttm"),
        "ratio",
        False,
        "revenue concentration on one customer (invoices and sales receipts less credits)",
    ),
    Kpi(
        "top3_customer_share",
        "sales of the 3 largest customers / all sales, trailing 12 months (documents)",
        ("top3_customer_sales_ttm", "sales_ttm"),
        "ratio",
        False,
        "revenue concentration on three customers",
    ),
    Kpi(
        "expense_volatility",
        "std(operating_expenses) / mean(operating_expenses) over the last <= 12 months "
        "(sample std, needs 3 months)",
        ("opex_std_ttm", "opex_mean_ttm"),
        "ratio",
        False,
        "coefficient of variation of monthly operating expenses",
    ),
)
BY_NAME: dict[str, Kpi] = {k.name: k for k in KPIS}

KPI_FRAME_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "month": pl.Date,
        "kpi": pl.String,
        "value": pl.Float64,
        "amount": pl.Int64,
        "unit": pl.String,
        "null_reason": pl.String,
        "inputs": pl.String,
    }
)


def kpi_registry() -> pl.DataFrame:
    """The KPI registry as a table (name, formula, inputs, unit, higher_is_better,
    description): what docs and the Dagster metadata print."""
    return pl.DataFrame(
        {
            "name": [k.name for k in KPIS],
            "formula": [k.formula for k in KPIS],
            "inputs": [", ".join(k.inputs) for k in KPIS],
            "unit": [k.unit for k in KPIS],
            "higher_is_better": [k.higher_is_better for k in KPIS],
            "description": [k.description for k in KPIS],
        }
    )


def kpi_registry_markdown() -> str:
    """The registry as a Markdown table."""
    rows = [
        f"| {k.name} | {k.formula} | {', '.join(k.inputs)} | {k.unit} | "
        f"{'higher' if k.higher_is_better else 'lower'} |"
        for k in KPIS
    ]
    head = "| KPI | formula | inputs | unit | better |\n|---|---|---|---|---|"
    return "\n".join([head, *rows])


# --- facts ---------------------------------------------------------------------------------


def customer_sales(documents: pl.DataFrame) -> pl.DataFrame:
    """Sales per company, month and customer (home currency, gross) from ``ledger.documents``:
    invoices and sales receipts less credit notes and refunds, live book-of-record documents
    only; ``contact_id`` null for anonymous sales (counted in the total, never a top
    customer)."""
    if documents.height == 0:
        return pl.DataFrame(
            schema={
                "company_id": pl.String,
                "month": pl.Date,
                "contact_id": pl.String,
                "sales": pl.Int64,
            }
        )
    live = documents.filter(
        pl.col("doc_type").is_in([*SALES_DOC_TYPES, *SALES_CREDIT_TYPES])
        & ~pl.col("status").is_in(DEAD_STATUSES)
        & pl.col("issue_date").is_not_null()
        & (pl.col("book_of_record") if "book_of_record" in documents.columns else pl.lit(True))
    )
    sign = pl.when(pl.col("doc_type").is_in(SALES_CREDIT_TYPES)).then(-1).otherwise(1)
    amount = pl.coalesce("home_total", "total").cast(pl.Int64) * sign
    return (
        live.group_by(
            "company_id", pl.col("issue_date").dt.truncate("1mo").alias("month"), "contact_id"
        )
        .agg(amount.sum().alias("sales"))
        .sort("company_id", "month", "contact_id", nulls_last=True)
    )


def concentration(months: pl.DataFrame, sales: pl.DataFrame) -> pl.DataFrame:
    """Per company-month of ``months``: ``sales_ttm`` and the trailing-12-month sales of the
    top customer and the top 3 (from :func:`customer_sales`)."""
    grid = months.select("company_id", "month")
    empty = grid.with_columns(
        sales_ttm=pl.lit(0, pl.Int64),
        top_customer_sales_ttm=pl.lit(0, pl.Int64),
        top3_customer_sales_ttm=pl.lit(0, pl.Int64),
    )
    if sales.height == 0 or grid.height == 0:
        return empty
    window = grid.join(sales.rename({"month": "sale_month"}), on="company_id", how="inner").filter(
        (pl.col("sale_month") <= pl.col("month"))
        & (pl.col("sale_month") > pl.col("month").dt.offset_by(f"-{TTM}mo"))
    )
    per_customer = window.group_by("company_id", "month", "contact_id").agg(pl.col("sales").sum())
    total = per_customer.group_by("company_id", "month").agg(
        pl.col("sales").sum().alias("sales_ttm")
    )
    ranked = (
        per_customer.filter(pl.col("contact_id").is_not_null())
        .sort("sales", descending=True)
        .group_by("company_id", "month", maintain_order=True)
        .agg(
            pl.col("sales").first().alias("top_customer_sales_ttm"),
            pl.col("sales").head(3).sum().alias("top3_customer_sales_ttm"),
        )
    )
    out = grid.join(total, on=["company_id", "month"], how="left").join(
        ranked, on=["company_id", "month"], how="left"
    )
    return out.with_columns(
        pl.col("sales_ttm", "top_customer_sales_ttm", "top3_customer_sales_ttm")
        .fill_null(0)
        .cast(pl.Int64)
    )


def kpi_facts(
    income: pl.DataFrame,
    balance: pl.DataFrame,
    flows: pl.DataFrame,
    documents: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every input a KPI reads, one row per company and month: the statements' lines, the
    previous month's and year's revenue, trailing sums and the customer concentration."""
    c = pl.col
    by = "company_id"
    base = (
        income.join(balance, on=["company_id", "month"])
        .join(
            flows.select(
                "company_id",
                "month",
                "net_change",
                "is_opening_month",
                "change_debt",
            ),
            on=["company_id", "month"],
        )
        .sort("company_id", "month")
    )

    def ttm(expr: pl.Expr) -> pl.Expr:
        return expr.rolling_sum(TTM, min_samples=1).over(by)

    # Debt repaid: every decrease of the debt balances (a new loan is not service).
    repaid = (-c("change_debt")).clip(lower_bound=0)
    # The opening month's cash change is the opening balances, not a flow.
    flow = pl.when(c("is_opening_month")).then(None).otherwise(c("net_change"))
    facts = base.with_columns(
        revenue_prev_month=c("revenue").shift(1).over(by),
        revenue_prev_year=c("revenue").shift(TTM).over(by),
        revenue_3m=c("revenue").rolling_sum(3).over(by),
        revenue_prev_3m=c("revenue").rolling_sum(3).shift(3).over(by),
        months_ttm=ttm(c("month").is_not_null().cast(pl.Int64)).cast(pl.Int64),
        revenue_ttm=ttm(c("revenue")),
        gross_profit_ttm=ttm(c("gross_profit")),
        operating_income_ttm=ttm(c("operating_income")),
        net_income_ttm=ttm(c("net_income")),
        ebitda_ttm=ttm(c("ebitda")),
        ebit_ttm=ttm(c("ebit")),
        interest_expense_ttm=ttm(c("interest_expense")),
        cost_of_sales_ttm=ttm(c("cost_of_sales")),
        purchases_ttm=ttm(c("cost_of_sales") + c("operating_expenses")),
        principal_repaid_ttm=ttm(repaid),
        net_change_3m_mean=flow.rolling_mean(3, min_samples=1).over(by),
        opex_mean_ttm=c("operating_expenses")
        .cast(pl.Float64)
        .rolling_mean(TTM, min_samples=3)
        .over(by),
        opex_std_ttm=c("operating_expenses")
        .cast(pl.Float64)
        .rolling_std(TTM, min_samples=3)
        .over(by),
    ).with_columns(days_ttm=c("months_ttm") * DAYS_PER_MONTH)
    sales = customer_sales(documents) if documents is not None else customer_sales(pl.DataFrame())
    return facts.join(concentration(facts, sales), on=["company_id", "month"], how="left")


# --- formulas ------------------------------------------------------------------------------

Value = tuple[pl.Expr, pl.Expr]  # (value, null reason)
_c = pl.col


def _missing(names: tuple[str, ...]) -> pl.Expr:
    """Reason when an input is null: which one (not enough history)."""
    expr = pl.lit(None, pl.String)
    for name in reversed(names):
        expr = (
            pl.when(_c(name).is_null())
            .then(pl.lit(f"{name} not available (not enough months of books)"))
            .otherwise(expr)
        )
    return expr


def _ratio(num: pl.Expr, den: pl.Expr, zero: str, scale: pl.Expr | float = 1.0) -> Value:
    ok = den != 0
    value = pl.when(ok).then(num.cast(pl.Float64) / den.cast(pl.Float64) * scale)
    return value, pl.when(~ok).then(pl.lit(zero))


def _growth(now: str, before: str) -> Value:
    return _ratio(_c(now) - _c(before), _c(before).abs(), f"{before} is zero")


def _positive_den(num: pl.Expr, den: str, reason: str) -> Value:
    ok = _c(den) > 0
    return pl.when(ok).then(num.cast(pl.Float64) / _c(den)), pl.when(~ok).then(pl.lit(reason))


def _margin(num: str) -> Value:
    return _positive_den(_c(num), "revenue_ttm", "no revenue in the trailing 12 months")


def _money(expr: pl.Expr) -> Value:
    return expr.cast(pl.Float64), pl.lit(None, pl.String)


def _dio() -> Value:
    value, reason = _ratio(
        _c("inventory"),
        _c("cost_of_sales_ttm"),
        "inventory held but no cost of sales",
        _c("days_ttm"),
    )
    none = _c("inventory") == 0
    return pl.when(none).then(0.0).otherwise(value), pl.when(~none).then(reason)


def _burn() -> pl.Expr:
    return (-_c("net_change_3m_mean")).clip(lower_bound=0.0).round(0).cast(pl.Int64)


def _runway() -> Value:
    burning = _c("burn") > 0
    value = pl.when(burning).then(_c("cash").cast(pl.Float64) / _c("burn"))
    return value, pl.when(~burning).then(pl.lit("not burning cash: runway unbounded"))


def _ccc() -> Value:
    value = _c("dso") + _c("dio") - _c("dpo")
    return value, pl.lit(None, pl.String)


def _volatility() -> Value:
    ok = _c("opex_mean_ttm") > 0
    return (
        pl.when(ok).then(_c("opex_std_ttm") / _c("opex_mean_ttm")),
        pl.when(~ok).then(pl.lit("no operating expenses")),
    )


FORMULAS: dict[str, Callable[[], Value]] = {
    "revenue_growth_mom": lambda: _growth("revenue", "revenue_prev_month"),
    "revenue_growth_yoy": lambda: _growth("revenue", "revenue_prev_year"),
    "revenue_growth_3m": lambda: _growth("revenue_3m", "revenue_prev_3m"),
    "gross_margin": lambda: _margin("gross_profit_ttm"),
    "operating_margin": lambda: _margin("operating_income_ttm"),
    "net_margin": lambda: _margin("net_income_ttm"),
    "ebitda": lambda: _money(_c("ebitda")),
    "current_ratio": lambda: _ratio(
        _c("current_assets"), _c("current_liabilities"), "no current liabilities"
    ),
    "quick_ratio": lambda: _ratio(
        _c("cash") + _c("accounts_receivable"), _c("current_liabilities"), "no current liabilities"
    ),
    "cash_ratio": lambda: _ratio(_c("cash"), _c("current_liabilities"), "no current liabilities"),
    "working_capital": lambda: _money(_c("current_assets") - _c("current_liabilities")),
    "debt_to_equity": lambda: _positive_den(
        _c("bank_overdraft") + _c("short_term_debt") + _c("long_term_debt"),
        "total_equity",
        "equity is zero or negative",
    ),
    "equity_ratio": lambda: _positive_den(
        _c("total_equity"), "total_assets", "total assets are zero or negative"
    ),
    "dscr": lambda: _ratio(
        _c("ebitda_ttm"),
        _c("interest_expense_ttm") + _c("principal_repaid_ttm"),
        "no debt service (no interest, no repayments) in the trailing 12 months",
    ),
    "interest_coverage": lambda: _ratio(
        _c("ebit_ttm"), _c("interest_expense_ttm"), "no interest expense in the trailing 12 months"
    ),
    "dso": lambda: _ratio(
        _c("accounts_receivable"),
        _c("revenue_ttm"),
        "no revenue in the trailing 12 months",
        _c("days_ttm"),
    ),
    "dpo": lambda: _ratio(
        _c("accounts_payable"),
        _c("purchases_ttm"),
        "no purchases in the trailing 12 months",
        _c("days_ttm"),
    ),
    "dio": _dio,
    "cash_conversion_cycle": _ccc,
    "burn": lambda: _money(_c("burn")),
    "runway_months": _runway,
    "top_customer_share": lambda: _ratio(
        _c("top_customer_sales_ttm"), _c("sales_ttm"), "no sales documents in 12 months"
    ),
    "top3_customer_share": lambda: _ratio(
        _c("top3_customer_sales_ttm"), _c("sales_ttm"), "no sales documents in 12 months"
    ),
    "expense_volatility": _volatility,
}
# KPIs other KPIs read (computed first, in this order).
_DERIVED_FIRST = ("dso", "dio", "dpo", "burn")


def compute_kpis(facts: pl.DataFrame) -> pl.DataFrame:
    """Every KPI of :data:`KPIS` for every company-month of ``facts`` (:func:`kpi_facts`), in
    long format (:data:`KPI_FRAME_SCHEMA`). ``value`` is null exactly when ``null_reason``
    says why; ``amount`` holds money KPIs exactly; ``inputs`` is a JSON object of the inputs.
    """
    if facts.height == 0:
        return pl.DataFrame(schema=KPI_FRAME_SCHEMA)
    frame = facts.with_columns(burn=_burn())
    for name in _DERIVED_FIRST:
        if name != "burn":
            frame = frame.with_columns(FORMULAS[name]()[0].alias(name))
    parts = []
    for kpi in KPIS:
        value, reason = FORMULAS[kpi.name]()
        value = value.cast(pl.Float64)
        reason = (
            pl.when(value.is_null())
            .then(pl.coalesce(_missing(kpi.inputs), reason, pl.lit("not computable")))
            .otherwise(None)
        )
        amount = value.round(0).cast(pl.Int64) if kpi.unit == "money" else pl.lit(None, pl.Int64)
        parts.append(
            frame.select(
                "company_id",
                "month",
                pl.lit(kpi.name).alias("kpi"),
                value.alias("value"),
                amount.alias("amount"),
                pl.lit(kpi.unit).alias("unit"),
                reason.alias("null_reason"),
                pl.struct([_c(i) for i in kpi.inputs]).struct.json_encode().alias("inputs"),
            )
        )
    out = pl.concat(parts).cast(dict(KPI_FRAME_SCHEMA))
    return out.sort("company_id", "month", "kpi")


def kpis_wide(kpis: pl.DataFrame) -> pl.DataFrame:
    """Long KPI rows (``analytics.kpis`` or :func:`compute_kpis`) as one row per company and
    month, one Float64 column per KPI of the registry (null where not computable)."""
    if kpis.height == 0:
        return pl.DataFrame(
            schema={"company_id": pl.String, "month": pl.Date, **dict.fromkeys(BY_NAME, pl.Float64)}
        )
    wide = kpis.pivot(on="kpi", index=["company_id", "month"], values="value")
    missing = [k for k in BY_NAME if k not in wide.columns]
    wide = wide.with_columns([pl.lit(None, pl.Float64).alias(k) for k in missing])
    return wide.select("company_id", "month", *BY_NAME).sort("company_id", "month")
