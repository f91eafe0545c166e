"""Mapping QuickBooks / Xero accounts onto the standard chart: rules, overrides, the unmapped
listing, the landing-table decoders (on real payloads), and accuracy on a generated world."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from finpipe.ledger.account_mapping import (
    ACCOUNT_SCHEMA,
    NAME_RULES,
    REVIEW_BELOW,
    SUBTYPES,
    SYSTEM,
    TYPES,
    AccountMappingError,
    accounts_from_quickbooks,
    accounts_from_xero,
    invalid_overrides,
    map_accounts,
    unmapped,
)
from finpipe.ledger.chart import BY_CODE
from finpipe.sandbox.quickbooks.render import iter_realms, render_realm
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.sandbox.xero.render import render_tenant
from finpipe.sandbox.xero.store import SandboxClock
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP, ACCOUNT_MAP_OVERRIDES

UTC = dt.UTC


def accounts(
    rows: list[tuple[str, str | None, str | None, str | None]],
    provider: str,
    currency: str = "EUR",
    company_id: str = "cmp_a",
) -> pl.DataFrame:
    """Provider accounts from (name, type, subtype, classification) tuples."""
    return pl.DataFrame(
        {
            "company_id": [company_id] * len(rows),
            "provider": [provider] * len(rows),
            "account_id": [f"{provider}-{i}" for i in range(len(rows))],
            "code": [None] * len(rows),
            "name": [r[0] for r in rows],
            "account_type": [r[1] for r in rows],
            "account_subtype": [r[2] for r in rows],
            "classification": [r[3] for r in rows],
            "currency": [currency] * len(rows),
        },
        schema=ACCOUNT_SCHEMA,
    )


def by_name(mapped: pl.DataFrame) -> dict[str, tuple[str | None, str]]:
    return {r["source_name"]: (r["standard_code"], r["rule"]) for r in mapped.iter_rows(named=True)}


def landing(records: list[dict[str, Any]], id_field: str, **extra: Any) -> pl.DataFrame:
    """``raw.*`` landing rows (payload as JSON text) for ``records``."""
    n = len(records)
    return pl.DataFrame(
        {
            "company_id": ["cmp_a"] * n,
            "tenant_id": ["tenant-1"] * n,
            "source_id": [str(r.get(id_field)) for r in records],
            "payload": [json.dumps(r, default=str) for r in records],
            "deleted": extra.get("deleted", [False] * n),
        }
    )


# --- the rule tables --------------------------------------------------------------------------


def test_every_rule_names_a_standard_account() -> None:
    codes = set(SYSTEM.values()) | {c for c, _ in SUBTYPES.values()}
    codes |= {r.code for r in NAME_RULES}
    codes |= {t.code for t in TYPES.values() if t.code} | {
        t.default for t in TYPES.values() if t.default
    }
    assert codes <= set(BY_CODE)
    for rule in NAME_RULES:
        # Each word is a valid regular expression Polars accepts.
        pl.select(pl.lit("x").str.contains(rule.pattern))


# --- QuickBooks -------------------------------------------------------------------------------

QBO_CHART = [
    # (name, AccountType, AccountSubType, Classification) -> expected code, rule
    (("Checking", "Bank", "Checking", "Asset"), "1010", "provider_type"),
    (("Savings", "Bank", "Savings", "Asset"), "1020", "provider_type"),
    (("Petty Cash", "Bank", "CashOnHand", "Asset"), "1000", "provider_type"),
    (("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"), "1050", "system"),
    (
        ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
        "1100",
        "system",
    ),
    (("Stripe Clearing", "Other Current Asset", "OtherCurrentAssets", "Asset"), "1040", "name"),
    (("Inventory Asset", "Other Current Asset", "Inventory", "Asset"), "1200", "provider_type"),
    (("Truck", "Fixed Asset", "Vehicles", "Asset"), "1510", "provider_type"),
    (
        ("Accumulated Depreciation", "Fixed Asset", "AccumulatedDepreciation", "Asset"),
        "1550",
        "provider_type",
    ),
    (
        ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability"),
        "2000",
        "system",
    ),
    (("Visa", "Credit Card", "CreditCard", "Liability"), "2100", "provider_type"),
    (
        (
            "Board of Equalization Payable",
            "Other Current Liability",
            "GlobalTaxPayable",
            "Liability",
        ),
        "2200",
        "system",
    ),
    (
        ("Deferred Revenue", "Other Current Liability", "OtherCurrentLiabilities", "Liability"),
        "2300",
        "name",
    ),
    (
        ("Notes Payable", "Long Term Liability", "NotesPayable", "Liability"),
        "2500",
        "provider_type",
    ),
    (("Opening Balance Equity", "Equity", "OpeningBalanceEquity", "Equity"), "3900", "system"),
    (
        ("Owner's Pay & Personal Expenses", "Equity", "PartnerDistributions", "Equity"),
        "3100",
        "provider_type",
    ),
    (("Landscaping Services", "Income", "ServiceFeeIncome", "Revenue"), "4010", "name"),
    (("Sales of Product Income", "Income", "SalesOfProductIncome", "Revenue"), "4000", "name"),
    (("Shipping Income", "Income", "OtherPrimaryIncome", "Revenue"), "4200", "name"),
    (("Interest Earned", "Other Income", "InterestEarned", "Revenue"), "7000", "provider_type"),
    (
        ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense"),
        "5000",
        "name",
    ),
    (("Subcontractors", "Cost of Goods Sold", "CostOfLaborCos", "Expense"), "5030", "name"),
    (("Payroll Expenses:Taxes", "Expense", "PayrollExpenses", "Expense"), "6010", "name"),
    (("Payroll Expenses:Wages", "Expense", "PayrollExpenses", "Expense"), "6000", "name"),
    (("Rent or Lease", "Expense", "RentOrLeaseOfBuildings", "Expense"), "6100", "provider_type"),
    (("Phone & Internet", "Expense", "Utilities", "Expense"), "6120", "name"),
    (("Utilities:Gas and Electric", "Expense", "Utilities", "Expense"), "6110", "name"),
    (("Stripe Fees", "Expense", "BankCharges", "Expense"), "6610", "name"),
    (("Bank Charges", "Expense", "BankCharges", "Expense"), "6600", "name"),
    (("Automobile:Fuel", "Expense", "Auto", "Expense"), "6700", "provider_type"),
    (("Depreciation", "Other Expense", "Depreciation", "Expense"), "6800", "provider_type"),
    (("Exchange Gain or Loss", "Other Expense", "ExchangeGainOrLoss", "Expense"), "7100", "system"),
    (
        ("Income Tax Expense", "Other Expense", "OtherMiscellaneousExpense", "Expense"),
        "8100",
        "name",
    ),
    # Names that say nothing: the subtype's usual meaning, below the review threshold.
    (("Widgets", "Income", "SalesOfProductIncome", "Revenue"), "4000", "type_default"),
    (("Acme", "Expense", "OtherMiscellaneousServiceCost", "Expense"), "6990", "type_default"),
]


def test_quickbooks_chart_maps_by_subtype_system_and_name() -> None:
    mapped = map_accounts(accounts([r for r, _, _ in QBO_CHART], "quickbooks", "USD"))
    got = by_name(mapped)
    for row, code, rule in QBO_CHART:
        assert got[row[0]] == (code, rule), row
    assert mapped.schema == ACCOUNT_MAP.polars_schema()
    assert mapped.height == len(QBO_CHART)
    defaults = mapped.filter(pl.col("rule") == "type_default")
    assert (defaults["confidence"] < REVIEW_BELOW).all()


def test_a_bank_account_in_a_foreign_currency_is_the_fx_bank() -> None:
    frame = pl.concat(
        [
            accounts([("Checking", "Bank", "Checking", "Asset")] * 3, "quickbooks", "GBP"),
            accounts([("Euro Account", "Bank", "Checking", "Asset")], "quickbooks", "EUR"),
        ]
    ).with_columns(account_id=pl.format("q{}", pl.int_range(pl.len())))
    mapped = map_accounts(frame)
    assert mapped["standard_code"].to_list() == ["1010", "1010", "1010", "1030"]
    assert mapped["rule_detail"][3] == "Checking; foreign currency"
    # The home currency can be given (ops.companies) rather than inferred.
    homes = pl.DataFrame({"company_id": ["cmp_a"], "home_currency": ["EUR"]})
    mapped = map_accounts(frame, home_currencies=homes)
    assert mapped["standard_code"].to_list() == ["1030", "1030", "1030", "1010"]


# --- Xero -------------------------------------------------------------------------------------

XERO_CHART = [
    # Xero's default chart, and the traps of its system accounts
    (("Business Bank Account", "BANK", None, "Asset"), "1010", "name"),
    (("Business Savings Account", "BANK", None, "Asset"), "1020", "name"),
    (("Company Credit Card", "BANK", None, "Liability"), "2100", "provider_type"),
    (("Amex Gold", "BANK", "CREDITCARD", "Asset"), "2100", "provider_type"),
    (("Accounts Receivable", "CURRENT", "DEBTORS", "Asset"), "1100", "system"),
    (("Prepayments", "PREPAYMENT", None, "Asset"), "1300", "provider_type"),
    (("Inventory", "INVENTORY", None, "Asset"), "1200", "provider_type"),
    (("Office Equipment", "FIXED", None, "Asset"), "1500", "name"),
    (("Less Accumulated Depreciation on Office Equipment", "FIXED", None, "Asset"), "1550", "name"),
    (("Computer Equipment", "FIXED", None, "Asset"), "1500", "name"),
    (("Accounts Payable", "CURRLIAB", "CREDITORS", "Liability"), "2000", "system"),
    (("Unpaid Expense Claims", "CURRLIAB", "UNPAIDEXPCLM", "Liability"), "2000", "system"),
    (("Wages Payable - Payroll", "CURRLIAB", "WAGEPAYABLES", "Liability"), "2210", "system"),
    (("Sales Tax", "CURRLIAB", "GST", "Liability"), "2200", "system"),
    (("Employee Tax Payable", "CURRLIAB", None, "Liability"), "2210", "name"),
    (("Income Tax Payable", "CURRLIAB", None, "Liability"), "2220", "name"),
    (("Historical Adjustment", "CURRLIAB", "HISTORICAL", "Liability"), "3900", "system"),
    (("Rounding", "CURRLIAB", "ROUNDING", "Liability"), "6990", "system"),
    (("Loan", "TERMLIAB", None, "Liability"), "2500", "name"),
    (("Owner A Drawings", "EQUITY", None, "Equity"), "3100", "name"),
    (("Owner A Funds Introduced", "EQUITY", None, "Equity"), "3000", "name"),
    (("Retained Earnings", "EQUITY", "RETAINEDEARNINGS", "Equity"), "3200", "system"),
    (("Sales", "REVENUE", None, "Revenue"), "4000", "name"),
    (("Other Revenue", "REVENUE", None, "Revenue"), "7200", "name"),
    (("Interest Income", "REVENUE", None, "Revenue"), "7000", "name"),
    (("Cost of Goods Sold", "DIRECTCOSTS", None, "Expense"), "5000", "name"),
    (("Advertising", "OVERHEADS", None, "Expense"), "6200", "name"),
    (("Consulting & Accounting", "EXPENSE", None, "Expense"), "6510", "name"),
    (("Depreciation", "DEPRECIATN", None, "Expense"), "6800", "provider_type"),
    (("Entertainment", "OVERHEADS", None, "Expense"), "6300", "name"),
    (("Freight & Courier", "OVERHEADS", None, "Expense"), "6920", "name"),
    (("Interest Expense", "OVERHEADS", None, "Expense"), "8000", "name"),
    (("Light, Power, Heating", "OVERHEADS", None, "Expense"), "6110", "name"),
    (("Motor Vehicle Expenses", "OVERHEADS", None, "Expense"), "6700", "name"),
    (("Printing & Stationery", "OVERHEADS", None, "Expense"), "6410", "name"),
    (("Superannuation", "OVERHEADS", None, "Expense"), "6020", "name"),
    (("Telephone & Internet", "OVERHEADS", None, "Expense"), "6120", "name"),
    (("Wages and Salaries", "EXPENSE", None, "Expense"), "6000", "name"),
    (("Bank Revaluations", "EXPENSE", "BANKCURRENCYGAIN", "Expense"), "7110", "system"),
    (("Realised Currency Gains", "EXPENSE", "REALISEDCURRENCYGAIN", "Expense"), "7100", "system"),
    (("Income Tax Expense", "EXPENSE", None, "Expense"), "8100", "name"),
]


def test_xero_chart_maps_system_accounts_before_their_types() -> None:
    mapped = map_accounts(accounts([r for r, _, _ in XERO_CHART], "xero", "GBP"))
    got = by_name(mapped)
    for row, code, rule in XERO_CHART:
        assert got[row[0]] == (code, rule), row
    # "Sales" says revenue, not which revenue: mapped, but flagged for review.
    sales = mapped.filter(pl.col("source_name") == "Sales").row(0, named=True)
    assert sales["confidence"] < REVIEW_BELOW and sales["rule_detail"] == "sales (generic)"


# German, French and Dutch charts (SKR-style, PCG-style, RGS-style names) in Xero types.
MULTILINGUAL = [
    ("Sparkasse Girokonto", "BANK", "1010"),
    ("Kasse", "BANK", "1000"),
    ("Tagesgeld", "BANK", "1020"),
    ("Forderungen aus Lieferungen und Leistungen", "CURRENT", "1100"),
    ("Verbindlichkeiten aus Lieferungen und Leistungen", "CURRLIAB", "2000"),
    ("Umsatzsteuer 19%", "CURRLIAB", "2200"),
    ("Darlehen Volksbank", "TERMLIAB", "2500"),
    ("Stammkapital", "EQUITY", "3000"),
    ("Privatentnahmen", "EQUITY", "3100"),
    ("Wareneingang 19% Vorsteuer", "DIRECTCOSTS", "5000"),
    ("Fremdleistungen", "DIRECTCOSTS", "5030"),
    ("Löhne und Gehälter", "EXPENSE", "6000"),
    ("Gesetzliche soziale Aufwendungen", "EXPENSE", "6010"),
    ("Miete", "OVERHEADS", "6100"),
    ("Telefon", "OVERHEADS", "6120"),
    ("Versicherungen", "OVERHEADS", "6500"),
    ("Rechts- und Beratungskosten", "OVERHEADS", "6510"),
    ("Kfz-Kosten", "OVERHEADS", "6700"),
    ("Reisekosten Arbeitnehmer", "OVERHEADS", "6310"),
    ("Nebenkosten des Geldverkehrs", "OVERHEADS", "6600"),
    ("Abschreibungen auf Sachanlagen", "OVERHEADS", "6800"),
    ("Zinsaufwand", "OVERHEADS", "8000"),
    ("Banque Populaire compte courant", "BANK", "1010"),
    ("Clients", "CURRENT", "1100"),
    ("Fournisseurs", "CURRLIAB", "2000"),
    ("TVA collectée", "CURRLIAB", "2200"),
    ("Capital social", "EQUITY", "3000"),
    ("Prestations de services", "REVENUE", "4010"),
    ("Ventes de marchandises", "REVENUE", "4000"),
    ("Achats de marchandises", "DIRECTCOSTS", "5000"),
    ("Salaires et traitements", "EXPENSE", "6000"),
    ("Charges sociales", "EXPENSE", "6010"),
    ("Loyer", "OVERHEADS", "6100"),
    ("Assurances", "OVERHEADS", "6500"),
    ("Honoraires comptables", "OVERHEADS", "6510"),
    ("Frais bancaires", "OVERHEADS", "6600"),
    ("Dotations aux amortissements", "OVERHEADS", "6800"),
    ("ING Zakelijke Rekening", "BANK", "1010"),
    ("Debiteuren", "CURRENT", "1100"),
    ("Crediteuren", "CURRLIAB", "2000"),
    ("Te betalen btw", "CURRLIAB", "2200"),
    ("Inkoopwaarde van de omzet", "DIRECTCOSTS", "5000"),
    ("Lonen en salarissen", "EXPENSE", "6000"),
    ("Sociale lasten", "EXPENSE", "6010"),
    ("Huur bedrijfspand", "OVERHEADS", "6100"),
    ("Telefoon en internet", "OVERHEADS", "6120"),
    ("Verzekeringen", "OVERHEADS", "6500"),
    ("Autokosten", "OVERHEADS", "6700"),
    ("Bankkosten", "OVERHEADS", "6600"),
    ("Afschrijvingen", "OVERHEADS", "6800"),
]


def test_names_in_german_french_and_dutch() -> None:
    rows = [(name, typ, None, None) for name, typ, _ in MULTILINGUAL]
    got = by_name(map_accounts(accounts(rows, "xero")))
    wrong = {n: (got[n][0], want) for n, _, want in MULTILINGUAL if got[n][0] != want}
    assert not wrong, wrong


def test_a_name_only_counts_within_the_sections_the_type_allows() -> None:
    rows = [
        ("Shipping", "REVENUE", None, "Revenue"),
        ("Shipping", "DIRECTCOSTS", None, "Expense"),
        ("Shipping", "OVERHEADS", None, "Expense"),
        ("Depreciation", "FIXED", None, "Asset"),
        ("Rent Deposit", "CURRENT", None, "Asset"),
        ("Rent", "OVERHEADS", None, "Expense"),
    ]
    mapped = map_accounts(accounts(rows, "xero"))
    assert mapped["standard_code"].to_list() == ["4200", "5000", "6920", "1550", "1400", "6100"]


# --- overrides and the unmapped listing -------------------------------------------------------


def overrides(rows: list[tuple[str, str, str, str | None, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": ["cmp_a"] * len(rows),
            "provider": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "standard_code": [r[2] for r in rows],
            "note": [r[3] for r in rows],
            "updated_at": [r[4] for r in rows],
        },
        schema=ACCOUNT_MAP_OVERRIDES.polars_schema(),
    )


def test_overrides_win_over_every_rule_the_latest_one_first() -> None:
    frame = accounts(
        [
            ("Accounts Receivable", "CURRENT", "DEBTORS", "Asset"),
            ("Sales", "REVENUE", None, "Revenue"),
            ("Stuff", "OVERHEADS", None, "Expense"),
        ],
        "xero",
    )
    old, new = dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC)
    ov = overrides(
        [
            ("xero", "xero-1", "4030", "we are a builder", old),
            ("xero", "xero-1", "4010", "we bill services", new),  # latest wins
            ("xero", "xero-0", "1100", None, new),  # confirming a rule is fine
            ("xero", "xero-2", "9999", "typo", new),  # not a standard code: not applied
            ("quickbooks", "xero-2", "6410", None, new),  # another provider's account
        ]
    )
    mapped = map_accounts(frame, ov)
    rows = {r["account_id"]: r for r in mapped.iter_rows(named=True)}
    assert (rows["xero-1"]["standard_code"], rows["xero-1"]["rule"]) == ("4010", "override")
    assert rows["xero-1"]["rule_detail"] == "we bill services"
    assert rows["xero-1"]["confidence"] == 1.0
    assert rows["xero-0"]["rule"] == "override"
    assert (rows["xero-2"]["standard_code"], rows["xero-2"]["rule"]) == ("6990", "fallback")
    assert invalid_overrides(ov)["standard_code"].to_list() == ["9999"]
    # Overriding a foreign bank account keeps what the person chose.
    bank = accounts([("Dollar Account", "BANK", None, "Asset")], "xero", "USD").vstack(
        accounts([("Sales", "REVENUE", None, "Revenue")] * 3, "xero", "EUR")
    )
    bank = bank.with_columns(account_id=pl.format("b{}", pl.int_range(pl.len())))
    plain = map_accounts(bank)
    assert plain["standard_code"][0] == "1030"
    forced = map_accounts(bank, overrides([("xero", "b0", "1010", None, new)]))
    assert forced["standard_code"][0] == "1010"


def test_unmapped_lists_fallbacks_and_nothing_else_is_dropped() -> None:
    frame = accounts(
        [
            ("Rent", "OVERHEADS", None, "Expense"),
            ("Zorblax", "OVERHEADS", None, "Expense"),  # type known, name says nothing
            ("Current Asset account", "CURRENT", None, "Asset"),
            ("Mystery", "SOMETHINGNEW", None, "Liability"),  # unknown type, known class
            ("Void", None, None, None),  # nothing to go on
        ],
        "xero",
    ).vstack(accounts([("Widgets", "Income", "SalesOfProductIncome", "Revenue")], "quickbooks"))
    mapped = map_accounts(frame)
    assert mapped.height == frame.height  # every account keeps its row
    listed = unmapped(mapped)
    assert listed["source_name"].to_list() == [
        "Current Asset account",
        "Mystery",
        "Void",
        "Zorblax",
    ]
    assert dict(zip(listed["source_name"], listed["standard_code"], strict=True)) == {
        "Current Asset account": "1400",
        "Mystery": "2220",
        "Void": None,
        "Zorblax": "6990",
    }
    assert set(listed["rule"]) == {"fallback", "none"}
    # With the review threshold the weaker decisions are listed too.
    review = unmapped(mapped, below=REVIEW_BELOW)
    assert "Widgets" in review["source_name"].to_list()


def test_missing_columns_are_an_error_naming_them() -> None:
    with pytest.raises(AccountMappingError, match=r"accounts: missing columns \['currency'\]"):
        map_accounts(accounts([("Rent", "OVERHEADS", None, "Expense")], "xero").drop("currency"))


# --- decoding the landing tables, on real payloads --------------------------------------------


def test_quickbooks_landing_rows_decode_and_map(conformance_dir: Path) -> None:
    qbo = conformance_dir / "quickbooks"
    records = [json.loads(line) for line in (qbo / "accounts.jsonl").read_text().splitlines()]
    deactivated = json.loads((qbo / "http" / "deactivate_account.json").read_text())["Account"]
    records.append(deactivated)
    gone = dict(records[0], Id="999", Name="Gone")
    raw = landing([*records, gone], "Id", deleted=[False] * len(records) + [True])
    decoded = accounts_from_quickbooks(raw)
    assert decoded.schema == ACCOUNT_SCHEMA
    assert "999" not in decoded["account_id"].to_list()  # deleted at the provider
    row = decoded.filter(pl.col("account_id") == "90").row(0, named=True)
    assert row == {
        "company_id": "cmp_a",
        "provider": "quickbooks",
        "account_id": "90",
        "code": None,
        "name": "Board of Equalization Payable",
        "account_type": "Other Current Liability",
        "account_subtype": "GlobalTaxPayable",
        "classification": "Liability",
        "currency": "USD",
    }
    got = by_name(map_accounts(decoded))
    assert got == {
        "Undeposited Funds": ("1050", "system"),
        "Board of Equalization Payable": ("2200", "system"),
        "Accounts Receivable (A/R)": ("1100", "system"),
        "Inventory Asset": ("1200", "provider_type"),
        "Checking": ("1010", "provider_type"),
        "Fees Billed (deleted)": ("4010", "name"),  # QBO's suffix on inactive accounts
    }


def test_xero_landing_rows_decode_and_map(conformance_dir: Path) -> None:
    xero = conformance_dir / "xero"
    airbyte = [
        json.loads(line) for line in (xero / "airbyte" / "accounts.jsonl").read_text().splitlines()
    ]
    examples = json.loads((xero / "openapi_examples" / "Accounts.GET.200.json").read_text())
    put = json.loads((xero / "openapi_examples" / "Accounts.PUT.200.json").read_text())
    card = {
        "AccountID": "c0ffee00-0000-4000-8000-000000000001",
        "Code": "092",
        "Name": "Business Visa",
        "Type": "BANK",
        "Class": "ASSET",
        "BankAccountType": "CREDITCARD",
        "CurrencyCode": "USD",
    }
    records = [*airbyte, *examples["Accounts"], *put["Accounts"], card]
    orgs = landing([{"OrganisationID": "tenant-1", "BaseCurrency": "USD"}], "OrganisationID")
    decoded = accounts_from_xero(landing(records, "AccountID"), orgs)
    assert decoded.schema == ACCOUNT_SCHEMA
    receivable = decoded.filter(pl.col("name") == "Accounts Receivable").row(0, named=True)
    assert receivable["account_subtype"] == "DEBTORS"
    assert receivable["classification"] == "Asset"
    assert receivable["currency"] == "USD"  # the organisation's base currency
    assert decoded.filter(pl.col("name") == "Business Visa")["account_subtype"][0] == "CREDITCARD"
    mapped = map_accounts(decoded)
    got = by_name(mapped)
    assert got["Business Account"] == ("1010", "name")
    assert got["Accounts Receivable"] == ("1100", "system")
    assert got["Business Savings Account"] == ("1030", "name")  # NZD in a USD organisation
    assert got["Sales"] == ("4000", "name")  # no Class in the example: the Type decides
    assert got["Business Visa"] == ("2100", "provider_type")
    listed = set(unmapped(mapped)["source_name"])
    assert listed == {"Current Asset account", "Foobar"}


# --- accuracy on a generated world ------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("mapping") / "world"
    generate_world(WorldSpec(companies=12, months=2, seed=42), root)
    return load_world(root)


@pytest.fixture(scope="module")
def world_accounts(world: World) -> pl.DataFrame:
    return world.table("accounts").collect()


def test_accuracy_against_the_world_ground_truth(world_accounts: pl.DataFrame) -> None:
    mapped = map_accounts(world_accounts.select(list(ACCOUNT_SCHEMA)))
    truth = world_accounts.select("company_id", "provider", "account_id", "truth_standard_account")
    scored = mapped.join(truth, on=["company_id", "provider", "account_id"], how="left")
    assert scored.height == world_accounts.height
    hit = scored["standard_code"] == scored["truth_standard_account"]
    accuracy = hit.mean()
    # Measured 100 % on this world (729 accounts) and 99.86 % on 300 companies (seed 7).
    assert accuracy is not None and accuracy >= 0.99, accuracy
    misses = scored.filter(~hit)
    listed = set(unmapped(mapped)["account_id"])
    for miss in misses.iter_rows(named=True):
        assert miss["account_id"] in listed or miss["confidence"] < REVIEW_BELOW, miss


def test_sandbox_payloads_decode_and_map_like_the_world(
    world: World, world_accounts: pl.DataFrame
) -> None:
    # The same accounts as the sandbox APIs serve them, landed, decoded and mapped: QBO's
    # "(deleted)" names of inactive accounts, Xero's base currency from the Organisation.
    def land(rows: list[tuple[str, str, str, dict[str, Any]]]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "company_id": [r[0] for r in rows],
                "tenant_id": [r[1] for r in rows],
                "source_id": [r[2] for r in rows],
                "payload": [json.dumps(r[3], default=str) for r in rows],
                "deleted": [False] * len(rows),
            }
        )

    qbo = [
        (rw.company["company_id"], rw.realm_id, payload["Id"], payload)
        for rw in iter_realms(world)
        for entity, payload in render_realm(rw)[0]
        if entity == "Account"
    ]
    xero, orgs = [], []
    clock = SandboxClock(dt.datetime(2026, 11, 1, tzinfo=UTC))
    tenants = world.table("companies").filter(pl.col("xero_tenant_id").is_not_null()).collect()
    for company in tenants.iter_rows(named=True):
        store = render_tenant(world, company, clock)
        tenant = company["xero_tenant_id"]
        for a in store.records["Accounts"].values():
            xero.append((company["company_id"], tenant, a["AccountID"], a))
        for o in store.records["Organisation"].values():
            orgs.append((company["company_id"], tenant, o["OrganisationID"], o))
    decoded = pl.concat(
        [accounts_from_quickbooks(land(qbo)), accounts_from_xero(land(xero), land(orgs))]
    )
    assert decoded["currency"].null_count() == 0
    mapped = map_accounts(decoded)
    truth = world_accounts.select("company_id", "provider", "account_id", "truth_standard_account")
    scored = mapped.join(truth, on=["company_id", "provider", "account_id"], how="inner")
    assert scored.height == world_accounts.height == mapped.height
    accuracy = (scored["standard_code"] == scored["truth_standard_account"]).mean()
    assert accuracy is not None and accuracy >= 0.99, accuracy
