"""Jobs an operator launches from the UI (and ``finpipe demo`` runs in process)."""

from __future__ import annotations

import dagster as dg

from finpipe.defs.partitions import company_partitions

# Registering tenants is cross-company, so it is its own (unpartitioned) job.
register_companies_job = dg.define_asset_job(
    name="register_companies",
    selection=dg.AssetSelection.groups("ops", "reference"),
    description="Register the companies (ops.companies, ops.connections) and load the "
    "reference tables (the standard chart of accounts).",
)

# The main per-company job: everything partitioned by company, in dependency order.
main_job = dg.define_asset_job(
    name="finpipe_main",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.groups("ops", "reference", "marts", "benchmarks"),
    partitions_def=company_partitions,
    description="Everything finpipe builds for one company, end to end.",
)

# The BI marts and the peer benchmarks read across companies, so they are rebuilt once after
# the per-company runs (inside finpipe_main they would be recomputed once per company).
marts_job = dg.define_asset_job(
    name="build_marts",
    selection=dg.AssetSelection.groups("benchmarks", "marts"),
    description="Peer benchmarks across companies, then the dbt build of the BI marts (dbt/) "
    "against the warehouse.",
)

# Bank data only (every bank API, the statement drop folder, the canonical bank tables): what
# an operator runs after renewing a consent.
bank_job = dg.define_asset_job(
    name="sync_banks",
    selection=dg.AssetSelection.groups(
        "raw_openbanking", "raw_berlingroup", "raw_aggregator", "raw_statement"
    )
    | dg.AssetSelection.keys(["ledger", "bank_accounts"], ["ledger", "bank_lines"]),
    partitions_def=company_partitions,
    description="Sync a company's bank APIs, import its dropped statement files, rebuild "
    "ledger.bank_lines / ledger.bank_accounts.",
)

# Dropped statement files only, then the canonical bank tables: what the inbox sensor
# launches. It must not pull the bank APIs: they allow a few unattended pulls a day.
statements_job = dg.define_asset_job(
    name="import_statements",
    selection=dg.AssetSelection.groups("raw_statement")
    | dg.AssetSelection.keys(["ledger", "bank_accounts"], ["ledger", "bank_lines"]),
    description="Import a company's dropped statement files and rebuild ledger.bank_lines / "
    "ledger.bank_accounts.",
)
