"""Frame shapes the reconciliation engine takes and returns.

Money is signed integer minor units of the row's ``currency``; money into the bank is
positive on both sides, so a bank line and the ledger movement it settles carry the same
sign.

``BANK_LINE_SCHEMA``
    The columns of ``ledger.bank_lines`` the engine reads (extra columns are carried through
    untouched). Only ``status == "booked"`` lines are matched. ``value_date`` is optional:
    where given (card purchases: the day of the purchase) candidates are ranked by their
    distance to it rather than to the booking date, which lags by a few business days;
    the date window always applies to ``booked_date``.

``MOVEMENT_SCHEMA``
    One row per ledger cash movement through a bank account: a payment, bill payment,
    expense, deposit, receipt or refund (a transfer gives two movements, one per account).

    * ``movement_id`` unique per company; ``document_id`` / ``document_number`` /
      ``document_type`` name the source document;
    * ``bank_account_id`` the ``ledger.bank_accounts`` id the books post it to (null when
      the books do not say: it then may match a line of any account of the company);
    * ``date`` the ledger date; ``amount`` / ``currency`` what the books say moved through
      the bank account, in the bank account's currency (for a foreign-currency document:
      the books' converted amount);
    * ``document_currency`` optional: the currency of the underlying document; when it
      differs from ``currency`` the movement is *foreign* and an FX difference against the
      bank amount is expected (tolerance pass, kind ``fx``);
    * ``external_id`` a provider payment id / FITID when the books know it (exact-id pass).

``MATCH_SCHEMA``
    One row per (bank line, movement) pair matched. ``amount_difference`` is
    ``movement.amount - bank_line.amount``: positive when the bank carried less than the
    books in money-in terms (a processor fee withheld from a settlement, 10000 - 9715 = 285).
    ``match_type`` is ``1:1``, ``1:n`` (one bank line settles several movements: a batched
    deposit) or ``n:1`` (several bank lines settle one movement: a split payment, payroll as
    net pay and taxes); the rows of one ``1:n`` / ``n:1`` match share ``group_id`` (for
    ``1:1`` it equals ``match_id``) and carry the *group's* difference (0: the subset sums
    exactly).

``SUGGESTION_SCHEMA``
    Candidates a person should decide on; never matches, so their lines and movements stay
    in the unmatched frames. One row per (bank line, movement) of a suggested group:
    ``suggestion_id`` names one question (one bank line or movement with several plausible
    answers), ``group_id`` one answer to it (a pair, or a whole subset for ``subset_sum``);
    accepting an answer means accepting every row of its group. ``score`` 0..1 (the rule's
    confidence shared among the answers), ``reason`` says why, naming amounts, dates and
    tokens.

Ids (``match_id``, ``group_id``, ``suggestion_id``) are deterministic strings built from the
line and movement ids, unique within a company (as those ids are): key them with
``company_id``.
"""

from __future__ import annotations

import polars as pl

from finpipe.errors import FinpipeError


class ReconcileError(FinpipeError, ValueError):
    """The reconciliation engine's errors: bad input frames or configuration (a
    ``ValueError`` too, for callers that catch that)."""


BANK_LINE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "line_id": pl.String,
        "bank_account_id": pl.String,
        "source_id": pl.String,
        "booked_date": pl.Date,
        "value_date": pl.Date,
        "amount": pl.Int64,
        "currency": pl.String,
        "status": pl.String,
        "description": pl.String,
        "counterparty_name": pl.String,
        "counterparty_account": pl.String,
        "reference": pl.String,
    }
)

MOVEMENT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "movement_id": pl.String,
        "document_id": pl.String,
        "document_number": pl.String,
        "document_type": pl.String,
        "bank_account_id": pl.String,
        "date": pl.Date,
        "amount": pl.Int64,
        "currency": pl.String,
        "document_currency": pl.String,
        "counterparty_name": pl.String,
        "counterparty_account": pl.String,
        "reference": pl.String,
        "external_id": pl.String,
    }
)
# Columns a caller may leave out (filled with nulls).
OPTIONAL_MOVEMENT_COLUMNS = frozenset({"document_currency"})
OPTIONAL_BANK_LINE_COLUMNS = frozenset({"value_date"})

MATCH_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "match_id": pl.String,
        "group_id": pl.String,  # shared by the rows of one 1:n / n:1 match
        "bank_line_id": pl.String,
        "movement_id": pl.String,
        "rule": pl.String,  # one of RULES
        "match_type": pl.String,  # one of MATCH_TYPES
        "confidence": pl.Float64,  # 0..1
        "amount_difference": pl.Int64,  # movement.amount - bank_line.amount
        "difference_kind": pl.String,  # none | fee | fx
    }
)

SUGGESTION_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "suggestion_id": pl.String,
        "group_id": pl.String,
        "bank_line_id": pl.String,
        "movement_id": pl.String,
        "rule": pl.String,  # the rule that proposed it (one of RULES)
        "score": pl.Float64,  # 0..1
        "reason": pl.String,
    }
)

RULES = ("exact_id", "reference", "amount_date", "tolerance", "counterparty", "subset_sum")
MATCH_TYPES = ("1:1", "1:n", "n:1")
DIFFERENCE_KINDS = ("none", "fee", "fx")


def conform(
    frame: pl.DataFrame, schema: pl.Schema, optional: frozenset[str] = frozenset()
) -> pl.DataFrame:
    """``frame`` with ``schema``'s columns cast to their types (extra columns kept).

    Raises ``ReconcileError`` naming the missing columns (``optional`` ones are added as
    null).
    """
    missing = [name for name in schema if name not in frame.columns and name not in optional]
    if missing:
        raise ReconcileError(
            f"reconcile: input frame is missing columns {missing}; add them (null where unknown)"
        )
    add = [pl.lit(None, dtype).alias(n) for n, dtype in schema.items() if n not in frame.columns]
    frame = frame.with_columns(add) if add else frame
    return frame.with_columns([pl.col(n).cast(dtype) for n, dtype in schema.items()])
