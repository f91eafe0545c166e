"""ledger/standard_accounts and ledger/account_map: the standard chart, and each company's
QuickBooks / Xero accounts mapped onto it (the rules live in
:mod:`finpipe.ledger.account_mapping`)."""

import dagster as dg

from finpipe.compliance.overrides import record_overrides
from finpipe.defs.metadata import markdown_preview, table_schema, write_metadata
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.ledger.account_mapping import (
    REVIEW_BELOW,
    invalid_overrides,
    map_accounts,
    provider_accounts,
    unmapped,
)
from finpipe.ledger.chart import standard_chart_frame
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP, ACCOUNT_MAP_OVERRIDES, STANDARD_ACCOUNTS
from finpipe.warehouse.tables.ops import COMPANIES
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

STANDARD_ACCOUNTS_KEY = dg.AssetKey(["ledger", "standard_accounts"])
ACCOUNT_MAP_KEY = dg.AssetKey(["ledger", "account_map"])
SOURCES = [
    dg.AssetKey(["raw", QUICKBOOKS_TABLES["Account"].name]),
    dg.AssetKey(["raw", XERO_TABLES["Accounts"].name]),
    dg.AssetKey(["raw", XERO_TABLES["Organisation"].name]),
]


@dg.asset(
    key=STANDARD_ACCOUNTS_KEY,
    group_name="reference",
    kinds={"duckdb", "postgres"},
    description=STANDARD_ACCOUNTS.doc,
    metadata={
        "dagster/table_name": STANDARD_ACCOUNTS.qualified_name,
        "dagster/column_schema": table_schema(STANDARD_ACCOUNTS),
    },
)
def standard_accounts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    frame = standard_chart_frame()
    with warehouse.open() as wh:
        result = wh.replace_all(STANDARD_ACCOUNTS, frame)
    return dg.MaterializeResult(metadata=write_metadata(STANDARD_ACCOUNTS, result, frame))


@dg.asset(
    key=ACCOUNT_MAP_KEY,
    automation_condition=dg.AutomationCondition.eager(),
    group_name="ledger",
    kinds={"polars", "duckdb", "postgres"},
    deps=[*SOURCES, STANDARD_ACCOUNTS_KEY],
    partitions_def=company_partitions,
    description=ACCOUNT_MAP.doc,
    check_specs=[
        dg.AssetCheckSpec(
            "accounts_mapped",
            asset=ACCOUNT_MAP_KEY,
            description="Lists the accounts only a fallback placed (or none): a person "
            "confirms them or adds an override in ops.account_map_overrides.",
        ),
        dg.AssetCheckSpec(
            "overrides_valid",
            asset=ACCOUNT_MAP_KEY,
            description="Every override names a code of the standard chart.",
        ),
    ],
    metadata={
        "dagster/table_name": ACCOUNT_MAP.qualified_name,
        "dagster/column_schema": table_schema(ACCOUNT_MAP),
    },
)
def account_map(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        accounts = provider_accounts(wh, company_id)
        overrides = wh.read(ACCOUNT_MAP_OVERRIDES, company_id=company_id)
        # Each new version of a person's override goes into the audit chain once.
        record_overrides(
            wh,
            company_id,
            ACCOUNT_MAP_OVERRIDES.qualified_name,
            overrides,
            ["provider", "account_id"],
        )
        homes = wh.read(COMPANIES, where="company_id = %s", params=[company_id]).select(
            "company_id", "home_currency"
        )
        mapped = map_accounts(accounts, overrides, homes)
        result = wh.replace_partition(ACCOUNT_MAP, company_id, mapped)
    by_rule = dict(mapped.group_by("rule").len().sort("rule").iter_rows())
    to_review = unmapped(mapped, below=REVIEW_BELOW)
    missing = unmapped(mapped)
    bad = invalid_overrides(overrides)
    yield dg.MaterializeResult(
        metadata={
            **write_metadata(ACCOUNT_MAP, result, mapped),
            "accounts_by_rule": dg.MetadataValue.json(by_rule),
            "to_review": to_review.height,
        }
    )
    columns = ["provider", "account_id", "source_name", "source_type", "standard_code", "rule"]
    yield dg.AssetCheckResult(
        check_name="accounts_mapped",
        passed=missing.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "unmapped": missing.height,
            "weak_guesses": to_review.height - missing.height,
            "accounts": dg.MetadataValue.md(markdown_preview(to_review, rows=50, columns=columns)),
        },
    )
    yield dg.AssetCheckResult(
        check_name="overrides_valid",
        passed=bad.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"invalid": bad.height, "overrides": dg.MetadataValue.md(markdown_preview(bad))},
    )
