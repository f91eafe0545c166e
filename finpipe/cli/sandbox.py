"""``finpipe sandbox serve``: the provider sandbox in the foreground."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def sandbox() -> None:
    """The local stand-in for QuickBooks, Xero and the banks."""


@sandbox.command("serve")
@click.option(
    "--world",
    "world_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="A world written by `finpipe world generate`.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True)
def serve(world_dir: Path, host: str, port: int) -> None:
    """Serve every sandbox provider over HTTP until interrupted."""
    import uvicorn

    from finpipe.sandbox.server import build_app, build_sandbox

    sandbox_ = build_sandbox(world_dir)
    creds = sandbox_.credentials
    click.echo(f"sandbox on http://{host}:{port} serving {', '.join(sorted(sandbox_.providers))}")
    click.echo(f"  export FINPIPE_SANDBOX_URL=http://{host}:{port}")
    for provider in sorted(sandbox_.providers):
        click.echo(f"  export FINPIPE_{provider.upper()}_CLIENT_ID={creds.client_id}")
        click.echo(f"  export FINPIPE_{provider.upper()}_CLIENT_SECRET={creds.client_secret}")
    uvicorn.run(build_app(sandbox_), host=host, port=port, log_level="info")
