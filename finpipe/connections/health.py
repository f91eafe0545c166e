"""Integration health per connection (no Dagster): a pure function of the connections, the
sync log, the token metadata, the webhook inbox and rejections, and ``now``.

Refresh-token horizons (how long a refresh token stays usable):

* QuickBooks Online: 100 days, rolling — every refresh returns a refresh token valid for
  another 100 days ("This token is valid for 100 days before you need to re-authenticate",
  github.com/IntuitDeveloper/OAuth2-Dotnet_UsingSDK docs/help/Tokens.md; Intuit's SDK
  release notes add a 5-year hard maximum, github.com/intuit/QuickBooks-V3-Java-SDK v6.5.4).
* Xero: 60 days unused — "Unused refresh tokens expire after 60 days. If you don't refresh
  your access token within 60 days the user will need to reauthorise your app"
  (developer.xero.com/faq/oauth2).

The stored ``refresh_expires_at`` (what the token endpoint said, e.g. QBO's
``x_refresh_token_expires_in``) wins; without it the horizon is added to
``refresh_issued_at``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from finpipe.connections.sync_log import consecutive_failures
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS
from finpipe.warehouse.tables.ops_health import INTEGRATION_HEALTH, SYNC_RUNS
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX, WEBHOOK_REJECTIONS

UTC = dt.UTC
TOKEN_HORIZON_DAYS: dict[str, int] = {"quickbooks": 100, "xero": 60}
WINDOW = dt.timedelta(hours=24)
KEYS = ["company_id", "provider", "external_id"]
_TS = pl.Datetime("us", "UTC")
NEVER_SYNCED = "sync: never synced successfully"
# Sources finpipe does not pull: statement files arrive when the bank sends them, so a long
# time without new data is no lag of finpipe's.
UNPULLED_PROVIDERS = ("statement",)


@dataclass(frozen=True)
class Thresholds:
    """When a connection needs attention: ``token_warn_days`` before its refresh token goes
    stale, ``max_lag_hours`` without a successful sync (active connections)."""

    token_warn_days: float = 14.0
    max_lag_hours: float = 36.0


def _hours(delta: pl.Expr) -> pl.Expr:
    return delta.dt.total_microseconds().cast(pl.Float64) / 3.6e9


def _days(delta: pl.Expr) -> pl.Expr:
    return delta.dt.total_microseconds().cast(pl.Float64) / 8.64e10


def compute_health(
    connections: pl.DataFrame,
    sync_runs: pl.DataFrame,
    tokens: pl.DataFrame,
    inbox: pl.DataFrame,
    rejections: pl.DataFrame,
    now: dt.datetime,
    thresholds: Thresholds = Thresholds(),
) -> pl.DataFrame:
    """One ``ops.integration_health`` row per connection.

    ``connections``: ``ops.connections``; ``sync_runs``: ``ops.sync_runs``; ``tokens``:
    ``ops.oauth_tokens`` (``company_id, provider, refresh_issued_at, refresh_expires_at``;
    the ciphertext is not needed); ``inbox``: ``provider, tenant_id, received_at`` of
    ``ops.webhook_inbox``; ``rejections``: ``ops.webhook_rejections``. The 24-hour windows
    are ``(now - 24 h, now]``; rejections are counted per UTC day, so the current and the
    previous day are summed.
    """
    now_lit = pl.lit(now.astimezone(UTC), dtype=_TS)
    since = now - WINDOW
    runs = sync_runs.filter(pl.col("finished_at") <= now_lit)
    recent = (
        runs.filter(pl.col("finished_at") > pl.lit(since, dtype=_TS))
        .group_by(KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("syncs_24h"),
            pl.col("calls").sum().cast(pl.Int64).alias("calls_24h"),
            pl.col("rate_limited").sum().cast(pl.Int64).alias("rate_limited_24h"),
            (pl.col("status") == "failed").sum().cast(pl.Int64).alias("errors_24h"),
        )
    )
    streaks = consecutive_failures(runs)
    token_rows = tokens.select(
        "company_id",
        "provider",
        pl.col("refresh_issued_at").cast(_TS),
        pl.col("refresh_expires_at").cast(_TS).alias("_stored_expiry"),
    )
    webhooks = (
        inbox.filter(
            (pl.col("received_at") > pl.lit(since, dtype=_TS)) & (pl.col("received_at") <= now_lit)
        )
        .group_by("provider", pl.col("tenant_id").alias("external_id"))
        .agg(
            pl.len().cast(pl.Int64).alias("webhooks_24h"),
            pl.col("received_at").max().cast(_TS).alias("last_webhook_at"),
        )
    )
    rejected = (
        rejections.filter(pl.col("day") >= pl.lit(since.astimezone(UTC).date()))
        .group_by("provider")
        .agg(pl.col("count").sum().cast(pl.Int64).alias("webhook_rejections"))
    )
    horizons = pl.DataFrame(
        {
            "provider": list(TOKEN_HORIZON_DAYS),
            "token_horizon_days": list(TOKEN_HORIZON_DAYS.values()),
        },
        schema={"provider": pl.String, "token_horizon_days": pl.Int64},
    )
    frame = (
        connections.select(
            *KEYS,
            "display_name",
            "status",
            "status_reason",
            pl.col("last_synced_at").cast(_TS),
            pl.col("created_at").cast(_TS),
        )
        .join(recent, on=KEYS, how="left")
        .join(streaks, on=KEYS, how="left")
        .join(token_rows, on=["company_id", "provider"], how="left")
        .join(webhooks, on=["provider", "external_id"], how="left")
        .join(rejected, on="provider", how="left")
        .join(horizons, on="provider", how="left")
    )
    horizon = pl.duration(days=pl.col("token_horizon_days"))
    frame = frame.with_columns(
        pl.max_horizontal("last_success_at", "last_synced_at").alias("last_success_at"),
        pl.coalesce("_stored_expiry", pl.col("refresh_issued_at") + horizon).alias(
            "refresh_expires_at"
        ),
        *(
            pl.col(c).fill_null(0)
            for c in (
                "syncs_24h",
                "calls_24h",
                "rate_limited_24h",
                "errors_24h",
                "consecutive_failures",
                "webhooks_24h",
                "webhook_rejections",
            )
        ),
    ).with_columns(
        _hours(now_lit - pl.col("last_success_at")).alias("lag_hours"),
        _days(now_lit - pl.col("refresh_issued_at")).alias("token_age_days"),
        _days(pl.col("refresh_expires_at") - now_lit).alias("token_days_left"),
        pl.lit(now.astimezone(UTC), dtype=_TS).alias("computed_at"),
    )
    frame = frame.with_columns(next_action(frame, thresholds).alias("next_action"))
    return frame.select(INTEGRATION_HEALTH.column_names).sort(KEYS)


def next_action(frame: pl.DataFrame, thresholds: Thresholds) -> pl.Series:
    """What the operator should do about each connection of a health frame, most urgent
    first: a person's status, an expired token, failures, a token about to go stale, lag."""
    cmd = pl.format("{} {}", pl.col("company_id"), pl.col("provider"))
    status = pl.col("status")
    expiry_day = pl.col("refresh_expires_at").dt.strftime("%Y-%m-%d")
    lag_anchor = pl.coalesce("last_success_at", "created_at")
    actions = (
        pl.when(status == "removed")
        .then(pl.lit("none (removed; history kept)"))
        .when(status == "paused")
        .then(pl.format("resume when wanted: finpipe connections resume {}", cmd))
        .when(status == "pending")
        .then(pl.format("authorize: finpipe connect {} --company {}", "provider", "company_id"))
        .when(status == "needs_reauth")
        .then(pl.format("reauthorize now: finpipe connections reauth {}", cmd))
        .when(pl.col("token_days_left") <= 0)
        .then(pl.format("reauthorize: the refresh token went stale on {}", expiry_day))
        .when(pl.col("consecutive_failures") > 0)
        .then(
            pl.format(
                "investigate: {} failure(s) since {} UTC ({})",
                pl.col("consecutive_failures"),
                pl.col("failing_since").dt.strftime("%Y-%m-%d %H:%M"),
                pl.col("last_error").str.split(":").list.first(),
            )
        )
        .when(pl.col("token_days_left") < thresholds.token_warn_days)
        .then(pl.format("reauthorize before {}", expiry_day))
        .when(pl.col("provider").is_in(UNPULLED_PROVIDERS))
        .then(pl.lit("none"))
        .when(
            pl.col("last_success_at").is_null()
            & (_hours(pl.col("computed_at") - lag_anchor) > thresholds.max_lag_hours)
        )
        .then(pl.lit(NEVER_SYNCED))
        .when(pl.col("lag_hours") > thresholds.max_lag_hours)
        .then(
            pl.format(
                "sync: no successful sync for {} h", pl.col("lag_hours").round(0).cast(pl.Int64)
            )
        )
        .otherwise(pl.lit("none"))
    )
    return frame.select(actions.alias("next_action")).to_series()


def stale_tokens(health: pl.DataFrame, thresholds: Thresholds = Thresholds()) -> pl.DataFrame:
    """Connections still in use (not paused or removed) whose refresh token goes stale in
    less than ``token_warn_days`` (or already has)."""
    return health.filter(
        ~pl.col("status").is_in(["paused", "removed"])
        & (pl.col("token_days_left") < thresholds.token_warn_days)
    ).sort("token_days_left")


def lagging(health: pl.DataFrame, thresholds: Thresholds = Thresholds()) -> pl.DataFrame:
    """Active (or degraded) connections without a successful sync for more than
    ``max_lag_hours``; a connection never synced counts from its creation. Statement
    connections (files pushed by the bank, not pulled) never lag."""
    return health.filter(
        pl.col("status").is_in(["active", "degraded"])
        & ~pl.col("provider").is_in(UNPULLED_PROVIDERS)
        & (
            (pl.col("lag_hours") > thresholds.max_lag_hours)
            | (pl.col("next_action") == NEVER_SYNCED)
        )
    ).sort("lag_hours", descending=True, nulls_last=False)


def read_health(
    wh: Warehouse,
    now: dt.datetime,
    thresholds: Thresholds = Thresholds(),
    *,
    company_id: str | None = None,
    provider: str | None = None,
) -> pl.DataFrame:
    """:func:`compute_health` over the warehouse's current tables, optionally for one
    company's (and one provider's) connections only.

    Only what the health needs is read: the last day of the inbox, and of the sync log the
    last day plus each connection's newest success up to ``now`` and what came after it (the
    failure streak); token ciphertexts are not read at all."""
    since = now - WINDOW
    scope, scope_params = [], []
    for column, value in (("company_id", company_id), ("provider", provider)):
        if value is not None:
            scope.append(f"{column} = %s")
            scope_params.append(value)
    scoped = " AND ".join(scope) or "TRUE"
    inbox = wh.query(
        f"SELECT provider, tenant_id, received_at FROM {WEBHOOK_INBOX.qualified_name} "
        "WHERE received_at > %s AND received_at <= %s"
        + (" AND provider = %s" if provider is not None else ""),
        [since, now, *([provider] if provider is not None else [])],
    )
    if inbox.is_empty():
        inbox = pl.DataFrame(
            schema={"provider": pl.String, "tenant_id": pl.String, "received_at": _TS}
        )
    tokens = wh.query(
        "SELECT company_id, provider, refresh_issued_at, refresh_expires_at "
        f"FROM {OAUTH_TOKENS.qualified_name} WHERE {scoped}",
        scope_params,
    )
    if tokens.is_empty():
        tokens = pl.DataFrame(
            schema={
                "company_id": pl.String,
                "provider": pl.String,
                "refresh_issued_at": _TS,
                "refresh_expires_at": _TS,
            }
        )
    runs = SYNC_RUNS.qualified_name
    # A row is needed when it is recent, or when no later success (up to now) supersedes it:
    # that keeps each connection's newest success and its failure streak, and drops history.
    newest = (
        f"finished_at > %s OR NOT EXISTS (SELECT 1 FROM {runs} later "
        f"WHERE later.company_id = {SYNC_RUNS.name}.company_id "
        f"AND later.provider = {SYNC_RUNS.name}.provider "
        f"AND later.external_id = {SYNC_RUNS.name}.external_id "
        "AND later.status = 'success' AND later.finished_at > "
        f"{SYNC_RUNS.name}.finished_at AND later.finished_at <= %s)"
    )
    return compute_health(
        wh.read(CONNECTIONS, where=scoped, params=scope_params),
        wh.read(SYNC_RUNS, where=f"({scoped}) AND ({newest})", params=[*scope_params, since, now]),
        tokens.with_columns(pl.col("refresh_issued_at", "refresh_expires_at").cast(_TS)),
        inbox.with_columns(pl.col("received_at").cast(_TS)),
        wh.read(WEBHOOK_REJECTIONS, where="day >= %s", params=[since.astimezone(UTC).date()]),
        now,
        thresholds,
    )
