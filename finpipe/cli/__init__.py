"""The ``finpipe`` command line."""

from __future__ import annotations

import sys

import click

from finpipe.cli.connect import connect
from finpipe.cli.connections import connections
from finpipe.cli.demo import demo
from finpipe.cli.instance import instance, ui
from finpipe.cli.sandbox import sandbox
from finpipe.cli.warehouse import secret_key, secrets, warehouse
from finpipe.cli.webhooks import webhooks
from finpipe.cli.world import world
from finpipe.errors import FinpipeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="finpipe")
def cli() -> None:
    """finpipe: reconciled ledgers, benchmarks, health scores and forecasts for small
    businesses, orchestrated by Dagster. State lives in $FINPIPE_HOME (default ./.finpipe)."""


cli.add_command(world)
cli.add_command(demo)
cli.add_command(ui)
cli.add_command(instance)
cli.add_command(warehouse)
cli.add_command(secret_key)
cli.add_command(secrets)
cli.add_command(connect)
cli.add_command(connections)
cli.add_command(sandbox)
cli.add_command(webhooks)


def main() -> None:
    """Console-script entry point: finpipe errors print as one clear line, exit code 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FinpipeError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
