"""analytics/peer_groups, peer_group_members, peer_benchmarks: every company's KPI percentiles
against its NAICS x revenue-band peers, its custom groups and the reference table (the rules
live in :mod:`finpipe.analytics.peers`). One unpartitioned asset: it spans companies."""

import dagster as dg
import polars as pl

from finpipe.analytics.peers.build import (
    PeerConfig,
    build_peer_benchmarks,
    summary_markdown,
    write_peer_benchmarks,
)
from finpipe.analytics.peers.groups import MIN_K
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.peers.checks import check_results, check_specs
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.analytics_peers import (
    PEER_BENCHMARKS,
    PEER_GROUP_MEMBERS,
    PEER_GROUPS,
)

OUTPUT_TABLES = (PEER_GROUPS, PEER_GROUP_MEMBERS, PEER_BENCHMARKS)
KEYS = {table.name: dg.AssetKey(["analytics", table.name]) for table in OUTPUT_TABLES}
# The financials multi-asset (finpipe/defs/financials/assets.py) writes both, per company.
DEPS = [
    dg.AssetKey(["analytics", "kpis"]),
    dg.AssetKey(["analytics", "income_statement"]),
    dg.AssetKey(["ops", "companies"]),
]


class PeerBenchmarksConfig(dg.Config):
    """Run configuration; ``k`` below 5 is refused."""

    k: int = MIN_K


def _specs() -> list[dg.AssetSpec]:
    # A function, not module-level specs: the defs loader would take those for assets. Own
    # group: it spans companies, so the per-company main job leaves it to build_marts.
    return [derived_table_spec(KEYS[t.name], t, "benchmarks", DEPS) for t in OUTPUT_TABLES]


@dg.multi_asset(
    name="peer_benchmarks",
    specs=_specs(),
    check_specs=check_specs(),
    can_subset=False,
    description="Place every company-month in a NAICS (6 -> 4 -> 3 -> 2 digits) x revenue-band "
    "peer group of at least k members (band dropped before digits), rank its KPIs within the "
    "group (winsorised, 100 = best), add custom groups and, for companies without peers, "
    "positions against the published reference quartiles.",
)
def peer_benchmarks(
    context: dg.AssetExecutionContext, config: PeerBenchmarksConfig, warehouse: WarehouseResource
):
    settings = PeerConfig(k=config.k)
    with warehouse.open() as wh:
        result = build_peer_benchmarks(wh, settings)
        write_peer_benchmarks(wh, result)
    summary = summary_markdown(result)
    groups, members, benchmarks = result.groups, result.members, result.benchmarks
    context.log.info(
        f"peer benchmarks: {groups.height} company-month(s), "
        f"{members.select('month', 'group_id').unique().height} group-month(s), "
        f"{benchmarks.height} benchmark row(s), k={result.k}"
    )
    levels = {
        str(level): n for level, n in groups.group_by("level").len().sort("level").iter_rows()
    }
    yield dg.MaterializeResult(
        asset_key=KEYS["peer_groups"],
        metadata={
            "dagster/row_count": groups.height,
            "k": result.k,
            "summary": dg.MetadataValue.md(summary),
            "company_months_by_level": dg.MetadataValue.json(levels),
        },
    )
    yield dg.MaterializeResult(
        asset_key=KEYS["peer_group_members"],
        metadata={
            "dagster/row_count": members.height,
            "groups_by_source": dg.MetadataValue.json(
                {
                    str(s): n
                    for s, n in members.select("month", "group_id", "source")
                    .unique()
                    .group_by("source")
                    .len()
                    .sort("source")
                    .iter_rows()
                }
            ),
        },
    )
    latest = benchmarks.filter(pl.col("month") == pl.col("month").max())
    yield dg.MaterializeResult(
        asset_key=KEYS["peer_benchmarks"],
        metadata={
            "dagster/row_count": benchmarks.height,
            "reference_rows": result.reference_rows,
            "preview": dg.MetadataValue.md(
                markdown_preview(
                    latest.sort("company_id", "kpi"),
                    rows=12,
                    columns=["company_id", "kpi", "source", "level", "value", "percentile", "n"],
                )
            ),
        },
    )
    yield from check_results(result)
