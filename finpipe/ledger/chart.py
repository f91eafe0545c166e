"""The finpipe standard chart of accounts: the taxonomy every provider account maps to.

The ledger owns this chart. Provider charts differ (QBO AccountType/AccountSubType, Xero
Type/Class, each company's own names and codes); analytics, benchmarks and lenders need one
chart, so every provider account is mapped onto it (:mod:`finpipe.ledger.account_mapping`).

Codes are four digits; the first digit is the class, the section says which statement
line an account rolls up to:

====  ==========  ==========================================================
1xxx  asset       ``cash``, ``current_asset``, ``fixed_asset``
2xxx  liability   ``current_liability``, ``long_term_liability``
3xxx  equity      ``equity``
4xxx  income      ``revenue``
5xxx  expense     ``cost_of_sales``
6xxx  expense     ``operating_expense``
7xxx  income      ``other_income`` (gains, interest earned; FX gains and losses net here)
8xxx  expense     ``other_expense`` (interest paid, income tax)
====  ==========  ==========================================================

Each section has a catch-all account (:data:`SECTION_CATCH_ALL`): where an account whose
section is known but whose line is not lands, with a low confidence, for a person to review.

The world generator (:mod:`finpipe.sandbox.world.standard_chart`) carries an identical copy
it scores its ground truth against; ``finpipe_tests/ledger/test_chart.py`` proves the two
equal until the generator imports this module instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

CLASSES = ("asset", "liability", "equity", "income", "expense")
SECTIONS = (
    "cash",
    "current_asset",
    "fixed_asset",
    "current_liability",
    "long_term_liability",
    "equity",
    "revenue",
    "cost_of_sales",
    "operating_expense",
    "other_income",
    "other_expense",
)


@dataclass(frozen=True)
class StandardAccount:
    """One account of the standard chart."""

    code: str
    name: str
    account_class: str  # asset | liability | equity | income | expense
    section: str  # statement line, see SECTIONS
    description: str

    @property
    def normal_balance(self) -> str:
        """``debit`` for assets and expenses, ``credit`` otherwise."""
        return "debit" if self.account_class in ("asset", "expense") else "credit"


def _a(code: str, name: str, cls: str, section: str, description: str) -> StandardAccount:
    return StandardAccount(code, name, cls, section, description)


STANDARD_ACCOUNTS: tuple[StandardAccount, ...] = (
    # --- assets
    _a("1000", "Cash on hand", "asset", "cash", "petty cash and till floats"),
    _a("1010", "Bank - operating", "asset", "cash", "main current / checking account"),
    _a("1020", "Bank - savings", "asset", "cash", "savings / deposit account"),
    _a("1030", "Bank - foreign currency", "asset", "cash", "bank account in a foreign currency"),
    _a(
        "1040",
        "Payment processor clearing",
        "asset",
        "current_asset",
        "card sales awaiting payout by Stripe, Square, SumUp...",
    ),
    _a("1050", "Undeposited funds", "asset", "current_asset", "receipts not yet banked"),
    _a("1100", "Accounts receivable", "asset", "current_asset", "trade debtors"),
    _a("1150", "Allowance for doubtful accounts", "asset", "current_asset", "contra-receivable"),
    _a("1200", "Inventory", "asset", "current_asset", "stock held for sale"),
    _a("1300", "Prepaid expenses", "asset", "current_asset", "prepayments"),
    _a("1400", "Other current assets", "asset", "current_asset", "deposits, other debtors"),
    _a(
        "1500",
        "Property and equipment",
        "asset",
        "fixed_asset",
        "furniture, fixtures, machinery, computers at cost",
    ),
    _a("1510", "Vehicles", "asset", "fixed_asset", "vehicles at cost"),
    _a("1550", "Accumulated depreciation", "asset", "fixed_asset", "contra-asset"),
    _a("1600", "Intangible assets", "asset", "fixed_asset", "software, goodwill"),
    # --- liabilities
    _a("2000", "Accounts payable", "liability", "current_liability", "trade creditors"),
    _a("2100", "Credit card", "liability", "current_liability", "company credit cards"),
    _a(
        "2200",
        "Sales tax / VAT payable",
        "liability",
        "current_liability",
        "output tax less recoverable input tax",
    ),
    _a(
        "2210",
        "Payroll liabilities",
        "liability",
        "current_liability",
        "withholdings and employer taxes not yet remitted",
    ),
    _a("2220", "Accrued liabilities", "liability", "current_liability", "accruals"),
    _a(
        "2300",
        "Deferred revenue",
        "liability",
        "current_liability",
        "billed in advance, not yet earned",
    ),
    _a(
        "2400",
        "Short-term borrowing",
        "liability",
        "current_liability",
        "overdraft, line of credit",
    ),
    _a("2500", "Long-term loans", "liability", "long_term_liability", "term loans, notes"),
    # --- equity
    _a("3000", "Owner's capital", "equity", "equity", "share capital, funds introduced"),
    _a("3100", "Owner's drawings", "equity", "equity", "drawings, distributions, dividends"),
    _a("3200", "Retained earnings", "equity", "equity", "accumulated profits of prior years"),
    _a("3900", "Opening balance equity", "equity", "equity", "balancing entry of opening balances"),
    # --- income
    _a("4000", "Product sales", "income", "revenue", "sales of goods"),
    _a("4010", "Service revenue", "income", "revenue", "fees for services"),
    _a("4020", "Subscription revenue", "income", "revenue", "recurring software subscriptions"),
    _a("4030", "Contract revenue", "income", "revenue", "construction / project billings"),
    _a("4040", "Food and beverage sales", "income", "revenue", "restaurant sales"),
    _a("4100", "Discounts and refunds given", "income", "revenue", "contra-revenue"),
    _a("4200", "Shipping and delivery income", "income", "revenue", "delivery charges billed"),
    # --- cost of sales
    _a("5000", "Cost of goods sold", "expense", "cost_of_sales", "merchandise purchased"),
    _a("5010", "Food and beverage cost", "expense", "cost_of_sales", "ingredients, drinks"),
    _a("5020", "Materials", "expense", "cost_of_sales", "job materials"),
    _a("5030", "Subcontractors", "expense", "cost_of_sales", "subcontracted work"),
    _a(
        "5040",
        "Hosting and infrastructure",
        "expense",
        "cost_of_sales",
        "cloud hosting serving customers",
    ),
    _a("5100", "Direct labour", "expense", "cost_of_sales", "wages of staff on jobs"),
    # --- operating expenses
    _a("6000", "Salaries and wages", "expense", "operating_expense", "gross pay"),
    _a(
        "6010",
        "Payroll taxes",
        "expense",
        "operating_expense",
        "employer social security, NI, Sozialversicherung",
    ),
    _a("6020", "Employee benefits", "expense", "operating_expense", "pensions, health"),
    _a("6100", "Rent", "expense", "operating_expense", "premises rent"),
    _a("6110", "Utilities", "expense", "operating_expense", "electricity, gas, water"),
    _a("6120", "Telephone and internet", "expense", "operating_expense", "telecoms"),
    _a("6200", "Advertising and marketing", "expense", "operating_expense", "ads, promotion"),
    _a("6300", "Meals and entertainment", "expense", "operating_expense", "meals, hospitality"),
    _a("6310", "Travel", "expense", "operating_expense", "transport, lodging"),
    _a("6400", "Software and subscriptions", "expense", "operating_expense", "SaaS, licences"),
    _a("6410", "Office supplies", "expense", "operating_expense", "stationery, small items"),
    _a("6420", "Repairs and maintenance", "expense", "operating_expense", "repairs"),
    _a(
        "6430",
        "Operating supplies",
        "expense",
        "operating_expense",
        "cleaning, packaging, small tools",
    ),
    _a("6500", "Insurance", "expense", "operating_expense", "business insurance"),
    _a("6510", "Professional fees", "expense", "operating_expense", "legal, accounting"),
    _a("6600", "Bank charges", "expense", "operating_expense", "account and transfer fees"),
    _a("6610", "Merchant fees", "expense", "operating_expense", "card processing fees"),
    _a("6700", "Vehicle expenses", "expense", "operating_expense", "fuel, vehicle running"),
    _a("6710", "Equipment rental", "expense", "operating_expense", "hired equipment"),
    _a("6800", "Depreciation", "expense", "operating_expense", "depreciation charge"),
    _a("6900", "Dues and licences", "expense", "operating_expense", "memberships, permits"),
    _a("6910", "Training", "expense", "operating_expense", "courses"),
    _a("6920", "Shipping and postage", "expense", "operating_expense", "freight, couriers"),
    _a("6990", "Other operating expenses", "expense", "operating_expense", "miscellaneous"),
    # --- other income / expense
    _a("7000", "Interest income", "income", "other_income", "interest earned"),
    _a(
        "7100",
        "Foreign exchange gain/loss",
        "income",
        "other_income",
        "realised exchange differences (net; a loss is a debit)",
    ),
    _a(
        "7110",
        "Unrealised FX gain/loss",
        "income",
        "other_income",
        "revaluation of foreign-currency balances",
    ),
    _a("7200", "Other income", "income", "other_income", "sundry income"),
    _a("8000", "Interest expense", "expense", "other_expense", "interest on loans, overdraft"),
    _a("8100", "Income tax expense", "expense", "other_expense", "corporation / income tax"),
)

BY_CODE: dict[str, StandardAccount] = {a.code: a for a in STANDARD_ACCOUNTS}

# The account an account of a known section but unknown line falls back to. Other expense
# has no generic line (interest, income tax), so its catch-all is the operating one.
SECTION_CATCH_ALL: dict[str, str] = {
    "cash": "1010",
    "current_asset": "1400",
    "fixed_asset": "1500",
    "current_liability": "2220",
    "long_term_liability": "2500",
    "equity": "3000",
    "revenue": "4000",
    "cost_of_sales": "5000",
    "operating_expense": "6990",
    "other_income": "7200",
    "other_expense": "6990",
}

# The sections of each class, in statement order.
CLASS_SECTIONS: dict[str, tuple[str, ...]] = {
    "asset": ("cash", "current_asset", "fixed_asset"),
    "liability": ("current_liability", "long_term_liability"),
    "equity": ("equity",),
    "income": ("revenue", "other_income"),
    "expense": ("cost_of_sales", "operating_expense", "other_expense"),
}


def standard_account(code: str) -> StandardAccount:
    """The standard account with ``code``; ``KeyError`` names the unknown code."""
    try:
        return BY_CODE[code]
    except KeyError:
        raise KeyError(f"{code!r} is not a finpipe standard account code") from None


def is_standard_code(code: str) -> bool:
    """Whether ``code`` is a code of the standard chart."""
    return code in BY_CODE


def standard_chart_frame() -> pl.DataFrame:
    """The standard chart as a table: the columns of ``ledger.standard_accounts``
    (code, name, account_class, section, normal_balance, description), in code order."""
    return pl.DataFrame(
        {
            "code": [a.code for a in STANDARD_ACCOUNTS],
            "name": [a.name for a in STANDARD_ACCOUNTS],
            "account_class": [a.account_class for a in STANDARD_ACCOUNTS],
            "section": [a.section for a in STANDARD_ACCOUNTS],
            "normal_balance": [a.normal_balance for a in STANDARD_ACCOUNTS],
            "description": [a.description for a in STANDARD_ACCOUNTS],
        },
        schema={
            "code": pl.String,
            "name": pl.String,
            "account_class": pl.String,
            "section": pl.String,
            "normal_balance": pl.String,
            "description": pl.String,
        },
    )
