"""Jobs an operator launches from the UI (and ``finpipe demo`` runs in process)."""

from __future__ import annotations

import dagster as dg

from finpipe.defs.partitions import company_partitions

# Registering tenants is cross-company, so it is its own (unpartitioned) job.
register_companies_job = dg.define_asset_job(
    name="register_companies",
    selection=dg.AssetSelection.groups("ops"),
    description="Register the companies (ops.companies, ops.connections).",
)

# The main per-company job: everything partitioned by company, in dependency order.
main_job = dg.define_asset_job(
    name="finpipe_main",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("ops", "marts"),
    partitions_def=company_partitions,
    description="Everything finpipe builds for one company, end to end.",
)

# The BI marts read across companies, so they are rebuilt once after the per-company runs.
marts_job = dg.define_asset_job(
    name="build_marts",
    selection=dg.AssetSelection.groups("marts"),
    description="dbt build of the BI marts (dbt/) against the warehouse.",
)
