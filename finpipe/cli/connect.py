"""``finpipe connect``: authorise a company's accounting file through OAuth2."""

from __future__ import annotations

import os

import click

from finpipe.config import ConfigError, load_settings


@click.command()
@click.argument("provider", type=click.Choice(["quickbooks", "xero"]))
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
    127.0.0.1:PORT, stores the tokens encrypted and records the connection."""
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
