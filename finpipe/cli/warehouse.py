"""``finpipe warehouse`` and ``finpipe secret-key``."""

from __future__ import annotations

from pathlib import Path

import click

from finpipe.config import generate_secret_key, load_settings


@click.group()
def warehouse() -> None:
    """Inspect and prepare the warehouse."""


@warehouse.command("init")
def init() -> None:
    """Create every schema and declared table (idempotent)."""
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables import ALL_TABLES

    settings = load_settings()
    with Warehouse.from_settings(settings) as wh:
        click.echo(
            f"{wh.engine} warehouse {settings.warehouse.redacted()}: {len(ALL_TABLES)} tables ready"
        )


@warehouse.command("docs")
@click.option(
    "--write",
    "write_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here.",
)
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fail if this file is not current.",
)
def docs(write_to: Path | None, check_path: Path | None) -> None:
    """Print (or write, or check) the table reference generated from the declarations."""
    from finpipe.warehouse.docs import render_reference

    page = render_reference()
    if check_path is not None:
        if not check_path.exists() or check_path.read_text() != page:
            raise click.ClickException(f"{check_path} is out of date: run `make docs`")
        click.echo(f"{check_path} is current")
        return
    if write_to is not None:
        write_to.parent.mkdir(parents=True, exist_ok=True)
        write_to.write_text(page)
        click.echo(f"wrote {write_to}")
        return
    click.echo(page, nl=False)


@click.command("secret-key")
def secret_key() -> None:
    """Print a new random key for FINPIPE_SECRET_KEY."""
    click.echo(generate_secret_key().decode())


@click.group()
def secrets() -> None:
    """Secrets stored in the warehouse (OAuth tokens)."""


@secrets.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored token under the first key of FINPIPE_SECRET_KEY.

    Rotation: set FINPIPE_SECRET_KEY="NEW,OLD", run this, then set it to "NEW"."""
    from finpipe.connectors.oauth import rotate_token_encryption
    from finpipe.secrets import SecretBox
    from finpipe.warehouse import Warehouse

    settings = load_settings()
    with Warehouse.from_settings(settings) as wh:
        count = rotate_token_encryption(wh, SecretBox.from_settings(settings))
    click.echo(f"re-encrypted {count} token set(s) under the newest key")
