"""Checks on the landed world: the generated books must be true double entry."""

import dagster as dg

from finpipe.defs.metadata import markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.defs.world.assets import world_asset_key
from finpipe.ledger.balance import monthly_trial_balance, unbalanced_entries
from finpipe.warehouse.tables.world import WORLD_JOURNAL_LINES


@dg.asset_check(
    asset=world_asset_key(WORLD_JOURNAL_LINES.name),
    blocking=True,
    partitions_def=company_partitions,
    description="Every journal entry sums to zero and every month's trial balance is zero.",
)
def world_books_balance(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    company_id = context.partition_key
    with warehouse.open() as wh:
        lines = wh.read(WORLD_JOURNAL_LINES, company_id=company_id)
    bad_entries = unbalanced_entries(lines, ("company_id", "provider", "entry_id"))
    months = monthly_trial_balance(lines)
    bad_months = months.filter(months["difference"] != 0)
    return dg.AssetCheckResult(
        # A company with no journal lines at all is a broken landing, not balanced books.
        passed=lines.height > 0 and bad_entries.is_empty() and bad_months.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "journal_lines": lines.height,
            "entries": lines.select("provider", "entry_id").n_unique(),
            "unbalanced_entries": bad_entries.height,
            "months": months.height,
            "unbalanced_months": bad_months.height,
            "examples": dg.MetadataValue.md(
                markdown_preview(bad_entries if bad_entries.height else bad_months)
            ),
        },
    )
