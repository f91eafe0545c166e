"""recon/writeback_log: bank fees and interest the books lack, created in the source books
(QBO Purchase / Deposit, Xero BankTransaction) when a company enables it; dry-run unless its
``ops.writeback_settings`` row says otherwise. The rules live in
:mod:`finpipe.reconcile.writeback`; every write is in the company's audit chain."""

import dagster as dg
import polars as pl

from finpipe.config import load_settings
from finpipe.connectors.oauth import TokenManager, TokenStore
from finpipe.connectors.providers import accounting_providers
from finpipe.defs.landing import active_connections
from finpipe.defs.ledger.assets import BANK_LINES_KEY
from finpipe.defs.ledger.books import KEYS as BOOK_KEYS
from finpipe.defs.ledger.mapping import ACCOUNT_MAP_KEY
from finpipe.defs.metadata import markdown_preview, table_schema
from finpipe.defs.partitions import company_partitions
from finpipe.defs.reconcile.assets import MATCHES_KEY
from finpipe.defs.resources import ProviderAppResource, WarehouseResource
from finpipe.reconcile.build import plan_company_writeback, record_writeback
from finpipe.reconcile.writeback import execute_writeback
from finpipe.secrets import SecretBox
from finpipe.warehouse.tables.recon import WRITEBACK_LOG

WRITEBACK_KEY = dg.AssetKey(["recon", WRITEBACK_LOG.name])


@dg.asset(
    key=WRITEBACK_KEY,
    group_name="reconciliation",
    kinds={"polars", "duckdb", "postgres"},
    deps=[MATCHES_KEY, BANK_LINES_KEY, BOOK_KEYS["bank_account_links"], ACCOUNT_MAP_KEY],
    partitions_def=company_partitions,
    description=WRITEBACK_LOG.doc,
    metadata={
        "dagster/table_name": WRITEBACK_LOG.qualified_name,
        "dagster/column_schema": table_schema(WRITEBACK_LOG),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "writeback_clean",
            asset=WRITEBACK_KEY,
            description="No write failed or ended in a stale-version conflict: a person "
            "must look at those (the log names the document and what happened).",
        )
    ],
)
def writeback_log(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    provider_apps: ProviderAppResource,
):
    company_id = context.partition_key
    settings = load_settings()
    with warehouse.open() as wh:
        wb = plan_company_writeback(wh, company_id)
        clients: dict[str, object] = {}
        tenant = None
        if wb.enabled and not wb.dry_run:
            providers = accounting_providers()
            for name in wb.providers:
                provider = providers[name]
                external = active_connections(wh, name, company_id)
                if not external:
                    continue
                tokens = TokenManager(
                    provider_apps.app(provider, settings),
                    TokenStore(wh, SecretBox.from_settings(settings)),
                    company_id,
                )
                if name == "quickbooks":
                    from finpipe.connectors.quickbooks.client import QuickBooksClient

                    clients[name] = QuickBooksClient.connect(
                        tokens, external[0], api_base=provider.api_base(settings)
                    )
                else:
                    from finpipe.connectors.xero.client import XeroClient

                    clients[name] = XeroClient(provider.api_base(settings), tokens)
                    tenant = external[0]
        result = execute_writeback(
            wb.plan,
            quickbooks_client=clients.get("quickbooks"),  # type: ignore[arg-type]
            xero_client=clients.get("xero"),  # type: ignore[arg-type]
            xero_tenant_id=tenant,
            already_written=wb.previous,
            dry_run=wb.dry_run or not wb.enabled,
        )
        record_writeback(wh, company_id, result.log, result.audit_events)
    log = result.log
    by_status = dict(log.group_by("status").len().sort("status").iter_rows()) if log.height else {}
    state = (
        "off (no enabled row in ops.writeback_settings)"
        if not wb.enabled
        else ("dry run" if wb.dry_run else "on")
    )
    context.log.info(f"write-back of {company_id}: {state}; {by_status or 'nothing to write'}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": log.height,
            "writeback": state,
            "proposals": wb.plan.height,
            "not_planned": wb.rejects.height,
            "by_status": dg.MetadataValue.json(by_status),
            "log": dg.MetadataValue.md(
                markdown_preview(
                    log, rows=20, columns=["provider", "entity", "amount", "status", "detail"]
                )
            ),
        }
    )
    problems = (
        log.filter(pl.col("status").is_in(["failed", "stale_conflict"])) if log.height else log
    )
    yield dg.AssetCheckResult(
        check_name="writeback_clean",
        passed=problems.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "problems": problems.height,
            "detail": dg.MetadataValue.md(markdown_preview(problems, rows=20)),
        },
    )
