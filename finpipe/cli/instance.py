"""``finpipe instance`` and ``finpipe ui``: the local Dagster instance and its UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from finpipe.config import load_settings
from finpipe.instance import POOL_LIMITS, open_instance, prepare_dagster_home


@click.group()
def instance() -> None:
    """Manage the Dagster instance finpipe runs on."""


@instance.command("init")
def init() -> None:
    """Write $FINPIPE_HOME/dagster/dagster.yaml and apply the provider pool limits."""
    settings = load_settings()
    open_instance(settings)
    kind = "PostgreSQL" if settings.dagster_postgres_url else "SQLite"
    click.echo(f"Dagster instance ({kind}) ready in {settings.dagster_home}")
    for pool, slots in POOL_LIMITS.items():
        click.echo(f"  pool {pool:<18} {slots} slot(s)")


@click.command()
@click.option("--port", default=3000, show_default=True, help="Webserver port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Webserver host.")
def ui(port: int, host: str) -> None:
    """Start the Dagster UI (webserver + daemon) on the local instance."""
    settings = load_settings()
    open_instance(settings)
    env = dict(os.environ)
    env.setdefault("FINPIPE_HOME", str(settings.home))
    # The code server and dbt must come from this environment even when it is not activated.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "finpipe.definitions", "-h", host, "-p", str(port)]
    click.echo(
        f"Dagster UI on http://{host}:{port} (instance {settings.dagster_home}); Ctrl-C stops it"
    )
    raise SystemExit(subprocess.call(command, env=env))


__all__ = ["instance", "prepare_dagster_home", "ui"]
