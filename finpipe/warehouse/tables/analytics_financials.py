"""Schema ``analytics``: monthly statements, KPIs and health scores per company.

``income_statement``, ``balance_sheet`` and ``cash_flow`` are each company's books laid out
per month (:mod:`finpipe.analytics.financials.statements`), integer minor units of the home
currency; ``kpis`` holds every KPI of the registry in long format with its inputs
(:mod:`finpipe.analytics.financials.kpis`); ``health_scores`` and ``health_components`` the
composite score, its sub-scores and Altman Z″ with each component's contribution and what
moved since last month (:mod:`finpipe.analytics.financials.health`).
"""

from __future__ import annotations

from finpipe.warehouse.schema import Column, Kind, Table, col, company_id_column

M = Kind.MONEY
F = Kind.FLOAT
T = Kind.TEXT


def _month() -> Column:
    return col("month", Kind.DATE, "first day of the month", nullable=False)


def _money(names: dict[str, str]) -> tuple[Column, ...]:
    return tuple(col(name, M, doc, nullable=False) for name, doc in names.items())


INCOME_STATEMENT = Table(
    schema="analytics",
    name="income_statement",
    doc="Each company's monthly P&L from its ledger, home currency minor units.",
    columns=(
        company_id_column(),
        _month(),
        col("currency", T, "home currency (ISO 4217)"),
        *_money(
            {
                "revenue": "income of the revenue section, net of discounts and refunds",
                "cost_of_sales": "cost of goods sold, materials, subcontractors, direct labour",
                "gross_profit": "revenue - cost_of_sales",
                "operating_expenses": "operating expenses without depreciation (bank and merchant fees included)",
                "ebitda": "gross_profit - operating_expenses",
                "depreciation_amortisation": "depreciation charge (standard account 6800)",
                "operating_income": "ebitda - depreciation_amortisation",
                "other_income": "interest earned, FX gains less losses, sundry income",
                "ebit": "operating_income + other_income (= net_income + interest + tax)",
                "interest_expense": "interest paid (8000)",
                "income_tax": "income tax expense (8100)",
                "net_income": "ebit - interest_expense - income_tax",
            }
        ),
    ),
    primary_key=("company_id", "month"),
)

BALANCE_SHEET = Table(
    schema="analytics",
    name="balance_sheet",
    doc="Each company's balance sheet at every month end; liabilities and equity credit positive, total_assets = total_liabilities_and_equity.",
    columns=(
        company_id_column(),
        _month(),
        col("currency", T, "home currency (ISO 4217)"),
        *_money(
            {
                "cash": "cash and bank balances, net of every account, floored at zero",
                "accounts_receivable": "trade debtors less allowance",
                "inventory": "stock held for sale",
                "other_current_assets": "processor clearing, undeposited funds, prepayments, deposits",
                "unclassified": "lines whose account has no standard code yet (see ledger.account_map)",
                "current_assets": "cash + receivables + inventory + other current assets + unclassified",
                "fixed_assets": "property, equipment, vehicles, intangibles net of depreciation",
                "total_assets": "current_assets + fixed_assets",
                "accounts_payable": "trade creditors",
                "bank_overdraft": "the net bank balance when it is negative",
                "short_term_debt": "overdraft facility, line of credit (2400)",
                "other_current_liabilities": "cards, sales tax / VAT, payroll, accruals, deferred revenue",
                "current_liabilities": "accounts_payable + bank_overdraft + short_term_debt + other_current_liabilities",
                "long_term_debt": "term loans and notes",
                "total_liabilities": "current_liabilities + long_term_debt",
                "contributed_equity": "capital, drawings and opening balance equity",
                "retained_earnings": "posted retained earnings plus the profit of earlier fiscal years",
                "current_year_earnings": "profit since the fiscal year started",
                "total_equity": "contributed_equity + retained_earnings + current_year_earnings",
                "total_liabilities_and_equity": "total_liabilities + total_equity",
            }
        ),
    ),
    primary_key=("company_id", "month"),
)

CASH_FLOW = Table(
    schema="analytics",
    name="cash_flow",
    doc="Each company's monthly cash-flow statement (indirect method); net_change = cash_end - cash_begin.",
    columns=(
        company_id_column(),
        _month(),
        col("currency", T, "home currency (ISO 4217)"),
        *_money(
            {
                "net_income": "the month's net income",
                "depreciation_amortisation": "added back: no cash moved",
                "change_receivables": "increase in receivables (subtracted)",
                "change_inventory": "increase in inventory (subtracted)",
                "change_other_current_assets": "increase in other current and unclassified assets (subtracted)",
                "change_payables": "increase in payables (added)",
                "change_other_current_liabilities": "increase in other current liabilities (added)",
                "operating": "cash from operations",
                "capital_expenditure": "change in fixed assets + depreciation",
                "investing": "-capital_expenditure",
                "change_debt": "new borrowing less repayments",
                "change_equity": "capital, drawings and opening balances (equity moves other than profit)",
                "financing": "change_debt + change_equity",
                "net_change": "operating + investing + financing",
                "cash_begin": "cash net of overdraft at the previous month end (0 before the books start)",
                "cash_end": "cash net of overdraft at this month end",
            }
        ),
        col(
            "is_opening_month",
            Kind.BOOL,
            "first month of the books: its flows include the opening balances",
            nullable=False,
        ),
    ),
    primary_key=("company_id", "month"),
)

KPIS = Table(
    schema="analytics",
    name="kpis",
    doc="Every KPI of the registry (finpipe.analytics.financials.kpis.KPIS) per company and month, long format, with its inputs; null values say why.",
    columns=(
        company_id_column(),
        _month(),
        col("kpi", T, "KPI name (see the registry for formula and direction)", nullable=False),
        col("value", F, "the KPI (money KPIs: minor units as a float); null when not computable"),
        col("amount", M, "money KPIs exactly (ebitda, working_capital, burn); null otherwise"),
        col("unit", T, "ratio | days | months | money", nullable=False),
        col("null_reason", T, "why value is null (a zero denominator, too little history)"),
        col("inputs", Kind.JSON, "the KPI's inputs and their values", nullable=False),
    ),
    primary_key=("company_id", "month", "kpi"),
)

HEALTH_SCORES = Table(
    schema="analytics",
    name="health_scores",
    doc="Composite health score (0-100), its six sub-scores and Altman Z'' with its zone per company and month, and what moved since last month.",
    columns=(
        company_id_column(),
        _month(),
        col("composite", F, "0-100 weighted mean of the available sub-scores"),
        col("composite_change", F, "composite minus last month's"),
        col("liquidity", F, "0-100 from current, quick and cash ratios"),
        col("profitability", F, "0-100 from net, operating and gross margins"),
        col("leverage", F, "0-100 from equity ratio, debt to equity, interest coverage"),
        col("efficiency", F, "0-100 from DSO and DPO"),
        col("growth", F, "0-100 from YoY and 3-month revenue growth"),
        col("cash_stability", F, "0-100 from runway and expense volatility"),
        col("altman_z", F, "Altman Z'' (null when total assets or liabilities are not positive)"),
        col("altman_zone", T, "distress (< 1.10) | grey | safe (> 2.60)"),
        col("altman_change", F, "Z'' minus last month's"),
        col("altman_note", T, "why Z'' is null, when it is"),
        col("biggest_mover", T, "sub-score whose contribution changed most since last month"),
        col("explanation", T, "one line: composite, change, top movers, Z'' and zone"),
    ),
    primary_key=("company_id", "month"),
)

HEALTH_COMPONENTS = Table(
    schema="analytics",
    name="health_components",
    doc="Each health score's components per company and month: composite sub-scores and Z'' terms with their weight, contribution (summing to the score) and change since last month.",
    columns=(
        company_id_column(),
        _month(),
        col("score", T, "composite | altman_z", nullable=False),
        col(
            "component",
            T,
            "sub-score name, or x1_working_capital / x2_retained_earnings / x3_ebit / x4_equity_to_liabilities",
            nullable=False,
        ),
        col("value", F, "sub-score 0-100, or the Z'' ratio"),
        col("weight", F, "normalised sub-score weight, or the Z'' coefficient"),
        col("contribution", F, "weight * value: the components of a score sum to it"),
        col("change", F, "contribution minus last month's"),
        col("inputs", Kind.JSON, "KPI values and their 0-100 scores, or the Z'' ratio's inputs"),
    ),
    primary_key=("company_id", "month", "score", "component"),
)

TABLES: tuple[Table, ...] = (
    INCOME_STATEMENT,
    BALANCE_SHEET,
    CASH_FLOW,
    KPIS,
    HEALTH_SCORES,
    HEALTH_COMPONENTS,
)
