"""The insights asset checks: every stored insight verifies against the warehouse (blocking,
ERROR: a demo or a reader must never see a number the tables do not give back) and the ranks
are 1..n in score order. Evaluated by the ``insights`` multi-asset after it writes."""

from __future__ import annotations

import dagster as dg
import polars as pl

from finpipe.analytics.insights.build import rank_problems
from finpipe.analytics.insights.verify import Verification

INSIGHTS_KEY = dg.AssetKey(["analytics", "insights"])


def check_specs() -> list[dg.AssetCheckSpec]:
    """The specs (built in a function: the defs loader reads module-level objects)."""
    return [
        dg.AssetCheckSpec(
            "insights_verified",
            asset=INSIGHTS_KEY,
            blocking=True,
            description="The checker recomputes every number each stored insight cites from "
            "the warehouse tables through its recipe and finds the text saying exactly that; "
            "fails naming each insight and number that does not verify.",
        ),
        dg.AssetCheckSpec(
            "insight_ranks_contiguous",
            asset=INSIGHTS_KEY,
            blocking=True,
            description="Ranks are 1..n per company and scores never increase with rank.",
        ),
    ]


def check_results(frame: pl.DataFrame, verdicts: list[Verification]) -> list[dg.AssetCheckResult]:
    """Both checks' results for one company's stored insights and their re-verification."""
    bad = [v for v in verdicts if not v.verified]
    problems = rank_problems(frame)
    return [
        dg.AssetCheckResult(
            check_name="insights_verified",
            asset_key=INSIGHTS_KEY,
            passed=not bad,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "insights": len(verdicts),
                "unverified": len(bad),
                "numbers_checked": sum(v.numbers for v in verdicts),
                "detail": dg.MetadataValue.md(
                    "\n".join(f"- {v.describe()}" for v in bad) or "_all verified_"
                ),
            },
        ),
        dg.AssetCheckResult(
            check_name="insight_ranks_contiguous",
            asset_key=INSIGHTS_KEY,
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"problems": dg.MetadataValue.md("\n".join(problems) or "_none_")},
        ),
    ]
