"""The company registry: ``ops.companies`` and ``ops.connections``.

Companies arrive from the sandbox world (the demo) or from ``finpipe connect``; either way
they are upserted here, keeping the first ``created_at`` of a company or connection.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from finpipe.errors import FinpipeError
from finpipe.warehouse import Warehouse, WriteResult
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS

CONNECTION_STATUSES = ("pending", "active", "needs_reauth", "degraded", "paused", "removed")


class RegistryError(FinpipeError):
    """The company registry was given something it cannot store."""


def companies_from_world(world_companies: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """``ops.companies`` rows for the companies of a generated world."""
    return world_companies.select(
        "company_id",
        "name",
        "naics_code",
        "country",
        "home_currency",
        "fiscal_year_start_month",
        pl.lit("active").alias("status"),
        pl.lit(now).dt.replace_time_zone("UTC").alias("created_at"),
        pl.lit(now).dt.replace_time_zone("UTC").alias("updated_at"),
    )


def connections_from_world(
    world_companies: pl.DataFrame, world_bank_accounts: pl.DataFrame, now: dt.datetime
) -> pl.DataFrame:
    """``ops.connections`` rows for a world.

    One per accounting file (QBO realm, Xero tenant), status ``pending`` until ``finpipe
    connect`` authorises it. Bank APIs (Open Banking, Berlin Group, the aggregator) get
    their connection when ``finpipe connect`` creates the consent or item, named by its id
    (one consent covers several accounts). Accounts whose bank only gives statement files
    are connected from the start (``statement``, named by IBAN or account number): their
    files arrive through the drop folder.
    """
    ts = pl.lit(now).dt.replace_time_zone("UTC")
    qbo = world_companies.filter(pl.col("qbo_realm_id").is_not_null()).select(
        "company_id",
        pl.lit("quickbooks").alias("provider"),
        pl.col("qbo_realm_id").alias("external_id"),
        pl.col("name").alias("display_name"),
    )
    xero = world_companies.filter(pl.col("xero_tenant_id").is_not_null()).select(
        "company_id",
        pl.lit("xero").alias("provider"),
        pl.col("xero_tenant_id").alias("external_id"),
        pl.col("name").alias("display_name"),
    )
    statements = world_bank_accounts.filter(pl.col("bank_provider") == "statement").select(
        "company_id",
        pl.lit("statement").alias("provider"),
        pl.coalesce("iban", "account_number").alias("external_id"),
        (pl.col("institution_name") + " " + pl.col("account_name") + " (statement files)").alias(
            "display_name"
        ),
    )
    accounting = pl.concat([qbo, xero]).with_columns(
        pl.lit("pending").alias("status"),
        pl.lit("not yet authorised: run `finpipe connect`").alias("status_reason"),
    )
    files = statements.with_columns(
        pl.lit("active").alias("status"),
        pl.lit(None, dtype=pl.String).alias("status_reason"),
    )
    return pl.concat([accounting, files]).with_columns(
        ts.alias("created_at"),
        ts.alias("updated_at"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("last_synced_at"),
    )


def _keep_first_seen(
    frame: pl.DataFrame, table_key: tuple[str, ...], existing: pl.DataFrame
) -> pl.DataFrame:
    if existing.is_empty():
        return frame
    kept = existing.select(*table_key, pl.col("created_at").alias("_created_before"))
    return (
        frame.join(kept, on=list(table_key), how="left")
        .with_columns(pl.coalesce("_created_before", "created_at").alias("created_at"))
        .drop("_created_before")
    )


def register(
    warehouse: Warehouse, companies: pl.DataFrame, connections: pl.DataFrame
) -> tuple[WriteResult, WriteResult]:
    """Upsert companies and their connections; a re-registration keeps ``created_at``.

    Existing connections keep their status (a re-run of the demo must not undo an
    authorisation): only new connections take the status given here.
    """
    bad = companies.filter(~pl.col("fiscal_year_start_month").is_between(1, 12))
    if bad.height:
        raise RegistryError(
            f"company {bad.item(0, 'company_id')!r}: fiscal_year_start_month "
            f"{bad.item(0, 'fiscal_year_start_month')} is not a month (1-12)"
        )
    orphans = connections.join(companies, on="company_id", how="anti")
    if orphans.height:
        raise RegistryError(
            f"connection {orphans.item(0, 'provider')}/{orphans.item(0, 'external_id')} names "
            f"company {orphans.item(0, 'company_id')!r}, which is not being registered"
        )
    ids = companies.get_column("company_id").to_list()
    placeholders = ", ".join(["%s"] * len(ids)) or "NULL"
    existing_companies = warehouse.read(
        COMPANIES, where=f"company_id IN ({placeholders})", params=ids
    )
    existing_connections = warehouse.read(
        CONNECTIONS, where=f"company_id IN ({placeholders})", params=ids
    )
    companies = _keep_first_seen(companies, COMPANIES.primary_key, existing_companies)
    connections = _keep_first_seen(connections, CONNECTIONS.primary_key, existing_connections)
    if not existing_connections.is_empty():
        status_before = existing_connections.select(
            *CONNECTIONS.primary_key,
            pl.col("status").alias("_status"),
            pl.col("status_reason").alias("_reason"),
            pl.col("last_synced_at").alias("_synced"),
        )
        connections = (
            connections.join(status_before, on=list(CONNECTIONS.primary_key), how="left")
            .with_columns(
                pl.coalesce("_status", "status").alias("status"),
                pl.when(pl.col("_status").is_not_null())
                .then(pl.col("_reason"))
                .otherwise(pl.col("status_reason"))
                .alias("status_reason"),
                pl.coalesce("_synced", "last_synced_at").alias("last_synced_at"),
            )
            .drop("_status", "_reason", "_synced")
        )
    return warehouse.upsert(COMPANIES, companies), warehouse.upsert(CONNECTIONS, connections)
