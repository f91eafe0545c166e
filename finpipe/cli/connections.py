"""``finpipe connections``: what an operator needs about each connection (status, lag,
token horizon, next action) and the commands that change it (pause, resume, remove,
reauth). Status changes are recorded in the company's audit chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import click
import polars as pl

from finpipe.config import load_settings

UTC = dt.UTC
LIST_COLUMNS = (
    ("company_id", "company"),
    ("provider", "provider"),
    ("external_id", "external id"),
    ("status", "status"),
    ("last_success_at", "last sync"),
    ("lag_hours", "lag"),
    ("token_days_left", "token days"),
    ("next_action", "next action"),
)


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_table(rows: Sequence[dict[str, object]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as a plain fixed-width table (header, rule, one line per row)."""
    cells = [[_text(row[key]) for key, _ in columns] for row in rows]
    widths = [
        max([len(title), *(len(line[i]) for line in cells)]) for i, (_, title) in enumerate(columns)
    ]
    lines = ["  ".join(t.ljust(w) for (_, t), w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def _health(company_id: str | None = None) -> pl.DataFrame:
    from finpipe.connections.health import read_health
    from finpipe.warehouse import Warehouse

    with Warehouse.from_settings(load_settings()) as wh:
        health = read_health(wh, dt.datetime.now(UTC))
    if company_id is not None:
        health = health.filter(pl.col("company_id") == company_id)
    return health


@click.group()
def connections() -> None:
    """Connections to providers: health, pause / resume / remove, reauthorisation."""


@connections.command("list")
@click.option("--company", "company_id", help="Only this company's connections.")
@click.option("--all", "show_all", is_flag=True, help="Include removed connections.")
def list_connections(company_id: str | None, show_all: bool) -> None:
    """One line per connection: status, last successful sync, lag (hours), days until the
    refresh token goes stale, and what to do next."""
    health = _health(company_id)
    if not show_all:
        health = health.filter(pl.col("status") != "removed")
    if health.is_empty():
        click.echo("no connections (connect one with `finpipe connect PROVIDER --company ID`)")
        return
    click.echo(render_table(health.to_dicts(), LIST_COLUMNS))
    acting = health.filter(pl.col("next_action") != "none").height
    click.echo(f"\n{health.height} connection(s), {acting} needing an action")


SHOW_FIELDS = (
    "external_id",
    "display_name",
    "status",
    "status_reason",
    "last_success_at",
    "lag_hours",
    "syncs_24h",
    "calls_24h",
    "rate_limited_24h",
    "errors_24h",
    "consecutive_failures",
    "failing_since",
    "last_error",
    "refresh_issued_at",
    "refresh_expires_at",
    "token_age_days",
    "token_days_left",
    "token_horizon_days",
    "webhooks_24h",
    "last_webhook_at",
    "webhook_rejections",
    "next_action",
)
RUN_COLUMNS = (
    ("finished_at", "finished"),
    ("external_id", "external id"),
    ("status", "status"),
    ("trigger", "trigger"),
    ("calls", "calls"),
    ("rate_limited", "429s"),
    ("retries", "retries"),
    ("rows_written", "rows"),
    ("run_id", "run"),
)
FAILURE_COLUMNS = (
    ("finished_at", "finished"),
    ("external_id", "external id"),
    ("error_class", "error"),
    ("error_message", "message"),
    ("run_id", "run"),
)


@connections.command("show")
@click.argument("company_id")
@click.argument("provider")
@click.option("--runs", "limit", default=10, show_default=True, help="Recent sync runs shown.")
def show(company_id: str, provider: str, limit: int) -> None:
    """Everything about COMPANY_ID's PROVIDER connection(s): health, recent sync runs and
    the latest failures."""
    from finpipe.connections.health import read_health
    from finpipe.connections.manage import find
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables.ops_health import SYNC_RUNS

    with Warehouse.from_settings(load_settings()) as wh:
        find(wh, company_id, provider)
        health = read_health(wh, dt.datetime.now(UTC), company_id=company_id, provider=provider)
        runs = wh.read(
            SYNC_RUNS,
            where="company_id = %s AND provider = %s",
            params=[company_id, provider],
            order_by=["finished_at"],
        )
    for row in health.to_dicts():
        click.echo(f"{company_id} {provider} {row['external_id']}")
        width = max(len(f) for f in SHOW_FIELDS)
        for field in SHOW_FIELDS[1:]:
            click.echo(f"  {field.ljust(width)}  {_text(row[field])}")
    recent = runs.reverse().head(limit)
    click.echo(f"\nrecent sync runs ({recent.height} of {runs.height}):")
    click.echo(render_table(recent.to_dicts(), RUN_COLUMNS) if recent.height else "  none")
    failures = runs.filter(pl.col("status") == "failed").reverse().head(5)
    click.echo(f"\nlatest failures ({failures.height}):")
    click.echo(render_table(failures.to_dicts(), FAILURE_COLUMNS) if failures.height else "  none")


def _change(
    command: str, company_id: str, provider: str, external_id: str | None, reason: str | None
) -> None:
    from finpipe.connections.manage import change_status
    from finpipe.warehouse import Warehouse

    with Warehouse.from_settings(load_settings()) as wh:
        change = change_status(
            wh, command, company_id, provider, external_id=external_id, reason=reason
        )
    for row in change.rows.iter_rows(named=True):
        click.echo(f"{provider} {row['external_id']} of {company_id}: {row['status']}")
    if command == "remove":
        click.echo(
            f"deleted {change.tokens_deleted} stored token set(s); landed data and sync "
            "history are kept"
        )
    click.echo(
        f"recorded {change.audit_entries} audit entr{'y' if change.audit_entries == 1 else 'ies'}"
    )


_external = click.option(
    "--external-id", help="Only this connection (when the company has several of PROVIDER)."
)
_reason = click.option("--reason", help="Why (kept as the connection's status_reason).")


@connections.command("pause")
@click.argument("company_id")
@click.argument("provider")
@_external
@_reason
def pause(company_id: str, provider: str, external_id: str | None, reason: str | None) -> None:
    """Stop syncing a connection (schedules and webhooks skip it) until it is resumed."""
    _change("pause", company_id, provider, external_id, reason)


@connections.command("resume")
@click.argument("company_id")
@click.argument("provider")
@_external
@_reason
def resume(company_id: str, provider: str, external_id: str | None, reason: str | None) -> None:
    """Sync a paused connection again."""
    _change("resume", company_id, provider, external_id, reason)


@connections.command("remove")
@click.argument("company_id")
@click.argument("provider")
@_external
@_reason
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(
    company_id: str, provider: str, external_id: str | None, reason: str | None, yes: bool
) -> None:
    """Remove a connection: it is never synced again and its stored OAuth tokens are
    deleted; landed data, the sync log and the audit chain are kept."""
    if not yes:
        target = f"{provider} {external_id}" if external_id else f"every {provider} connection"
        click.confirm(f"Remove {target} of {company_id} and delete its stored tokens?", abort=True)
    _change("remove", company_id, provider, external_id, reason)


@connections.command("reauth")
@click.argument("company_id")
@click.argument("provider")
@click.option("--auto-approve", is_flag=True, help="Sandbox only: approve at once (no browser).")
@click.option("--port", default=8765, show_default=True, help="Loopback port for the redirect.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for approval.")
@click.option("--print-only", is_flag=True, help="Only print the command that reauthorises it.")
@click.pass_context
def reauth(
    ctx: click.Context,
    company_id: str,
    provider: str,
    auto_approve: bool,
    port: int,
    timeout: int,
    print_only: bool,
) -> None:
    """Authorise COMPANY_ID's PROVIDER connection again: the `finpipe connect` flow (the
    authorize URL is printed, the redirect received on 127.0.0.1:PORT); the reconnected
    connection is active again."""
    from finpipe.cli.connect import ACCOUNTING, BANKS, connect
    from finpipe.connections.manage import ConnectionsError, find
    from finpipe.warehouse import Warehouse

    with Warehouse.from_settings(load_settings()) as wh:
        find(wh, company_id, provider)
    if provider not in (*ACCOUNTING, *BANKS):
        raise ConnectionsError(
            f"{provider} connections have nothing to authorise (their files arrive through "
            "the drop folder); only these reconnect: " + ", ".join((*ACCOUNTING, *BANKS))
        )
    command = f"finpipe connect {provider} --company {company_id}"
    if print_only:
        click.echo(command)
        return
    click.echo(f"running: {command}{' --auto-approve' if auto_approve else ''}")
    ctx.invoke(
        connect,
        provider=provider,
        company_id=company_id,
        auto_approve=auto_approve,
        port=port,
        timeout=timeout,
    )
