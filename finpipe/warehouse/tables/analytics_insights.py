"""Schema ``analytics``: ranked, verified insights per company (:mod:`finpipe.analytics.insights`).

``insights`` holds each company's plain-language insights and recommendations, ranked by
estimated money impact x confidence. Every number in an insight's text is one of its cited
numbers (``facts``), each stored with the recipe (table, filter, aggregation) that recomputes
it from the warehouse; ``verified`` says whether the checker
(:mod:`finpipe.analytics.insights.verify`) recomputed every one of them and found the text
saying exactly that. ``insight_narratives`` is the optional LLM summary of the verified facts,
stored only when every number it contains is one of the facts' numbers (else the reason it
was rejected).
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

T = Kind.TEXT
F = Kind.FLOAT

INSIGHTS = Table(
    schema="analytics",
    name="insights",
    doc="Each company's insights and recommendations, ranked by estimated money impact x confidence; every number cited with the recipe that recomputes it, and whether the checker verified them all.",
    columns=(
        company_id_column(),
        col("insight_id", T, "<kind>:<subject>, stable across runs", nullable=False),
        col("rank", Kind.INT, "1 = highest score; contiguous 1..n per company", nullable=False),
        col(
            "kind",
            T,
            "collections | kpi_change | health | runway | cash_warning | anomalies | peer_position",
            nullable=False,
        ),
        col("subject", T, "what the insight is about (a KPI, a warning id, 'flags')"),
        col("month", Kind.DATE, "the latest month of the books the insight reads", nullable=False),
        col("currency", T, "home currency of every money number"),
        col("title", T, "one-line headline", nullable=False),
        col(
            "text", T, "the insight and its recommendation; numbers only from facts", nullable=False
        ),
        col(
            "impact_minor",
            Kind.MONEY,
            "estimated money at stake, home currency minor units (per-kind rule in insights.rank)",
            nullable=False,
        ),
        col("confidence", F, "0..1, how sure the estimate is (per-kind rule)", nullable=False),
        col("score", F, "impact_minor x confidence: the ranking key", nullable=False),
        col(
            "facts",
            Kind.JSON,
            "cited numbers: key, value, unit, shown text and recipe (table, where, column, agg)",
            nullable=False,
        ),
        col("source_rows", Kind.JSON, "the rows behind the insight: table and ids", nullable=False),
        col(
            "verified",
            Kind.BOOL,
            "every cited number recomputed and shown as stored",
            nullable=False,
        ),
        col("verification", Kind.JSON, "the checker's detail: mismatching numbers, stray numbers"),
    ),
    primary_key=("company_id", "insight_id"),
)

INSIGHT_NARRATIVES = Table(
    schema="analytics",
    name="insight_narratives",
    doc="Optional LLM narrative of a company's verified insights (OpenAI-compatible endpoint, off by default); stored only if every number it contains is a fact's number, otherwise the rejection reason.",
    columns=(
        company_id_column(),
        col("month", Kind.DATE, "latest month of the books", nullable=False),
        col("model", T, "FINPIPE_LLM_MODEL", nullable=False),
        col("status", T, "accepted | rejected | failed", nullable=False),
        col("narrative", T, "the accepted text (null when rejected or failed)"),
        col("reason", T, "why rejected or failed (the unbacked numbers, the HTTP error)"),
        col("facts_sha256", T, "digest of the facts sent to the endpoint", nullable=False),
        col("created_at", Kind.TIMESTAMP, "when the endpoint answered", nullable=False),
    ),
    primary_key=("company_id",),
)

TABLES: tuple[Table, ...] = (INSIGHTS, INSIGHT_NARRATIVES)
