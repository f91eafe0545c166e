"""Health-score benchmark: do the scores rank the world's companies as they were generated?

Generates a world (``--companies`` >= 24, ``--months``), builds every company's books the
way the pipeline does (sandbox records landed into ``raw``, accounts mapped, ``build_books``)
into a DuckDB warehouse, then its statements, KPIs and health scores
(:mod:`finpipe.analytics.financials`). Against ``world_companies.truth_trajectory``
(distressed < declining < stable < growing) it prints, for the composite and for Altman Z″
at the last month:

* Spearman's rank correlation with the trajectory;
* the share of (distressed, healthy = growing or stable) pairs ordered correctly
  (distressed scored lower; ties count half) — the goal is 100 % for the composite;
* each company's scores beside its trajectory.

It also holds the statements against the world's true monthly statements
(``truth_monthly``, from the true journal): per line, the share of company-months that agree
to the cent and the largest difference (cash net of overdrafts, as the world reports it).
Both sides must hold the same company-months (goal; the ones only one side has are printed).
Revenue, costs, receivables and payables must agree within one minor unit (a
foreign-currency document's home amount may round differently at the provider than in the
generator); the true journal also carries FX revaluations no provider document does, so
other income, cash and equity may differ for companies with foreign-currency balances
(printed, not a goal).

    .venv/bin/python finpipe_tests/benchmarks/bench_health.py [--companies 24] [--months 24]
        [--seed 7]

Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from scipy.stats import spearmanr

from finpipe.analytics.financials.build import build_financials, write_financials
from finpipe.sandbox.world import WorldSpec, generate_world, load_world
from finpipe.warehouse import Warehouse
from finpipe_tests.world_books import build_world_books, world_companies

TRAJECTORY_RANK = {"distressed": 0, "declining": 1, "stable": 2, "growing": 3}
HEALTHY = ("growing", "stable")
PAIR_GOAL = 1.0
EXACT_TOLERANCE = 1  # minor unit: FX rounding of foreign-currency documents
EXACT_LINES = ("revenue", "cost_of_sales", "opex", "accounts_receivable", "accounts_payable")
COMPARED = (
    *EXACT_LINES,
    "net_income",
    "cash",
    "total_assets",
    "total_liabilities",
    "total_equity",
)


def pair_share(frame: pl.DataFrame, score: str) -> tuple[float | None, int]:
    """Share of (distressed, healthy) pairs where the distressed company scores lower
    (ties half), and the number of pairs."""
    bad = frame.filter(pl.col("truth_trajectory") == "distressed").select(pl.col(score).alias("b"))
    good = frame.filter(pl.col("truth_trajectory").is_in(HEALTHY)).select(pl.col(score).alias("g"))
    pairs = bad.join(good, how="cross")
    if pairs.height == 0:
        return None, 0
    won = ((pl.col("b") < pl.col("g")).cast(pl.Float64) + (pl.col("b") == pl.col("g")) * 0.5).sum()
    return float(pairs.select(won).item()) / pairs.height, pairs.height


def ranked_z() -> pl.Expr:
    """Z″ for ranking: an undefined Z″ ranks by its zone (insolvent books lowest, no
    liabilities highest)."""
    return (
        pl.when(pl.col("altman_z").is_not_null())
        .then(pl.col("altman_z"))
        .when(pl.col("altman_zone") == "distress")
        .then(float("-inf"))
        .otherwise(float("inf"))
    )


def compare_truth(ours: pl.DataFrame, truth: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per compared line: company-months, share exact, largest absolute difference; and the
    company-months only one side has (``side`` "ours" or "truth"), which the inner join
    behind the figures would otherwise drop silently."""
    rest = [c for c in COMPARED if c not in ("opex",)]
    t = truth.with_columns(opex=pl.col("operating_expenses")).select(
        "company_id", "month", "opex", *rest
    )
    # The world nets an overdrawn bank into cash; the balance sheet shows it as a liability.
    overdraft = pl.col("bank_overdraft")
    o = ours.with_columns(
        opex=pl.col("operating_expenses") + pl.col("depreciation_amortisation"),
        cash=pl.col("cash") - overdraft,
        total_assets=pl.col("total_assets") - overdraft,
        total_liabilities=pl.col("total_liabilities") - overdraft,
    ).select("company_id", "month", "opex", *rest)
    keys = ["company_id", "month"]
    both = o.join(t, on=keys, suffix="_truth")
    unmatched = pl.concat(
        [
            o.join(t, on=keys, how="anti").select(*keys, side=pl.lit("ours")),
            t.join(o, on=keys, how="anti").select(*keys, side=pl.lit("truth")),
        ]
    ).sort(keys)
    rows = []
    for line in COMPARED:
        diff = (both[line] - both[f"{line}_truth"]).abs()
        rows.append(
            {
                "line": line,
                "company_months": both.height,
                "exact_share": float((diff == 0).mean()) if both.height else None,
                "max_abs_diff": int(diff.max() or 0),
            }
        )
    return pl.DataFrame(rows), unmatched


def run(companies: int, months: int, seed: int, folder: Path) -> int:
    spec = WorldSpec(companies=companies, months=months, seed=seed)
    started = time.perf_counter()
    generate_world(spec, folder / "world")
    world = load_world(folder / "world")
    print(
        f"world: {companies} companies x {months} months (seed {seed}) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    scores, statements = [], []
    books_s = fin_s = 0.0
    with Warehouse.open(f"duckdb:///{folder / 'warehouse.duckdb'}") as wh:
        for company in world_companies(world):
            cid = company["company_id"]
            t0 = time.perf_counter()
            build_world_books(wh, world, company)
            t1 = time.perf_counter()
            result = build_financials(wh, cid)
            write_financials(wh, cid, result)
            t2 = time.perf_counter()
            books_s += t1 - t0
            fin_s += t2 - t1
            broken = {k: v.height for k, v in result.problems().items() if v.height}
            if broken:
                print(f"  {cid}: checks fail: {broken}")
            scores.append(result.scores.filter(pl.col("month") == result.latest_month()))
            statements.append(result.income.join(result.balance, on=["company_id", "month"]))
    print(
        f"books: {books_s:.1f} s, financials: {fin_s:.1f} s "
        f"({fin_s / companies * 1000:.0f} ms per company)"
    )

    truth = world.table("companies").collect().select("company_id", "name", "truth_trajectory")
    frame = (
        pl.concat(scores)
        .join(truth, on="company_id")
        .with_columns(
            z_rank=ranked_z(),
            trajectory_rank=pl.col("truth_trajectory").replace_strict(TRAJECTORY_RANK),
            healthy=pl.col("truth_trajectory").is_in(HEALTHY).cast(pl.Int64),
        )
        .sort("composite")
    )
    print("\nlast month per company (lowest composite first):")
    print(f"  {'company':<16} {'trajectory':<11} {'composite':>9} {'Z″':>9}  zone")
    for r in frame.iter_rows(named=True):
        z = "n/a" if r["altman_z"] is None else f"{r['altman_z']:.2f}"
        composite = "n/a" if r["composite"] is None else f"{r['composite']:.1f}"
        print(
            f"  {r['company_id']:<16} {r['truth_trajectory']:<11} {composite:>9} {z:>9}  "
            f"{r['altman_zone']}"
        )

    ok = True
    print("\nagainst the world's trajectories:")
    for label, column in (("composite", "composite"), ("Altman Z″", "z_rank")):
        rho = spearmanr(frame[column].to_numpy(), frame["trajectory_rank"].to_numpy()).statistic
        rho_label = spearmanr(frame[column].to_numpy(), frame["healthy"].to_numpy()).statistic
        share, n = pair_share(frame, column)
        goal = ""
        if column == "composite":
            met = share is not None and share >= PAIR_GOAL
            ok &= met
            goal = f"  goal {PAIR_GOAL:.0%}: {'PASS' if met else 'FAIL'}"
        shown = "n/a" if share is None else f"{share:.1%}"
        print(
            f"  {label:<10} Spearman rho vs trajectory = {rho:+.3f}, vs healthy label = "
            f"{rho_label:+.3f}; distressed below healthy in {shown} of {n} pairs{goal}"
        )

    ours = pl.concat(statements)
    truth_monthly = world.table("truth_monthly").collect()
    table, unmatched = compare_truth(ours, truth_monthly)
    print("\nstatements against the world's true monthly statements:")
    same_rows = ours.height == truth_monthly.height and unmatched.height == 0
    ok &= same_rows
    print(
        f"  company-months: ours {ours.height}, truth {truth_monthly.height}; goal every "
        f"company-month on both sides: {'PASS' if same_rows else 'FAIL'}"
    )
    if not same_rows:
        with pl.Config(tbl_rows=20):
            print(f"  {unmatched.height} company-month(s) on one side only:")
            print(unmatched.head(20))
    for r in table.iter_rows(named=True):
        must = r["line"] in EXACT_LINES
        met = r["max_abs_diff"] <= EXACT_TOLERANCE
        if must:
            ok &= met
        verdict = (
            (f"goal max diff <= {EXACT_TOLERANCE}: " + ("PASS" if met else "FAIL"))
            if must
            else "(FX revaluation may differ)"
        )
        print(
            f"  {r['line']:<20} exact in {r['exact_share']:.1%} of {r['company_months']} "
            f"company-months, max diff {r['max_abs_diff']:,}  {verdict}"
        )
    print(f"\noverall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=24)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.companies < 24:
        parser.error("--companies must be at least 24 (enough distressed and healthy pairs)")
    folder = Path(tempfile.mkdtemp(prefix="bench_health_"))
    try:
        return run(args.companies, args.months, args.seed, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
