"""The financials asset checks: the statements tie to the trial balance, the cash-flow
statement to the change in cash (both blocking: nothing downstream reads statements that do
not add up), and every score is in range. Evaluated by the ``financials`` multi-asset."""

from __future__ import annotations

import dagster as dg
import polars as pl

from finpipe.analytics.financials.build import Financials
from finpipe.defs.metadata import markdown_preview

BALANCE_SHEET_KEY = dg.AssetKey(["analytics", "balance_sheet"])
CASH_FLOW_KEY = dg.AssetKey(["analytics", "cash_flow"])
HEALTH_SCORES_KEY = dg.AssetKey(["analytics", "health_scores"])


def check_specs() -> list[dg.AssetCheckSpec]:
    """The specs (built in a function: the defs loader reads module-level objects)."""
    return [
        dg.AssetCheckSpec(
            "statements_tie_to_trial_balance",
            asset=BALANCE_SHEET_KEY,
            blocking=True,
            description="Every month, assets equal liabilities plus equity, and the P&L's net "
            "income equals the change in retained plus current-year earnings.",
        ),
        dg.AssetCheckSpec(
            "cash_flow_ties_to_cash",
            asset=CASH_FLOW_KEY,
            blocking=True,
            description="Every month, operating + investing + financing equals the change in "
            "cash on the balance sheet.",
        ),
        dg.AssetCheckSpec(
            "scores_in_range",
            asset=HEALTH_SCORES_KEY,
            description="Composite in [0, 100], Altman Z'' finite where defined, and the "
            "components' contributions sum to the composite.",
        ),
    ]


def _detail(frames: dict[str, pl.DataFrame], names: tuple[str, ...]) -> dict[str, object]:
    meta: dict[str, object] = {name: frames[name].height for name in names}
    for name in names:
        if frames[name].height:
            meta[f"{name}_rows"] = dg.MetadataValue.md(markdown_preview(frames[name], rows=12))
    return meta


def check_results(result: Financials) -> list[dg.AssetCheckResult]:
    """The three checks' results for one company's financials."""
    problems = result.problems()
    months = result.balance.height
    tie = ("unbalanced", "earnings_off")
    cash = ("cash_flow_off",)
    scores = ("composite_out_of_range", "altman_not_finite", "contributions_off")
    return [
        dg.AssetCheckResult(
            check_name="statements_tie_to_trial_balance",
            asset_key=BALANCE_SHEET_KEY,
            passed=all(problems[n].is_empty() for n in tie),
            metadata={"months": months, **_detail(problems, tie)},
        ),
        dg.AssetCheckResult(
            check_name="cash_flow_ties_to_cash",
            asset_key=CASH_FLOW_KEY,
            passed=problems["cash_flow_off"].is_empty(),
            metadata={"months": months, **_detail(problems, cash)},
        ),
        dg.AssetCheckResult(
            check_name="scores_in_range",
            asset_key=HEALTH_SCORES_KEY,
            passed=all(problems[n].is_empty() for n in scores),
            metadata={"scored_months": result.scores.height, **_detail(problems, scores)},
        ),
    ]
