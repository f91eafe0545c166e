"""What reconciliation left to do, per company: the figures an operator watches and the
exceptions a person works through.

:func:`summarize` gives one row per company and currency (money is never summed across
currencies); :func:`exceptions_markdown` renders the largest unmatched items with their best
suggestion as a Markdown table (the Dagster UI shows asset metadata as Markdown).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from finpipe.reconcile.cascade import ReconResult
from finpipe.reconcile.schema import (
    BANK_LINE_SCHEMA,
    MOVEMENT_SCHEMA,
    OPTIONAL_BANK_LINE_COLUMNS,
    OPTIONAL_MOVEMENT_COLUMNS,
    RULES,
    conform,
)
from finpipe.reconcile.suggestions import money

# (column suffix, first day, last day) of the age buckets, in days before ``as_of``
AGE_BUCKETS = (
    ("0_7", None, 7),
    ("8_30", 8, 30),
    ("31_60", 31, 60),
    ("61_90", 61, 90),
    ("over_90", 91, None),
)


def _bucket(age: pl.Expr, lo: int | None, hi: int | None) -> pl.Expr:
    # an item dated after as_of (age < 0) counts as the newest bucket
    cond = pl.lit(True)
    if lo is not None:
        cond = cond & (age >= lo)
    if hi is not None:
        cond = cond & (age <= hi)
    return cond


def _aged(prefix: str, amount: pl.Expr, age: pl.Expr, open_: pl.Expr) -> list[pl.Expr]:
    return [
        amount.abs().filter(open_ & _bucket(age, lo, hi)).sum().alias(f"{prefix}_{name}")
        for name, lo, hi in AGE_BUCKETS
    ]


def summarize(
    bank_lines: pl.DataFrame, movements: pl.DataFrame, result: ReconResult, *, as_of: date
) -> pl.DataFrame:
    """One row per company and currency of what ``result`` (from ``reconcile`` over these
    ``bank_lines`` and ``movements``) reconciled.

    Columns: ``bank_lines_booked``; ``bank_lines_matched`` and ``matched_share`` (of booked
    lines); ``matched_<rule>`` bank lines matched by each rule of ``RULES``;
    ``bank_lines_suggested`` (unmatched lines named by a suggestion);
    ``bank_lines_unmatched`` and ``bank_unmatched_amount`` (absolute sum, minor units);
    ``bank_unmatched_<bucket>`` the unmatched absolute amounts by age in days before
    ``as_of`` (``0_7``, ``8_30``, ``31_60``, ``61_90``, ``over_90``; items dated after
    ``as_of`` count as ``0_7``); ``movements``, ``movements_unmatched``,
    ``movement_unmatched_amount`` and ``movement_unmatched_<bucket>`` the same for ledger
    movements; ``auto_reconciled_amount_share``: matched / booked bank amount (absolute),
    null when nothing was booked.
    """
    bank = conform(bank_lines, BANK_LINE_SCHEMA, OPTIONAL_BANK_LINE_COLUMNS).filter(
        pl.col("status") == "booked"
    )
    mov = conform(movements, MOVEMENT_SCHEMA, OPTIONAL_MOVEMENT_COLUMNS)
    # one rule per bank line (a line is in at most one match; 1:n rows share the line)
    line_rule = result.matches.select(
        "company_id", pl.col("bank_line_id").alias("line_id"), "rule"
    ).unique(["company_id", "line_id"])
    suggested = (
        result.suggestions.select("company_id", pl.col("bank_line_id").alias("line_id"))
        .unique()
        .with_columns(pl.lit(True).alias("suggested"))
    )
    b = (
        bank.join(line_rule, on=["company_id", "line_id"], how="left")
        .join(suggested, on=["company_id", "line_id"], how="left")
        .with_columns(
            pl.col("rule").is_not_null().alias("matched"),
            pl.col("suggested").fill_null(False),
            (pl.lit(as_of) - pl.col("booked_date")).dt.total_days().alias("age"),
        )
    )
    matched, open_ = pl.col("matched"), ~pl.col("matched")
    amount = pl.col("amount")
    bank_agg = b.group_by("company_id", "currency").agg(
        pl.len().alias("bank_lines_booked"),
        matched.sum().alias("bank_lines_matched"),
        *[(pl.col("rule") == rule).sum().alias(f"matched_{rule}") for rule in RULES],
        (pl.col("suggested") & open_).sum().alias("bank_lines_suggested"),
        open_.sum().alias("bank_lines_unmatched"),
        amount.abs().filter(open_).sum().alias("bank_unmatched_amount"),
        *_aged("bank_unmatched", amount, pl.col("age"), open_),
        amount.abs().filter(matched).sum().alias("_matched_amount"),
        amount.abs().sum().alias("_booked_amount"),
    )
    mov_matched = result.matches.select("company_id", "movement_id").unique()
    m = mov.join(
        mov_matched.with_columns(pl.lit(True).alias("matched")),
        on=["company_id", "movement_id"],
        how="left",
    ).with_columns(
        pl.col("matched").fill_null(False),
        (pl.lit(as_of) - pl.col("date")).dt.total_days().alias("age"),
    )
    mov_agg = m.group_by("company_id", "currency").agg(
        pl.len().alias("movements"),
        open_.sum().alias("movements_unmatched"),
        amount.abs().filter(open_).sum().alias("movement_unmatched_amount"),
        *_aged("movement_unmatched", amount, pl.col("age"), open_),
    )
    out = bank_agg.join(mov_agg, on=["company_id", "currency"], how="full", coalesce=True)
    counts = [c for c in out.columns if c not in ("company_id", "currency")]
    out = out.with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))
    booked = pl.col("_booked_amount")
    return (
        out.with_columns(
            (pl.col("bank_lines_matched") / pl.col("bank_lines_booked"))
            .fill_nan(None)
            .alias("matched_share"),
            pl.when(booked > 0)
            .then(pl.col("_matched_amount") / booked)
            .otherwise(None)
            .alias("auto_reconciled_amount_share"),
        )
        .select(
            "company_id",
            "currency",
            "bank_lines_booked",
            "bank_lines_matched",
            "matched_share",
            *[f"matched_{rule}" for rule in RULES],
            "bank_lines_suggested",
            "bank_lines_unmatched",
            "bank_unmatched_amount",
            *[f"bank_unmatched_{name}" for name, _, _ in AGE_BUCKETS],
            "movements",
            "movements_unmatched",
            "movement_unmatched_amount",
            *[f"movement_unmatched_{name}" for name, _, _ in AGE_BUCKETS],
            "auto_reconciled_amount_share",
        )
        .sort("company_id", "currency")
    )


def _cell(expr: pl.Expr) -> pl.Expr:
    """Text safe inside a Markdown table cell."""
    return (
        expr.cast(pl.String)
        .fill_null("")
        .str.replace_all(r"[\r\n]+", " ")
        .str.replace_all("|", r"\|", literal=True)
    )


def exceptions_markdown(
    result: ReconResult, bank_lines: pl.DataFrame, movements: pl.DataFrame, limit: int = 20
) -> str:
    """A Markdown summary line and table of the ``limit`` largest unmatched bank lines and
    movements (by absolute amount, either side), each with the reason and score of its
    best suggestion (highest score), if any."""
    booked = bank_lines.filter(pl.col("status") == "booked").height
    best = result.suggestions.sort("score", descending=True).select(
        "company_id",
        "bank_line_id",
        "movement_id",
        pl.format("{} (score {})", "reason", pl.col("score").round(2)).alias("suggestion"),
    )
    by_line = best.unique(["company_id", "bank_line_id"], keep="first").drop("movement_id")
    by_mov = best.unique(["company_id", "movement_id"], keep="first").drop("bank_line_id")
    by_line = by_line.rename({"bank_line_id": "line_id"})
    lines = result.unmatched_bank_lines.join(
        by_line, on=["company_id", "line_id"], how="left"
    ).select(
        "company_id", pl.lit("bank line").alias("side"), pl.col("line_id").alias("id"),
        pl.col("booked_date").alias("date"), "amount", "currency",
        pl.coalesce("counterparty_name", "description").alias("what"), "suggestion",
    )  # fmt: skip
    doc = ["document_type", "document_number", "counterparty_name"]
    movs = result.unmatched_movements.join(
        by_mov, on=["company_id", "movement_id"], how="left"
    ).select(
        "company_id", pl.lit("movement").alias("side"), pl.col("movement_id").alias("id"),
        "date", "amount", "currency",
        pl.concat_str(doc, separator=" ", ignore_nulls=True).alias("what"),
        "suggestion",
    )  # fmt: skip
    items = pl.concat([lines, movs]).sort(
        pl.col("amount").abs(), "company_id", "id", descending=[True, False, False]
    )
    n_lines, n_movs = lines.height, movs.height
    head = (
        f"**{n_lines}** of {booked} booked bank lines and **{n_movs}** of {movements.height} "
        f"ledger movements unmatched; **{result.suggestions['suggestion_id'].n_unique()}** "
        f"suggestions await a decision."
    )
    if items.is_empty():
        return head + "\n"
    top = items.head(limit).select(
        _cell(pl.col("company_id")),
        _cell(pl.col("side")),
        _cell(pl.col("id")),
        _cell(pl.col("date")),
        _cell(money(pl.col("amount"), pl.col("currency"))).alias("amount"),
        _cell(pl.col("what")),
        _cell(pl.col("suggestion")),
    )
    rows = [
        "| company | side | id | date | amount | counterparty / document | suggestion |",
        "|---|---|---|---|---:|---|---|",
    ]
    rows += ["| " + " | ".join(r) + " |" for r in top.iter_rows()]
    more = items.height - top.height
    tail = f"\n\n… and {more} more unmatched items." if more > 0 else ""
    return head + "\n\n" + "\n".join(rows) + tail + "\n"


__all__ = ["AGE_BUCKETS", "exceptions_markdown", "summarize"]
