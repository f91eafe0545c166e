"""Resources shared by every asset: the warehouse and the sandbox world."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from finpipe.config import ConfigError, Settings, load_settings, parse_warehouse_url
from finpipe.sandbox.world import World, load_world
from finpipe.warehouse import Warehouse

if TYPE_CHECKING:
    from finpipe.connectors.oauth import OAuthApp
    from finpipe.connectors.providers import AccountingProvider


class WarehouseResource(dg.ConfigurableResource):
    """The finpipe warehouse (DuckDB file or PostgreSQL).

    ``url`` unset means ``FINPIPE_WAREHOUSE_URL``, else the DuckDB file in ``FINPIPE_HOME``.
    """

    url: str | None = None

    def resolved_url(self) -> str:
        return self.url or load_settings().warehouse.raw

    def engine(self) -> str:
        return parse_warehouse_url(self.resolved_url()).engine

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """A warehouse handle with every declared table present; closed on exit."""
        warehouse = Warehouse.open(self.resolved_url())
        try:
            yield warehouse
        finally:
            warehouse.close()


class SandboxWorldResource(dg.ConfigurableResource):
    """The generated sandbox world the demo (and the sandbox providers) serve.

    ``path`` unset means ``$FINPIPE_HOME/world``.
    """

    path: str | None = None

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path else load_settings().world_dir

    def load(self) -> World:
        return load_world(self.resolved_path())


class ProviderAppResource(dg.ConfigurableResource):
    """The OAuth client credentials finpipe is registered with at each provider.

    Read from ``FINPIPE_<PROVIDER>_CLIENT_ID`` / ``FINPIPE_<PROVIDER>_CLIENT_SECRET`` when
    a sync runs; the redirect URI is the loopback one ``finpipe connect`` listens on.
    """

    redirect_uri: str = "http://127.0.0.1:8765/callback"

    def app(self, provider: AccountingProvider, settings: Settings) -> OAuthApp:
        name = provider.name.upper()
        client_id = os.environ.get(f"FINPIPE_{name}_CLIENT_ID")
        client_secret = os.environ.get(f"FINPIPE_{name}_CLIENT_SECRET")
        if not client_id or not client_secret:
            raise ConfigError(
                f"FINPIPE_{name}_CLIENT_ID and FINPIPE_{name}_CLIENT_SECRET must be set to sync "
                f"{provider.name} (the app's OAuth credentials)"
            )
        return provider.make_app(
            provider.sandbox_base(settings), client_id, client_secret, self.redirect_uri
        )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "world": SandboxWorldResource(),
            "provider_apps": ProviderAppResource(),
        }
    )
