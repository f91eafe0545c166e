"""Reconciliation: bank lines against ledger cash movements (schema ``recon``).

Plain Python over Polars frames; nothing here imports Dagster.

    from finpipe.reconcile import ReconConfig, reconcile, summarize, exceptions_markdown

    result = reconcile(bank_lines, movements, ReconConfig(window_max_days=5))
    result.matches          # MATCH_SCHEMA: rule, match_type (1:1 | 1:n | n:1), group_id
    result.suggestions      # SUGGESTION_SCHEMA: for a person, never a match
    result.unmatched_bank_lines, result.unmatched_movements, result.counts
    summarize(bank_lines, movements, result, as_of=date.today())  # per company, currency
"""

from finpipe.reconcile.cascade import (
    ReconConfig,
    ReconResult,
    reconcile,
    unmatched_bank_lines,
    unmatched_movements,
)
from finpipe.reconcile.schema import (
    BANK_LINE_SCHEMA,
    MATCH_SCHEMA,
    MATCH_TYPES,
    MOVEMENT_SCHEMA,
    RULES,
    SUGGESTION_SCHEMA,
    ReconcileError,
)
from finpipe.reconcile.summary import exceptions_markdown, summarize

__all__ = [
    "BANK_LINE_SCHEMA",
    "MATCH_SCHEMA",
    "MATCH_TYPES",
    "MOVEMENT_SCHEMA",
    "RULES",
    "SUGGESTION_SCHEMA",
    "ReconConfig",
    "ReconResult",
    "ReconcileError",
    "exceptions_markdown",
    "reconcile",
    "summarize",
    "unmatched_bank_lines",
    "unmatched_movements",
]
