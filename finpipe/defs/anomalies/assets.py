"""analytics/anomaly_flags, benford_tests, seasonal_alerts: one company's anomaly and fraud
flags from its books (the rules live in :mod:`finpipe.analytics.anomalies`).

Rebuilt whenever the books are (the entry instants read from ``raw.*`` only change when the
books do)."""

import dagster as dg

from finpipe.analytics.anomalies.build import detect_company, write_anomalies
from finpipe.defs.anomalies.checks import FLAGS_KEY, check_results, check_specs
from finpipe.defs.ledger.books import KEYS as BOOK_KEYS
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.analytics_anomalies import BENFORD_TESTS, SEASONAL_ALERTS, TABLES

KEYS = {table.name: dg.AssetKey(["analytics", table.name]) for table in TABLES}
DEPS = [BOOK_KEYS[name] for name in ("documents", "journal_lines", "contacts", "allocations")]


def _specs() -> list[dg.AssetSpec]:
    # A function, not module-level specs: the defs loader would take those for assets.
    return [derived_table_spec(KEYS[t.name], t, "analytics", DEPS) for t in TABLES]


@dg.multi_asset(
    name="anomalies",
    specs=_specs(),
    check_specs=check_specs(),
    partitions_def=company_partitions,
    can_subset=False,
    description="Flag a company's suspicious transactions: rules (duplicate and split "
    "payments, round sums, off-hours entries, new vendors paid large sums, payments after a "
    "bank-detail change), Benford's law per vendor and account, an unsupervised outlier model "
    "and seasonally adjusted expense spikes; each flag with a score and a reason.",
)
def anomalies(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        result = detect_company(wh, company_id)
        write_anomalies(wh, result)
    counts = result.counts()
    context.log.info(f"anomalies of {company_id}: {result.flags.height} flag(s) {counts}")
    top = result.top(10)
    yield dg.MaterializeResult(
        asset_key=FLAGS_KEY,
        metadata={
            "dagster/row_count": result.flags.height,
            "flags_by_type": dg.MetadataValue.json(counts),
            "top_flags": dg.MetadataValue.md(
                markdown_preview(
                    top, rows=10, columns=["type", "score", "issue_date", "amount", "reason"]
                )
            ),
        },
    )
    tests = result.benford
    yield dg.MaterializeResult(
        asset_key=KEYS[BENFORD_TESTS.name],
        metadata={
            "dagster/row_count": tests.height,
            "by_conformity": dg.MetadataValue.json(result.benford_counts()),
            "preview": dg.MetadataValue.md(
                markdown_preview(
                    tests.sort("mad", descending=True),
                    columns=["scope", "scope_name", "n", "mad", "conformity", "p_value"],
                )
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=KEYS[SEASONAL_ALERTS.name],
        metadata={
            "dagster/row_count": result.alerts.height,
            "preview": dg.MetadataValue.md(
                markdown_preview(result.alerts, columns=["series", "category", "month", "z"])
            ),
        },
    )
    yield from check_results(result)
