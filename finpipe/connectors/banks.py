"""The bank data providers finpipe syncs (Open Banking, Berlin Group, the aggregator), behind
one small interface the CLI and the Dagster layer use, so neither knows a provider's URLs,
consent model or paging rules. Statement files are not a provider: they arrive through the
drop folder (:mod:`finpipe.connectors.statements.dropfolder`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from finpipe.config import ConfigError, Settings
from finpipe.connectors.report import SyncReport
from finpipe.secrets import SecretBox
from finpipe.warehouse import Table, Warehouse


@dataclass(frozen=True)
class BankCredentials:
    """This deployment's registration at a bank provider (OAuth client / API keys)."""

    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, provider: str, env: dict[str, str] | None = None) -> BankCredentials:
        """``FINPIPE_<PROVIDER>_CLIENT_ID`` / ``_CLIENT_SECRET``; a clear error when unset."""
        env = dict(os.environ) if env is None else env
        name = provider.upper()
        client_id = env.get(f"FINPIPE_{name}_CLIENT_ID")
        client_secret = env.get(f"FINPIPE_{name}_CLIENT_SECRET")
        if not client_id or not client_secret:
            raise ConfigError(
                f"set FINPIPE_{name}_CLIENT_ID and FINPIPE_{name}_CLIENT_SECRET (finpipe's "
                f"registration at {provider}) to connect or sync {provider}"
            )
        return cls(client_id, client_secret)


@dataclass(frozen=True)
class BankContext:
    """Everything a bank connector needs for one company: where the provider is, who we
    are there, and where consents, tokens and landed rows live."""

    warehouse: Warehouse
    box: SecretBox  # encrypts consent tokens / access tokens at rest
    company_id: str
    api_base: str
    credentials: BankCredentials
    # Where `finpipe connect` receives the consent redirect (0: any free loopback port) and
    # how long it waits for the person to approve.
    redirect_port: int = 0
    approval_timeout: float = 300.0


@dataclass(frozen=True)
class BankProvider:
    """What the CLI and Dagster need of a bank provider."""

    name: str
    tables: dict[str, Table]  # entity -> raw landing table
    # The provider's production root, when there is one (the aggregator); banks publish
    # their own roots, named by FINPIPE_<PROVIDER>_API_BASE.
    real_api_base: str | None
    # Create (and, in the sandbox with auto_approve, authorise) a consent / item for the
    # company; store its secrets encrypted; record the connection(s) in ops.connections.
    # Returns [(external id, display name)].  (ctx, auto_approve, announce) -> ...
    connect: Callable[[BankContext, bool, Callable[[str], None]], list[tuple[str, str]]]
    # Incremental sync of the given connections (external ids) into the raw tables.
    sync: Callable[[BankContext, list[str]], SyncReport]
    # raw frames (entity -> that company's rows of each landing table) -> canonical frames
    # of finpipe.ledger.bank_sources SOURCE_LINE_SCHEMA / SOURCE_ACCOUNT_SCHEMA.
    # Unreadable records are skipped, never raised: ``read_lines`` returns the lines and,
    # from the same parse, the landed transaction records it skipped as rows of
    # finpipe.ledger.bank_sources REJECT_SCHEMA (tenant_id, source_id, field, reason); the
    # bank ledger build quarantines them.
    read_lines: Callable[[dict[str, pl.DataFrame]], tuple[pl.DataFrame, pl.DataFrame]]
    to_bank_accounts: Callable[[dict[str, pl.DataFrame]], pl.DataFrame]

    def to_bank_lines(self, frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
        """The canonical lines of ``frames`` (unreadable records skipped)."""
        return self.read_lines(frames)[0]

    def api_base(self, settings: Settings) -> str:
        """The sandbox when ``FINPIPE_SANDBOX_URL`` is set, else ``FINPIPE_<PROVIDER>_API_BASE``,
        else the provider's production root."""
        if settings.sandbox_url:
            return f"{settings.sandbox_url}/{self.name}"
        configured = settings.bank_api_bases.get(self.name) or self.real_api_base
        if not configured:
            raise ConfigError(
                f"set FINPIPE_{self.name.upper()}_API_BASE to your bank's {self.name} API root "
                "(each bank publishes its own), or FINPIPE_SANDBOX_URL to use the sandbox"
            )
        return configured

    def context(
        self,
        warehouse: Warehouse,
        settings: Settings,
        company_id: str,
        *,
        redirect_port: int = 0,
        approval_timeout: float = 300.0,
    ) -> BankContext:
        return BankContext(
            warehouse=warehouse,
            box=SecretBox.from_settings(settings),
            company_id=company_id,
            api_base=self.api_base(settings),
            credentials=BankCredentials.from_env(self.name),
            redirect_port=redirect_port,
            approval_timeout=approval_timeout,
        )


def bank_providers() -> dict[str, BankProvider]:
    """Every bank provider, by name (imported lazily: each pulls its connector)."""
    from finpipe.connectors.aggregator import PROVIDER as AGGREGATOR
    from finpipe.connectors.berlingroup import PROVIDER as BERLINGROUP
    from finpipe.connectors.openbanking import PROVIDER as OPENBANKING

    return {p.name: p for p in (OPENBANKING, BERLINGROUP, AGGREGATOR)}
