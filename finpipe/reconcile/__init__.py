"""Reconciliation: bank lines against ledger cash movements (schema ``recon``).

Plain Python over Polars frames; nothing here imports Dagster.

    from finpipe.reconcile import ReconConfig, reconcile

    result = reconcile(bank_lines, movements, ReconConfig(window_max_days=5))
    result.matches, result.unmatched_bank_lines, result.unmatched_movements, result.counts
"""

from finpipe.reconcile.cascade import (
    ReconConfig,
    ReconResult,
    reconcile,
    unmatched_bank_lines,
    unmatched_movements,
)
from finpipe.reconcile.schema import BANK_LINE_SCHEMA, MATCH_SCHEMA, MOVEMENT_SCHEMA

__all__ = [
    "BANK_LINE_SCHEMA",
    "MATCH_SCHEMA",
    "MOVEMENT_SCHEMA",
    "ReconConfig",
    "ReconResult",
    "reconcile",
    "unmatched_bank_lines",
    "unmatched_movements",
]
