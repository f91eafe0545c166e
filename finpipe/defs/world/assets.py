"""``raw/world_*``: the sandbox world of each company, landed in the warehouse.

These tables are the world as generated, including its ground truth; the connectors of
later stages rebuild the books from the sandbox APIs, and accuracy checks compare the two.
"""

import dagster as dg
import polars as pl

from finpipe.defs.metadata import write_metadata
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import SandboxWorldResource, WarehouseResource
from finpipe.warehouse.tables.world import TABLES as WORLD_TABLES

COMPANIES_KEY = dg.AssetKey(["ops", "companies"])


def world_asset_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table_name])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            world_asset_key(t.name),
            description=t.doc,
            group_name="sandbox_world",
            kinds={"parquet", "duckdb", "postgres"},
            deps=[COMPANIES_KEY],
            metadata={"dagster/table_name": t.qualified_name},
        )
        for t in WORLD_TABLES
    ],
    partitions_def=company_partitions,
    can_subset=False,
)
def sandbox_world(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, world: SandboxWorldResource
):
    """Land one company's slice of every world table (a re-run replaces the partition)."""
    company_id = context.partition_key
    loaded = world.load()
    with warehouse.open() as wh:
        for table in WORLD_TABLES:
            short = table.name.removeprefix("world_")
            frame = loaded.table(short).filter(pl.col("company_id") == company_id).collect()
            result = wh.replace_partition(table, company_id, frame)
            context.log.info(f"{table.qualified_name}[{company_id}]: {frame.height} rows")
            yield dg.MaterializeResult(
                asset_key=world_asset_key(table.name),
                metadata=write_metadata(table, result, frame),
            )
