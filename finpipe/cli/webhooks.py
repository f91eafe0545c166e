"""``finpipe webhooks serve``: the webhook receiver in the foreground."""

from __future__ import annotations

import click


@click.group()
def webhooks() -> None:
    """The receiver of QuickBooks, Xero and aggregator webhooks."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8780, show_default=True)
@click.option(
    "--max-body-bytes",
    default=None,
    type=click.IntRange(min=1),
    help="Largest body accepted (413 beyond); default 1 MiB.",
)
def serve(host: str, port: int, max_body_bytes: int | None) -> None:
    """Receive webhooks over HTTP until interrupted, committing each verified event to
    ops.webhook_inbox before answering. Keys come from FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER,
    FINPIPE_XERO_WEBHOOK_KEY and FINPIPE_AGGREGATOR_CLIENT_ID / _SECRET / _API_BASE."""
    from finpipe.config import load_settings
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables import webhooks as webhook_tables
    from finpipe.webhooks import DEFAULT_MAX_BODY_BYTES, WebhookSecrets, create_app
    from finpipe.webhooks.server import run

    settings = load_settings()
    warehouse = Warehouse.from_settings(settings)
    # Idempotent; covers a catalog that does not list the webhook tables yet.
    warehouse.ensure_tables(webhook_tables.TABLES)
    secrets = WebhookSecrets.from_env()
    configured = secrets.configured()
    app = create_app(warehouse, secrets, max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES)
    click.echo(f"webhook receiver on http://{host}:{port}/webhooks/<provider>")
    click.echo(f"  warehouse: {warehouse.url.redacted()}")
    click.echo(f"  verifying: {', '.join(configured) if configured else 'nothing (no keys set)'}")
    for provider in sorted({"quickbooks", "xero", "aggregator"} - set(configured)):
        click.echo(f"  {provider}: not configured, its webhooks get 503 until its key is set")
    # Bursts commit every few milliseconds: keep a DuckDB file loaded while they last, let go
    # after a quarter second without a delivery, and for a second every 5 s of a flood, so
    # runs and sensors get the file too (a 2 s slice cost a quarter of the throughput).
    with warehouse.keep_open(idle_seconds=0.25):
        run(app, host, port)
