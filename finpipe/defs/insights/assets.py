"""analytics/insights and insight_narratives: a company's ranked plain-language insights, each
number recomputed from the warehouse by the checker, and the optional LLM narrative of the
verified facts (the rules live in :mod:`finpipe.analytics.insights`).

Downstream of the financials and, when those parts are present, of the anomaly flags, cash
warnings and peer benchmarks; rebuilt whenever any of them changes."""

import dagster as dg

from finpipe.analytics.insights.build import (
    build_insights,
    summary_markdown,
    write_insights,
)
from finpipe.analytics.insights.narrative import LLMConfig, narrate
from finpipe.defs.anomalies.checks import FLAGS_KEY
from finpipe.defs.financials.assets import KEYS as FINANCIALS_KEYS
from finpipe.defs.forecast.assets import CASH_WARNINGS_KEY
from finpipe.defs.insights.checks import INSIGHTS_KEY, check_results, check_specs
from finpipe.defs.ledger.books import KEYS as BOOK_KEYS
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.peers.assets import KEYS as PEER_KEYS
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.analytics_insights import INSIGHT_NARRATIVES, INSIGHTS

DEPS = [
    *(FINANCIALS_KEYS[name] for name in ("income_statement", "balance_sheet", "kpis")),
    FINANCIALS_KEYS["health_scores"],
    FINANCIALS_KEYS["health_components"],
    BOOK_KEYS["documents"],
    BOOK_KEYS["contacts"],
    # The flags, the cash warnings and the peer positions are sources of insights too.
    FLAGS_KEY,
    CASH_WARNINGS_KEY,
    PEER_KEYS["peer_benchmarks"],
]
NARRATIVES_KEY = dg.AssetKey(["analytics", INSIGHT_NARRATIVES.name])


def _specs() -> list[dg.AssetSpec]:
    # A function, not module-level specs: the defs loader would take those for assets.
    return [
        derived_table_spec(INSIGHTS_KEY, INSIGHTS, "analytics", DEPS),
        derived_table_spec(NARRATIVES_KEY, INSIGHT_NARRATIVES, "analytics", [INSIGHTS_KEY]),
    ]


@dg.multi_asset(
    name="insights",
    specs=_specs(),
    check_specs=check_specs(),
    partitions_def=company_partitions,
    can_subset=False,
    description="Turn a company's KPIs, health scores, overdue receivables, cash warnings, "
    "anomaly flags and peer positions into plain-language insights ranked by estimated money "
    "impact x confidence; recompute every number they cite from the tables; optionally ask an "
    "OpenAI-compatible endpoint (FINPIPE_LLM_*) for a narrative checked against the facts.",
)
def insights(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    llm = LLMConfig.from_env()
    with warehouse.open() as wh:
        result = build_insights(wh, company_id)
        write_insights(wh, result)
        narrative = narrate(wh, company_id, llm, result.frame) if llm else None
    # build_insights already verified every row against the warehouse it just read.
    frame, verdicts = result.frame, result.verifications
    context.log.info(
        f"insights of {company_id}: {frame.height} insight(s), "
        f"{sum(v.verified for v in verdicts)} verified"
    )
    yield dg.MaterializeResult(
        asset_key=INSIGHTS_KEY,
        metadata={
            "dagster/row_count": frame.height,
            "top_insights": dg.MetadataValue.md(summary_markdown(frame, 5)),
            "preview": dg.MetadataValue.md(
                markdown_preview(
                    frame, columns=["rank", "kind", "impact_minor", "confidence", "verified"]
                )
            ),
        },
    )
    status = "off" if llm is None else (narrative["status"] if narrative else "nothing verified")
    meta: dict[str, object] = {"status": status}
    if narrative and narrative["reason"]:
        meta["reason"] = narrative["reason"]
    if narrative and narrative["narrative"]:
        meta["narrative"] = dg.MetadataValue.md(narrative["narrative"])
    yield dg.MaterializeResult(asset_key=NARRATIVES_KEY, metadata=meta)
    yield from check_results(frame, verdicts)
