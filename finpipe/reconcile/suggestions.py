"""Pass 7: what the cascade would not decide alone becomes a suggestion for a person.

Exact ties of the amount/date pass, reference tokens naming several items, tolerance
candidates that were not unique, counterparty-name ties and subset-sum blocks with more
than one exact solution (or too large to prove one unique) are turned into
``SUGGESTION_SCHEMA`` rows with a reason a person can check. A suggestion is never a
match: its lines and movements stay unmatched until someone accepts one of its groups.
"""

from __future__ import annotations

import polars as pl

from finpipe.connectors.statements.model import CURRENCY_EXPONENTS
from finpipe.reconcile.schema import SUGGESTION_SCHEMA

# Which rule's explanation is kept when several rules propose the same pair.
_RULE_PRIORITY = {"reference": 0, "counterparty": 1, "amount_date": 2, "tolerance": 3}

# Columns of a pair candidate as passes 2-5 produce them (see ``cascade._finish``).
PAIR_CANDIDATE_SCHEMA = pl.Schema(
    {
        "_b": pl.UInt32,
        "_m": pl.UInt32,
        "rule": pl.String,
        "confidence": pl.Float64,
        "b_amount": pl.Int64,
        "m_amount": pl.Int64,
        "currency": pl.String,
        "b_date": pl.Date,
        "m_date": pl.Date,
        "days": pl.Int64,
        "difference_kind": pl.String,
        "detail": pl.String,
    }
)


def money(amount: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """``-1234`` ``USD`` -> ``"-12.34 USD"``: minor units shown in major units by integer
    arithmetic (no float rounding), with the currency's ISO 4217 decimals (``JPY`` none,
    ``KWD`` three)."""
    a = amount.abs()
    sign = pl.when(amount < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    exponent = currency.str.to_uppercase().replace_strict(
        CURRENCY_EXPONENTS, default=2, return_dtype=pl.Int64
    )
    unit = pl.lit(10, dtype=pl.Int64).pow(exponent)
    minor = (a % unit).cast(pl.String).str.zfill(exponent)
    decimal = pl.format("{}{}.{} {}", sign, (a // unit).cast(pl.String), minor, currency)
    whole = pl.format("{}{} {}", sign, a.cast(pl.String), currency)
    return pl.when(exponent == 0).then(whole).otherwise(decimal)


def pair_reason() -> pl.Expr:
    """Human-readable reason of a 1:1 candidate: the rule's evidence (``detail``), amounts
    and dates."""
    amounts = (
        pl.when(pl.col("b_amount") == pl.col("m_amount"))
        .then(pl.format("same amount {}", money(pl.col("b_amount"), pl.col("currency"))))
        .otherwise(
            pl.format(
                "bank {} vs books {} ({} difference)",
                money(pl.col("b_amount"), pl.col("currency")),
                money(pl.col("m_amount"), pl.col("currency")),
                pl.col("difference_kind").fill_null("unexplained"),
            )
        )
    )
    unit = pl.when(pl.col("days").abs() == 1).then(pl.lit("day")).otherwise(pl.lit("days"))
    dates = pl.format(
        "bank {}, books {} ({} {})", pl.col("b_date"), pl.col("m_date"), pl.col("days"), unit
    )
    return pl.concat_str([pl.col("detail"), amounts, dates], separator="; ", ignore_nulls=True)


def pair_suggestions(
    cands: pl.DataFrame, bank_ids: pl.DataFrame, mov_ids: pl.DataFrame
) -> pl.DataFrame:
    """``SUGGESTION_SCHEMA`` rows from 1:1 candidates (``PAIR_CANDIDATE_SCHEMA``) whose
    bank line and movement both stayed unmatched: one suggestion per bank line, one group
    per candidate movement; a pair proposed by several rules is kept once (the strongest
    rule's reason). ``bank_ids`` maps ``_b`` to ``company_id`` / ``bank_line_id``,
    ``mov_ids`` ``_m`` to ``movement_id``. The score is the rule's confidence divided
    among the line's candidates."""
    if cands.is_empty():
        return pl.DataFrame(schema=SUGGESTION_SCHEMA)
    prio = pl.col("rule").replace_strict(_RULE_PRIORITY, default=9, return_dtype=pl.Int8)
    best = (
        cands.with_columns(prio.alias("_prio"))
        .sort("_prio", pl.col("confidence"), descending=[False, True])
        .unique(["_b", "_m"], keep="first", maintain_order=True)
    )
    rows = best.join(bank_ids, on="_b").join(mov_ids, on="_m")
    n = pl.len().over("_b")
    others = pl.when(n > 1).then(pl.format("one of {} candidates for this bank line", n))
    return (
        rows.select(
            "company_id",
            pl.format("sg:{}", pl.col("bank_line_id")).alias("suggestion_id"),
            pl.format("sg:{}:{}", pl.col("bank_line_id"), pl.col("movement_id")).alias("group_id"),
            "bank_line_id",
            "movement_id",
            "rule",
            (pl.col("confidence").clip(0.0, 1.0) / n).alias("score"),
            pl.concat_str([pair_reason(), others], separator="; ", ignore_nulls=True).alias(
                "reason"
            ),
        )
        .cast(dict(SUGGESTION_SCHEMA))
        .sort("company_id", "suggestion_id", "score", descending=[False, False, True])
    )


def subset_suggestions(groups: pl.DataFrame) -> pl.DataFrame:
    """``SUGGESTION_SCHEMA`` rows from subset-sum groups that were not accepted.

    ``groups`` has one row per (bank line, movement) of a candidate group with
    ``company_id``, ``suggestion_id``, ``group_id``, ``bank_line_id``, ``movement_id``,
    ``score`` and ``reason`` already set by the caller (the reason names the anchor amount,
    the parts and why the group is not automatic)."""
    if groups.is_empty():
        return pl.DataFrame(schema=SUGGESTION_SCHEMA)
    return (
        groups.select(
            "company_id",
            "suggestion_id",
            "group_id",
            "bank_line_id",
            "movement_id",
            pl.lit("subset_sum").alias("rule"),
            "score",
            "reason",
        )
        .cast(dict(SUGGESTION_SCHEMA))
        .sort("company_id", "suggestion_id", "group_id", "bank_line_id", "movement_id")
    )


__all__ = [
    "PAIR_CANDIDATE_SCHEMA",
    "money",
    "pair_reason",
    "pair_suggestions",
    "subset_suggestions",
]
