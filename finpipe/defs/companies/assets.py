"""``ops/companies`` and ``ops/connections``: the tenant registry."""

import datetime as dt

import dagster as dg

from finpipe.companies import companies_from_world, connections_from_world, register
from finpipe.defs.metadata import write_metadata
from finpipe.defs.resources import SandboxWorldResource, WarehouseResource
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS

COMPANIES_KEY = dg.AssetKey(["ops", "companies"])
CONNECTIONS_KEY = dg.AssetKey(["ops", "connections"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            COMPANIES_KEY,
            description=COMPANIES.doc,
            group_name="ops",
            kinds={"duckdb", "postgres"},
        ),
        dg.AssetSpec(
            CONNECTIONS_KEY,
            description=CONNECTIONS.doc,
            group_name="ops",
            kinds={"duckdb", "postgres"},
        ),
    ],
)
def company_registry(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, world: SandboxWorldResource
):
    """Register every company of the sandbox world and its pending connections.

    A re-run keeps each company's first ``created_at`` and each connection's status.
    """
    loaded = world.load()
    world_companies = loaded.table("companies").collect()
    bank_accounts = loaded.table("bank_accounts").collect()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    companies = companies_from_world(world_companies, now)
    connections = connections_from_world(world_companies, bank_accounts, now)
    with warehouse.open() as wh:
        company_result, connection_result = register(wh, companies, connections)
        companies_now = wh.read(COMPANIES)
        connections_now = wh.read(CONNECTIONS)
    context.log.info(
        f"registered {companies.height} companies and {connections.height} connections"
    )
    yield dg.MaterializeResult(
        asset_key=COMPANIES_KEY, metadata=write_metadata(COMPANIES, company_result, companies_now)
    )
    yield dg.MaterializeResult(
        asset_key=CONNECTIONS_KEY,
        metadata=write_metadata(CONNECTIONS, connection_result, connections_now),
    )
