"""Checks on the anomaly flags: every score in [0, 1], every flag with a reason and a known
type, every Benford test with a conformity range."""

from __future__ import annotations

import dagster as dg
import polars as pl

from finpipe.analytics.anomalies.build import CompanyAnomalies
from finpipe.analytics.anomalies.flags import DETECTORS, FLAG_TYPES
from finpipe.defs.metadata import markdown_preview

FLAGS_KEY = dg.AssetKey(["analytics", "anomaly_flags"])


def check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "scores_in_range",
            asset=FLAGS_KEY,
            blocking=True,
            description="Every flag's score and every seasonal alert's score is in [0, 1].",
        ),
        dg.AssetCheckSpec(
            "flags_explained",
            asset=FLAGS_KEY,
            blocking=True,
            description="Every flag has a non-empty reason, a known type and a known detector.",
        ),
    ]


def check_results(result: CompanyAnomalies) -> list[dg.AssetCheckResult]:
    """The results of :func:`check_specs` for one company's run."""
    flags, alerts = result.flags, result.alerts
    bad_scores = flags.filter(~pl.col("score").is_between(0.0, 1.0) | pl.col("score").is_nan())
    bad_alerts = alerts.filter(~pl.col("score").is_between(0.0, 1.0) | pl.col("score").is_nan())
    unexplained = flags.filter(
        pl.col("reason").is_null()
        | (pl.col("reason").str.strip_chars() == "")
        | ~pl.col("type").is_in(FLAG_TYPES)
        | ~pl.col("detector").is_in(DETECTORS)
    )
    return [
        dg.AssetCheckResult(
            check_name="scores_in_range",
            asset_key=FLAGS_KEY,
            passed=bad_scores.is_empty() and bad_alerts.is_empty(),
            metadata={
                "flags": flags.height,
                "flags_out_of_range": bad_scores.height,
                "alerts_out_of_range": bad_alerts.height,
                "detail": dg.MetadataValue.md(
                    markdown_preview(bad_scores, columns=["document_id", "type", "score"])
                ),
            },
        ),
        dg.AssetCheckResult(
            check_name="flags_explained",
            asset_key=FLAGS_KEY,
            passed=unexplained.is_empty(),
            metadata={
                "unexplained": unexplained.height,
                "detail": dg.MetadataValue.md(
                    markdown_preview(unexplained, columns=["document_id", "type", "detector"])
                ),
            },
        ),
    ]
