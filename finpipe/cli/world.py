"""``finpipe world``: the sandbox world generator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from finpipe.cli.progress import StepPrinter
from finpipe.sandbox.world import WorldSpec, generate_world


@click.group()
def world() -> None:
    """Generate sandbox worlds: realistic companies, books and bank data with ground truth."""


@world.command("generate")
@click.option("--companies", default=12, show_default=True, help="How many companies.")
@click.option("--months", default=24, show_default=True, help="Months of history per company.")
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same files).")
@click.option(
    "--end-month",
    default="2026-10",
    show_default=True,
    help="Last generated month, YYYY-MM.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the world into (replaced atomically).",
)
def generate(companies: int, months: int, seed: int, end_month: str, out: Path) -> None:
    """Write a world as Parquet files plus manifest.json into OUT."""
    try:
        end = dt.datetime.strptime(end_month, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(
            f"{end_month!r} is not YYYY-MM", param_hint="--end-month"
        ) from None
    spec = WorldSpec(companies=companies, months=months, seed=seed, end_month=end)
    manifest = generate_world(spec, out, progress=StepPrinter("world"))
    click.echo(f"world written to {out}")
    for name, rows in sorted(manifest.row_counts.items()):
        click.echo(f"  {name:<20} {rows:>10,} rows")
