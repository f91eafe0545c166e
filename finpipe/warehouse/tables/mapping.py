"""The standard chart of accounts and the mapping of each company's provider accounts to it.

``ledger.standard_accounts`` is the taxonomy (:mod:`finpipe.ledger.chart`);
``ledger.account_map`` says, for every QuickBooks / Xero account of a company, which standard
account it is, which rule decided and how sure it is (:mod:`finpipe.ledger.account_mapping`);
``ops.account_map_overrides`` is where a person corrects a mapping for one company.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

T = Kind.TEXT

STANDARD_ACCOUNTS = Table(
    schema="ledger",
    name="standard_accounts",
    doc="The finpipe standard chart of accounts: the taxonomy every provider account maps to.",
    columns=(
        col("code", T, "four-digit code; the first digit is the class", nullable=False),
        col("name", T, "account name", nullable=False),
        col("account_class", T, "asset | liability | equity | income | expense", nullable=False),
        col(
            "section",
            T,
            "statement line it rolls up to: cash | current_asset | fixed_asset | current_liability | long_term_liability | equity | revenue | cost_of_sales | operating_expense | other_income | other_expense",
            nullable=False,
        ),
        col("normal_balance", T, "debit | credit", nullable=False),
        col("description", T, "what belongs here", nullable=False),
    ),
    primary_key=("code",),
    partition_column=None,
)

ACCOUNT_MAP = Table(
    schema="ledger",
    name="account_map",
    doc="Each company's QuickBooks / Xero accounts mapped to the standard chart, with the rule that decided and its confidence; accounts no rule placed are kept with a null code.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col(
            "account_id",
            T,
            "the account's id at the provider (QBO Id, Xero AccountID)",
            nullable=False,
        ),
        col("source_code", T, "the provider's account code (QBO AcctNum, Xero Code)"),
        col(
            "source_name",
            T,
            "the provider's name (QBO FullyQualifiedName, Xero Name)",
            nullable=False,
        ),
        col("source_type", T, "QBO AccountType / Xero Type"),
        col(
            "source_subtype",
            T,
            "QBO AccountSubType / Xero SystemAccount (or BankAccountType CREDITCARD / PAYPAL)",
        ),
        col("source_classification", T, "Asset | Liability | Equity | Revenue | Expense"),
        col("currency", T, "ISO 4217 currency of the account"),
        col(
            "standard_code",
            T,
            "ledger.standard_accounts code; null when no rule could place the account",
        ),
        col(
            "rule",
            T,
            "override | system | provider_type | name | type_default | fallback | none",
            nullable=False,
        ),
        col(
            "rule_detail",
            T,
            "what matched: the subtype or type, the name pattern, the override note",
        ),
        col(
            "confidence",
            Kind.FLOAT,
            "0..1; below 0.5 (fallback, none) the account is listed as unmapped",
            nullable=False,
        ),
    ),
    primary_key=("company_id", "provider", "account_id"),
)

ACCOUNT_MAP_OVERRIDES = Table(
    schema="ops",
    name="account_map_overrides",
    doc="Per-company corrections of the account mapping, entered by a person; they win over every rule.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("account_id", T, "the account's id at the provider", nullable=False),
        col("standard_code", T, "ledger.standard_accounts code to map to", nullable=False),
        col("note", T, "why (who asked, what the account really holds)"),
        col("updated_at", Kind.TIMESTAMP, "last change of this override", nullable=False),
    ),
    primary_key=("company_id", "provider", "account_id"),
)

TABLES: tuple[Table, ...] = (STANDARD_ACCOUNTS, ACCOUNT_MAP, ACCOUNT_MAP_OVERRIDES)
