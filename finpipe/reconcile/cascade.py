"""The reconciliation cascade, passes 1-4: bank lines <-> ledger cash movements, 1:1.

Each pass builds *candidate pairs* with one vectorised join, scores them (lower is better)
and hands them to :func:`_resolve`, which keeps only pairs that are the unique best of both
their bank line and their movement; a pass only sees what earlier passes left.

1. ``exact_id``: bank ``source_id`` or ``reference`` equals the movement's ``external_id``.
2. ``reference``: invoice-number-like tokens of the narration against the movement's
   ``document_number`` / ``reference`` tokens; a token naming several lines or movements is
   dropped; same currency, amounts equal or within tolerance.
3. ``amount_date``: same amount and currency, bank date - ledger date within the window;
   ranked by date distance, then counterparty similarity; an exact tie is left alone.
4. ``tolerance``: amount within a fee (settlement netted of processor fees) or FX tolerance,
   same window; the difference is recorded.

Plain Polars, no Dagster, no loop per line: the only Python loops run over passes and a
small fixed number of resolution rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from finpipe.reconcile.schema import (
    BANK_LINE_SCHEMA,
    MATCH_SCHEMA,
    MOVEMENT_SCHEMA,
    OPTIONAL_BANK_LINE_COLUMNS,
    OPTIONAL_MOVEMENT_COLUMNS,
    RULES,
    conform,
)

# Legal-form and filler words that say nothing about who the counterparty is.
_NAME_STOPWORDS = [
    "INC", "LTD", "LLC", "LLP", "GMBH", "CO", "CORP", "PLC", "THE", "AG", "SA", "BV", "KG",
    "LIMITED", "COMPANY", "AND", "UG", "SARL", "SRL", "OHG", "EK",
]  # fmt: skip
_TOKEN = r"[A-Z0-9]+(?:[-_][A-Z0-9]+)*"
# Separator-free score scale: one day of date distance outweighs any counterparty score.
_CP_SCALE = 1000
_DAY_SCALE = _CP_SCALE + 1


@dataclass(frozen=True)
class ReconConfig:
    """Windows and tolerances of passes 1-4.

    Date windows bound ``bank booked_date - ledger date`` in days (inclusive). Tolerances are
    integer basis points of the ledger amount (plus a fixed part in minor units for fees), so
    the amount comparison stays exact.
    """

    window_min_days: int = -2
    window_max_days: int = 7
    # references are strong evidence: a wider window (late payers, back-dated entries)
    reference_window_min_days: int = -30
    reference_window_max_days: int = 90
    fee_rate_bps: int = 350  # card-processor fees: up to 3.5 % ...
    fee_fixed_minor: int = 30  # ... plus 0.30
    fx_rate_bps: int = 200  # FX: up to 2 % on a foreign movement
    # a fee is withheld from money coming in (a settlement); outflows only when enabled
    fee_inflows_only: bool = True
    # With amount and date as the only evidence (pass 4), a fee is only assumed for
    # settlement-like documents: a payout deposit or a sales receipt, not a cheque that
    # happens to sit 3 % above some other deposit. The reference pass (a token proves the
    # pair) allows fees on any document type.
    fee_document_types: tuple[str, ...] = ("deposit", "sales_receipt")
    min_token_length: int = 4
    max_rounds: int = 8  # rounds of "take mutual-best pairs, remove them" per pass
    confidence_exact_id: float = 1.0
    confidence_reference: float = 0.97
    confidence_amount_date: float = 0.9
    confidence_tolerance: float = 0.7


@dataclass(frozen=True)
class ReconResult:
    """What the cascade decided: matches (``MATCH_SCHEMA``), the booked bank lines and the
    movements left unmatched (input columns), and the number of matches per rule."""

    matches: pl.DataFrame
    unmatched_bank_lines: pl.DataFrame
    unmatched_movements: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def reconcile(
    bank_lines: pl.DataFrame, movements: pl.DataFrame, config: ReconConfig | None = None
) -> ReconResult:
    """Run passes 1-4 over ``bank_lines`` (``BANK_LINE_SCHEMA``) and ``movements``
    (``MOVEMENT_SCHEMA``), all companies at once; every match is 1:1 on both sides.

    Raises ``ValueError`` naming missing input columns.
    """
    config = config or ReconConfig()
    bank_in = conform(bank_lines, BANK_LINE_SCHEMA, OPTIONAL_BANK_LINE_COLUMNS)
    mov_in = conform(movements, MOVEMENT_SCHEMA, OPTIONAL_MOVEMENT_COLUMNS)
    bank = _prepare_bank(bank_in)
    mov = _prepare_movements(mov_in)

    found: list[pl.DataFrame] = []
    for rule, build in (
        ("exact_id", _exact_id),
        ("reference", _reference),
        ("amount_date", _amount_date),
        ("tolerance", _tolerance),
    ):
        cands = build(bank, mov, config)
        won = _resolve(cands, config.max_rounds)
        if won.height:
            found.append(won.with_columns(pl.lit(rule).alias("rule")))
            # later passes only see what this one left
            bank = bank.join(won.select("_b"), on="_b", how="anti")
            mov = mov.join(won.select("_m"), on="_m", how="anti")

    matches = _match_rows(found, bank_in, mov_in)
    counts = {rule: 0 for rule in RULES}
    for rule, n in matches.group_by("rule").len().iter_rows():
        counts[rule] = n
    return ReconResult(
        matches=matches,
        unmatched_bank_lines=unmatched_bank_lines(bank_in, matches),
        unmatched_movements=unmatched_movements(mov_in, matches),
        counts=counts,
    )


def unmatched_bank_lines(bank_lines: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """Booked bank lines that no match names (pending lines are never matched, so they are
    not listed either)."""
    keys = matches.select("company_id", pl.col("bank_line_id").alias("line_id"))
    return bank_lines.filter(pl.col("status") == "booked").join(
        keys, on=["company_id", "line_id"], how="anti"
    )


def unmatched_movements(movements: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """Movements that no match names."""
    keys = matches.select("company_id", "movement_id")
    return movements.join(keys, on=["company_id", "movement_id"], how="anti")


# --- preparation --------------------------------------------------------------------------


def _name_tokens(expr: pl.Expr) -> pl.Expr:
    """Normalised name tokens: upper case, punctuation gone, legal forms dropped."""
    words = (
        expr.fill_null("")
        .str.to_uppercase()
        .str.replace_all(r"[^A-Z0-9]+", " ")
        .str.strip_chars()
        .str.split(" ")
    )
    return words.list.eval(
        pl.element().filter(
            (pl.element().str.len_chars() > 1) & ~pl.element().is_in(_NAME_STOPWORDS)
        )
    ).list.unique()


def _norm_account(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "")


def _prepare_bank(bank: pl.DataFrame) -> pl.DataFrame:
    booked = bank.filter(pl.col("status") == "booked").with_row_index("_b")
    # no counterparty from the bank: the narration usually names it
    who = pl.coalesce(pl.col("counterparty_name"), pl.col("description"))
    return booked.select(
        "_b",
        "company_id",
        "bank_account_id",
        pl.col("booked_date").alias("date"),
        pl.coalesce("value_date", "booked_date").alias("value_date"),
        "amount",
        "currency",
        "source_id",
        "reference",
        "description",
        _name_tokens(who).alias("cp_tokens"),
        _norm_account(pl.col("counterparty_account")).alias("cp_account"),
    )


def _prepare_movements(mov: pl.DataFrame) -> pl.DataFrame:
    foreign = pl.col("document_currency").is_not_null() & (
        pl.col("document_currency") != pl.col("currency")
    )
    return mov.with_row_index("_m").select(
        "_m",
        "company_id",
        "bank_account_id",
        "date",
        "amount",
        "currency",
        "document_type",
        foreign.alias("foreign"),
        "external_id",
        "document_number",
        "reference",
        _name_tokens(pl.col("counterparty_name")).alias("cp_tokens"),
        _norm_account(pl.col("counterparty_account")).alias("cp_account"),
    )


# --- scoring helpers ----------------------------------------------------------------------


def _pair_frame(pairs: pl.DataFrame, bank: pl.DataFrame, mov: pl.DataFrame) -> pl.DataFrame:
    """Candidate ``(_b, _m)`` pairs with both sides' attributes (``b_*`` / ``m_*``), the
    day distance, the amount difference and a counterparty score; pairs whose movement
    names another bank account are gone."""
    b = bank.select(pl.all().name.prefix("b_")).rename({"b__b": "_b"})
    m = mov.select(pl.all().name.prefix("m_")).rename({"m__m": "_m"})
    out = pairs.unique(["_b", "_m"]).join(b, on="_b").join(m, on="_m")
    out = out.filter(
        (pl.col("b_company_id") == pl.col("m_company_id"))
        & (
            pl.col("m_bank_account_id").is_null()
            | (pl.col("m_bank_account_id") == pl.col("b_bank_account_id"))
        )
    )
    return out.with_columns(
        (pl.col("b_date") - pl.col("m_date")).dt.total_days().alias("days"),
        (pl.col("b_value_date") - pl.col("m_date")).dt.total_days().abs().alias("value_days"),
        (pl.col("m_amount") - pl.col("b_amount")).alias("amount_difference"),
        _counterparty_score().alias("cp"),
    )


def _counterparty_score() -> pl.Expr:
    """1 for the same account or normalised name, else the token overlap coefficient."""
    inter = pl.col("b_cp_tokens").list.set_intersection("m_cp_tokens").list.len()
    smaller = pl.min_horizontal(pl.col("b_cp_tokens").list.len(), pl.col("m_cp_tokens").list.len())
    overlap = pl.when(smaller > 0).then(inter / smaller).otherwise(0.0)
    same_account = (
        pl.col("b_cp_account").is_not_null()
        & (pl.col("b_cp_account") != "")
        & (pl.col("b_cp_account") == pl.col("m_cp_account"))
    )
    return pl.when(same_account.fill_null(False)).then(1.0).otherwise(overlap.fill_null(0.0))


def _difference_kind(config: ReconConfig) -> pl.Expr:
    """``none`` / ``fx`` / ``fee`` when the amounts agree within tolerance, else null."""
    b, m = pl.col("b_amount"), pl.col("m_amount")
    diff = pl.col("amount_difference")
    same_sign = ((b > 0) == (m > 0)) & (b != 0)
    fx_ok = pl.col("m_foreign") & (diff.abs() * 10_000 <= config.fx_rate_bps * m.abs())
    fee_ok = (
        ~pl.col("m_foreign")
        & (b.abs() < m.abs())
        & ((m > 0) | pl.lit(not config.fee_inflows_only))
        & (diff.abs() * 10_000 <= config.fee_rate_bps * m.abs() + config.fee_fixed_minor * 10_000)
    )
    return (
        pl.when(~same_sign)
        .then(None)
        .when(diff == 0)
        .then(pl.lit("none"))
        .when(fx_ok)
        .then(pl.lit("fx"))
        .when(fee_ok)
        .then(pl.lit("fee"))
        .otherwise(None)
    )


def _rank_score(with_amount: bool) -> pl.Expr:
    """Lower is better: (amount difference,) date distance, then counterparty. The distance
    is taken from the value date (the day a card purchase happened), which the booking
    date trails by a few business days."""
    score = pl.col("value_days") * _DAY_SCALE + (_CP_SCALE - (pl.col("cp") * _CP_SCALE).round())
    score = score.cast(pl.Int64)
    if with_amount:
        # the closer amount wins first; a day distance never outweighs a minor unit
        score = pl.col("amount_difference").abs() * (_DAY_SCALE * 400) + score
    return score


def _in_window(lo: int, hi: int) -> pl.Expr:
    return pl.col("days").is_between(lo, hi)


def _finish(cands: pl.DataFrame, confidence: pl.Expr) -> pl.DataFrame:
    return cands.select(
        "_b",
        "_m",
        "score",
        "amount_difference",
        pl.col("kind").alias("difference_kind"),
        confidence.clip(0.0, 1.0).alias("confidence"),
    )


_EMPTY_PAIRS = pl.Schema({"_b": pl.UInt32, "_m": pl.UInt32})

# --- passes -------------------------------------------------------------------------------


def _exact_id(bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig) -> pl.DataFrame:
    ids = pl.concat(
        [
            bank.select("_b", "company_id", pl.col("source_id").alias("id")),
            bank.select("_b", "company_id", pl.col("reference").alias("id")),
        ]
    ).filter(pl.col("id").is_not_null() & (pl.col("id") != ""))
    m_ids = mov.select("_m", "company_id", pl.col("external_id").alias("id")).filter(
        pl.col("id").is_not_null() & (pl.col("id") != "")
    )
    pairs = ids.join(m_ids, on=["company_id", "id"]).select("_b", "_m")
    c = _pair_frame(pairs, bank, mov)
    # an id is decisive on its own, but never across currencies or directions
    c = c.filter(
        (pl.col("b_currency") == pl.col("m_currency"))
        & ((pl.col("b_amount") > 0) == (pl.col("m_amount") > 0))
    ).with_columns(
        pl.when(pl.col("amount_difference") == 0)
        .then(pl.lit("none"))
        .when(pl.col("m_foreign"))
        .then(pl.lit("fx"))
        .otherwise(pl.lit("fee"))
        .alias("kind"),
        pl.col("days").abs().cast(pl.Int64).alias("score"),
    )
    conf = pl.when(pl.col("amount_difference") == 0).then(config.confidence_exact_id)
    return _finish(c, conf.otherwise(config.confidence_exact_id - 0.02))


def _tokens(text: pl.Expr, min_len: int) -> pl.Expr:
    """Reference-like tokens of ``text``, separators removed: invoice numbers (INV-1042,
    SI-162993, F2340500), 4+ digit numbers, end-to-end ids; words without digits are not
    references."""
    found = text.fill_null("").str.to_uppercase().str.extract_all(_TOKEN)
    key = pl.element().str.replace_all(r"[-_]", "")
    return found.list.eval(
        key.filter(
            (key.str.len_chars() >= min_len)
            & (key.str.count_matches(r"[0-9]") >= 3)
            # a bare number needs 4+ digits; a prefixed one (INV-104) 3+ are enough
            & (key.str.contains(r"[A-Z]") | (key.str.len_chars() >= 4))
        )
    ).list.unique()


def _reference(bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig) -> pl.DataFrame:
    n = config.min_token_length
    bt = (
        bank.select(
            "_b",
            "company_id",
            _tokens(
                pl.concat_str(["description", "reference"], separator=" ", ignore_nulls=True), n
            ).alias("token"),
        )
        .explode("token")
        .drop_nulls("token")
        .unique()
    )
    mt = (
        mov.select(
            "_m",
            "company_id",
            _tokens(
                pl.concat_str(["document_number", "reference"], separator=" ", ignore_nulls=True), n
            ).alias("token"),
        )
        .explode("token")
        .drop_nulls("token")
        .unique()
    )
    # a token that names several lines or several movements is not evidence of either
    bt = bt.filter(pl.col("_b").n_unique().over("company_id", "token") == 1)
    mt = mt.filter(pl.col("_m").n_unique().over("company_id", "token") == 1)
    pairs = bt.join(mt, on=["company_id", "token"]).select("_b", "_m")
    c = _pair_frame(pairs, bank, mov)
    c = c.filter(
        (pl.col("b_currency") == pl.col("m_currency"))
        & _in_window(config.reference_window_min_days, config.reference_window_max_days)
    ).with_columns(_difference_kind(config).alias("kind"), _rank_score(True).alias("score"))
    c = c.filter(pl.col("kind").is_not_null())
    conf = pl.when(pl.col("kind") == "none").then(config.confidence_reference)
    return _finish(c, conf.otherwise(config.confidence_reference - 0.1))


def _amount_date(bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig) -> pl.DataFrame:
    keys = ["company_id", "currency", "amount"]
    pairs = bank.select("_b", *keys).join(mov.select("_m", *keys), on=keys).select("_b", "_m")
    c = _pair_frame(pairs, bank, mov)
    c = c.filter(_in_window(config.window_min_days, config.window_max_days)).with_columns(
        pl.lit("none").alias("kind"), _rank_score(False).alias("score")
    )
    conf = config.confidence_amount_date - 0.01 * pl.col("days").abs() + 0.05 * pl.col("cp")
    return _finish(c, conf)


def _tolerance(bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig) -> pl.DataFrame:
    # join on the ledger date each bank line could pair with (window days exploded), so the
    # join stays an equi-join instead of company x company
    b = bank.select(
        "_b",
        "company_id",
        "currency",
        (pl.col("amount") > 0).alias("inflow"),
        pl.date_ranges(
            pl.col("date") - pl.duration(days=config.window_max_days),
            pl.col("date") - pl.duration(days=config.window_min_days),
        ).alias("m_day"),
    ).explode("m_day")
    m = mov.select(
        "_m", "company_id", "currency", (pl.col("amount") > 0).alias("inflow"),
        pl.col("date").alias("m_day"),
    )  # fmt: skip
    pairs = b.join(m, on=["company_id", "currency", "inflow", "m_day"]).select("_b", "_m")
    c = _pair_frame(pairs, bank, mov)
    c = c.with_columns(_difference_kind(config).alias("kind"), _rank_score(True).alias("score"))
    settlement = pl.col("m_document_type").is_in(list(config.fee_document_types))
    c = c.filter((pl.col("kind") == "fx") | ((pl.col("kind") == "fee") & settlement))
    rel = pl.col("amount_difference").abs() / pl.col("m_amount").abs()
    conf = (
        config.confidence_tolerance - 2.0 * rel - 0.01 * pl.col("days").abs() + 0.05 * pl.col("cp")
    )
    return _finish(c, conf)


# --- resolution ---------------------------------------------------------------------------


def _resolve(cands: pl.DataFrame, max_rounds: int) -> pl.DataFrame:
    """Pairs that are the strict best of both their bank line and their movement.

    Each round takes every mutual-best pair (a side whose best score is shared by two
    candidates takes nothing: an exact tie is ambiguous), then drops the claimed lines and
    movements so that runners-up can become best. Pairs still tied after ``max_rounds``
    rounds stay unmatched.
    """
    won: list[pl.DataFrame] = []
    for _ in range(max_rounds):
        if cands.is_empty():
            break
        s = pl.col("score")
        ranked = cands.with_columns(
            (s == s.min().over("_b")).alias("best_b"), (s == s.min().over("_m")).alias("best_m")
        ).with_columns(
            pl.col("best_b").sum().over("_b").alias("n_b"),
            pl.col("best_m").sum().over("_m").alias("n_m"),
        )
        take = ranked.filter(
            pl.col("best_b") & pl.col("best_m") & (pl.col("n_b") == 1) & (pl.col("n_m") == 1)
        ).select(cands.columns)
        if take.is_empty():
            break
        won.append(take)
        cands = cands.join(take.select("_b"), on="_b", how="anti").join(
            take.select("_m"), on="_m", how="anti"
        )
    if not won:
        return cands.clear()
    return pl.concat(won)


def _match_rows(
    found: list[pl.DataFrame], bank_in: pl.DataFrame, mov_in: pl.DataFrame
) -> pl.DataFrame:
    if not found:
        return pl.DataFrame(schema=MATCH_SCHEMA)
    won = pl.concat(found)
    b = bank_in.filter(pl.col("status") == "booked").with_row_index("_b")
    m = mov_in.with_row_index("_m")
    out = won.join(
        b.select("_b", "company_id", pl.col("line_id").alias("bank_line_id")), on="_b"
    ).join(m.select("_m", "movement_id"), on="_m")
    return (
        out.select(
            "company_id",
            pl.concat_str(
                [pl.lit("rm"), pl.col("rule"), pl.col("bank_line_id"), pl.col("movement_id")],
                separator=":",
            ).alias("match_id"),
            "bank_line_id",
            "movement_id",
            "rule",
            pl.lit("1:1").alias("match_type"),
            "confidence",
            "amount_difference",
            "difference_kind",
        )
        .cast(dict(MATCH_SCHEMA))
        .sort("company_id", "bank_line_id")
    )


__all__ = [
    "ReconConfig",
    "ReconResult",
    "reconcile",
    "unmatched_bank_lines",
    "unmatched_movements",
]
