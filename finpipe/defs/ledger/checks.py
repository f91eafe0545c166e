"""Checks on the canonical bank tables: the lines must reproduce every balance the banks
reported (multi-bank aggregation loses nothing and invents nothing)."""

import dagster as dg
import polars as pl

from finpipe.defs.ledger.assets import BANK_LINES_KEY
from finpipe.defs.metadata import markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.ledger.bank_build import statement_balance_points
from finpipe.ledger.bank_lines import balance_continuity
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES


@dg.asset_check(
    asset=BANK_LINES_KEY,
    blocking=True,
    partitions_def=company_partitions,
    description=(
        "Balance continuity per account: previous balance + movements = the balance the bank "
        "reported, for every day with a printed running balance and every reported balance. "
        "Accounts with nothing to check but one current balance are listed as unverified."
    ),
)
def bank_balance_continuity(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    company_id = context.partition_key
    with warehouse.open() as wh:
        lines = wh.read(BANK_LINES, company_id=company_id)
        accounts = wh.read(BANK_ACCOUNTS, company_id=company_id)
        points = statement_balance_points(wh, company_id, accounts)
    result = balance_continuity(lines, points, accounts)
    broken = result.filter(~pl.col("continuous"))
    unverified = result.filter(pl.col("continuous") & ~pl.col("verified"))
    return dg.AssetCheckResult(
        passed=broken.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "accounts": result.height,
            "broken_accounts": broken.height,
            # Consistent by construction: one current balance and no running balances (the
            # aggregator's accounts); nothing else to hold their lines to yet.
            "unverified_accounts": unverified.height,
            "days_checked": int(result.get_column("days").sum() or 0),
            "running_balances_checked": int(result.get_column("running_balances").sum() or 0),
            "reported_balances_checked": int(result.get_column("reported_balances").sum() or 0),
            "accounts_detail": dg.MetadataValue.md(markdown_preview(result, rows=20)),
        },
    )
