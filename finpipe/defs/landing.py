"""Builds the raw landing assets and checks of an accounting provider (QuickBooks, Xero):
one multi-asset per provider, partitioned by company, in the provider's concurrency pool."""

import dagster as dg
import polars as pl

from finpipe.config import load_settings
from finpipe.connectors.oauth import TokenManager, TokenStore
from finpipe.connectors.providers import AccountingProvider
from finpipe.defs.metadata import markdown_preview, table_schema
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import ProviderAppResource, WarehouseResource
from finpipe.quality.expectations import validate_frame
from finpipe.secrets import SecretBox
from finpipe.warehouse.tables.ops import CONNECTIONS

CONNECTIONS_KEY = dg.AssetKey(["ops", "connections"])


def landing_key(provider: AccountingProvider, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", provider.tables[entity].name])


def build_landing_assets(provider: AccountingProvider) -> dg.AssetsDefinition:
    """The provider's raw landing tables as one partitioned multi-asset."""
    specs = [
        dg.AssetSpec(
            landing_key(provider, entity),
            description=table.doc,
            group_name=f"raw_{provider.name}",
            kinds={provider.name, "duckdb", "postgres"},
            deps=[CONNECTIONS_KEY],
            skippable=True,
            metadata={
                "dagster/table_name": table.qualified_name,
                "dagster/column_schema": table_schema(table),
            },
        )
        for entity, table in provider.tables.items()
    ]

    @dg.multi_asset(
        name=f"{provider.name}_raw",
        specs=specs,
        partitions_def=company_partitions,
        can_subset=False,
        pool=provider.name,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        description=f"Incremental sync of every {provider.name} entity of one company.",
    )
    def _assets(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        provider_apps: ProviderAppResource,
    ):
        company_id = context.partition_key
        settings = load_settings()
        with warehouse.open() as wh:
            connections = wh.read(
                CONNECTIONS,
                where="company_id = %s AND provider = %s AND status = 'active'",
                params=[company_id, provider.name],
            )
            if connections.is_empty():
                context.log.info(f"{company_id} has no active {provider.name} connection")
                return
            api_base = provider.api_base(settings)
            app = provider_apps.app(provider, settings)
            tokens = TokenManager(
                app, TokenStore(wh, SecretBox.from_settings(settings)), company_id
            )
            external_ids = connections.get_column("external_id").to_list()
            report = provider.sync(wh, tokens, company_id, external_ids, api_base)
            counts = {
                entity: wh.count(table, company_id) for entity, table in provider.tables.items()
            }
        context.log.info(
            f"{provider.name} sync {report.sync_id} of {company_id}: {report.totals()}"
        )
        for entity in provider.tables:
            parts = report.entity(entity)
            yield dg.MaterializeResult(
                asset_key=landing_key(provider, entity),
                metadata={
                    "dagster/row_count": counts[entity],
                    "inserted": sum(p.inserted for p in parts),
                    "updated": sum(p.updated for p in parts),
                    "deleted": sum(p.deleted for p in parts),
                    "api_calls": sum(p.calls for p in parts),
                    "rate_limited_429s": sum(p.rate_limited for p in parts),
                    "cursor_before": ", ".join(str(p.cursor_before) for p in parts) or "-",
                    "cursor_after": ", ".join(str(p.cursor_after) for p in parts) or "-",
                    "sync_id": report.sync_id,
                    "sync_calls_total": report.calls,
                    "token_refreshes": report.token_refreshes,
                },
            )

    return _assets


def build_landing_checks(provider: AccountingProvider) -> dg.AssetChecksDefinition:
    """Great Expectations on every landing table of the provider: declared columns in
    order, non-null keys and payloads, unique (tenant, source id)."""
    specs = [
        dg.AssetCheckSpec(
            name="landing_expectations",
            asset=landing_key(provider, entity),
            description="declared columns, non-null keys, unique (tenant, source id)",
        )
        for entity in provider.tables
    ]

    @dg.multi_asset_check(
        name=f"{provider.name}_raw_expectations",
        specs=specs,
        partitions_def=company_partitions,
        can_subset=True,
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        company_id = context.partition_key
        with warehouse.open() as wh:
            for entity, table in provider.tables.items():
                key = landing_key(provider, entity)
                if (
                    dg.AssetCheckKey(key, "landing_expectations")
                    not in context.selected_asset_check_keys
                ):
                    continue
                frame = wh.read(table, company_id=company_id)
                outcomes = validate_frame(table, frame)
                failed = [o for o in outcomes if not o.success]
                report = pl.DataFrame(
                    {
                        "expectation": [o.expectation for o in outcomes],
                        "column": [o.column for o in outcomes],
                        "success": [o.success for o in outcomes],
                        "unexpected": [o.unexpected_count for o in outcomes],
                        "examples": [str(o.examples) for o in outcomes],
                    }
                )
                yield dg.AssetCheckResult(
                    asset_key=key,
                    check_name="landing_expectations",
                    passed=not failed,
                    metadata={
                        "rows": frame.height,
                        "failed_expectations": len(failed),
                        "results": dg.MetadataValue.md(markdown_preview(report, rows=50)),
                    },
                )

    return _checks
