"""ledger/bank_accounts and ledger/bank_lines: every bank source of a company merged into
the canonical bank tables (the rules live in :mod:`finpipe.ledger.bank_lines`)."""

import dagster as dg

from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.ledger.bank_build import bank_sources, build_bank_ledger, write_bank_ledger
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES

BANK_ACCOUNTS_KEY = dg.AssetKey(["ledger", "bank_accounts"])
BANK_LINES_KEY = dg.AssetKey(["ledger", "bank_lines"])
# Every landing table of every bank source feeds the merge.
RAW_BANK_KEYS = [
    dg.AssetKey(["raw", table.name])
    for source in bank_sources()
    for table in source.tables.values()
]


def _spec(key: dg.AssetKey, table) -> dg.AssetSpec:
    return derived_table_spec(key, table, "ledger", RAW_BANK_KEYS)


@dg.multi_asset(
    name="bank_ledger",
    specs=[_spec(BANK_ACCOUNTS_KEY, BANK_ACCOUNTS), _spec(BANK_LINES_KEY, BANK_LINES)],
    partitions_def=company_partitions,
    can_subset=False,
    description=(
        "Merge every bank source of one company: removed lines dropped, pending lines replaced "
        "by their posted line, one line per transaction across APIs and statement files."
    ),
)
def bank_ledger(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        ledger = build_bank_ledger(wh, company_id)
        write_bank_ledger(wh, company_id, ledger)
    stats = ledger.stats
    context.log.info(f"bank ledger of {company_id}: {ledger.summary()}")
    if ledger.quarantined:
        context.log.warning(
            f"bank ledger of {company_id}: {ledger.quarantined} landed transaction(s) could not "
            "be read and were quarantined (ops.quarantine)"
        )
    accounts_view = ledger.accounts.select(
        "bank_account_id",
        "source",
        "institution_name",
        "account_name",
        "currency",
        "lines",
        "reported_balance",
        "last_booked_date",
    )
    yield dg.MaterializeResult(
        asset_key=BANK_ACCOUNTS_KEY,
        metadata={
            "dagster/row_count": ledger.accounts.height,
            "institutions": ledger.accounts.get_column("institution_name").n_unique(),
            "preview": dg.MetadataValue.md(markdown_preview(accounts_view, rows=20)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=BANK_LINES_KEY,
        metadata={
            "dagster/row_count": ledger.lines.height,
            "pending": stats.pending,
            # Landed transactions skipped as unreadable, now in ops.quarantine.
            "quarantined": ledger.quarantined,
            "source_lines": stats.source_lines,
            "removed_dropped": stats.deleted,
            "pending_replaced": stats.pending_replaced,
            "duplicates_collapsed": stats.duplicates_collapsed,
            "statement_accounts_mapped": stats.statement_accounts_mapped,
            "lines_by_source": dg.MetadataValue.json(ledger.lines_by_source),
            "preview": dg.MetadataValue.md(
                markdown_preview(
                    ledger.lines.sort("booked_date", descending=True),
                    rows=10,
                    columns=[
                        "booked_date",
                        "bank_account_id",
                        "amount",
                        "currency",
                        "status",
                        "description",
                        "source",
                    ],
                )
            ),
        },
    )
