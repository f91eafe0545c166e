"""Pass 5 evidence: who the counterparty is, by bank account number first, then by name.

Names are compared with ``rapidfuzz.process.cdist`` on the *distinct* normalised names of
one company (bank side against ledger side), never pair by pair in Python; the name
scorer is ``token_set_ratio`` (0..100), which scores 100 when every word of the shorter
name is in the longer one ("MYERS FITNESS" inside "ACH CREDIT MYERS FITNESS").
"""

from __future__ import annotations

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

# Legal forms and narration words that say nothing about who the counterparty is; a name
# made only of them is no name.
NAME_NOISE = [
    "INC", "LTD", "LLC", "LLP", "GMBH", "CO", "CORP", "PLC", "THE", "AG", "SA", "BV", "KG",
    "LIMITED", "COMPANY", "AND", "UG", "SARL", "SRL", "OHG", "EK",
    "ACH", "CREDIT", "DEBIT", "PAYMENT", "PAYMENTS", "POS", "CARD", "TRANSFER", "DEPOSIT",
    "MOBILE", "REF", "ONLINE", "DIRECT", "SEPA", "FASTER", "WIRE", "BACS", "CHQ", "CHECK",
    "CHEQUE", "PURCHASE", "VISA", "MASTERCARD", "FROM", "TO", "FOR", "INCOMING", "OUTGOING",
    "PAYOUT", "STANDING", "ORDER", "DD", "SO", "FPS", "BGC", "TFR", "NET", "TAX",
]  # fmt: skip
MIN_NAME_CHARS = 3
# cdist allocates len(left) x len(right) scores; keep one call below this many cells
_MAX_CELLS = 4_000_000

PAIR_SCHEMA = pl.Schema(
    {
        "_b": pl.UInt32,
        "_m": pl.UInt32,
        "tier": pl.Int8,  # 0 same account number, 1 similar name
        "name_score": pl.Float64,  # 0..100 (100 for an account match)
        "b_name": pl.String,
        "m_name": pl.String,
    }
)


def name_key(expr: pl.Expr) -> pl.Expr:
    """A name reduced to what identifies the party: upper case, punctuation gone, words
    with digits (references, card numbers), single letters and noise words dropped, the
    remaining words sorted; null when nothing is left."""
    words = (
        expr.fill_null("")
        .str.to_uppercase()
        .str.replace_all(r"[^A-Z0-9]+", " ")
        .str.strip_chars()
        .str.split(" ")
    )
    kept = words.list.eval(
        pl.element().filter(
            (pl.element().str.len_chars() > 1)
            & ~pl.element().str.contains(r"[0-9]")
            & ~pl.element().is_in(NAME_NOISE)
        )
    )
    key = kept.list.unique().list.sort().list.join(" ")
    return pl.when(key.str.len_chars() >= MIN_NAME_CHARS).then(key).otherwise(None)


def account_key(expr: pl.Expr) -> pl.Expr:
    """An account number / IBAN without spaces or punctuation, upper case; null if empty."""
    key = expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "")
    return pl.when(key.str.len_chars() > 0).then(key).otherwise(None)


def name_pairs(left: pl.DataFrame, right: pl.DataFrame, *, threshold: float) -> pl.DataFrame:
    """Pairs of similar names within a company.

    ``left`` and ``right`` have ``company_id`` and ``name``; returns ``company_id``,
    ``b_name`` (from ``left``), ``m_name`` (from ``right``) and ``name_score`` (0..100) for
    every pair scoring at least ``threshold``. One ``cdist`` per company (chunked so one
    call stays bounded in memory); the loop runs over companies, not over names.
    """
    left = left.drop_nulls().unique()
    right = right.drop_nulls().unique()
    by_company = right.partition_by("company_id", as_dict=True)
    rights = {key[0]: part["name"].to_list() for key, part in by_company.items()}
    out: list[pl.DataFrame] = []
    for (company,), part in left.partition_by("company_id", as_dict=True).items():
        r_names = rights.get(company)
        if not r_names:
            continue
        l_names = part["name"].to_list()
        r_arr = np.array(r_names, dtype=object)
        step = max(1, _MAX_CELLS // len(r_names))
        for start in range(0, len(l_names), step):
            chunk = l_names[start : start + step]
            scores = process.cdist(
                chunk, r_names, scorer=fuzz.token_set_ratio, score_cutoff=threshold, workers=1
            )
            i, j = np.nonzero(scores >= threshold)
            if len(i):
                out.append(
                    pl.DataFrame(
                        {
                            "company_id": [company] * len(i),
                            "b_name": np.array(chunk, dtype=object)[i].tolist(),
                            "m_name": r_arr[j].tolist(),
                            "name_score": scores[i, j].astype(np.float64).round(2),
                        },
                        schema={
                            "company_id": pl.String,
                            "b_name": pl.String,
                            "m_name": pl.String,
                            "name_score": pl.Float64,
                        },
                    )
                )
    if not out:
        return pl.DataFrame(
            schema={
                "company_id": pl.String,
                "b_name": pl.String,
                "m_name": pl.String,
                "name_score": pl.Float64,
            }
        )
    return pl.concat(out)


def counterparty_pairs(bank: pl.DataFrame, mov: pl.DataFrame, *, threshold: float) -> pl.DataFrame:
    """Candidate ``(_b, _m)`` pairs that name the same counterparty (``PAIR_SCHEMA``).

    ``bank`` / ``mov`` carry ``_b`` / ``_m``, ``company_id``, ``currency``, ``amount``,
    ``cp_name`` (:func:`name_key`) and ``cp_account`` (:func:`account_key`). Same company,
    currency and direction only. Tier 0: the same account number. Tier 1: names scoring at
    least ``threshold``, unless both sides carry an account number and they differ (a
    different account is evidence of a different party). A pair found both ways keeps tier 0.
    """
    keys = ["company_id", "currency", "inflow"]
    b = bank.select(
        "_b", "company_id", "currency", (pl.col("amount") > 0).alias("inflow"),
        pl.col("cp_name").alias("b_name"), pl.col("cp_account").alias("b_account"),
    )  # fmt: skip
    m = mov.select(
        "_m", "company_id", "currency", (pl.col("amount") > 0).alias("inflow"),
        pl.col("cp_name").alias("m_name"), pl.col("cp_account").alias("m_account"),
    )  # fmt: skip
    by_account = (
        b.filter(pl.col("b_account").is_not_null())
        .join(
            m.filter(pl.col("m_account").is_not_null()),
            left_on=[*keys, "b_account"],
            right_on=[*keys, "m_account"],
        )
        .select(
            "_b",
            "_m",
            pl.lit(0, pl.Int8).alias("tier"),
            pl.lit(100.0).alias("name_score"),
            "b_name",
            "m_name",
        )
    )
    names = name_pairs(
        b.select("company_id", pl.col("b_name").alias("name")),
        m.select("company_id", pl.col("m_name").alias("name")),
        threshold=threshold,
    )
    names = names.with_columns(pl.col("company_id").cast(b.schema["company_id"]))
    by_name = (
        b.join(names, on=["company_id", "b_name"])
        .join(m, on=[*keys, "m_name"])
        .filter(
            pl.col("b_account").is_null()
            | pl.col("m_account").is_null()
            | (pl.col("b_account") == pl.col("m_account"))
        )
        .select("_b", "_m", pl.lit(1, pl.Int8).alias("tier"), "name_score", "b_name", "m_name")
    )
    pairs = pl.concat([by_account, by_name]).cast(dict(PAIR_SCHEMA))
    return pairs.sort("tier").unique(["_b", "_m"], keep="first")


__all__ = ["PAIR_SCHEMA", "account_key", "counterparty_pairs", "name_key", "name_pairs"]
