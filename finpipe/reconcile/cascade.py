"""The reconciliation cascade: bank lines <-> ledger cash movements.

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
5. ``counterparty``: the same counterparty account number (IBAN), else a similar name
   (:mod:`finpipe.reconcile.counterparty`), amounts equal or within pass 4's tolerance, in
   a wider date window; a name tie between two different parties is no match.
6. ``subset_sum``: one bank line = several movements (``1:n``, a batched deposit) or
   several bank lines = one movement (``n:1``, a split payment), by an exact, bounded
   subset-sum search over small blocks of leftovers (:mod:`finpipe.reconcile.subset`);
   only a block's unique solution, sharing no item with any other solution, is accepted.
7. suggestions: whatever stayed ambiguous (ties, tokens naming several items, non-unique
   tolerance or name candidates, several subsets) becomes a suggestion for a person
   (:mod:`finpipe.reconcile.suggestions`), never a match.

Plain Polars, no Dagster, no loop per line: the Python loops run over passes, a small fixed
number of resolution rounds, companies (name similarity) and subset-sum blocks of leftovers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from finpipe.reconcile.counterparty import account_key, counterparty_pairs, name_key
from finpipe.reconcile.schema import (
    BANK_LINE_SCHEMA,
    MATCH_SCHEMA,
    MOVEMENT_SCHEMA,
    OPTIONAL_BANK_LINE_COLUMNS,
    OPTIONAL_MOVEMENT_COLUMNS,
    RULES,
    SUGGESTION_SCHEMA,
    ReconcileError,
    conform,
)
from finpipe.reconcile.subset import BLOCK_SCHEMA, search_blocks
from finpipe.reconcile.suggestions import (
    PAIR_CANDIDATE_SCHEMA,
    money,
    pair_suggestions,
    subset_suggestions,
)

# Legal-form and filler words that say nothing about who the counterparty is.
_NAME_STOPWORDS = [
    "INC", "LTD", "LLC", "LLP", "GMBH", "CO", "CORP", "PLC", "THE", "AG", "SA", "BV", "KG",
    "LIMITED", "COMPANY", "AND", "UG", "SARL", "SRL", "OHG", "EK",
]  # fmt: skip
# a run of letters and digits joined by - or _ (INV-1042), containing at least one digit
_DIGIT_TOKEN = r"(?:[A-Za-z0-9]+[-_])*[A-Za-z]*[0-9][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*"
# a text that is a single such token from end to end (it has a digit: checked first)
_WHOLE_TOKEN = r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$"
# Separator-free score scale: one day of date distance outweighs any counterparty score.
_CP_SCALE = 1000
_DAY_SCALE = _CP_SCALE + 1


@dataclass(frozen=True)
class ReconConfig:
    """Windows, tolerances and bounds of the passes.

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
    # pass 5: counterparty (account number, else name similarity 0..100, token_set_ratio)
    counterparty_window_min_days: int = -10
    counterparty_window_max_days: int = 30
    name_threshold: float = 90.0
    confidence_counterparty_account: float = 0.88
    confidence_counterparty_name: float = 0.8
    # pass 6: subset sum over blocks of leftovers (one anchor, its candidates in the window)
    subset_window_min_days: int = -2
    subset_window_max_days: int = 7
    subset_max_candidates: int = 14  # 2**14 subset sums per block at most
    subset_time_budget_ms: float = 50.0  # per block
    subset_max_alternatives: int = 5  # subsets listed in one suggestion at most
    confidence_subset: float = 0.85
    # the passes that run (all of RULES by default); pass 7 (suggestions) always runs
    rules: tuple[str, ...] = RULES


@dataclass(frozen=True)
class ReconResult:
    """What the cascade decided.

    ``matches`` (``MATCH_SCHEMA``); the booked bank lines and the movements left unmatched
    (input columns; a line or movement named only by a suggestion is still unmatched);
    ``suggestions`` (``SUGGESTION_SCHEMA``); ``counts``: match rows per rule (every rule of
    ``RULES``, 0 when unused); ``suggestion_counts``: suggestions (distinct
    ``suggestion_id``) per rule; ``timings``: seconds per step (``prepare``, each rule
    that ran, ``suggestions``, ``finish``).
    """

    matches: pl.DataFrame
    unmatched_bank_lines: pl.DataFrame
    unmatched_movements: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    suggestions: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=SUGGESTION_SCHEMA)
    )
    suggestion_counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def reconcile(
    bank_lines: pl.DataFrame, movements: pl.DataFrame, config: ReconConfig | None = None
) -> ReconResult:
    """Run the cascade over ``bank_lines`` (``BANK_LINE_SCHEMA``) and ``movements``
    (``MOVEMENT_SCHEMA``), all companies at once.

    Passes 1-5 match 1:1, pass 6 matches groups (``1:n`` / ``n:1``); a line or movement is
    in at most one match. ``config.rules`` selects the passes that run (all by default);
    what stays ambiguous among them is returned as suggestions.
    Raises ``ReconcileError`` (a ``ValueError``) naming missing input columns or an unknown
    rule.
    """
    config = config or ReconConfig()
    unknown = [r for r in config.rules if r not in RULES]
    if unknown:
        raise ReconcileError(
            f"reconcile: ReconConfig.rules has unknown rules {unknown}; choose from {RULES}"
        )
    clock = _Clock()
    bank_in = conform(bank_lines, BANK_LINE_SCHEMA, OPTIONAL_BANK_LINE_COLUMNS)
    mov_in = conform(movements, MOVEMENT_SCHEMA, OPTIONAL_MOVEMENT_COLUMNS)
    # only booked lines are matched; filtered once (every column: the unmatched frame is this)
    booked_in = bank_in.filter(pl.col("status") == "booked")
    bank, b_names = _prepare_bank(booked_in)
    mov, m_names = _prepare_movements(mov_in)
    tok = _Tokens(b_names, m_names)
    b_ids, m_ids = _ids(booked_in, mov_in)
    clock.lap("prepare")

    found: list[pl.DataFrame] = []
    # candidates a pass did not take: suggestion material if both sides stay unmatched
    left_over: list[pl.DataFrame] = []
    for rule, build in (
        ("exact_id", _exact_id),
        ("reference", _reference),
        ("amount_date", _amount_date),
        ("tolerance", _tolerance),
        ("counterparty", _counterparty),
    ):
        if rule not in config.rules:
            continue
        cands = build(bank, mov, config, tok)
        # a counterparty-name tie between two parties is for a person, not for the ranking
        auto = _drop_name_ties(cands) if rule == "counterparty" else cands
        won = _resolve(auto, config.max_rounds)
        rest = (
            cands.filter(~(_among(cands["_b"], won["_b"]) | _among(cands["_m"], won["_m"])))
            if won.height
            else cands
        )
        left_over.append(rest.with_columns(pl.lit(rule).alias("rule")))
        if rule == "reference":
            # no later pass reads the texts (the reference tokens are kept in ``tok``)
            bank = bank.drop(_B_TEXTS)
            mov = mov.drop(_M_TEXTS)
        if won.height:
            found.append(_one_to_one(won, rule))
            # later passes only see what this one left
            bank = _drop_taken(bank, "_b", won["_b"])
            mov = _drop_taken(mov, "_m", won["_m"])
        clock.lap(rule)

    subset_groups = pl.DataFrame()
    if "subset_sum" in config.rules:
        groups, subset_groups = _subset_sum(bank, mov, config, tok, b_ids, m_ids)
        if groups.height:
            found.append(groups)
            bank = _drop_taken(bank, "_b", groups["_b"])
            mov = _drop_taken(mov, "_m", groups["_m"])
        clock.lap("subset_sum")

    if "reference" in config.rules:
        # tokens naming several items were no evidence for a match; they are for a person
        ambiguous = _reference(bank, mov, config, tok, ambiguous_only=True)
        left_over.append(ambiguous.with_columns(pl.lit("reference").alias("rule")))
    pairs = pl.DataFrame(schema=PAIR_CANDIDATE_SCHEMA)
    if left_over:
        pairs = (
            pl.concat([c.select(PAIR_CANDIDATE_SCHEMA.names()) for c in left_over])
            .cast(dict(PAIR_CANDIDATE_SCHEMA))
            .join(bank.select("_b"), on="_b", how="semi")
            .join(mov.select("_m"), on="_m", how="semi")
        )
    suggestions = pl.concat(
        [pair_suggestions(pairs, b_ids, m_ids), subset_suggestions(subset_groups)]
    )
    clock.lap("suggestions")

    matches = _match_rows(found, b_ids, m_ids)
    taken = (
        pl.concat([f.select("_b", "_m") for f in found])
        if found
        else pl.DataFrame(schema={"_b": pl.UInt32, "_m": pl.UInt32})
    )
    counts = {rule: 0 for rule in RULES}
    for f in found:
        # each pass's frame carries its one rule: counted by height, no string grouping
        counts[f["rule"][0]] += f.height
    suggestion_counts = {rule: 0 for rule in RULES}
    for rule, n in suggestions.group_by("rule").agg(pl.col("suggestion_id").n_unique()).iter_rows():
        suggestion_counts[rule] = n
    result = ReconResult(
        matches=matches,
        # by position: same rows as unmatched_bank_lines / unmatched_movements, no string join
        unmatched_bank_lines=_unmatched(booked_in, taken["_b"]),
        unmatched_movements=_unmatched(mov_in, taken["_m"]),
        counts=counts,
        suggestions=suggestions,
        suggestion_counts=suggestion_counts,
        timings=clock.laps,
    )
    clock.lap("finish")
    return result


class _Clock:
    """Seconds per step of a run (``ReconResult.timings``)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 4)
        self._last = now


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


def _name_words(expr: pl.Expr) -> pl.Expr:
    """Upper-cased runs of 2+ letters / digits: what splitting at punctuation and dropping
    one-letter words leaves, found in one regex pass."""
    return expr.fill_null("").str.to_uppercase().str.extract_all(r"[A-Z0-9]{2,}")


def _kept_word() -> pl.Expr:
    """A list element that is not a legal form / filler word."""
    return pl.element().filter(~pl.element().is_in(_NAME_STOPWORDS))


# Keys compared and joined in every pass: categorical (u32 codes shared by both sides), so
# joins hash integers and pair lookups gather integers instead of strings.
_CODED = [pl.col(c).cast(pl.Categorical) for c in ("company_id", "bank_account_id", "currency")]


class _Tokens:
    """Name tokens (distinct u64 hashes of :func:`_name_words` without legal forms) of the
    names of each side, by ``cp_id``; computed on first use, for the names a pass scores:
    most narrations are unique (they carry invoice numbers) and leave in passes 1-2, which
    never need their tokens. Kept out of the frames, so narrowing them copies no lists."""

    def __init__(self, bank_names: pl.Series, mov_names: pl.Series) -> None:
        # the reference pass's token rows (bank, movements), for its second call
        self.refs: tuple[pl.DataFrame, pl.DataFrame] | None = None
        self._names = {"b": bank_names, "m": mov_names}
        self._slot = {k: np.full(len(v), -1, dtype=np.int64) for k, v in self._names.items()}
        self._table = {k: pl.Series("cp_tokens", [], pl.List(pl.UInt64)) for k in self._names}

    def get(self, side: str, ids: pl.Series) -> pl.Series:
        """The tokens of the ``cp_id`` values ``ids`` of ``side`` (``b`` or ``m``)."""
        idx = ids.to_numpy()
        slot = self._slot[side]
        missing = np.unique(idx[slot[idx] < 0])
        if len(missing):
            names = self._names[side].gather(pl.Series(missing, dtype=pl.UInt32))
            tokens = _name_words(pl.col("cp_who")).list.eval(_kept_word().hash()).list.unique()
            # hashed before the de-duplication: integers are cheaper to unique than strings
            new = pl.DataFrame({"cp_who": names}).select(tokens.alias("cp_tokens"))["cp_tokens"]
            table = self._table[side]
            slot[missing] = len(table) + np.arange(len(missing))
            self._table[side] = pl.concat([table, new.cast(table.dtype)], rechunk=True)
        return self._table[side].gather(pl.Series(slot[idx]))


def _prepare_bank(booked: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """The booked lines (``booked``) as the passes read them, ``_b`` their row index."""
    booked = booked.with_row_index("_b")
    # no counterparty from the bank: the narration usually names it
    who = pl.coalesce(pl.col("counterparty_name"), pl.col("description"))
    return booked.select(
        "_b",
        *_CODED,
        pl.col("booked_date").alias("date"),
        pl.coalesce("value_date", "booked_date").alias("value_date"),
        "amount",
        "source_id",
        "reference",
        "description",
        who.alias("cp_who"),  # keyed in pass 5, on leftovers only
        _account_key(booked).alias("cp_account"),
    ).pipe(_with_tokens)


def _prepare_movements(mov: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    foreign = pl.col("document_currency").is_not_null() & (
        pl.col("document_currency") != pl.col("currency")
    )
    return (
        mov.with_row_index("_m")
        .select(
            "_m",
            *_CODED,
            "date",
            "amount",
            "document_type",
            foreign.alias("foreign"),
            "external_id",
            "document_number",
            "reference",
            pl.col("counterparty_name").alias("cp_who"),
            _account_key(mov).alias("cp_account"),
        )
        .pipe(_with_tokens)
    )


def _account_key(frame: pl.DataFrame) -> pl.Expr:
    """:func:`account_key` of ``counterparty_account``; a column without any value (no
    account numbers in the feed) is not scanned."""
    accounts = frame["counterparty_account"]
    if accounts.null_count() == accounts.len():
        return pl.lit(None, pl.String)
    return account_key(pl.col("counterparty_account"))


def _with_tokens(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """``frame`` with ``cp_id``, the id of its distinct ``cp_who``, and those names by id
    (their tokens are :class:`_Tokens`' work, on first use)."""
    # one hash pass over the names: each distinct name with the rows carrying it, then the
    # name's id scattered to those rows (cheaper than unique + a join back on strings)
    groups = (
        frame.select("cp_who")
        .with_row_index("_r")
        .group_by("cp_who")
        .agg("_r")
        .with_row_index("cp_id")
    )
    rows = groups.select("cp_id", "_r").explode("_r")
    ids = np.empty(frame.height, dtype=np.uint32)
    ids[rows["_r"].to_numpy()] = rows["cp_id"].to_numpy()
    return frame.with_columns(pl.Series("cp_id", ids)), groups["cp_who"]


# --- scoring helpers ----------------------------------------------------------------------


_LIGHT = ("company_id", "bank_account_id", "date")
# read by passes 1-2 only
_B_TEXTS = ("source_id", "reference", "description")
_M_TEXTS = ("external_id", "document_number", "reference")
_B_WIDE = ("value_date", "amount", "currency", "cp_id", "cp_account")
_M_WIDE = ("amount", "currency", "document_type", "foreign", "cp_id", "cp_account")


def _pair_frame(
    pairs: pl.DataFrame,
    bank: pl.DataFrame,
    mov: pl.DataFrame,
    tok: _Tokens,
    window: tuple[int, int] | None = None,
    *,
    unique: bool = True,
    kind: pl.Expr | None = None,
    keep: pl.Expr | None = None,
    with_cp: bool = True,
) -> pl.DataFrame:
    """Candidate ``(_b, _m)`` pairs with both sides' attributes (``b_*`` / ``m_*``), the
    day distance, the amount difference and a counterparty score; pairs whose movement
    names another bank account are gone, and with ``window`` pairs whose ``bank date -
    ledger date`` is outside it. ``unique=False`` when the caller's pairs have no duplicates.
    With ``keep`` (a filter on the amounts, ``amount_difference``, ``m_foreign``,
    ``m_document_type`` and ``kind``, the column ``kind`` computes) the pairs it rejects are
    gone too: the caller's own amount test, run before the rest is paid for. ``with_cp=False``
    leaves the counterparty score to the caller (:func:`_with_cp`, on fewer pairs).

    Company, account and dates are joined first and filtered, so the wide columns (names,
    token lists) and the counterparty score are only paid for pairs that survive.
    """
    extra = [c for c in pairs.columns if c not in ("_b", "_m")]
    # with the caller's per-pair columns (a token, name scores) one row per pair is kept, carried
    keys = _first_per_pair(pairs) if extra or unique else pairs
    out = _attach(keys, bank, mov, _LIGHT, _LIGHT)
    out = out.filter(
        (pl.col("b_company_id") == pl.col("m_company_id"))
        & (
            pl.col("m_bank_account_id").is_null()
            | (pl.col("m_bank_account_id") == pl.col("b_bank_account_id"))
        )
    ).with_columns((pl.col("b_date") - pl.col("m_date")).dt.total_days().alias("days"))
    if window is not None:
        out = out.filter(_in_window(*window))
    b_wide, m_wide = _B_WIDE, _M_WIDE
    if keep is not None:
        money = (("amount",), ("amount", "foreign", "document_type"))
        out = _attach(out, bank, mov, *money)
        diff = (pl.col("m_amount") - pl.col("b_amount")).alias("amount_difference")
        out = out.with_columns(diff)
        if kind is not None:
            out = out.with_columns(kind.alias("kind"))
        out = out.filter(keep)
        b_wide = tuple(c for c in _B_WIDE if c not in money[0])
        m_wide = tuple(c for c in _M_WIDE if c not in money[1])
    # only what scoring reads: narrations, ids and raw names stay behind
    out = _attach(out, bank, mov, b_wide, m_wide)
    out = out.with_columns(
        (pl.col("b_value_date") - pl.col("m_date")).dt.total_days().abs().alias("value_days"),
        (pl.col("m_amount") - pl.col("b_amount")).alias("amount_difference"),
    ).drop("_bp", "_mp")
    return _with_cp(out, tok) if with_cp else out


def _first_per_pair(pairs: pl.DataFrame) -> pl.DataFrame:
    """The first row of each distinct ``(_b, _m)`` of ``pairs``, in their order: the pair
    packed into one integer, de-duplicated by one numpy sort (no hashing of the caller's
    other columns); ``pairs`` itself when no pair repeats."""
    packed = (pairs["_b"].to_numpy().astype(np.uint64) << np.uint64(32)) | pairs["_m"].to_numpy()
    _, first = np.unique(packed, return_index=True)
    if len(first) == len(packed):
        return pairs
    return pairs[pl.Series(np.sort(first))]


def _with_cp_where(pairs: pl.DataFrame, where: pl.Expr, tok: _Tokens) -> pl.DataFrame:
    """``pairs`` with ``cp`` (:func:`_with_cp`) on the rows ``where`` is true, 0 elsewhere;
    rows and their order unchanged."""
    mask = pairs.select(where.alias("w"))["w"].to_numpy()
    cp = np.zeros(pairs.height, dtype=np.float64)
    if mask.any():
        cp[mask] = _with_cp(pairs.filter(pl.Series(mask)), tok)["cp"].to_numpy()
    return pairs.with_columns(pl.Series("cp", cp))


def _with_cp(pairs: pl.DataFrame, tok: _Tokens) -> pl.DataFrame:
    """``pairs`` (with ``b_cp_id`` / ``m_cp_id`` / ``*_cp_account``) with the counterparty
    score ``cp`` (:func:`_counterparty_score`). The token overlap depends on the two names
    only: it is computed once per distinct (bank name, movement name), far fewer than the
    pairs (names repeat), and gathered back."""
    b_id = pairs["b_cp_id"].to_numpy().astype(np.uint64)
    m_id = pairs["m_cp_id"].to_numpy().astype(np.uint64)
    names, inverse = np.unique((b_id << np.uint64(32)) | m_id, return_inverse=True)
    tokens = pl.DataFrame(
        {
            "b_cp_tokens": tok.get("b", pl.Series((names >> np.uint64(32)).astype(np.uint32))),
            "m_cp_tokens": tok.get(
                "m", pl.Series((names & np.uint64(0xFFFFFFFF)).astype(np.uint32))
            ),
        }
    )
    overlap = tokens.select(_token_overlap().alias("o"))["o"].to_numpy()
    out = pairs.with_columns(pl.Series("_overlap", overlap[inverse.reshape(-1)], pl.Float64))
    return out.with_columns(_counterparty_score(pl.col("_overlap")).alias("cp")).drop("_overlap")


def _positions(index: pl.Series, wanted: pl.Series) -> pl.Series:
    """Where each of ``wanted`` sits in ``index`` (distinct row indexes): one scatter into
    a table as long as the largest index, one gather; every wanted value must be present."""
    idx = index.to_numpy()
    table = np.full(int(idx.max()) + 1 if len(idx) else 0, -1, dtype=np.int64)
    table[idx] = np.arange(len(idx))
    pos = table[wanted.to_numpy()]
    if (pos < 0).any():
        raise ReconcileError("reconcile: a candidate names a row no longer open (a bug)")
    return pl.Series(pos)


def _drop_taken(frame: pl.DataFrame, key: str, taken: pl.Series) -> pl.DataFrame:
    """``frame`` without the rows whose ``key`` is in ``taken`` (every one of them a row of
    ``frame``), order kept: a mask by position (:func:`_positions`) instead of an anti join
    that hashes the key and gathers every wide column."""
    keep = np.ones(frame.height, dtype=bool)
    keep[_positions(frame[key], taken).to_numpy()] = False
    return frame.filter(pl.Series(keep))


def _attach(
    keys: pl.DataFrame,
    bank: pl.DataFrame,
    mov: pl.DataFrame,
    b_cols: tuple[str, ...],
    m_cols: tuple[str, ...],
) -> pl.DataFrame:
    """``keys`` (``_b``, ``_m`` and more) with ``b_<col>`` / ``m_<col>`` looked up in
    ``bank`` / ``mov`` by position (:func:`_positions`): a gather, not a hash join over a
    million-row side for every pass. The positions are kept as ``_bp`` / ``_mp`` and
    reused by the next call on the (filtered) result."""
    if "_bp" in keys.columns:
        # positions a previous call found, filtered along with the pairs
        b_pos, m_pos = keys["_bp"], keys["_mp"]
        new = []
    else:
        b_pos = _positions(bank["_b"], keys["_b"])
        m_pos = _positions(mov["_m"], keys["_m"])
        new = [b_pos.alias("_bp"), m_pos.alias("_mp")]
    return keys.with_columns(
        *new,
        *[bank[c].gather(b_pos).alias(f"b_{c}") for c in b_cols],
        *[mov[c].gather(m_pos).alias(f"m_{c}") for c in m_cols],
    )


def _token_overlap() -> pl.Expr:
    """The overlap coefficient of ``b_cp_tokens`` and ``m_cp_tokens`` (0 when one is
    empty)."""
    inter = pl.col("b_cp_tokens").list.set_intersection("m_cp_tokens").list.len()
    smaller = pl.min_horizontal(pl.col("b_cp_tokens").list.len(), pl.col("m_cp_tokens").list.len())
    return pl.when(smaller > 0).then(inter / smaller).otherwise(0.0)


def _counterparty_score(overlap: pl.Expr) -> pl.Expr:
    """1 for the same account or normalised name, else the token overlap coefficient
    ``overlap`` (:func:`_token_overlap`)."""
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


def _finish(
    cands: pl.DataFrame, confidence: pl.Expr, detail: pl.Expr | None = None
) -> pl.DataFrame:
    """The columns a pass hands on: what ``_resolve`` needs, plus what a suggestion's
    reason names (amounts, dates, the rule's evidence in ``detail``)."""
    return cands.select(
        "_b",
        "_m",
        pl.col("score").cast(pl.Int64),
        "amount_difference",
        pl.col("kind").alias("difference_kind"),
        confidence.clip(0.0, 1.0).cast(pl.Float64).alias("confidence"),
        "b_amount",
        "m_amount",
        pl.col("b_currency").cast(pl.String).alias("currency"),
        "b_date",
        "m_date",
        pl.col("days").cast(pl.Int64),
        (pl.lit(None, pl.String) if detail is None else detail).alias("detail"),
    )


_EMPTY_PAIRS = pl.Schema({"_b": pl.UInt32, "_m": pl.UInt32})

# --- passes -------------------------------------------------------------------------------


def _exact_id(
    bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig, tok: _Tokens
) -> pl.DataFrame:
    # one lazy query: the id lists are never materialised on their own
    ids = pl.concat(
        [
            bank.lazy().select("_b", "company_id", pl.col("source_id").alias("id")),
            bank.lazy().select("_b", "company_id", pl.col("reference").alias("id")),
        ]
    ).filter(pl.col("id").is_not_null() & (pl.col("id") != ""))
    m_ids = (
        mov.lazy()
        .select("_m", "company_id", pl.col("external_id").alias("id"))
        .filter(pl.col("id").is_not_null() & (pl.col("id") != ""))
    )
    pairs = ids.join(m_ids, on=["company_id", "id"]).select("_b", "_m").collect()
    # the score is the day distance: no counterparty score needed
    c = _pair_frame(pairs, bank, mov, tok, with_cp=False)
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
    detail = pl.lit("same transaction id")
    return _finish(c, conf.otherwise(config.confidence_exact_id - 0.02), detail)


def _token_rows(
    frame: pl.DataFrame,
    key: str,
    text: pl.Expr,
    min_len: int,
    among: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``(key, company_id, token)`` rows, one per distinct reference-like token of ``text``,
    separators removed: invoice numbers (INV-1042, SI-162993, F2340500), 4+ digit numbers,
    end-to-end ids; words without digits are not references. With ``among``
    (``company_id``, ``token``: the other side's tokens) only those tokens are kept, which
    makes the checks on the token itself unnecessary."""
    # only runs with a digit are extracted (a word is never a reference), then upper-cased;
    # a text without a digit has none, and is not scanned by the token regex at all
    tok = pl.col("token")
    normal = (
        tok.str.to_uppercase()
        .str.replace_all("-", "", literal=True)
        .str.replace_all("_", "", literal=True)
    )
    texts = frame.lazy().select(key, "company_id", text.alias("token"))
    texts = texts.filter(tok.str.contains(r"[0-9]"))
    if among is not None:
        # a text that is one token as a whole (a document number: INV-1042) is its own only
        # match: no list, no explode, and no duplicate to remove (one row per key)
        texts = texts.with_columns(tok.str.contains(_WHOLE_TOKEN).alias("_whole")).collect()
        whole = texts["_whole"]
        texts = texts.drop("_whole")
        on = ["company_id", "token"]
        # before the de-duplication: most tokens of one side name nothing on the other
        lone = texts.filter(whole).lazy().with_columns(normal)
        lone = lone.join(among.lazy(), on=on, how="semi").collect()
        if whole.all():
            return lone
        parts = texts.filter(~whole).lazy().with_columns(tok.str.extract_all(_DIGIT_TOKEN))
        parts = parts.explode("token").drop_nulls("token").with_columns(normal)
        parts = parts.join(among.lazy(), on=on, how="semi").unique().collect()
        return pl.concat([lone, parts])
    rows = (
        texts.with_columns(tok.str.extract_all(_DIGIT_TOKEN))
        .explode("token")
        .drop_nulls("token")
        .with_columns(normal)
    )
    rows = rows.filter(
        (tok.str.len_chars() >= min_len)
        & (tok.str.count_matches(r"[0-9]") >= 3)
        # a bare number needs 4+ digits; a prefixed one (INV-104) 3+ are enough
        & (tok.str.contains(r"[A-Z]") | (tok.str.len_chars() >= 4))
    )
    return rows.unique().collect()


def _text(frame: pl.DataFrame, first: str, second: str) -> pl.Expr:
    """``first`` and ``second`` joined by a space (nulls skipped); ``first`` as it is when
    ``second`` holds no value at all (no string is copied)."""
    if frame[second].null_count() == frame.height:
        return pl.col(first)
    return pl.concat_str([first, second], separator=" ", ignore_nulls=True)


def _reference(
    bank: pl.DataFrame,
    mov: pl.DataFrame,
    config: ReconConfig,
    tok: _Tokens,
    *,
    ambiguous_only: bool = False,
) -> pl.DataFrame:
    """Pass 2 candidates; with ``ambiguous_only`` the pairs of tokens naming several lines
    or movements instead (suggestions only)."""
    if tok.refs is None:
        n = config.min_token_length
        b_text = _text(bank, "description", "reference")
        m_text = _text(mov, "document_number", "reference")
        bt = _token_rows(bank, "_b", b_text, n)
        mt = _token_rows(mov, "_m", m_text, n, among=bt.select("company_id", "token").unique())
        # kept: a row's tokens depend on its own text only, so a later call (the leftovers'
        # ambiguous tokens) narrows these instead of extracting again
        tok.refs = (bt, mt)
    else:
        bt, mt = tok.refs
        bt = bt.filter(_among(bt["_b"], bank["_b"])) if bt.height and bank.height else bt.clear()
        mt = mt.filter(_among(mt["_m"], mov["_m"])) if mt.height and mov.height else mt.clear()
        mt = mt.join(bt.select("company_id", "token"), on=["company_id", "token"], how="semi")
    # a token that names several lines or several movements is not evidence of either
    # (rows are distinct, so a count is a count of distinct lines / movements)
    on = ["company_id", "token"]
    if ambiguous_only:
        bt = bt.with_columns(pl.len().over(on).alias("n_b"))
        mt = mt.with_columns(pl.len().over(on).alias("n_m"))
        single = (pl.col("n_b") == 1) & (pl.col("n_m") == 1)
        pairs = bt.join(mt, on=on).filter(~single).select("_b", "_m", "token", "n_b", "n_m")
    else:
        # a token's pairs are its lines x its movements: one pair <=> one line, one movement
        pairs = bt.join(mt, on=on).filter(pl.len().over(on) == 1).select("_b", "_m", "token")
    window = (config.reference_window_min_days, config.reference_window_max_days)
    c = _pair_frame(pairs, bank, mov, tok, window, with_cp=False)
    c = c.filter(pl.col("b_currency") == pl.col("m_currency")).with_columns(
        _difference_kind(config).alias("kind")
    )
    c = c.filter(pl.col("kind").is_not_null())
    # the score only ranks candidates sharing a line or movement (ambiguous pairs are never
    # ranked): the counterparty score is paid for those only, 0 elsewhere
    shared = (
        pl.lit(False) if ambiguous_only else (pl.len().over("_b") > 1) | (pl.len().over("_m") > 1)
    )
    c = _with_cp_where(c, shared, tok).with_columns(_rank_score(True).alias("score"))
    conf = pl.when(pl.col("kind") == "none").then(config.confidence_reference)
    detail = pl.format("reference token {}", pl.col("token"))
    if ambiguous_only:
        detail = pl.format(
            "reference token {} names {} bank lines and {} movements",
            pl.col("token"),
            pl.col("n_b"),
            pl.col("n_m"),
        )
    return _finish(c, conf.otherwise(config.confidence_reference - 0.1), detail)


def _amount_date(
    bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig, tok: _Tokens
) -> pl.DataFrame:
    keys = ["company_id", "currency", "amount"]
    # the window is applied on the join's output right away: repeated amounts make this
    # join several times larger than what survives it
    days = (pl.col("date") - pl.col("m_date")).dt.total_days()
    # lazy, so the filter runs inside the join instead of on its materialised output; the
    # dates are cut into blocks as long as the window, so a movement's block is one of the
    # (at most two) blocks a bank line's window touches: joined on the block too, a line
    # meets the movements of its amount around its date only, not those of every date
    lo, hi = config.window_min_days, config.window_max_days
    pairs = (
        bank.lazy()
        .select("_b", *keys, "date", _date_blocks(lo, hi).alias("_w"))
        .explode("_w")
        .join(
            mov.lazy().select(
                "_m", *keys, pl.col("date").alias("m_date"), _date_block(lo, hi).alias("_w")
            ),
            on=[*keys, "_w"],
        )
        .filter(days.is_between(lo, hi))
        .select("_b", "_m")
        .collect()
    )
    c = _pair_frame(pairs, bank, mov, tok, unique=False)
    c = c.with_columns(pl.lit("none").alias("kind"), _rank_score(False).alias("score"))
    conf = config.confidence_amount_date - 0.01 * pl.col("days").abs() + 0.05 * pl.col("cp")
    return _finish(c, conf)


def _date_block(lo: int, hi: int) -> pl.Expr:
    """The block of ``date``: days cut into blocks as long as the window ``lo..hi``."""
    return pl.col("date").cast(pl.Int64) // max(hi - lo + 1, 1)


def _date_blocks(lo: int, hi: int) -> pl.Expr:
    """The blocks (:func:`_date_block`) of the ledger dates a bank line dated ``date`` may
    pair with (``date - hi .. date - lo``): one or two. Any non-decreasing block function
    keeps every pair of the window, so joining on the block loses none."""
    day, width = pl.col("date").cast(pl.Int64), max(hi - lo + 1, 1)
    return pl.int_ranges((day - hi) // width, (day - lo) // width + 1, dtype=pl.Int64)


def _window_pairs(
    bank: pl.DataFrame, mov: pl.DataFrame, lo: int, hi: int, *, band: tuple[int, int] | None = None
) -> pl.DataFrame:
    """``(_b, _m)`` of the same company, currency and direction with ``bank date - ledger
    date`` in ``lo..hi`` days; with ``band`` (``bps``, ``fixed``) only pairs whose amounts
    differ by at most ``bps`` basis points of the ledger amount plus ``fixed`` minor units
    (a bound no narrower than the caller's own amount test, which still runs)."""
    # an equi-join instead of company x company: on the date blocks of the window (see
    # _amount_date: a bank line meets the movements of at most two blocks), then the window
    b = (
        bank.lazy()
        .select(
            "_b",
            "company_id",
            "currency",
            (pl.col("amount") > 0).alias("inflow"),
            pl.col("amount").alias("b_amount"),
            "date",
            _date_blocks(lo, hi).alias("_w"),
        )
        .explode("_w")
    )
    m = mov.lazy().select(
        "_m", "company_id", "currency", (pl.col("amount") > 0).alias("inflow"),
        pl.col("amount").alias("m_amount"), pl.col("date").alias("m_date"),
        _date_block(lo, hi).alias("_w"),
    )  # fmt: skip
    pairs = b.join(m, on=["company_id", "currency", "inflow", "_w"])
    pairs = pairs.filter((pl.col("date") - pl.col("m_date")).dt.total_days().is_between(lo, hi))
    if band is not None:
        # filtered inside the join (lazy): most window pairs are far apart in amount
        bps, fixed = band
        diff = (pl.col("m_amount") - pl.col("b_amount")).abs()
        pairs = pairs.filter(diff * 10_000 <= bps * pl.col("m_amount").abs() + fixed * 10_000)
    return pairs.select("_b", "_m").collect()


def _tolerance(
    bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig, tok: _Tokens
) -> pl.DataFrame:
    # no tolerance is wider than the larger rate plus the fixed fee part
    band = (max(config.fee_rate_bps, config.fx_rate_bps, 0), max(config.fee_fixed_minor, 0))
    pairs = _window_pairs(bank, mov, config.window_min_days, config.window_max_days, band=band)
    settlement = pl.col("m_document_type").is_in(list(config.fee_document_types))
    agrees = (pl.col("kind") == "fx") | ((pl.col("kind") == "fee") & settlement)
    # most window pairs differ in amount far beyond any tolerance: dropped before scoring
    c = _pair_frame(pairs, bank, mov, tok, unique=False, kind=_difference_kind(config), keep=agrees)
    c = c.with_columns(_difference_kind(config).alias("kind"), _rank_score(True).alias("score"))
    c = c.filter(agrees)
    rel = pl.col("amount_difference").abs() / pl.col("m_amount").abs()
    conf = (
        config.confidence_tolerance - 2.0 * rel - 0.01 * pl.col("days").abs() + 0.05 * pl.col("cp")
    )
    return _finish(c, conf)


def _amount_agrees(config: ReconConfig) -> pl.Expr:
    """Pass 4's rules: equal, FX within tolerance, or a fee on a settlement-like document."""
    settlement = pl.col("m_document_type").is_in(list(config.fee_document_types))
    kind = pl.col("kind")
    return (kind == "none") | (kind == "fx") | ((kind == "fee") & settlement)


def _with_name_key(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``cp_name``, the :func:`name_key` of ``cp_who``, computed once per
    distinct name (narrations repeat, and the key is list work per word)."""
    names = (
        frame.select("cp_who").unique().with_columns(name_key(pl.col("cp_who")).alias("cp_name"))
    )
    return frame.join(names, on="cp_who", how="left", nulls_equal=True)


def _counterparty(
    bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig, tok: _Tokens
) -> pl.DataFrame:
    """Pass 5: the same party by account number (tier 0) or name (tier 1), amounts agreeing
    as in pass 4, in the counterparty window; ranked by tier, amount difference, name
    score, then date distance."""
    pairs = counterparty_pairs(
        _with_name_key(bank), _with_name_key(mov), threshold=config.name_threshold
    )
    window = (config.counterparty_window_min_days, config.counterparty_window_max_days)
    agrees = pl.col("kind").is_not_null() & _amount_agrees(config)
    # ranked by tier, amounts, name score and days: no counterparty score needed
    c = _pair_frame(
        pairs, bank, mov, tok, window, kind=_difference_kind(config), keep=agrees, with_cp=False
    )
    c = c.filter(pl.col("b_currency") == pl.col("m_currency")).with_columns(
        _difference_kind(config).alias("kind")
    )
    c = c.filter(pl.col("kind").is_not_null() & _amount_agrees(config))
    # lexicographic rank packed into one integer score (lower is better)
    c = c.with_columns(
        pl.struct(
            "tier",
            pl.col("amount_difference").abs().alias("ad"),
            (-pl.col("name_score")).alias("ns"),
            pl.col("value_days").alias("vd"),
        )
        .rank("dense")
        .cast(pl.Int64)
        .alias("score")
    )
    rel = pl.col("amount_difference").abs() / pl.col("m_amount").abs()
    near = 0.005 * pl.col("days").abs() + 2.0 * rel
    conf = (
        pl.when(pl.col("tier") == 0)
        .then(config.confidence_counterparty_account - near)
        .otherwise(config.confidence_counterparty_name * pl.col("name_score") / 100.0 - near)
    )
    detail = (
        pl.when(pl.col("tier") == 0)
        .then(pl.format("same counterparty account {}", pl.col("b_cp_account")))
        .otherwise(
            pl.format(
                "counterparty name {} ~ {} ({}/100)",
                pl.col("b_name"),
                pl.col("m_name"),
                pl.col("name_score").round(0).cast(pl.Int64),
            )
        )
    )
    out = _finish(c, conf, detail)
    # what _drop_name_ties needs
    return out.with_columns(c.select("tier", "name_score", "b_name", "m_name"))


def _drop_name_ties(cands: pl.DataFrame) -> pl.DataFrame:
    """Pass 5 candidates without the lines and movements whose best name match is shared by
    two *different* names on the other side ("SMITH" ~ "John Smith" and "Jane Smith"): a
    date distance must not decide between two parties."""
    if cands.is_empty():
        return cands
    key = pl.struct("tier", pl.col("amount_difference").abs(), -pl.col("name_score"))
    c = cands.with_columns(key.rank("dense").alias("_k"))
    top_b = pl.col("_k") == pl.col("_k").min().over("_b")
    top_m = pl.col("_k") == pl.col("_k").min().over("_m")
    c = c.with_columns(
        pl.when(top_b & (pl.col("tier") == 1))
        .then(pl.col("m_name"))
        .drop_nulls()
        .n_unique()
        .over("_b")
        .alias("_names_b"),
        pl.when(top_m & (pl.col("tier") == 1))
        .then(pl.col("b_name"))
        .drop_nulls()
        .n_unique()
        .over("_m")
        .alias("_names_m"),
    )
    tied = c.filter((pl.col("_names_b") > 1) | (pl.col("_names_m") > 1))
    return cands.join(tied.select("_b").unique(), on="_b", how="anti").join(
        tied.select("_m").unique(), on="_m", how="anti"
    )


def _subset_blocks(
    c: pl.DataFrame, anchor: str, item: str, config: ReconConfig, tok: _Tokens
) -> pl.DataFrame:
    """Blocks (``BLOCK_SCHEMA``) of one side: each ``anchor`` row with the ``item`` rows
    smaller in size (same direction) in its window; blocks of fewer than two items or
    whose items cannot reach the anchor's amount are dropped; a block over the cap keeps
    the likeliest items (same counterparty, closest in date) and is marked truncated."""
    a, i = anchor[1], item[1]
    part = c.filter(pl.col(f"{i}_amount").abs() < pl.col(f"{a}_amount").abs())
    part = part.with_columns(
        pl.len().over(anchor).alias("n"),
        pl.col(f"{i}_amount").sum().over(anchor).alias("total"),
    ).filter((pl.col("n") >= 2) & (pl.col("total").abs() >= pl.col(f"{a}_amount").abs()))
    # the counterparty score only ranks the items of the blocks that remain
    ranked = _with_cp(part, tok).with_columns(
        pl.struct((-pl.col("cp")).alias("cp"), "value_days", item)
        .rank("ordinal")
        .over(anchor)
        .alias("r")
    )
    return (
        ranked.filter(pl.col("r") <= config.subset_max_candidates)
        .select(
            pl.col(anchor).alias("block"),
            pl.col(item).alias("item"),
            pl.col(f"{i}_amount").alias("amount"),
            pl.col(f"{a}_amount").alias("target"),
            (pl.col("n") > config.subset_max_candidates).alias("truncated"),
        )
        .cast(dict(BLOCK_SCHEMA))
    )


def _subset_sum(
    bank: pl.DataFrame,
    mov: pl.DataFrame,
    config: ReconConfig,
    tok: _Tokens,
    b_ids: pl.DataFrame,
    m_ids: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pass 6 on the leftovers: accepted groups (rows ``_b``, ``_m``, match columns) and the
    groups for suggestions (rows with ids, score and reason)."""
    pairs = _window_pairs(bank, mov, config.subset_window_min_days, config.subset_window_max_days)
    c = _pair_frame(pairs, bank, mov, tok, unique=False, with_cp=False)
    found = []
    for match_type, anchor, item in (("1:n", "_b", "_m"), ("n:1", "_m", "_b")):
        sol = search_blocks(
            _subset_blocks(c, anchor, item, config, tok),
            max_solutions=config.subset_max_alternatives,
            budget_ms=config.subset_time_budget_ms,
        )
        # an item of exactly the anchor's amount is a 1:1 rival to any subset
        a, i = anchor[1], item[1]
        rivals = c.filter(pl.col(f"{i}_amount") == pl.col(f"{a}_amount")).select(anchor).unique()
        found.append(
            sol.select(
                pl.lit(match_type).alias("match_type"),
                pl.col("block").alias(anchor),
                pl.col("item").alias(item),
                "solution",
                "n_solutions",
                "complete",
                pl.col("block").is_in(rivals[anchor].implode()).alias("rival"),
            )
        )
    cols = ["match_type", "_b", "_m", "solution", "n_solutions", "complete", "rival"]
    rows = pl.concat([f.select(cols) for f in found])
    group = pl.struct("match_type", "anchor", "solution")
    rows = rows.with_columns(
        pl.when(pl.col("match_type") == "1:n")
        .then(pl.col("_b"))
        .otherwise(pl.col("_m"))
        .alias("anchor")
    )
    # a line or movement in two solutions (of any block) makes both unproven
    rows = rows.with_columns(
        group.n_unique().over("_b").alias("groups_b"), group.n_unique().over("_m").alias("groups_m")
    )
    shared = (pl.col("groups_b").max().over(group) > 1) | (pl.col("groups_m").max().over(group) > 1)
    rows = rows.with_columns(shared.alias("shared"), pl.len().over(group).alias("size"))
    auto = pl.col("complete") & (pl.col("n_solutions") == 1) & ~pl.col("shared") & ~pl.col("rival")
    accepted = rows.filter(auto)
    size = pl.col("size")
    # the rows of one 1:n group share their bank line, those of one n:1 their movement
    anchor_id = pl.when(pl.col("match_type") == "1:n").then(
        pl.format("rg:subset_sum:1:n:{}", b_ids["bank_line_id"].gather(accepted["_b"]))
    )
    anchor_id = anchor_id.otherwise(
        pl.format("rg:subset_sum:n:1:{}", m_ids["movement_id"].gather(accepted["_m"]))
    )
    won = accepted.select(
        "_b",
        "_m",
        pl.lit("subset_sum").alias("rule"),
        "match_type",
        anchor_id.alias("group_id"),
        (config.confidence_subset - 0.02 * (size - 2)).clip(0.5, 1.0).alias("confidence"),
        pl.lit(0, pl.Int64).alias("amount_difference"),
        pl.lit("none").alias("difference_kind"),
    )
    suggested = rows.filter(~auto).join(b_ids, on="_b").join(m_ids, on="_m")
    return won, _subset_suggestion_rows(suggested, bank, mov, config)


def _subset_suggestion_rows(
    rows: pl.DataFrame, bank: pl.DataFrame, mov: pl.DataFrame, config: ReconConfig
) -> pl.DataFrame:
    """Ids, score and reason of the subset groups that were not accepted."""
    if rows.is_empty():
        return pl.DataFrame(schema=SUGGESTION_SCHEMA).drop("rule")
    b = bank.select("_b", "amount", "date", pl.col("currency").cast(pl.String))
    m = mov.select("_m", pl.col("amount").alias("m_amount"), pl.col("date").alias("m_date"))
    x = rows.join(b, on="_b").join(m, on="_m")
    one_to_n = pl.col("match_type") == "1:n"
    anchor_id = pl.when(one_to_n).then(pl.col("bank_line_id")).otherwise(pl.col("movement_id"))
    anchor_amount = pl.when(one_to_n).then(pl.col("amount")).otherwise(pl.col("m_amount"))
    anchor_date = pl.when(one_to_n).then(pl.col("date")).otherwise(pl.col("m_date"))
    part_amount = pl.when(one_to_n).then(pl.col("m_amount")).otherwise(pl.col("amount"))
    part_date = pl.when(one_to_n).then(pl.col("m_date")).otherwise(pl.col("date"))
    x = x.with_columns(
        anchor_id.alias("anchor_id"),
        money(anchor_amount, pl.col("currency")).alias("anchor_money"),
        anchor_date.alias("anchor_date"),
        money(part_amount, pl.col("currency")).alias("part_money"),
        part_date.alias("part_date"),
    )
    g = ["match_type", "anchor", "solution"]
    per_group = x.group_by(g).agg(
        pl.col("part_money").sort().str.join(" + ").alias("parts"),
        pl.col("part_date").min().alias("d0"),
        pl.col("part_date").max().alias("d1"),
    )
    why = (
        pl.when(~pl.col("complete"))
        .then(
            pl.lit(
                f"block over {config.subset_max_candidates} candidates or over its time "
                "budget: uniqueness not proven"
            )
        )
        .when(pl.col("n_solutions") > config.subset_max_alternatives)
        .then(pl.lit(f"more than {config.subset_max_alternatives} exact subsets found"))
        .when(pl.col("n_solutions") > 1)
        .then(pl.format("{} exact subsets found", pl.col("n_solutions")))
        .when(pl.col("rival"))
        .then(pl.lit("one item of the same amount is also in the window (a 1:1 pair?)"))
        .otherwise(pl.lit("shares an item with another subset"))
    )
    x = x.join(per_group, on=g).with_columns(
        pl.format(
            "{}: {} {} on {} = {} ({} .. {}); {}",
            pl.col("match_type"),
            pl.when(one_to_n).then(pl.lit("bank line")).otherwise(pl.lit("movement")),
            pl.col("anchor_money"),
            pl.col("anchor_date"),
            pl.col("parts"),
            pl.col("d0"),
            pl.col("d1"),
            why,
        ).alias("reason"),
        pl.format("sg:subset:{}:{}", pl.col("match_type"), pl.col("anchor_id")).alias(
            "suggestion_id"
        ),
    )
    n_alt = pl.col("solution").n_unique().over("suggestion_id")
    return x.select(
        "company_id",
        "suggestion_id",
        pl.format("{}:{}", pl.col("suggestion_id"), pl.col("solution")).alias("group_id"),
        "bank_line_id",
        "movement_id",
        (config.confidence_subset / pl.max_horizontal(n_alt, 2)).alias("score"),
        "reason",
    )


# --- resolution ---------------------------------------------------------------------------


def _resolve(cands: pl.DataFrame, max_rounds: int) -> pl.DataFrame:
    """Pairs that are the strict best of both their bank line and their movement.

    Each round takes every mutual-best pair (a side whose best score is shared by two
    candidates takes nothing: an exact tie is ambiguous), then drops the claimed lines and
    movements so that runners-up can become best. Pairs still tied after ``max_rounds``
    rounds stay unmatched.
    """
    # the rounds run on (row, _b, _m, score) only; the winners' rows are gathered once
    work = cands.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), "_b", "_m", "score")
    won: list[pl.Series] = []
    if max_rounds > 0 and not work.is_empty():
        # a pair alone on both its line and its movement wins the first round whatever its
        # score (unless null: never best), and touches no other pair: taken here, so the
        # rounds rank the rest only
        # counted by bincount over the row indexes: no hash grouping
        b = work["_b"].to_numpy()
        m = work["_m"].to_numpy()
        alone = (np.bincount(b)[b] == 1) & (np.bincount(m)[m] == 1)
        mask = pl.Series(alone & work["score"].is_not_null().to_numpy())
        won.append(work.filter(mask)["_i"])
        work = work.filter(~mask)
    for _ in range(max_rounds):
        if work.is_empty():
            break
        s = pl.col("score")
        ranked = work.with_columns(
            (s == s.min().over("_b")).alias("best_b"), (s == s.min().over("_m")).alias("best_m")
        ).with_columns(
            pl.col("best_b").sum().over("_b").alias("n_b"),
            pl.col("best_m").sum().over("_m").alias("n_m"),
        )
        take = ranked.filter(
            pl.col("best_b") & pl.col("best_m") & (pl.col("n_b") == 1) & (pl.col("n_m") == 1)
        )
        if take.is_empty():
            break
        won.append(take["_i"])
        gone = _among(work["_b"], take["_b"]) | _among(work["_m"], take["_m"])
        work = work.filter(~gone)
    taken = pl.concat(won) if won else pl.Series("_i", [], pl.UInt32)
    if taken.is_empty():
        return cands.clear()
    return cands.select(pl.all().gather(taken))


def _among(values: pl.Series, taken: pl.Series) -> pl.Series:
    """Whether each of ``values`` (row indexes) is in ``taken``: a lookup table as long as
    the largest index, no hashing."""
    v = values.to_numpy()
    t = taken.to_numpy()
    table = np.zeros(int(max(v.max(), t.max())) + 1, dtype=bool)
    table[t] = True
    return pl.Series(table[v])


def _one_to_one(won: pl.DataFrame, rule: str) -> pl.DataFrame:
    return won.select(
        "_b",
        "_m",
        pl.lit(rule).alias("rule"),
        pl.lit("1:1").alias("match_type"),
        pl.lit(None, pl.String).alias("group_id"),  # its match_id
        "confidence",
        "amount_difference",
        "difference_kind",
    )


def _ids(booked_in: pl.DataFrame, mov_in: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``_b`` -> ``company_id``, ``bank_line_id`` and ``_m`` -> ``movement_id`` (the row
    indexes :func:`_prepare_bank` / :func:`_prepare_movements` give); ``booked_in`` holds
    the booked lines only."""
    b = booked_in.with_row_index("_b").select(
        "_b", "company_id", pl.col("line_id").alias("bank_line_id")
    )
    m = mov_in.with_row_index("_m").select("_m", "movement_id")
    return b, m


def _match_rows(
    found: list[pl.DataFrame], b_ids: pl.DataFrame, m_ids: pl.DataFrame
) -> pl.DataFrame:
    """``MATCH_SCHEMA`` rows of the passes' winners, in bank-line input order."""
    if not found:
        return pl.DataFrame(schema=MATCH_SCHEMA)
    won = pl.concat(found, how="vertical_relaxed")
    # sorted by (_b, _m) packed into one integer (the pairs are distinct): one numpy argsort
    packed = (won["_b"].to_numpy().astype(np.uint64) << np.uint64(32)) | won["_m"].to_numpy()
    won = won[pl.Series(np.argsort(packed))]
    # _b / _m are row positions of b_ids / m_ids (see _ids): a gather, not a join
    out = won.with_columns(
        b_ids["company_id"].gather(won["_b"]).alias("company_id"),
        b_ids["bank_line_id"].gather(won["_b"]).alias("bank_line_id"),
        m_ids["movement_id"].gather(won["_m"]).alias("movement_id"),
    )
    match_id = pl.concat_str(
        [pl.lit("rm"), pl.col("rule"), pl.col("bank_line_id"), pl.col("movement_id")],
        separator=":",
    )
    # built once (as a column), then read twice
    return (
        out.with_columns(match_id.alias("match_id"))
        .select(
            "company_id",
            "match_id",
            pl.coalesce("group_id", "match_id").alias("group_id"),
            "bank_line_id",
            "movement_id",
            "rule",
            "match_type",
            "confidence",
            "amount_difference",
            "difference_kind",
        )
        .cast(dict(MATCH_SCHEMA))
    )


def _unmatched(frame: pl.DataFrame, taken: pl.Series) -> pl.DataFrame:
    """Rows of ``frame`` whose position is not in ``taken``."""
    keep = np.ones(frame.height, dtype=bool)
    keep[taken.to_numpy()] = False
    return frame.filter(pl.Series(keep))


__all__ = [
    "ReconConfig",
    "ReconResult",
    "reconcile",
    "unmatched_bank_lines",
    "unmatched_movements",
]
