"""Each company's chart of accounts, in its provider's own style.

One template lists every account a generated company may have: its true finpipe
standard account (:mod:`standard_chart`), how QuickBooks Online shows it (Name,
AccountType, AccountSubType, AcctNum) and how Xero shows it (Code, Name, Type,
SystemAccount). Companies get the rows that fit their industry and bank accounts; names
vary between companies the way real files do (``Rent or Lease`` / ``Rent Expense``).

The generator posts by *role* ("ar", "revenue_main", "fx_realised"...); ``role_account``
resolves a role to the template row a company uses for it in a given provider.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.companies import Companies
from finpipe.sandbox.world.rng import Streams, uuid4_strings
from finpipe.sandbox.world.spec import Calendar
from finpipe.sandbox.world.standard_chart import BY_CODE

ALL = None
R, S, C, T, P = ref.RESTAURANT, ref.SOFTWARE, ref.CONSTRUCTION, ref.RETAIL, ref.PROFESSIONAL


@dataclass(frozen=True)
class TemplateAccount:
    """One possible account. ``qbo``: (names|alternatives, AccountType, AccountSubType,
    AcctNum); ``xero``: (Code, names|alternatives, Type, SystemAccount). ``None`` = the
    provider's charts don't have it."""

    key: str
    std: str
    industries: tuple[int, ...] | None
    qbo: tuple[str, str, str, str] | None
    xero: tuple[str, str, str, str | None] | None
    bank_kind: int = -1  # the bank account kind this ledger account represents


TEMPLATE: tuple[TemplateAccount, ...] = (
    # bank accounts (names are replaced by the bank's product name)
    TemplateAccount(
        "checking",
        "1010",
        ALL,
        ("Checking", "Bank", "Checking", "1000"),
        ("090", "Business Bank Account", "BANK", None),
        ref.CHECKING,
    ),
    TemplateAccount(
        "savings",
        "1020",
        ALL,
        ("Savings", "Bank", "Savings", "1010"),
        ("091", "Business Savings Account", "BANK", None),
        ref.SAVINGS,
    ),
    TemplateAccount(
        "card",
        "2100",
        ALL,
        ("Business Credit Card|Visa|Mastercard|Amex", "Credit Card", "CreditCard", "2010"),
        ("092", "Company Credit Card|Business Card", "BANK", None),
        ref.CREDIT_CARD,
    ),
    TemplateAccount(
        "fx_bank",
        "1030",
        ALL,
        ("Foreign Currency Account", "Bank", "Checking", "1020"),
        ("093", "Foreign Currency Account", "BANK", None),
        ref.FX_CHECKING,
    ),
    TemplateAccount(
        "petty_cash",
        "1000",
        (R, T),
        ("Petty Cash|Cash on hand", "Bank", "CashOnHand", "1050"),
        ("094", "Petty Cash", "BANK", None),
    ),
    TemplateAccount(
        "clearing",
        "1040",
        (R, S, T, P),
        (
            "Card Sales Clearing|Payments Clearing|Processor Clearing",
            "Other Current Asset",
            "OtherCurrentAssets",
            "1060",
        ),
        ("605", "Payment Processor Clearing|Card Clearing", "CURRENT", None),
    ),
    TemplateAccount(
        "undeposited",
        "1050",
        ALL,
        ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "1070"),
        None,
    ),
    TemplateAccount(
        "ar",
        "1100",
        ALL,
        (
            "Accounts Receivable (A/R)|Accounts Receivable",
            "Accounts Receivable",
            "AccountsReceivable",
            "1200",
        ),
        ("610", "Accounts Receivable", "CURRENT", "DEBTORS"),
    ),
    TemplateAccount(
        "allowance",
        "1150",
        (C, P, S),
        ("Allowance for Bad Debts", "Other Current Asset", "AllowanceForBadDebts", "1210"),
        ("611", "Doubtful Debts Provision", "CURRENT", None),
    ),
    TemplateAccount(
        "inventory",
        "1200",
        (R, T, C),
        ("Inventory Asset|Inventory", "Other Current Asset", "Inventory", "1300"),
        ("630", "Inventory", "INVENTORY", None),
    ),
    TemplateAccount(
        "prepaid",
        "1300",
        ALL,
        ("Prepaid Expenses", "Other Current Asset", "PrepaidExpenses", "1400"),
        ("620", "Prepayments", "PREPAYMENT", None),
    ),
    TemplateAccount(
        "deposits_paid",
        "1400",
        (R, T, C),
        ("Security Deposits", "Other Current Asset", "OtherCurrentAssets", "1410"),
        ("625", "Rent Deposit|Deposits Paid", "CURRENT", None),
    ),
    TemplateAccount(
        "equipment",
        "1500",
        ALL,
        ("Furniture and Equipment|Equipment", "Fixed Asset", "FurnitureAndFixtures", "1500"),
        ("710", "Office Equipment|Plant and Equipment", "FIXED", None),
    ),
    TemplateAccount(
        "computers",
        "1500",
        (S, P),
        ("Computers", "Fixed Asset", "MachineryAndEquipment", "1510"),
        ("720", "Computer Equipment", "FIXED", None),
    ),
    TemplateAccount(
        "vehicles",
        "1510",
        (C,),
        ("Vehicles|Trucks", "Fixed Asset", "Vehicles", "1520"),
        ("730", "Motor Vehicles", "FIXED", None),
    ),
    TemplateAccount(
        "accum_dep",
        "1550",
        ALL,
        ("Accumulated Depreciation", "Fixed Asset", "AccumulatedDepreciation", "1590"),
        (
            "711",
            "Less Accumulated Depreciation on Office Equipment|Accumulated Depreciation",
            "FIXED",
            None,
        ),
    ),
    TemplateAccount(
        "intangibles",
        "1600",
        (S,),
        ("Capitalised Software", "Other Asset", "OtherLongTermAssets", "1700"),
        ("740", "Intangible Assets", "NONCURRENT", None),
    ),
    # liabilities
    TemplateAccount(
        "ap",
        "2000",
        ALL,
        ("Accounts Payable (A/P)|Accounts Payable", "Accounts Payable", "AccountsPayable", "2000"),
        ("800", "Accounts Payable", "CURRLIAB", "CREDITORS"),
    ),
    TemplateAccount(
        "sales_tax",
        "2200",
        ALL,
        ("Sales Tax Payable|VAT Control", "Other Current Liability", "SalesTaxPayable", "2100"),
        ("820", "Sales Tax|VAT", "CURRLIAB", "GST"),
    ),
    TemplateAccount(
        "payroll_liab",
        "2210",
        ALL,
        ("Payroll Liabilities", "Other Current Liability", "PayrollTaxPayable", "2200"),
        ("825", "Payroll Tax Payable|PAYE Payable", "CURRLIAB", None),
    ),
    TemplateAccount(
        "wages_payable",
        "2210",
        ALL,
        None,
        ("814", "Wages Payable - Payroll", "CURRLIAB", "WAGEPAYABLES"),
    ),
    TemplateAccount(
        "accruals",
        "2220",
        ALL,
        ("Accrued Liabilities", "Other Current Liability", "AccruedLiabilities", "2300"),
        ("826", "Accruals", "CURRLIAB", None),
    ),
    TemplateAccount(
        "deferred_revenue",
        "2300",
        (S,),
        ("Deferred Revenue", "Other Current Liability", "OtherCurrentLiabilities", "2400"),
        ("835", "Income in Advance|Deferred Revenue", "CURRLIAB", None),
    ),
    TemplateAccount(
        "line_of_credit",
        "2400",
        ALL,
        ("Line of Credit", "Other Current Liability", "LineOfCredit", "2500"),
        ("850", "Overdraft Facility|Line of Credit", "CURRLIAB", None),
    ),
    TemplateAccount(
        "loan",
        "2500",
        ALL,
        ("Loan Payable|Notes Payable|SBA Loan", "Long Term Liability", "NotesPayable", "2700"),
        ("900", "Loan|Bank Loan", "TERMLIAB", None),
    ),
    # equity
    TemplateAccount(
        "owner_capital",
        "3000",
        ALL,
        ("Owner's Investment|Common Stock", "Equity", "OwnersEquity", "3000"),
        ("970", "Owner A Share Capital|Share Capital", "EQUITY", None),
    ),
    TemplateAccount(
        "drawings",
        "3100",
        ALL,
        (
            "Owner Draws|Owner's Pay & Personal Expenses|Distributions",
            "Equity",
            "PartnerDistributions",
            "3100",
        ),
        ("880", "Owner A Drawings|Dividends", "EQUITY", None),
    ),
    TemplateAccount(
        "retained",
        "3200",
        ALL,
        ("Retained Earnings", "Equity", "RetainedEarnings", "3200"),
        ("960", "Retained Earnings", "EQUITY", "RETAINEDEARNINGS"),
    ),
    # Xero keeps conversion balances in a liability-typed system account: a mapping trap.
    TemplateAccount(
        "obe",
        "3900",
        ALL,
        ("Opening Balance Equity", "Equity", "OpeningBalanceEquity", "3900"),
        ("840", "Historical Adjustment", "CURRLIAB", "HISTORICAL"),
    ),
    # income
    TemplateAccount(
        "product_sales",
        "4000",
        (T,),
        ("Sales of Product Income|Sales", "Income", "SalesOfProductIncome", "4000"),
        ("200", "Sales", "REVENUE", None),
    ),
    TemplateAccount(
        "shipping_income",
        "4200",
        (T,),
        ("Shipping Income", "Income", "OtherPrimaryIncome", "4200"),
        ("215", "Delivery Income", "REVENUE", None),
    ),
    TemplateAccount(
        "food_sales",
        "4040",
        (R,),
        ("Food Sales", "Income", "SalesOfProductIncome", "4000"),
        ("200", "Food Sales|Sales - Food", "SALES", None),
    ),
    TemplateAccount(
        "beverage_sales",
        "4040",
        (R,),
        ("Beverage Sales|Bar Sales", "Income", "SalesOfProductIncome", "4010"),
        ("205", "Beverage Sales|Sales - Drinks", "SALES", None),
    ),
    TemplateAccount(
        "catering",
        "4010",
        (R,),
        ("Catering Income", "Income", "ServiceFeeIncome", "4100"),
        ("210", "Catering Income", "REVENUE", None),
    ),
    TemplateAccount(
        "subscription_revenue",
        "4020",
        (S,),
        ("Subscription Income|SaaS Revenue", "Income", "SalesOfProductIncome", "4000"),
        ("200", "Subscription Revenue|Sales - Subscriptions", "REVENUE", None),
    ),
    TemplateAccount(
        "service_revenue",
        "4010",
        (S, C),
        ("Services|Service Income", "Income", "ServiceFeeIncome", "4100"),
        ("210", "Professional Services Revenue|Service Income", "REVENUE", None),
    ),
    TemplateAccount(
        "contract_revenue",
        "4030",
        (C,),
        ("Construction Income|Contract Income", "Income", "OtherPrimaryIncome", "4000"),
        ("200", "Contract Revenue|Sales", "REVENUE", None),
    ),
    TemplateAccount(
        "fee_revenue",
        "4010",
        (P,),
        ("Services|Consulting Income|Fees Billed", "Income", "ServiceFeeIncome", "4000"),
        ("200", "Fees Income|Consulting Fees|Sales", "REVENUE", None),
    ),
    TemplateAccount(
        "discounts",
        "4100",
        ALL,
        ("Discounts given|Refunds & Allowances", "Income", "DiscountsRefundsGiven", "4900"),
        ("250", "Discounts & Refunds", "REVENUE", None),
    ),
    TemplateAccount(
        "other_income",
        "7200",
        ALL,
        (
            "Other Income|Other Miscellaneous Income",
            "Other Income",
            "OtherMiscellaneousIncome",
            "7900",
        ),
        ("260", "Other Revenue", "OTHERINCOME", None),
    ),
    TemplateAccount(
        "interest_income",
        "7000",
        ALL,
        ("Interest Earned|Interest Income", "Other Income", "InterestEarned", "7000"),
        ("270", "Interest Income", "OTHERINCOME", None),
    ),
    # cost of sales
    TemplateAccount(
        "cogs",
        "5000",
        (T,),
        (
            "Cost of Goods Sold|Purchases - Resale Items",
            "Cost of Goods Sold",
            "SuppliesMaterialsCogs",
            "5000",
        ),
        ("310", "Cost of Goods Sold|Purchases", "DIRECTCOSTS", None),
    ),
    TemplateAccount(
        "freight_in",
        "5000",
        (T,),
        (
            "Shipping, Freight & Delivery - COS",
            "Cost of Goods Sold",
            "ShippingFreightDeliveryCos",
            "5010",
        ),
        ("315", "Freight Inwards", "DIRECTCOSTS", None),
    ),
    TemplateAccount(
        "food_cost",
        "5010",
        (R,),
        ("Food Costs|Cost of Food", "Cost of Goods Sold", "SuppliesMaterialsCogs", "5000"),
        ("310", "Food Purchases|Cost of Sales - Food", "DIRECTCOSTS", None),
    ),
    TemplateAccount(
        "beverage_cost",
        "5010",
        (R,),
        ("Beverage Costs|Cost of Drinks", "Cost of Goods Sold", "SuppliesMaterialsCogs", "5010"),
        ("311", "Beverage Purchases|Cost of Sales - Drinks", "DIRECTCOSTS", None),
    ),
    TemplateAccount(
        "materials",
        "5020",
        (C,),
        ("Job Materials|Materials", "Cost of Goods Sold", "SuppliesMaterialsCogs", "5000"),
        ("310", "Materials|Cost of Materials", "DIRECTCOSTS", None),
    ),
    TemplateAccount(
        "subcontractors",
        "5030",
        (C, P),
        ("Subcontractors|Contract Labor", "Cost of Goods Sold", "CostOfLaborCos", "5100"),
        ("320", "Subcontractors", "DIRECTCOSTS", None),
    ),
    TemplateAccount(
        "hosting",
        "5040",
        (S,),
        (
            "Hosting & Cloud Services|Hosting Fees",
            "Cost of Goods Sold",
            "OtherCostsOfServiceCos",
            "5000",
        ),
        ("310", "Hosting Costs|Cloud Infrastructure", "DIRECTCOSTS", None),
    ),
    # operating expenses
    TemplateAccount(
        "wages",
        "6000",
        ALL,
        ("Payroll Expenses:Wages|Salaries & Wages", "Expense", "PayrollExpenses", "6000"),
        ("477", "Wages and Salaries|Salaries", "EXPENSE", None),
    ),
    TemplateAccount(
        "payroll_taxes",
        "6010",
        ALL,
        ("Payroll Expenses:Taxes|Payroll Taxes", "Expense", "PayrollExpenses", "6010"),
        ("478", "Employer Payroll Taxes|Employers National Insurance", "EXPENSE", None),
    ),
    TemplateAccount(
        "benefits",
        "6020",
        ALL,
        ("Employee Benefits", "Expense", "OtherMiscellaneousServiceCost", "6020"),
        ("479", "Pensions|Employee Benefits", "EXPENSE", None),
    ),
    TemplateAccount(
        "rent",
        "6100",
        ALL,
        ("Rent or Lease|Rent Expense|Rent", "Expense", "RentOrLeaseOfBuildings", "6100"),
        ("469", "Rent", "OVERHEADS", None),
    ),
    TemplateAccount(
        "utilities",
        "6110",
        ALL,
        ("Utilities", "Expense", "Utilities", "6110"),
        ("445", "Light, Power, Heating|Utilities", "OVERHEADS", None),
    ),
    TemplateAccount(
        "telephone",
        "6120",
        ALL,
        ("Phone & Internet|Telephone", "Expense", "Utilities", "6120"),
        ("489", "Telephone & Internet", "OVERHEADS", None),
    ),
    TemplateAccount(
        "advertising",
        "6200",
        ALL,
        ("Advertising|Advertising & Marketing", "Expense", "AdvertisingPromotional", "6200"),
        ("400", "Advertising|Marketing", "OVERHEADS", None),
    ),
    TemplateAccount(
        "meals",
        "6300",
        ALL,
        ("Meals and Entertainment|Meals", "Expense", "EntertainmentMeals", "6300"),
        ("420", "Entertainment", "OVERHEADS", None),
    ),
    TemplateAccount(
        "travel",
        "6310",
        ALL,
        ("Travel|Travel Expenses", "Expense", "Travel", "6310"),
        ("493", "Travel - National", "OVERHEADS", None),
    ),
    TemplateAccount(
        "travel_intl", "6310", ALL, None, ("494", "Travel - International", "OVERHEADS", None)
    ),
    TemplateAccount(
        "software",
        "6400",
        ALL,
        ("Software & Subscriptions|Dues & Subscriptions", "Expense", "DuesSubscriptions", "6400"),
        ("485", "Subscriptions|Software", "OVERHEADS", None),
    ),
    TemplateAccount(
        "office",
        "6410",
        ALL,
        (
            "Office Supplies|Office Expenses",
            "Expense",
            "OfficeGeneralAdministrativeExpenses",
            "6410",
        ),
        ("453", "Office Expenses", "OVERHEADS", None),
    ),
    TemplateAccount(
        "printing", "6410", ALL, None, ("461", "Printing & Stationery", "OVERHEADS", None)
    ),
    TemplateAccount(
        "supplies",
        "6430",
        (R, T, C),
        ("Supplies & Materials|Supplies", "Expense", "SuppliesMaterials", "6430"),
        ("455", "Operating Supplies|Cleaning & Supplies", "OVERHEADS", None),
    ),
    TemplateAccount(
        "repairs",
        "6420",
        ALL,
        ("Repair & Maintenance|Repairs", "Expense", "RepairMaintenance", "6420"),
        ("473", "Repairs and Maintenance", "OVERHEADS", None),
    ),
    TemplateAccount(
        "insurance",
        "6500",
        ALL,
        ("Insurance|Business Insurance", "Expense", "Insurance", "6500"),
        ("433", "Insurance", "OVERHEADS", None),
    ),
    TemplateAccount(
        "prof_fees",
        "6510",
        ALL,
        ("Legal & Professional Fees|Accounting Fees", "Expense", "LegalProfessionalFees", "6510"),
        ("412", "Consulting & Accounting", "EXPENSE", None),
    ),
    TemplateAccount("legal", "6510", ALL, None, ("441", "Legal expenses", "OVERHEADS", None)),
    TemplateAccount(
        "bank_charges",
        "6600",
        ALL,
        ("Bank Charges|Bank Service Charges", "Expense", "BankCharges", "6600"),
        ("404", "Bank Fees|Bank Service Charges", "OVERHEADS", None),
    ),
    TemplateAccount(
        "merchant_fees",
        "6610",
        (R, S, T, P),
        ("Merchant Fees|Processing Fees", "Expense", "BankCharges", "6610"),
        ("405", "Merchant Fees|Stripe Fees", "OVERHEADS", None),
    ),
    TemplateAccount(
        "vehicle",
        "6700",
        ALL,
        ("Automobile:Fuel|Car & Truck", "Expense", "Auto", "6700"),
        ("449", "Motor Vehicle Expenses", "OVERHEADS", None),
    ),
    TemplateAccount(
        "equipment_rental",
        "6710",
        (C,),
        ("Equipment Rental", "Expense", "EquipmentRental", "6710"),
        ("474", "Equipment Hire|Plant Hire", "OVERHEADS", None),
    ),
    # QBO books depreciation under Other Expense; the standard chart keeps it operating.
    TemplateAccount(
        "depreciation",
        "6800",
        ALL,
        ("Depreciation", "Other Expense", "Depreciation", "6800"),
        ("416", "Depreciation", "DEPRECIATN", None),
    ),
    TemplateAccount(
        "dues",
        "6900",
        ALL,
        ("Dues & Memberships|Licenses & Permits", "Expense", "DuesSubscriptions", "6900"),
        ("482", "Dues & Licences", "OVERHEADS", None),
    ),
    TemplateAccount(
        "training",
        "6910",
        ALL,
        ("Training|Continuing Education", "Expense", "OtherMiscellaneousServiceCost", "6910"),
        ("483", "Training", "OVERHEADS", None),
    ),
    TemplateAccount(
        "shipping",
        "6920",
        ALL,
        ("Shipping, Freight & Delivery|Postage", "Expense", "ShippingFreightDelivery", "6920"),
        ("425", "Freight & Courier|Postage", "OVERHEADS", None),
    ),
    TemplateAccount(
        "misc",
        "6990",
        ALL,
        (
            "Miscellaneous Expense|Other General Expenses",
            "Expense",
            "OtherMiscellaneousServiceCost",
            "6990",
        ),
        ("429", "General Expenses", "OVERHEADS", None),
    ),
    # other
    TemplateAccount(
        "fx_realised",
        "7100",
        ALL,
        ("Exchange Gain or Loss", "Other Expense", "ExchangeGainOrLoss", "7100"),
        ("499", "Realised Currency Gains", "EXPENSE", "REALISEDCURRENCYGAIN"),
    ),
    TemplateAccount(
        "fx_unrealised",
        "7110",
        ALL,
        None,
        ("498", "Unrealised Currency Gains", "EXPENSE", "UNREALISEDCURRENCYGAIN"),
    ),
    TemplateAccount(
        "bank_revaluation",
        "7110",
        ALL,
        None,
        ("497", "Bank Revaluations", "EXPENSE", "BANKCURRENCYGAIN"),
    ),
    TemplateAccount(
        "interest_expense",
        "8000",
        ALL,
        ("Interest Paid|Interest Expense", "Expense", "InterestPaid", "8000"),
        ("437", "Interest Expense", "OVERHEADS", None),
    ),
    TemplateAccount(
        "income_tax",
        "8100",
        ALL,
        ("Income Tax Expense", "Other Expense", "OtherMiscellaneousExpense", "8100"),
        ("505", "Income Tax Expense", "EXPENSE", None),
    ),
    TemplateAccount("rounding", "6990", ALL, None, ("860", "Rounding", "CURRLIAB", "ROUNDING")),
)
KEYS = tuple(t.key for t in TEMPLATE)
INDEX = {k: i for i, k in enumerate(KEYS)}
N_TEMPLATE = len(TEMPLATE)
STD_OF = tuple(t.std for t in TEMPLATE)

for _t in TEMPLATE:  # the template must only name real standard accounts
    assert _t.std in BY_CODE, _t

# Roles whose account depends on the industry.
INDUSTRY_ROLES: dict[int, dict[str, str]] = {
    R: {
        "revenue_main": "food_sales",
        "revenue_second": "beverage_sales",
        "revenue_invoice": "catering",
        "cogs_main": "food_cost",
        "cogs_second": "beverage_cost",
    },
    S: {
        "revenue_main": "subscription_revenue",
        "revenue_second": "service_revenue",
        "revenue_invoice": "subscription_revenue",
        "cogs_main": "hosting",
        "cogs_second": "hosting",
    },
    C: {
        "revenue_main": "contract_revenue",
        "revenue_second": "service_revenue",
        "revenue_invoice": "contract_revenue",
        "cogs_main": "materials",
        "cogs_second": "subcontractors",
    },
    T: {
        "revenue_main": "product_sales",
        "revenue_second": "shipping_income",
        "revenue_invoice": "product_sales",
        "cogs_main": "cogs",
        "cogs_second": "freight_in",
    },
    P: {
        "revenue_main": "fee_revenue",
        "revenue_second": "fee_revenue",
        "revenue_invoice": "fee_revenue",
        "cogs_main": "subcontractors",
        "cogs_second": "subcontractors",
    },
}
# Roles a provider resolves to another account (QBO has a single FX account).
PROVIDER_ROLES: dict[int, dict[str, str]] = {
    0: {"fx_unrealised": "fx_realised", "bank_revaluation": "fx_realised"},
    1: {},
}

ROLE_NAMES = (
    *KEYS,
    "revenue_main",
    "revenue_second",
    "revenue_invoice",
    "cogs_main",
    "cogs_second",
)
ROLE = {r: i for i, r in enumerate(ROLE_NAMES)}
N_ROLES = len(ROLE_NAMES)


def role_table(companies: Companies) -> np.ndarray:
    """``(companies, 2 providers, roles)`` -> template index of the account used."""
    out = np.empty((companies.n, 2, N_ROLES), dtype=np.int16)
    base = np.arange(N_ROLES)
    base[N_TEMPLATE:] = -1
    for ci in range(companies.n):  # per company: cheap
        ind = INDUSTRY_ROLES[int(companies.industry[ci])]
        for p in (0, 1):
            row = base.copy()
            for role, key in ind.items():
                row[ROLE[role]] = INDEX[key]
            for role, key in PROVIDER_ROLES[p].items():
                row[ROLE[role]] = INDEX[key]
            out[ci, p] = row
    return out


def used_accounts(roles: np.ndarray, ci: np.ndarray, role: np.ndarray) -> np.ndarray:
    """(companies, templates) accounts that receive postings or are named by items, in
    either provider's mapping (those are never archived)."""
    used = np.zeros((roles.shape[0], N_TEMPLATE), dtype=bool)
    for p in (0, 1):
        used[ci, roles[ci, p, role]] = True
    for key in ("checking", "savings", "card", "fx_bank"):
        used[:, INDEX[key]] = True
    return used


def _classification(p: int, typ: str, key: str) -> str:
    if p == 0:
        if typ in (
            "Bank",
            "Other Current Asset",
            "Fixed Asset",
            "Accounts Receivable",
            "Other Asset",
        ):
            return "Asset"
        if typ in (
            "Accounts Payable",
            "Credit Card",
            "Other Current Liability",
            "Long Term Liability",
        ):
            return "Liability"
        if typ == "Equity":
            return "Equity"
        if typ in ("Income", "Other Income"):
            return "Revenue"
        return "Expense"
    if key == "card":
        return "Liability"
    if typ in ("BANK", "CURRENT", "FIXED", "INVENTORY", "PREPAYMENT", "NONCURRENT"):
        return "Asset"
    if typ in ("CURRLIAB", "TERMLIAB", "LIABILITY"):
        return "Liability"
    if typ == "EQUITY":
        return "Equity"
    if typ in ("REVENUE", "SALES", "OTHERINCOME"):
        return "Revenue"
    return "Expense"


@dataclass
class Accounts:
    """The accounts of every company and provider, and a fast (ci, provider, template)
    -> row lookup for posting."""

    frame: pl.DataFrame  # world_accounts columns plus ci, p, tmpl
    lookup: np.ndarray  # (companies, 2, N_TEMPLATE) -> row in frame, -1 if absent
    roles: np.ndarray  # role_table()


def build_accounts(
    cal: Calendar,
    companies: Companies,
    bank_names: dict[tuple[int, int], tuple[str, str]],
    used: np.ndarray,
    roles: np.ndarray,
    streams: Streams,
) -> Accounts:
    """Every company's chart in each of its providers.

    ``bank_names[(ci, kind)]`` = (ledger name, bank_account_id) for each bank account;
    ``used[ci, tmpl]`` marks accounts that will receive postings (unused ones may be
    archived, used ones never are).
    """
    rng = streams.get("accounts")
    rows: dict[str, list] = {
        k: []
        for k in (
            "ci",
            "p",
            "tmpl",
            "code",
            "name",
            "account_type",
            "account_subtype",
            "classification",
            "currency",
            "bank_account_id",
            "active",
            "created_day",
            "truth_standard_account",
        )
    }
    numbered = rng.random(companies.n) < 0.4  # QBO files with account numbers switched on
    for ci in range(companies.n):  # per company: a few dozen accounts each
        ind = int(companies.industry[ci])
        prov = int(companies.provider[ci])
        providers = (0, 1) if prov == ref.BOTH else (prov,)
        home = ref.CURRENCIES[companies.home_ccy[ci]]
        us = companies.country[ci] == ref.US_
        for p in providers:
            created = cal.start - int(rng.integers(30, 900))
            if prov == ref.BOTH and p == 1:
                created = int(companies.cutover[ci]) - int(rng.integers(20, 60))
            for t, acc in enumerate(TEMPLATE):
                spec = acc.qbo if p == 0 else acc.xero
                if spec is None:
                    continue
                if acc.industries is not None and ind not in acc.industries:
                    continue
                if acc.bank_kind >= 0 and not companies.has_kind[ci, acc.bank_kind]:
                    continue
                if p == 0:
                    names, typ, sub, num = spec
                    code = num if numbered[ci] else None
                else:
                    code, names, typ, sub = spec
                options = names.split("|")
                if acc.key == "sales_tax":
                    options = [options[0] if us else options[-1]]
                name = options[int(rng.integers(len(options)))]
                ccy = home
                bank_id = None
                if acc.bank_kind >= 0:
                    name, bank_id = bank_names[(ci, acc.bank_kind)]
                    if acc.bank_kind == ref.FX_CHECKING:
                        ccy = ref.CURRENCIES[companies.foreign_ccy[ci]]
                active = bool(used[ci, t]) or rng.random() > 0.12
                rows["ci"].append(ci)
                rows["p"].append(p)
                rows["tmpl"].append(t)
                rows["code"].append(code)
                rows["name"].append(name)
                rows["account_type"].append(typ)
                rows["account_subtype"].append(sub)
                rows["classification"].append(_classification(p, typ, acc.key))
                rows["currency"].append(ccy)
                rows["bank_account_id"].append(bank_id)
                rows["active"].append(active)
                rows["created_day"].append(created)
                rows["truth_standard_account"].append(acc.std)
    frame = pl.DataFrame(rows, schema_overrides={"ci": pl.Int32, "p": pl.Int8, "tmpl": pl.Int16})
    n = frame.height
    qbo_ids = (
        frame.select((pl.int_range(pl.len()).over("ci", "p") + 1).alias("q"))
        .to_series()
        .cast(pl.String)
    )
    xero_ids = uuid4_strings(rng, n)
    created_us = (frame["created_day"].cast(pl.Int64) * 86_400 + 9 * 3600) * 1_000_000
    created_us = created_us + pl.Series(rng.integers(0, 8 * 3600, n) * 1_000_000)
    # A few accounts were renamed or archived later: updated after creation.
    touched = pl.Series(rng.random(n) < 0.15) | ~frame["active"]
    upd_days = pl.Series(rng.integers(1, max(2, cal.end - cal.start), n))
    updated_us = created_us + touched.cast(pl.Int64) * upd_days * 86_400_000_000
    frame = frame.with_columns(
        pl.when(pl.col("p") == 0).then(qbo_ids).otherwise(xero_ids).alias("account_id"),
        pl.Series(created_us).cast(pl.Datetime("us", "UTC")).alias("created_at"),
        pl.Series(updated_us).cast(pl.Datetime("us", "UTC")).alias("updated_at"),
    )
    lookup = np.full((companies.n, 2, N_TEMPLATE), -1, dtype=np.int64)
    lookup[frame["ci"].to_numpy(), frame["p"].to_numpy(), frame["tmpl"].to_numpy()] = np.arange(n)
    return Accounts(frame=frame, lookup=lookup, roles=roles)
