"""The peer benchmark asset checks: percentiles in [0, 100]; every published group has at
least k members and no group figure comes from fewer than k values (both blocking: a
k-anonymity breach must not reach a BI tool). Evaluated by the ``peer_benchmarks`` asset."""

from __future__ import annotations

import dagster as dg

from finpipe.analytics.peers.build import PeerBenchmarks
from finpipe.defs.metadata import markdown_preview

PEER_GROUPS_KEY = dg.AssetKey(["analytics", "peer_groups"])
PEER_BENCHMARKS_KEY = dg.AssetKey(["analytics", "peer_benchmarks"])


def check_specs() -> list[dg.AssetCheckSpec]:
    """The specs (built in a function: the defs loader reads module-level objects)."""
    return [
        dg.AssetCheckSpec(
            "percentiles_in_range",
            asset=PEER_BENCHMARKS_KEY,
            description="Every published percentile is finite and in [0, 100].",
        ),
        dg.AssetCheckSpec(
            "groups_at_least_k",
            asset=PEER_GROUPS_KEY,
            blocking=True,
            description="Every published peer or custom group has at least k members in "
            "every month.",
        ),
        dg.AssetCheckSpec(
            "no_figure_below_k",
            asset=PEER_BENCHMARKS_KEY,
            blocking=True,
            description="No percentile, median or quartile of a peer or custom group comes "
            "from fewer than k values (reference rows excepted: published figures).",
        ),
    ]


def check_results(result: PeerBenchmarks) -> list[dg.AssetCheckResult]:
    """The three checks' results for one build of the benchmarks."""
    problems = result.problems()

    def meta(name: str) -> dict[str, object]:
        frame = problems[name]
        out: dict[str, object] = {"k": result.k, "offending_rows": frame.height}
        if frame.height:
            out["rows"] = dg.MetadataValue.md(markdown_preview(frame, rows=12))
        return out

    return [
        dg.AssetCheckResult(
            check_name="percentiles_in_range",
            asset_key=PEER_BENCHMARKS_KEY,
            passed=problems["percentile_out_of_range"].is_empty(),
            metadata={"rows_checked": result.benchmarks.height, **meta("percentile_out_of_range")},
        ),
        dg.AssetCheckResult(
            check_name="groups_at_least_k",
            asset_key=PEER_GROUPS_KEY,
            passed=problems["group_below_k"].is_empty(),
            metadata={
                "groups_checked": result.members.select("month", "group_id").unique().height,
                **meta("group_below_k"),
            },
        ),
        dg.AssetCheckResult(
            check_name="no_figure_below_k",
            asset_key=PEER_BENCHMARKS_KEY,
            passed=problems["figure_below_k"].is_empty(),
            metadata={"rows_checked": result.benchmarks.height, **meta("figure_below_k")},
        ),
    ]
