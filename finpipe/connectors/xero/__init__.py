"""The Xero connector: OAuth app, tenant discovery, incremental sync into ``raw.xero_*``,
payload parsers and write primitives. Plain Python (no Dagster).

The Dagster layer and the CLI reach it through :data:`PROVIDER`
(:class:`~finpipe.connectors.providers.AccountingProvider`).
"""

from __future__ import annotations

from collections.abc import Sequence

from finpipe.connectors.oauth import TokenManager
from finpipe.connectors.providers import AccountingProvider
from finpipe.connectors.report import SyncReport
from finpipe.connectors.xero.client import (
    REAL_API_BASE,
    DailyLimitReached,
    XeroClient,
    XeroLimits,
    discover_tenants,
    error_text,
    list_tenants,
    xero_oauth_app,
)
from finpipe.connectors.xero.endpoints import ENDPOINTS, EndpointSpec
from finpipe.connectors.xero.parse import (
    XeroParseError,
    XeroRecord,
    parse_amount,
    parse_date,
    parse_endpoint,
)
from finpipe.connectors.xero.sync import SyncKilled, sync_xero
from finpipe.connectors.xero.write import create_record, idempotency_key, update_record
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.raw import XERO_TABLES


def _sync(
    warehouse: Warehouse,
    tokens: TokenManager,
    company_id: str,
    tenant_ids: Sequence[str],
    api_base: str,
) -> SyncReport:
    return sync_xero(warehouse, tokens, company_id, list(tenant_ids), api_base=api_base)


PROVIDER = AccountingProvider(
    name="xero",
    tables=XERO_TABLES,
    real_api_base=REAL_API_BASE,
    make_app=xero_oauth_app,
    discover=discover_tenants,
    sync=_sync,
)

__all__ = [
    "ENDPOINTS",
    "PROVIDER",
    "REAL_API_BASE",
    "DailyLimitReached",
    "EndpointSpec",
    "SyncKilled",
    "XeroClient",
    "XeroLimits",
    "XeroParseError",
    "XeroRecord",
    "create_record",
    "discover_tenants",
    "error_text",
    "idempotency_key",
    "list_tenants",
    "parse_amount",
    "parse_date",
    "parse_endpoint",
    "sync_xero",
    "update_record",
    "xero_oauth_app",
]
