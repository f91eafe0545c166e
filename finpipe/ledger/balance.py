"""Double-entry invariants: every entry balances, every month's trial balance is zero.

Amounts are signed integer minor units (debit positive, credit negative), so "balances"
means an exact integer sum of zero — no tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def unbalanced_entries(
    lines: pl.DataFrame, entry_key: Sequence[str] = ("company_id", "entry_id")
) -> pl.DataFrame:
    """Entries whose lines do not sum to zero, with their imbalance and line count."""
    return (
        lines.group_by(list(entry_key))
        .agg(pl.col("amount").sum().alias("imbalance"), pl.len().alias("lines"))
        .filter(pl.col("imbalance") != 0)
        .sort(list(entry_key))
    )


def monthly_trial_balance(lines: pl.DataFrame, date_column: str = "date") -> pl.DataFrame:
    """Per company and month: total debits, total credits and their (signed) difference."""
    return (
        lines.with_columns(pl.col(date_column).dt.truncate("1mo").alias("month"))
        .group_by("company_id", "month")
        .agg(
            pl.col("amount").filter(pl.col("amount") > 0).sum().alias("debits"),
            (-pl.col("amount").filter(pl.col("amount") < 0)).sum().alias("credits"),
            pl.col("amount").sum().alias("difference"),
        )
        .sort("company_id", "month")
    )
