"""``finpipe connect``: authorise a company's accounting file through OAuth2, or create a
bank consent (Open Banking, Berlin Group) or item (the aggregator) for it."""

from __future__ import annotations

import os

import click

from finpipe.config import ConfigError, load_settings

ACCOUNTING = ("quickbooks", "xero")
BANKS = ("openbanking", "berlingroup", "aggregator")


@click.command()
@click.argument("provider", type=click.Choice([*ACCOUNTING, *BANKS]))
@click.option("--company", "company_id", required=True, help="finpipe company id.")
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Sandbox only: approve at once for this company (no browser).",
)
@click.option("--port", default=8765, show_default=True, help="Loopback port for the redirect.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for approval.")
def connect(provider: str, company_id: str, auto_approve: bool, port: int, timeout: int) -> None:
    """Connect PROVIDER for a company: prints the authorize URL, receives the redirect on
    127.0.0.1:PORT, stores the tokens encrypted and records the connection. For a bank,
    the consent (or aggregator item) is created first and its id is the connection."""
    if provider in BANKS:
        _connect_bank(provider, company_id, auto_approve, port, timeout)
        return
    from finpipe.connectors.connect import connect as run_connect
    from finpipe.connectors.oauth import TokenStore
    from finpipe.connectors.providers import accounting_providers
    from finpipe.secrets import SecretBox
    from finpipe.warehouse import Warehouse

    settings = load_settings()
    chosen = accounting_providers()[provider]
    if auto_approve and not settings.sandbox_url:
        raise ConfigError("--auto-approve only works against the sandbox: set FINPIPE_SANDBOX_URL")
    name = provider.upper()
    client_id = os.environ.get(f"FINPIPE_{name}_CLIENT_ID")
    client_secret = os.environ.get(f"FINPIPE_{name}_CLIENT_SECRET")
    if not client_id or not client_secret:
        raise ConfigError(
            f"set FINPIPE_{name}_CLIENT_ID and FINPIPE_{name}_CLIENT_SECRET (your app's OAuth "
            "credentials) before connecting"
        )
    api_base = chosen.api_base(settings)
    with Warehouse.from_settings(settings) as wh:
        result = run_connect(
            lambda redirect: chosen.make_app(
                chosen.sandbox_base(settings), client_id, client_secret, redirect
            ),
            TokenStore(wh, SecretBox.from_settings(settings)),
            company_id,
            lambda tokens, params: chosen.discover(api_base, tokens, params),
            auto_approve=auto_approve,
            port=port,
            timeout=timeout,
            announce=click.echo,
        )
    for external_id, display in result.external_ids:
        click.echo(f"connected {provider} {external_id} ({display}) for {company_id}")


def _connect_bank(
    provider: str, company_id: str, auto_approve: bool, port: int, timeout: int
) -> None:
    from finpipe.connectors.banks import bank_providers
    from finpipe.warehouse import Warehouse

    settings = load_settings()
    if auto_approve and not settings.sandbox_url:
        raise ConfigError("--auto-approve only works against the sandbox: set FINPIPE_SANDBOX_URL")
    chosen = bank_providers()[provider]
    with Warehouse.from_settings(settings) as wh:
        connected = chosen.connect(
            chosen.context(wh, settings, company_id, redirect_port=port, approval_timeout=timeout),
            auto_approve,
            click.echo,
        )
    for external_id, display in connected:
        click.echo(f"connected {provider} {external_id} ({display}) for {company_id}")
