"""Reconciliation benchmark: quality on the demo world's ground truth, speed at 1M x 1M.

Quality: the world ``finpipe demo`` generates (its ``--companies/--months/--seed``
defaults, overridable here) goes through ``reconcile``; the automatic matches' precision
(each auto (bank line, movement) pair against the truth pairs) and the recall of the truth
groups by automatic matches plus suggestions (a 1:n or n:1 truth group counts when all its
(line, document) pairs sit together in one engine group) are printed per rule and per match
type beside the goals (precision >= 99.5 %, recall >= 97 %).

Performance: ``--lines`` synthetic bank lines and as many ledger movements (seeded,
vectorised: hundreds of companies, several accounts each, repeated amounts, a year of
dates, 85 % true pairs lagging 0-5 days, fee-netted settlements, references in the
narration, 1:n batch deposits, noise) are timed three ways, each in a fresh subprocess so
each peak RSS is its own:
  * baseline: one bare DuckDB query (same company, currency and amount, bank date - ledger
    date in -2..+7, mutual best by date distance);
  * ``reconcile`` passes 1-4 only (when the engine can be told to stop there);
  * the full cascade.
Ratios are engine time / baseline time (goals: passes 1-4 <= 2x, full <= 5x). Exits
non-zero when a goal is missed.

    .venv/bin/python finpipe_tests/benchmarks/bench_reconcile.py [--lines N]
        [--companies N --months M --seed S] [--skip-quality] [--skip-performance]

Written against the engine's public API only; rules, ``group_id`` and ``suggestions`` that
a later engine adds are picked up when present (``getattr``), treated as absent otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

PRECISION_GOAL = 0.995
RECALL_GOAL = 0.97
FULL_RATIO_GOAL = 5.0
PASSES_1_4_RATIO_GOAL = 2.0
# Every rule the engine has or is getting, in cascade order (unknown ones are listed after).
FIRST_FOUR_RULES = ("exact_id", "reference", "amount_date", "tolerance")
KNOWN_RULES = (*FIRST_FOUR_RULES, "counterparty", "subset_sum")
MATCH_TYPES = ("1:1", "1:n", "n:1")
WINDOW_MIN_DAYS, WINDOW_MAX_DAYS = -2, 7


# --- scoring against ground truth ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Quality:
    """Figures of one engine run against a truth table.

    ``precision`` is correct auto pairs / auto pairs (None without auto pairs); ``recall``
    is truth groups recalled by auto matches or suggestions / all truth groups;
    ``recall_auto`` counts auto matches only; ``reachable`` groups are those whose bank
    lines are booked inputs and whose documents are among the movements (the rest no engine
    can find). ``by_rule`` and ``by_type`` hold the same figures split up.
    """

    auto_pairs: int
    correct_pairs: int
    precision: float | None
    suggested_pairs: int
    truth_groups: int
    reachable_groups: int
    recalled_auto: int
    recalled: int
    recall_auto: float
    recall: float
    by_rule: pl.DataFrame
    by_type: pl.DataFrame


def _rule_order(rules: Sequence[str]) -> list[str]:
    extra = sorted(r for r in rules if r not in KNOWN_RULES)
    return [*KNOWN_RULES, *extra]


def _position(column: str, order: Sequence[str]) -> pl.Expr:
    """Sort key: the value's place in ``order`` (joins do not keep row order)."""
    return pl.col(column).replace_strict(
        list(order), list(range(len(order))), default=len(order), return_dtype=pl.Int64
    )


def _normalise(frame: pl.DataFrame, kind: str, id_column: str) -> pl.DataFrame:
    """Pairs of a matches or suggestions frame with one group key per engine group:
    ``group_id`` when the engine gives it, else the row's own id."""
    group = "group_id" if "group_id" in frame.columns else id_column
    if group not in frame.columns:
        raise ValueError(
            f"bench_reconcile: the engine's {kind} frame has neither group_id nor {id_column}; "
            f"columns are {frame.columns}"
        )
    rule = pl.col("rule").cast(pl.String) if "rule" in frame.columns else pl.lit(kind)
    given_type = (
        pl.col("match_type").cast(pl.String)
        if "match_type" in frame.columns
        else pl.lit(None, pl.String)
    )
    out = frame.select(
        pl.col("company_id").cast(pl.String),
        pl.col("bank_line_id").cast(pl.String),
        pl.col("movement_id").cast(pl.String),
        rule.alias("rule"),
        pl.concat_str([pl.lit(f"{kind}:"), pl.col(group).cast(pl.String)]).alias("group_key"),
        pl.lit(kind).alias("kind"),
        given_type.alias("match_type"),
    )
    # a group's shape says its type where the frame does not (suggestions carry none)
    over = ["company_id", "group_key"]
    lines = pl.col("bank_line_id").n_unique().over(over)
    movs = pl.col("movement_id").n_unique().over(over)
    derived = pl.when(movs > 1).then(pl.lit("1:n")).when(lines > 1).then(pl.lit("n:1"))
    return out.with_columns(
        pl.coalesce("match_type", derived.otherwise(pl.lit("1:1"))).alias("match_type")
    )


def engine_pairs(result: Any, bank_lines: pl.DataFrame, movements: pl.DataFrame) -> pl.DataFrame:
    """Every (bank line, movement) pair the engine matched (``kind`` auto) or suggested,
    with ``rule``, ``match_type``, ``group_key`` and the truth keys ``source_id`` (the
    world line id) and ``document_id``.

    ``result`` needs ``matches`` (company_id, match_id, bank_line_id, movement_id, rule,
    optional match_type / group_id); ``suggestions`` is read when present.
    """
    frames = [_normalise(result.matches, "auto", "match_id")]
    suggestions = getattr(result, "suggestions", None)
    if isinstance(suggestions, pl.DataFrame) and suggestions.height:
        frames.append(_normalise(suggestions, "suggested", "suggestion_id"))
    pairs = pl.concat(frames)
    lines = bank_lines.select(
        "company_id", pl.col("line_id").alias("bank_line_id"), pl.col("source_id")
    ).unique(["company_id", "bank_line_id"])
    docs = movements.select("company_id", "movement_id", "document_id").unique(
        ["company_id", "movement_id"]
    )
    return pairs.join(lines, on=["company_id", "bank_line_id"], how="left").join(
        docs, on=["company_id", "movement_id"], how="left"
    )


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def score(
    bank_lines: pl.DataFrame, movements: pl.DataFrame, result: Any, truth: pl.DataFrame
) -> Quality:
    """Score ``result`` (see :func:`engine_pairs`) against ``truth`` (company_id, match_id,
    bank_line_id = the bank line's ``source_id``, document_id, match_type).

    An auto pair is correct when its (company, source_id, document_id) is a truth pair of
    any group. A truth group is recalled when one engine group (a match group or a
    suggestion group) holds all of its pairs; extra pairs in that group do not undo the
    recall (they cost precision instead).
    """
    keys = ["company_id", "source_id", "document_id"]
    t = (
        truth.select(
            "company_id",
            "match_id",
            pl.col("bank_line_id").alias("source_id"),
            "document_id",
            "match_type",
        )
        .unique(["company_id", "match_id", "source_id", "document_id"])
        .with_columns(pl.len().over("company_id", "match_id").alias("size"))
    )
    pairs = engine_pairs(result, bank_lines, movements).join(
        t.select(keys).unique().with_columns(pl.lit(True).alias("ok")), on=keys, how="left"
    )
    pairs = pairs.with_columns(pl.col("ok").fill_null(False))
    auto = pairs.filter(pl.col("kind") == "auto")
    sugg = pairs.filter(pl.col("kind") == "suggested")

    # recall: per truth group, the engine groups covering all of its pairs
    hits = t.join(pairs.select(*keys, "kind", "group_key", "rule"), on=keys).unique(
        ["company_id", "match_id", "source_id", "document_id", "kind", "group_key"]
    )
    full = (
        hits.group_by("company_id", "match_id", "kind", "group_key")
        .agg(pl.len().alias("n"), pl.col("size").first(), pl.col("rule").first())
        .filter(pl.col("n") == pl.col("size"))
    )
    status = full.group_by("company_id", "match_id").agg(
        (pl.col("kind") == "auto").any().alias("auto"),
        # the rule credited: an auto match's before a suggestion's
        pl.col("rule").sort_by(pl.col("kind") != "auto").first().alias("rule"),
    )
    booked = bank_lines.filter(pl.col("status") == "booked").select("company_id", "source_id")
    reach = (
        t.join(
            booked.unique().with_columns(pl.lit(True).alias("b")),
            on=["company_id", "source_id"],
            how="left",
        )
        .join(
            movements.select("company_id", "document_id")
            .unique()
            .with_columns(pl.lit(True).alias("m")),
            on=["company_id", "document_id"],
            how="left",
        )
        .group_by("company_id", "match_id")
        .agg((pl.col("b").fill_null(False) & pl.col("m").fill_null(False)).all().alias("reachable"))
    )
    groups = (
        t.group_by("company_id", "match_id")
        .agg(pl.col("match_type").first())
        .join(reach, on=["company_id", "match_id"], how="left")
        .join(status, on=["company_id", "match_id"], how="left")
        .with_columns(
            pl.col("auto").fill_null(False),
            pl.col("auto").is_not_null().alias("recalled"),
        )
    )

    by_type = (
        pl.DataFrame({"match_type": list(MATCH_TYPES)})
        .join(
            groups.group_by("match_type").agg(
                pl.len().alias("truth_groups"),
                pl.col("reachable").sum().alias("reachable"),
                pl.col("auto").sum().alias("recalled_auto"),
                pl.col("recalled").sum().alias("recalled"),
            ),
            on="match_type",
            how="full",
            coalesce=True,
        )
        .join(
            auto.group_by("match_type").agg(
                pl.len().alias("auto_pairs"), pl.col("ok").sum().alias("correct")
            ),
            on="match_type",
            how="full",
            coalesce=True,
        )
        .fill_null(0)
        .with_columns(
            (pl.col("recalled") / pl.col("truth_groups")).alias("recall"),
            (pl.col("correct") / pl.col("auto_pairs")).alias("precision"),
        )
        .sort(_position("match_type", MATCH_TYPES))
    )
    order = _rule_order(pairs["rule"].unique().to_list())
    by_rule = (
        pl.DataFrame({"rule": order})
        .join(
            auto.group_by("rule").agg(
                pl.len().alias("auto_pairs"), pl.col("ok").sum().alias("correct")
            ),
            on="rule",
            how="left",
        )
        .join(
            sugg.group_by("rule").agg(
                pl.len().alias("suggested_pairs"), pl.col("ok").sum().alias("suggested_correct")
            ),
            on="rule",
            how="left",
        )
        .join(
            groups.filter(pl.col("recalled")).group_by("rule").agg(pl.len().alias("groups")),
            on="rule",
            how="left",
        )
        .fill_null(0)
        .with_columns((pl.col("correct") / pl.col("auto_pairs")).alias("precision"))
        .sort(_position("rule", order))
    )
    n_groups = groups.height
    recalled_auto = int(groups["auto"].sum())
    recalled = int(groups["recalled"].sum())
    return Quality(
        auto_pairs=auto.height,
        correct_pairs=int(auto["ok"].sum()),
        precision=_ratio(int(auto["ok"].sum()), auto.height),
        suggested_pairs=sugg.height,
        truth_groups=n_groups,
        reachable_groups=int(groups["reachable"].sum()),
        recalled_auto=recalled_auto,
        recalled=recalled,
        recall_auto=recalled_auto / n_groups if n_groups else 0.0,
        recall=recalled / n_groups if n_groups else 0.0,
        by_rule=by_rule,
        by_type=by_type,
    )


def _pct(x: float | None) -> str:
    return "   n/a " if x is None or x != x else f"{100 * x:6.2f}%"


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def quality_met(q: Quality) -> bool:
    """Both quality goals met."""
    return (q.precision or 0.0) >= PRECISION_GOAL and q.recall >= RECALL_GOAL


def print_quality(q: Quality, title: str) -> None:
    """The figures of ``q`` with the goals beside them."""
    print(f"\n{title}")
    prec_ok = (q.precision or 0.0) >= PRECISION_GOAL
    print(
        f"  precision (auto)          {_pct(q.precision)}  {q.correct_pairs:,}/{q.auto_pairs:,} "
        f"pairs   goal >= {100 * PRECISION_GOAL:.1f}%  {_mark(prec_ok)}"
    )
    print(
        f"  recall (auto+suggested)   {_pct(q.recall)}  {q.recalled:,}/{q.truth_groups:,} "
        f"groups  goal >= {100 * RECALL_GOAL:.1f}%  {_mark(q.recall >= RECALL_GOAL)}"
    )
    print(f"  recall (auto only)        {_pct(q.recall_auto)}  {q.recalled_auto:,} groups")
    unreachable = q.truth_groups - q.reachable_groups
    print(
        f"  reachable truth groups    {q.reachable_groups:,}/{q.truth_groups:,} "
        f"({unreachable:,} name a pending line or a document outside the movements); "
        f"recall of reachable {_pct(_ratio(q.recalled, q.reachable_groups))}"
    )
    print(f"  suggested pairs           {q.suggested_pairs:,}")
    print("  per match type (truth groups recalled; auto pairs by the engine's match type)")
    print(
        f"    {'type':<5} {'groups':>8} {'reach':>8} {'auto':>8} {'+sugg':>8} {'recall':>8}"
        f" {'pairs':>9} {'precision':>9}"
    )
    for r in q.by_type.iter_rows(named=True):
        print(
            f"    {r['match_type']:<5} {r['truth_groups']:>8,} {r['reachable']:>8,} "
            f"{r['recalled_auto']:>8,} {r['recalled']:>8,} {_pct(r['recall']):>8} "
            f"{r['auto_pairs']:>9,} {_pct(r['precision']):>9}  "
            f"{_mark((r['precision'] or 1.0) >= PRECISION_GOAL) if r['auto_pairs'] else '':4} "
            f"{_mark(r['recall'] >= RECALL_GOAL) if r['truth_groups'] else ''}"
        )
    print("  per rule (groups = truth groups credited to the rule)")
    print(
        f"    {'rule':<12} {'auto':>9} {'correct':>9} {'precision':>9} {'suggested':>9} "
        f"{'sugg ok':>8} {'groups':>8}"
    )
    for r in q.by_rule.iter_rows(named=True):
        goal = _mark(r["precision"] >= PRECISION_GOAL) if r["auto_pairs"] else "-"
        print(
            f"    {r['rule']:<12} {r['auto_pairs']:>9,} {r['correct']:>9,} "
            f"{_pct(r['precision']):>9} {r['suggested_pairs']:>9,} {r['suggested_correct']:>8,} "
            f"{r['groups']:>8,}  {goal}"
        )


def demo_world_spec(
    companies: int | None = None, months: int | None = None, seed: int | None = None
) -> Any:
    """The ``WorldSpec`` ``finpipe demo`` generates (its option defaults), with overrides."""
    from finpipe.cli.demo import demo
    from finpipe.sandbox.world import WorldSpec

    defaults = {p.name: p.default for p in demo.params}
    return WorldSpec(
        companies=defaults["companies"] if companies is None else companies,
        months=defaults["months"] if months is None else months,
        seed=defaults["seed"] if seed is None else seed,
    )


def world_quality(spec: Any, folder: Path, config: Any = None) -> tuple[Quality, float]:
    """Generate ``spec`` into ``folder``, reconcile it, score it; also the reconcile time."""
    from finpipe.reconcile import reconcile
    from finpipe.sandbox.world import generate_world, load_world
    from finpipe.sandbox.world.recon_view import world_bank_lines, world_movements

    generate_world(spec, folder)
    world = load_world(folder)
    bank, mov = world_bank_lines(world), world_movements(world)
    started = time.perf_counter()
    result = reconcile(bank, mov, config)
    elapsed = time.perf_counter() - started
    return score(bank, mov, result, world.table("truth_matches").collect()), elapsed


# --- synthetic data at scale --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Synthetic:
    """Engine inputs (``BANK_LINE_SCHEMA`` / ``MOVEMENT_SCHEMA``) and their truth (same
    columns as the world's ``truth_matches``: bank_line_id is the line's ``source_id``)."""

    bank_lines: pl.DataFrame
    movements: pl.DataFrame
    truth: pl.DataFrame


_FIRST = np.array(
    [
        "ACME",
        "NORTHWIND",
        "GLOBEX",
        "INITECH",
        "UMBRELLA",
        "STARK",
        "WAYNE",
        "WONKA",
        "HOOLI",
        "VANDELAY",
        "SOYLENT",
        "CYBERDYNE",
        "TYRELL",
        "MASSIVE",
        "DYNAMIC",
        "PIED",
        "PIPER",
        "BLUTH",
        "OSCORP",
        "GRINGOTTS",
        "MONARCH",
        "BRIGHT",
        "HARBOR",
        "SUMMIT",
        "CEDAR",
        "ORBIT",
        "PIONEER",
        "RIVERSIDE",
        "KESTREL",
        "ATLAS",
        "MERIDIAN",
    ]
)
_SECOND = np.array(
    [
        "SUPPLIES",
        "FOODS",
        "LOGISTICS",
        "CONSULTING",
        "MEDIA",
        "LABS",
        "TRADING",
        "PARTNERS",
        "HOLDINGS",
        "STUDIO",
        "BAKERY",
        "MOTORS",
        "ELECTRIC",
        "DESIGN",
        "FARMS",
        "PRINTING",
        "DENTAL",
        "LEGAL",
        "CLEANING",
        "PAYROLL",
    ]
)
_LEGAL = np.array(["INC", "LLC", "LTD", "CORP", "CO", ""])
_CCY = np.array(["USD", "GBP", "EUR"])
_YEAR_START = 20_089  # 2025-01-01 as days since 1970-01-01


def _days(day: np.ndarray) -> pl.Series:
    """Day offsets into the benchmark year as dates."""
    return pl.Series((day + _YEAR_START).astype(np.int32)).cast(pl.Date)


def _run_starts(values: np.ndarray) -> np.ndarray:
    """True where a run of equal values begins."""
    out = np.ones(len(values), bool)
    out[1:] = values[1:] != values[:-1]
    return out


def _str_ids(prefix: str, idx: np.ndarray, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``idx``, vectorised."""
    return pl.select(
        pl.concat_str([pl.lit(prefix), pl.Series(idx).cast(pl.String).str.zfill(width)])
    ).to_series()


def synthesise(lines: int = 1_000_000, seed: int = 7) -> Synthetic:
    """``lines`` bank lines and as many ledger movements, all companies at once.

    85 % of the lines are true 1:1 pairs (ledger date + 0-5 days; 30 % carry the document
    number in the narration, half the deposits a payout id the books know, 6 % of
    settlements are netted of a card fee), 2 % are batch deposits of 2-5 payments (1:n),
    the rest noise (bank fees, interest, unknown items; a tenth pending); unmatched
    movements (outstanding cheques, unpaid items) fill the movements up to ``lines``.
    Amounts repeat: a third come from each company's small set of usual amounts.
    """
    rng = np.random.default_rng(seed)
    n_co = int(np.clip(lines // 2000, 2, 1000))
    acc_per = rng.integers(1, 6, n_co)
    acc_co = np.repeat(np.arange(n_co), acc_per)
    n_acc = len(acc_co)
    acc_ccy = rng.choice(3, n_acc, p=[0.8, 0.12, 0.08])
    contacts_per = 60
    usual_per = 25
    usual = np.round(rng.lognormal(np.log(8_000), 1.0, n_co * usual_per)).astype(np.int64) + 100

    n_pair = round(0.85 * lines)
    n_batch = round(0.02 * lines)
    n_noise = lines - n_pair - n_batch
    batch_size = rng.integers(2, 6, n_batch)
    n_batch_mov = int(batch_size.sum())
    n_mov_noise = max(lines - n_pair - n_batch_mov, 0)

    # --- movements: true pairs, batch items, unmatched -----------------------------------
    n_mov = n_pair + n_batch_mov + n_mov_noise
    kind = np.concatenate(
        [np.zeros(n_pair, np.int8), np.ones(n_batch_mov, np.int8), np.full(n_mov_noise, 2, np.int8)]
    )
    batch_of = np.repeat(np.arange(n_batch), batch_size)  # batch index of each batch item
    acc = rng.integers(0, n_acc, n_mov)
    batch_acc = rng.integers(0, n_acc, n_batch)
    acc[kind == 1] = batch_acc[batch_of]
    co = acc_co[acc]
    day = rng.integers(0, 365, n_mov)
    batch_day = rng.integers(5, 365, n_batch)
    # batch items: payments received over the days before the deposit
    day[kind == 1] = batch_day[batch_of] - rng.integers(0, 4, n_batch_mov)
    inflow = rng.random(n_mov) < 0.45
    inflow[kind == 1] = True
    # document types: 0 customer_payment 1 deposit 2 sales_receipt 3 expense 4 bill_payment
    doc_type = np.where(
        inflow, rng.choice(3, n_mov, p=[0.5, 0.25, 0.25]), rng.choice([3, 4], n_mov, p=[0.6, 0.4])
    )
    doc_type[kind == 1] = 0
    is_usual = rng.random(n_mov) < 0.35
    magnitude = np.where(
        is_usual,
        usual[co * usual_per + rng.integers(0, usual_per, n_mov)],
        np.round(rng.lognormal(np.log(15_000), 1.2, n_mov)).astype(np.int64) + 50,
    )
    # a tenth are round sums (rent, transfers): more repeats
    rounded = rng.random(n_mov) < 0.1
    magnitude = np.where(rounded, np.maximum(magnitude // 10_000, 1) * 10_000, magnitude)
    amount = np.where(inflow, magnitude, -magnitude).astype(np.int64)
    contact = co * contacts_per + rng.integers(0, contacts_per, n_mov)
    # a payout id the books know: half the deposits
    has_external = (doc_type == 1) & (rng.random(n_mov) < 0.5) & (kind == 0)

    names = pl.select(
        pl.concat_str(
            [
                pl.Series(_FIRST[rng.integers(0, len(_FIRST), n_co * contacts_per)]),
                pl.Series(_SECOND[rng.integers(0, len(_SECOND), n_co * contacts_per)]),
                pl.Series(_LEGAL[rng.integers(0, len(_LEGAL), n_co * contacts_per)]),
            ],
            separator=" ",
        ).str.strip_chars()
    ).to_series()
    name = names.gather(pl.Series(contact))
    type_names = pl.Series(
        ["customer_payment", "deposit", "sales_receipt", "expense", "bill_payment"]
    )
    prefixes = pl.Series(["INV-", "DEP-", "SR-", "EXP-", "BILL-"])
    mov_idx = np.arange(n_mov)
    doc_number = pl.select(
        prefixes.gather(pl.Series(doc_type)) + pl.Series(mov_idx).cast(pl.String).str.zfill(7)
    ).to_series()
    external = _str_ids("po_", mov_idx, 9)
    movements = pl.DataFrame(
        {
            "company_id": _str_ids("co", co, 4),
            "movement_id": _str_ids("mv", mov_idx, 8),
            "document_id": _str_ids("doc", mov_idx, 8),
            "document_number": doc_number,
            "document_type": type_names.gather(pl.Series(doc_type)),
            "bank_account_id": _str_ids("acct", acc, 5),
            "date": _days(day),
            "amount": amount,
            "currency": pl.Series(_CCY[acc_ccy[acc]]),
            "document_currency": pl.Series(_CCY[acc_ccy[acc]]),
            "counterparty_name": name,
            "counterparty_account": pl.Series([None] * n_mov, dtype=pl.String),
            "reference": pl.Series([None] * n_mov, dtype=pl.String),
            "external_id": pl.select(
                pl.when(pl.Series(has_external)).then(external).otherwise(None)
            ).to_series(),
        }
    )

    # --- bank lines: one per true pair, one per batch, noise -----------------------------
    pair = np.flatnonzero(kind == 0)
    lag = rng.choice(6, n_pair, p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    p_amount = amount[pair].copy()
    settlement = np.isin(doc_type[pair], (1, 2))
    netted = settlement & (rng.random(n_pair) < 0.06)
    # a card processor keeps 2.9 % + 0.30 (integer minor units)
    p_amount[netted] -= p_amount[netted] * 29 // 1000 + 30
    with_ref = rng.random(n_pair) < 0.3

    b_first = np.flatnonzero(_run_starts(batch_of)) if n_batch_mov else np.zeros(0, np.int64)
    batch_rows = np.flatnonzero(kind == 1)
    batch_total = np.add.reduceat(amount[batch_rows], b_first) if n_batch else np.zeros(0)

    noise_acc = rng.integers(0, n_acc, n_noise)
    noise_fee = rng.random(n_noise) < 0.4
    noise_amount = np.where(
        noise_fee,
        -rng.choice([500, 1_000, 1_500, 2_500, 3_500], n_noise),
        np.round(rng.lognormal(np.log(9_000), 1.3, n_noise)).astype(np.int64)
        * np.where(rng.random(n_noise) < 0.5, 1, -1),
    )

    line_acc = np.concatenate([acc[pair], batch_acc, noise_acc])
    line_booked = np.concatenate([day[pair] + lag, batch_day, rng.integers(0, 365, n_noise)])
    line_amount = np.concatenate([p_amount, batch_total, noise_amount]).astype(np.int64)
    n_lines = len(line_acc)
    # card purchases carry the purchase day as value date
    pos = np.concatenate(
        [(doc_type[pair] == 3) & (rng.random(n_pair) < 0.5), np.zeros(n_lines - n_pair, bool)]
    )
    line_value = np.where(
        pos, np.concatenate([day[pair], np.zeros(n_lines - n_pair, np.int64)]), -1
    )
    pair_name = name.gather(pl.Series(pair))
    pair_desc = pl.select(
        pl.when(pl.Series(pos[:n_pair]))
        .then(pl.lit("POS ") + pair_name)
        .when(pl.Series(inflow[pair]))
        .then(pl.lit("ACH CREDIT ") + pair_name)
        .otherwise(pl.lit("ACH DEBIT ") + pair_name)
        + pl.when(pl.Series(with_ref))
        .then(pl.lit(" ") + doc_number.gather(pl.Series(pair)))
        .otherwise(pl.lit(""))
    ).to_series()
    noise_desc = pl.Series(
        np.array(["MONTHLY SERVICE FEE", "INTEREST", "CARD PAYMENT", "TRANSFER"])[
            np.where(noise_fee, 0, rng.integers(1, 4, n_noise))
        ]
    )
    description = pl.concat(
        [pair_desc, pl.Series(["BANK GIRO CREDIT BATCH"] * n_batch, dtype=pl.String), noise_desc]
    )
    reference = pl.concat(
        [
            movements["external_id"].gather(pl.Series(pair)),
            pl.Series([None] * (n_lines - n_pair), dtype=pl.String),
        ]
    )
    status = np.where(
        np.concatenate([np.zeros(n_lines - n_noise, bool), rng.random(n_noise) < 0.1]), 1, 0
    )
    line_idx = rng.permutation(n_lines)  # line ids do not follow the movements' order
    line_id = _str_ids("L", line_idx, 8)
    bank = pl.DataFrame(
        {
            "company_id": _str_ids("co", acc_co[line_acc], 4),
            "line_id": line_id,
            "bank_account_id": _str_ids("acct", line_acc, 5),
            "source_id": line_id,
            "booked_date": _days(line_booked),
            "value_date": pl.select(
                pl.when(pl.Series(line_value >= 0)).then(_days(line_value)).otherwise(None)
            ).to_series(),
            "amount": line_amount,
            "currency": pl.Series(_CCY[acc_ccy[line_acc]]),
            "status": pl.Series(np.array(["booked", "pending"])[status]),
            "description": description,
            "counterparty_name": pl.Series([None] * n_lines, dtype=pl.String),
            "counterparty_account": pl.Series([None] * n_lines, dtype=pl.String),
            "reference": reference,
        }
    )
    truth = pl.DataFrame(
        {
            "company_id": _str_ids("co", co[np.concatenate([pair, batch_rows])], 4),
            "match_id": _str_ids("m-", np.concatenate([np.arange(n_pair), n_pair + batch_of]), 8),
            "bank_line_id": line_id.gather(
                pl.Series(np.concatenate([np.arange(n_pair), n_pair + batch_of]))
            ),
            "document_id": movements["document_id"].gather(
                pl.Series(np.concatenate([pair, batch_rows]))
            ),
            "match_type": pl.Series(["1:1"] * n_pair + ["1:n"] * n_batch_mov, dtype=pl.String),
        }
    )
    # neither side in an order that gives the pairs away
    bank = bank.sample(fraction=1.0, shuffle=True, seed=seed)
    movements = movements.sample(fraction=1.0, shuffle=True, seed=seed + 1)
    return Synthetic(bank_lines=bank, movements=movements, truth=truth)


# --- timed steps --------------------------------------------------------------------------

BASELINE_SQL = f"""
WITH cand AS (
    SELECT b.company_id, b.line_id, m.movement_id,
           abs(b.booked_date - m.date) AS distance
    FROM bank b
    JOIN mov m
      ON b.company_id = m.company_id AND b.currency = m.currency AND b.amount = m.amount
     AND b.booked_date - m.date BETWEEN {WINDOW_MIN_DAYS} AND {WINDOW_MAX_DAYS}
    WHERE b.status = 'booked'
), ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY company_id, line_id
                              ORDER BY distance, movement_id) AS rank_b,
           row_number() OVER (PARTITION BY company_id, movement_id
                              ORDER BY distance, line_id) AS rank_m
    FROM cand
)
SELECT company_id, line_id AS bank_line_id, movement_id FROM ranked
WHERE rank_b = 1 AND rank_m = 1
"""


def baseline_pairs(bank_lines: pl.DataFrame, movements: pl.DataFrame) -> pl.DataFrame:
    """The bare DuckDB 1:1 match: same company, currency and amount, bank date - ledger date
    in the window, kept when the pair is the best (nearest date) of both sides."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register(
            "bank",
            bank_lines.select(
                "company_id", "line_id", "booked_date", "amount", "currency", "status"
            ).to_arrow(),
        )
        con.register(
            "mov",
            movements.select("company_id", "movement_id", "date", "amount", "currency").to_arrow(),
        )
        return pl.from_arrow(con.sql(BASELINE_SQL).to_arrow_table())
    finally:
        con.close()


def _baseline_result(pairs: pl.DataFrame) -> SimpleNamespace:
    """Baseline pairs shaped as engine matches, so :func:`score` reads them."""
    return SimpleNamespace(
        matches=pairs.with_columns(
            pl.concat_str(["bank_line_id", "movement_id"], separator=":").alias("match_id"),
            pl.lit("baseline").alias("rule"),
            pl.lit("1:1").alias("match_type"),
        )
    )


def engine_rules() -> tuple[str, ...]:
    """The rules the installed engine declares."""
    from finpipe.reconcile import schema

    return tuple(getattr(schema, "RULES", FIRST_FOUR_RULES))


def passes_1_4_config() -> tuple[Any, str]:
    """A ``ReconConfig`` that runs passes 1-4 only, and how it was obtained; ``(None, why)``
    when the engine offers no such switch.

    An engine with passes 1-4 only needs none. Otherwise the config is searched for a
    pass/rule selection field (a tuple of rule names or pass numbers), a last-pass number,
    or boolean switches named after the later rules.
    """
    from finpipe.reconcile import ReconConfig

    later = [r for r in engine_rules() if r not in FIRST_FOUR_RULES]
    if not later:
        return ReconConfig(), "the engine has passes 1-4 only: the full cascade is passes 1-4"
    default = ReconConfig()
    fields = {f.name for f in dataclasses.fields(ReconConfig)}
    for name in ("passes", "rules", "enabled_rules", "enabled_passes", "run_rules"):
        if name in fields:
            current = tuple(getattr(default, name) or ())
            if current and all(isinstance(x, int) for x in current):
                keep: tuple[Any, ...] = tuple(x for x in current if x <= 4)
            else:
                keep = tuple(x for x in (current or FIRST_FOUR_RULES) if x in FIRST_FOUR_RULES)
            return dataclasses.replace(default, **{name: keep}), f"ReconConfig({name}={keep})"
    for name in ("max_pass", "last_pass", "stop_after_pass"):
        if name in fields:
            return dataclasses.replace(default, **{name: 4}), f"ReconConfig({name}=4)"
    switches = {
        f.name: False
        for f in dataclasses.fields(ReconConfig)
        if isinstance(getattr(default, f.name), bool)
        and getattr(default, f.name)
        and any(rule in f.name for rule in (*later, "many", "suggest"))
    }
    if switches:
        return dataclasses.replace(default, **switches), f"ReconConfig({switches})"
    return None, f"ReconConfig has no switch to stop after pass 4 (later rules: {later})"


def pass_timings(result: Any) -> dict[str, float] | None:
    """Per-pass seconds if the engine exposes them (a dict attribute of the result)."""
    for name in ("timings", "pass_seconds", "seconds", "durations"):
        value = getattr(result, name, None)
        if isinstance(value, dict) and value:
            return {str(k): float(v) for k, v in value.items()}
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Read from ``VmHWM`` (the high-water mark of this program's own memory map) rather than
    ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``fork`` + ``exec``, so a step spawned
    by a parent that already held a world would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # no /proc: fall back to ru_maxrss (KiB on Linux)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_step(step: str, data: Path) -> dict[str, Any]:
    """Load the frames saved in ``data``, time ``step`` (baseline | passes_1_4 | full) and
    score it against the saved truth. Meant to run alone in a fresh process."""
    bank = pl.read_parquet(data / "bank_lines.parquet")
    mov = pl.read_parquet(data / "movements.parquet")
    loaded = rss_mb()
    out: dict[str, Any] = {"step": step, "rss_loaded_mb": loaded}
    if step == "baseline":
        started = time.perf_counter()
        pairs = baseline_pairs(bank, mov)
        out["seconds"] = time.perf_counter() - started
        out["peak_rss_mb"] = peak_rss_mb()
        result: Any = _baseline_result(pairs)
    else:
        from finpipe.reconcile import reconcile

        config = None
        if step == "passes_1_4":
            config, how = passes_1_4_config()
            if config is None:
                raise SystemExit(f"bench_reconcile: cannot run passes 1-4 alone: {how}")
        started = time.perf_counter()
        result = reconcile(bank, mov, config)
        out["seconds"] = time.perf_counter() - started
        out["peak_rss_mb"] = peak_rss_mb()
        out["pass_seconds"] = pass_timings(result)
    q = score(bank, mov, result, pl.read_parquet(data / "truth.parquet"))
    out.update(
        pairs=q.auto_pairs,
        precision=q.precision,
        recall=q.recall,
        by_rule={r["rule"]: r["auto_pairs"] for r in q.by_rule.iter_rows(named=True)},
    )
    return out


def _spawn(step: str, data: Path) -> dict[str, Any]:
    """:func:`run_step` in a fresh interpreter, so its peak RSS is its own."""
    proc = subprocess.run(
        [sys.executable, __file__, "--step", step, "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench_reconcile: step {step!r} failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def save_synthetic(syn: Synthetic, data: Path) -> None:
    """Write the frames the steps read."""
    data.mkdir(parents=True, exist_ok=True)
    syn.bank_lines.write_parquet(data / "bank_lines.parquet")
    syn.movements.write_parquet(data / "movements.parquet")
    syn.truth.write_parquet(data / "truth.parquet")


def performance(lines: int, seed: int, folder: Path) -> dict[str, dict[str, Any]]:
    """Synthesise ``lines`` x ``lines``, then time the baseline, passes 1-4 (when the engine
    can stop there, or from its per-pass timings) and the full cascade, one subprocess
    each. Returns each step's figures keyed by step name (``passes_1_4`` may carry only a
    ``note``)."""
    started = time.perf_counter()
    syn = synthesise(lines, seed)
    save_synthetic(syn, folder)
    print(
        f"\nsynthesised {syn.bank_lines.height:,} bank lines, {syn.movements.height:,} "
        f"movements, {syn.bank_lines['company_id'].n_unique():,} companies, "
        f"{syn.bank_lines['bank_account_id'].n_unique():,} accounts, "
        f"{syn.truth.height:,} truth pairs in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    del syn
    out = {"baseline": _spawn("baseline", folder), "full": _spawn("full", folder)}
    config, how = passes_1_4_config()
    if not [r for r in engine_rules() if r not in FIRST_FOUR_RULES]:
        out["passes_1_4"] = {**out["full"], "note": how}
    elif config is not None:
        out["passes_1_4"] = {**_spawn("passes_1_4", folder), "note": how}
    else:
        timings = out["full"].get("pass_seconds") or {}
        first = [v for k, v in timings.items() if k in (*FIRST_FOUR_RULES, "1", "2", "3", "4")]
        if len(first) == 4:
            out["passes_1_4"] = {
                "seconds": sum(first),
                "peak_rss_mb": None,
                "note": f"{how}; taken from the full run's per-pass timings",
            }
        else:
            out["passes_1_4"] = {
                "seconds": None,
                "note": f"{how}, and the result exposes no per-pass timings: a hook is needed",
            }
    return out


def print_performance(perf: dict[str, dict[str, Any]], lines: int) -> bool:
    """The timings as ratios to the baseline, with goals; True when every goal measurable
    was met."""
    base = perf["baseline"]["seconds"]
    print(f"\nperformance at {lines:,} x {lines:,} (engine time / bare DuckDB baseline time)")
    print(
        f"  {'step':<11} {'seconds':>8} {'ratio':>7} {'goal':>7}       {'peak RSS':>9} "
        f"{'loaded':>8} {'pairs':>9} {'precision':>9} {'recall':>8}"
    )
    ok = True
    for step, goal in (
        ("baseline", None),
        ("passes_1_4", PASSES_1_4_RATIO_GOAL),
        ("full", FULL_RATIO_GOAL),
    ):
        r = perf[step]
        seconds = r.get("seconds")
        ratio = seconds / base if seconds is not None and base else None
        verdict = ""
        if goal is not None:
            met = ratio is not None and ratio <= goal
            verdict = _mark(met) if ratio is not None else "n/a"
            ok &= met or ratio is None
        peak, loaded = r.get("peak_rss_mb"), r.get("rss_loaded_mb")
        print(
            f"  {step:<11} {seconds if seconds is not None else float('nan'):8.2f} "
            f"{ratio if ratio is not None else float('nan'):6.2f}x "
            f"{'<= ' + str(goal) + 'x' if goal else '':>7} {verdict:<5} "
            f"{(f'{peak:,.0f} MB' if peak else 'n/a'):>9} "
            f"{(f'{loaded:,.0f} MB' if loaded else ''):>8} "
            f"{r.get('pairs', 0):>9,} {_pct(r.get('precision')):>9} {_pct(r.get('recall')):>8}"
        )
        if r.get("note"):
            print(f"    {step}: {r['note']}")
    rules = perf["full"].get("by_rule") or {}
    print("  full cascade matches per rule: " + ", ".join(f"{k} {v:,}" for k, v in rules.items()))
    if perf["full"].get("pass_seconds"):
        print(f"  full cascade per-pass seconds: {perf['full']['pass_seconds']}")
    print("  (peak RSS per step in its own process; 'loaded' = RSS once the inputs are read)")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; 0 when every goal is met."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--companies", type=int, default=None, help="demo world override")
    parser.add_argument("--months", type=int, default=None, help="demo world override")
    parser.add_argument("--seed", type=int, default=None, help="demo world override")
    parser.add_argument("--lines", type=int, default=1_000_000, help="synthetic bank lines")
    parser.add_argument("--synthetic-seed", type=int, default=7)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-performance", action="store_true")
    parser.add_argument(
        "--step", choices=("baseline", "passes_1_4", "full"), help=argparse.SUPPRESS
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(run_step(args.step, args.data)))
        return 0

    ok = True
    tmp = Path(tempfile.mkdtemp(prefix="finpipe-bench-recon-"))
    try:
        if not args.skip_quality:
            spec = demo_world_spec(args.companies, args.months, args.seed)
            q, seconds = world_quality(spec, tmp / "world")
            print_quality(
                q,
                f"quality on the demo world ({spec.companies} companies x {spec.months} months, "
                f"seed {spec.seed}; reconcile {seconds:.2f}s)",
            )
            ok &= quality_met(q)
        if not args.skip_performance:
            perf = performance(args.lines, args.synthetic_seed, tmp / "synthetic")
            ok &= print_performance(perf, args.lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nall goals met" if ok else "\nGOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
