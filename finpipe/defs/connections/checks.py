"""Warnings on ``ops/integration_health``: refresh tokens about to go stale and active
connections that have not synced for too long. WARN: a person should look, nothing is
blocked. The metadata names each connection and why. Evaluated by the asset on the frame
it has just written (no second read)."""

from collections.abc import Callable

import dagster as dg
import polars as pl

from finpipe.connections.health import Thresholds, lagging, stale_tokens
from finpipe.defs.metadata import markdown_preview

KEYS = ["company_id", "provider", "external_id"]


def check_specs(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "refresh_tokens_not_going_stale",
            asset=asset,
            description="No connection in use has a refresh token within `token_warn_days` "
            "(14) of its horizon (QuickBooks 100 days rolling, Xero 60 days unused): "
            "reauthorize first.",
        ),
        dg.AssetCheckSpec(
            "connections_not_lagging",
            asset=asset,
            description="Every active (or degraded) connection synced successfully within "
            "`max_lag_hours` (36 h); a connection never synced counts from its creation.",
        ),
    ]


def check_results(
    asset: dg.AssetKey, health: pl.DataFrame, thresholds: Thresholds
) -> list[dg.AssetCheckResult]:
    """Both checks on the health rows just computed."""
    return [
        _evaluate(
            asset,
            "refresh_tokens_not_going_stale",
            health,
            thresholds,
            stale_tokens,
            ["token_days_left", "refresh_expires_at"],
            f"< {thresholds.token_warn_days:g} days left",
            "refresh token going stale: reauthorize before the date shown",
        ),
        _evaluate(
            asset,
            "connections_not_lagging",
            health,
            thresholds,
            lagging,
            ["status", "last_success_at", "lag_hours", "consecutive_failures"],
            f"> {thresholds.max_lag_hours:g} h without a successful sync",
            "data lagging: see next_action",
        ),
    ]


def _evaluate(
    asset: dg.AssetKey,
    name: str,
    health: pl.DataFrame,
    thresholds: Thresholds,
    select: Callable[[pl.DataFrame, Thresholds], pl.DataFrame],
    columns: list[str],
    limit: str,
    what: str,
) -> dg.AssetCheckResult:
    """Pick the offending connections with ``select`` and report them (WARN) with their key,
    the columns that explain why and the next action."""
    offenders = select(health, thresholds).with_columns(
        pl.col("lag_hours", "token_days_left").round(1)
    )
    names = offenders.select(pl.format("{}/{}/{}", *KEYS)).to_series().to_list()
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=offenders.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "threshold": limit,
            "connections": dg.MetadataValue.int(offenders.height),
            "which": dg.MetadataValue.text(", ".join(names[:20]) or "-"),
            "detail": dg.MetadataValue.md(
                markdown_preview(offenders, rows=50, columns=[*KEYS, *columns, "next_action"])
            ),
            "summary": f"{offenders.height} connection(s): {what}" if names else "none",
        },
    )
