"""The accounting providers finpipe syncs, behind one small interface the CLI and the
Dagster layer use (so neither knows a provider's URLs or paging rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from finpipe.config import Settings
from finpipe.connectors.oauth import OAuthApp, TokenManager, TokenSet
from finpipe.connectors.report import SyncReport
from finpipe.warehouse import Table, Warehouse


@dataclass(frozen=True)
class AccountingProvider:
    """What the CLI and Dagster need of a provider."""

    name: str
    tables: dict[str, Table]
    real_api_base: str
    # (api_base or None for the real service, client_id, client_secret, redirect_uri)
    make_app: Callable[[str | None, str, str, str], OAuthApp]
    # (api_base, tokens, redirect query params) -> [(external id, display name)]
    discover: Callable[[str, TokenSet, dict[str, str]], list[tuple[str, str]]]
    # (warehouse, token manager, company id, external ids, api base) -> report
    sync: Callable[[Warehouse, TokenManager, str, list[str], str], SyncReport]

    def api_base(self, settings: Settings) -> str:
        """The sandbox when ``FINPIPE_SANDBOX_URL`` is set, the real service otherwise."""
        if settings.sandbox_url:
            return f"{settings.sandbox_url}/{self.name}"
        return self.real_api_base

    def sandbox_base(self, settings: Settings) -> str | None:
        return f"{settings.sandbox_url}/{self.name}" if settings.sandbox_url else None


def accounting_providers() -> dict[str, AccountingProvider]:
    """Every accounting provider, by name (imported lazily: each pulls its connector)."""
    from finpipe.connectors.quickbooks import PROVIDER as QUICKBOOKS
    from finpipe.connectors.xero import PROVIDER as XERO

    return {QUICKBOOKS.name: QUICKBOOKS, XERO.name: XERO}
