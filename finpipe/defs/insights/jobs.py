"""``refresh_insights``: one company's insights (and narrative) again, on what the warehouse
holds now.

The insights read the cross-company peer benchmarks, which ``build_marts`` builds after every
company's ``finpipe_main`` run: the insights built inside that run see the previous peer
positions (none on a first run). The automation sensor rebuilds them once the benchmarks
change (the insights asset depends on ``analytics/peer_benchmarks`` and follows it eagerly,
at most once every ten minutes);
this job is the same rebuild on demand, run by ``finpipe demo`` after ``build_marts`` so the
insights it prints cite the peer positions of this run.
"""

from __future__ import annotations

import dagster as dg

from finpipe.defs.insights.assets import NARRATIVES_KEY
from finpipe.defs.insights.checks import INSIGHTS_KEY

refresh_insights_job = dg.define_asset_job(
    name="refresh_insights",
    selection=dg.AssetSelection.assets(INSIGHTS_KEY, NARRATIVES_KEY),
    description="Rebuild a company's ranked, verified insights (and narrative) from the "
    "warehouse as it is now, e.g. after build_marts refreshed the peer benchmarks they cite.",
)
