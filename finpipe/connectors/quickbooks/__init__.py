"""QuickBooks Online connector (no Dagster): OAuth app, rate-limited client, incremental
sync into ``raw.quickbooks_*``, typed parsers and write primitives.

    app = quickbooks_oauth_app(None, client_id, client_secret, redirect_uri)
    report = sync_quickbooks(warehouse, TokenManager(app, store, company_id), company_id,
                             realm_id, api_base=None)

The Dagster layer and the CLI reach it through :data:`PROVIDER`
(:class:`~finpipe.connectors.providers.AccountingProvider`).
"""

from finpipe.connectors.providers import AccountingProvider
from finpipe.connectors.quickbooks.client import (
    INTUIT_API_BASE,
    QuickBooksClient,
    api_base_url,
    company_name,
    discover_realms,
    quickbooks_limiter,
    quickbooks_oauth_app,
)
from finpipe.connectors.quickbooks.parse import (
    QboLine,
    QboRecord,
    QboResponse,
    QuickBooksFault,
    QuickBooksParseError,
    error_text,
    parse_entity,
    parse_response,
)
from finpipe.connectors.quickbooks.sync import (
    EntityCursor,
    QuickBooksSyncReport,
    SyncInterrupted,
    home_currency,
    sync_company,
    sync_quickbooks,
)
from finpipe.connectors.quickbooks.write import create, delete, update, void
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES

PROVIDER = AccountingProvider(
    name="quickbooks",
    tables=QUICKBOOKS_TABLES,
    real_api_base=INTUIT_API_BASE,
    make_app=quickbooks_oauth_app,
    discover=discover_realms,
    sync=sync_company,
)

__all__ = [
    "INTUIT_API_BASE",
    "PROVIDER",
    "EntityCursor",
    "QboLine",
    "QboRecord",
    "QboResponse",
    "QuickBooksClient",
    "QuickBooksFault",
    "QuickBooksParseError",
    "QuickBooksSyncReport",
    "SyncInterrupted",
    "api_base_url",
    "company_name",
    "create",
    "delete",
    "discover_realms",
    "error_text",
    "home_currency",
    "parse_entity",
    "parse_response",
    "quickbooks_limiter",
    "quickbooks_oauth_app",
    "sync_company",
    "sync_quickbooks",
    "update",
    "void",
]
