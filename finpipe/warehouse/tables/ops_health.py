"""Schema ``ops``: how each connection's syncs went, and the integration health built from it.

``ops.sync_runs`` holds one row per sync attempt of a connection (a Dagster run that synced
it): the landing step records its successes, the run-failure sensor its failures, both keyed
by run id so a re-run of either writes nothing twice. ``ops.integration_health`` is rebuilt
from it (and from tokens, webhook deliveries and rejections) for the operator: one row per
connection with its lag, error counts, token horizon and the next thing to do.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

T = Kind.TEXT
I = Kind.INT  # noqa: E741 - the table catalogs' short aliases
TS = Kind.TIMESTAMP

SYNC_RUNS = Table(
    schema="ops",
    name="sync_runs",
    doc="One row per sync attempt of a connection (one Dagster run), success or failure, with its API calls, 429s, retries, token refreshes and rows written; keyed by run id, so recording a run again changes nothing.",
    columns=(
        company_id_column(),
        col(
            "provider",
            T,
            "quickbooks | xero | openbanking | berlingroup | aggregator",
            nullable=False,
        ),
        col(
            "external_id",
            T,
            "the connection's external id (realm, tenant, consent, item)",
            nullable=False,
        ),
        col(
            "run_id",
            T,
            "the Dagster run that synced (or failed to sync) the connection",
            nullable=False,
        ),
        col("sync_id", T, "the connector's sync id (raw.*.sync_id), when the sync got that far"),
        col("trigger", T, "webhook | schedule | sensor | manual", nullable=False),
        col("status", T, "success | failed", nullable=False),
        col("started_at", TS, "when the run (or the sync step) started"),
        col("finished_at", TS, "when the sync ended or the run failed", nullable=False),
        col("calls", I, "API calls made", nullable=False),
        col("rate_limited", I, "429 answers received", nullable=False),
        col("retries", I, "calls repeated after a 429, a 5xx or a timeout", nullable=False),
        col("token_refreshes", I, "OAuth access-token refreshes", nullable=False),
        col("rows_written", I, "landing rows inserted, updated or marked deleted", nullable=False),
        col(
            "error_class",
            T,
            "the exception class of a failure (NeedsReauth, ProviderUnavailable ...)",
        ),
        col(
            "error_message", T, "the failure's message, secrets redacted, at most 1,000 characters"
        ),
        col("recorded_at", TS, "when this row was written", nullable=False),
    ),
    primary_key=("company_id", "provider", "external_id", "run_id"),
)

INTEGRATION_HEALTH = Table(
    schema="ops",
    name="integration_health",
    doc="One row per connection: last successful sync and data lag, calls, 429s and errors over the last 24 h, consecutive failures, refresh-token age against the provider's horizon, webhook deliveries and rejections, and the operator's next action.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero | ...", nullable=False),
        col("external_id", T, "the connection's external id", nullable=False),
        col("display_name", T, "what the provider calls this file or account"),
        col("status", T, "ops.connections status", nullable=False),
        col("status_reason", T, "ops.connections status_reason"),
        col("last_success_at", TS, "end of the last successful sync"),
        col("lag_hours", Kind.FLOAT, "hours since the last successful sync (null: never synced)"),
        col("syncs_24h", I, "sync attempts recorded over the last 24 h", nullable=False),
        col("calls_24h", I, "API calls over the last 24 h", nullable=False),
        col("rate_limited_24h", I, "429 answers over the last 24 h", nullable=False),
        col("errors_24h", I, "failed syncs over the last 24 h", nullable=False),
        col("consecutive_failures", I, "failed syncs since the last success", nullable=False),
        col("failing_since", TS, "first failure after the last success"),
        col("last_error", T, "class and message of the newest failure"),
        col("refresh_issued_at", TS, "when the current refresh token was issued"),
        col(
            "refresh_expires_at",
            TS,
            "when the refresh token goes stale (stored, else issued + horizon)",
        ),
        col("token_age_days", Kind.FLOAT, "days since the refresh token was issued"),
        col("token_days_left", Kind.FLOAT, "days until the refresh token goes stale"),
        col(
            "token_horizon_days",
            I,
            "the provider's refresh-token horizon (QBO 100 rolling, Xero 60 unused)",
        ),
        col(
            "webhooks_24h",
            I,
            "webhook events for this tenant received over the last 24 h",
            nullable=False,
        ),
        col("last_webhook_at", TS, "newest webhook event for this tenant"),
        col(
            "webhook_rejections",
            I,
            "the provider's rejected webhook requests on this and the previous UTC day (counted per provider and day)",
            nullable=False,
        ),
        col("next_action", T, "what the operator should do, or 'none'", nullable=False),
        col("computed_at", TS, "the instant the row describes", nullable=False),
    ),
    primary_key=("company_id", "provider", "external_id"),
    partition_column=None,
)

TABLES: tuple[Table, ...] = (SYNC_RUNS, INTEGRATION_HEALTH)
