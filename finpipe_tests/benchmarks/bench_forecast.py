"""Cash-flow forecast benchmark: held-out accuracy, interval coverage and early warnings on a
generated world's books.

A world (default 24 companies x 48 months) is generated, every company's QuickBooks / Xero
records are landed and expanded into books by the production code, and the forecast runs on
``ledger.journal_lines`` exactly as the Dagster asset does.

* Held-out accuracy: per company and frequency, the last horizon (13 weeks, 12 months) is
  cut off; the model is chosen by rolling-origin backtest on what is left, forecasts the cut
  horizon, and is scored with MASE (scale: in-sample seasonal-naive MAE of the training
  part) beside the seasonal-naive baseline measured in the same run. Goal (issue 7): the
  chosen model beats seasonal naive on >= 70 % of companies (each frequency).
* Interval coverage: the share of held-out actual flows and balances inside the chosen
  model's 80 % and 95 % bands. Goal (this benchmark's own): within 10 points of nominal.
* Early warnings: the forecast is re-run as of every month end before each labelled
  ``cash_crunch`` (``raw.world_truth_anomalies``) with the books cut there; a crunch is
  recalled when a warning fires as of an earlier month end. Lead time: months from the
  first such warning to the end of the crunch month. Goal (this benchmark's own): recall
  >= 80 %. Companies without a crunch are re-run every 6 months to show how often they are
  warned (by trajectory; a declining company's short runway is a true signal).

    .venv/bin/python finpipe_tests/benchmarks/bench_forecast.py [--companies N --months M
        --seed S] [--warehouse PATH --world PATH]   (reuse a world and its built books)

Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from finpipe.analytics.forecast.backtest import mase, mase_scale
from finpipe.analytics.forecast.build import forecast_from_journal, forecast_series
from finpipe.analytics.forecast.config import (
    FREQUENCIES,
    FREQUENCY_SETTINGS,
    ForecastConfig,
)
from finpipe.analytics.forecast.models import LABELS, SEASONAL_NAIVE
from finpipe.analytics.forecast.series import cash_series
from finpipe.sandbox.world import WorldSpec, generate_world, load_world
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import JOURNAL_LINES
from finpipe_tests.world_books import land_world_books

BEATS_GOAL = 0.70
COVERAGE_TOLERANCE = 0.10
RECALL_GOAL = 0.80
CALM_EVERY_MONTHS = 6


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def held_out(
    journal: pl.DataFrame, companies: pl.DataFrame, config: ForecastConfig
) -> pl.DataFrame:
    """One row per (company, frequency): held-out MASE of the chosen model and of seasonal
    naive, and how many held-out flows / balances fell inside each band."""
    rows = []
    for name in FREQUENCIES:
        freq = FREQUENCY_SETTINGS[name]
        series = cash_series(journal, name)
        for cid, traj in companies.select("company_id", "truth_trajectory").iter_rows():
            hist = series.filter(pl.col("company_id") == cid)
            flows = hist["net_flow"].to_numpy().astype(np.float64)
            balances = hist["balance"].to_numpy()
            h = freq.horizon
            train, test = flows[:-h], flows[-h:]
            start = int(balances[-h - 1])
            rng = np.random.default_rng([config.seed, len(rows)])
            res = forecast_series(train, start, freq, config, rng, hist["period"][0])
            scale = mase_scale(train, freq.season)
            chosen = res.chosen
            row = {
                "company_id": cid,
                "trajectory": traj,
                "frequency": name,
                "history": len(train),
                "chosen": chosen,
                "mase_chosen": mase(test, res.forecasts[chosen].point, scale) if chosen else None,
                "mase_naive": mase(test, res.forecasts[SEASONAL_NAIVE].point, scale)
                if SEASONAL_NAIVE in res.forecasts
                else None,
            }
            if chosen:
                bands = res.bands(chosen)
                for what, actual in (("flow", test), ("balance", balances[-h:])):
                    for level in (80, 95):
                        inside = (bands[f"{what}_lo{level}"] <= actual) & (
                            actual <= bands[f"{what}_hi{level}"]
                        )
                        row[f"{what}_in{level}"] = int(inside.sum())
                row["points"] = h
            rows.append(row)
    return pl.DataFrame(rows)


def month_ends(first: dt.date, count: int) -> list[dt.date]:
    """The last day of ``count`` months from ``first``'s month on."""
    index = first.year * 12 + first.month - 1
    return [
        dt.date((index + k + 1) // 12, (index + k + 1) % 12 + 1, 1) - dt.timedelta(days=1)
        for k in range(count)
    ]


def warnings_as_of(
    books: pl.DataFrame, cid: str, as_of: dt.date, config: ForecastConfig
) -> pl.DataFrame:
    """The warnings the forecast raises for ``cid`` (``books``: its journal lines only) with
    the books cut at ``as_of``."""
    cut = books.filter(pl.col("date") <= as_of)
    return forecast_from_journal(cut, cid, None, config, as_of=as_of).warnings


def early_warnings(
    journal: pl.DataFrame,
    companies: pl.DataFrame,
    crunches: pl.DataFrame,
    start: dt.date,
    months: int,
    config: ForecastConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per crunch: the first month end before the crunch month with a warning, its kinds
    and the lead time; per calm company origin: whether it was warned."""
    ends = month_ends(start, months)
    # Split the multi-company journal once; each re-run then cuts one company's lines only.
    by_company = {
        key[0]: part for key, part in journal.partition_by("company_id", as_dict=True).items()
    }
    empty = journal.clear()
    crunch_rows = []
    for cid, month in crunches.select("company_id", "month").iter_rows():
        crunch_end = month_ends(month, 1)[0]
        first = critical = None
        kinds: list[str] = []
        for as_of in [e for e in ends if e < month]:
            w = warnings_as_of(by_company.get(cid, empty), cid, as_of, config)
            if w.height and first is None:
                first, kinds = as_of, sorted(set(w["kind"]))
            if (w["severity"] == "critical").any():
                critical = as_of
                break
        crunch_rows.append(
            {
                "company_id": cid,
                "crunch_month": month,
                "origins_before": sum(e < month for e in ends),
                "first_warning_as_of": first,
                "lead_months": _months_between(first, crunch_end),
                "first_critical_as_of": critical,
                "critical_lead_months": _months_between(critical, crunch_end),
                "kinds": ", ".join(kinds),
            }
        )
    calm_rows = []
    calm = companies.join(crunches.select("company_id"), on="company_id", how="anti")
    for cid, traj in calm.select("company_id", "truth_trajectory").iter_rows():
        for as_of in ends[CALM_EVERY_MONTHS - 1 :: CALM_EVERY_MONTHS]:
            w = warnings_as_of(by_company.get(cid, empty), cid, as_of, config)
            calm_rows.append(
                {
                    "company_id": cid,
                    "trajectory": traj,
                    "as_of": as_of,
                    "warned": w.height > 0,
                    "critical": bool((w["severity"] == "critical").any()),
                    "kinds": ", ".join(sorted(set(w["kind"]))),
                }
            )
    return pl.DataFrame(crunch_rows), pl.DataFrame(calm_rows)


def _months_between(start: dt.date | None, end: dt.date) -> int | None:
    if start is None:
        return None
    return (end.year - start.year) * 12 + end.month - start.month


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=24)
    parser.add_argument("--months", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warehouse", type=Path, help="reuse this DuckDB file's books")
    parser.add_argument("--world", type=Path, help="reuse this world folder")
    parser.add_argument("--skip-warnings", action="store_true", help="held-out part only")
    args = parser.parse_args(argv)
    config = ForecastConfig()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_forecast_") as tmp:
        world_dir = args.world or Path(tmp) / "world"
        if args.world is None:
            spec = WorldSpec(companies=args.companies, months=args.months, seed=args.seed)
            generate_world(spec, world_dir)
            print(f"world: {args.companies} companies x {args.months} months, seed {args.seed}")
        world = load_world(world_dir)
        db = args.warehouse or Path(tmp) / "warehouse.duckdb"
        with Warehouse.open(f"duckdb:///{db}") as wh:
            if args.warehouse is None:
                t = time.monotonic()
                land_world_books(wh, world)
                print(f"books built in {time.monotonic() - t:.0f} s")
            journal = wh.read(JOURNAL_LINES)
        companies = world.table("companies").collect()
        truth = world.table("truth_anomalies").collect()
        spec_start = companies["start_date"].min()
        months = int(len(cash_series(journal, "monthly")) / max(companies.height, 1))

        t = time.monotonic()
        accuracy = held_out(journal, companies, config)
        held_seconds = time.monotonic() - t
        crunches = truth.filter(pl.col("anomaly_type") == "cash_crunch").select(
            "company_id", "month"
        )
        t = time.monotonic()
        crunch, calm = (
            (pl.DataFrame(), pl.DataFrame())
            if args.skip_warnings
            else early_warnings(journal, companies, crunches, spec_start, months, config)
        )
        warn_seconds = time.monotonic() - t

    ok = True
    print(
        f"\n== held-out accuracy ({held_seconds:.0f} s): last horizon cut, model chosen on the rest"
    )
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=160, float_precision=3):
        print(
            accuracy.select(
                "frequency",
                "company_id",
                "trajectory",
                "history",
                "chosen",
                "mase_chosen",
                "mase_naive",
            ).sort("frequency", "company_id")
        )
    for name in FREQUENCIES:
        part = accuracy.filter(pl.col("frequency") == name)
        scored = part.filter(
            pl.col("mase_chosen").is_not_null() & pl.col("mase_naive").is_not_null()
        )
        beats = scored.filter(pl.col("mase_chosen") < pl.col("mase_naive")).height
        share = beats / scored.height if scored.height else 0.0
        passed = share >= BEATS_GOAL
        ok &= passed
        rel = (scored["mase_chosen"] / scored["mase_naive"]).median() if scored.height else None
        chosen = dict(part.group_by("chosen").len().sort("chosen").iter_rows())
        print(
            f"{name}: chosen beats seasonal naive on {beats}/{scored.height} companies "
            f"= {_pct(share)} (goal >= {_pct(BEATS_GOAL)}) {_mark(passed)}; median MASE "
            f"chosen {scored['mase_chosen'].median():.3f} vs seasonal naive "
            f"{scored['mase_naive'].median():.3f} (median ratio {rel:.3f}); chosen models "
            + ", ".join(f"{LABELS.get(k, k)} {v}" for k, v in chosen.items())
        )
    print("\n== interval coverage of the held-out horizon (chosen model)")
    for name in FREQUENCIES:
        part = accuracy.filter((pl.col("frequency") == name) & pl.col("points").is_not_null())
        points = int(part["points"].sum())
        for what in ("flow", "balance"):
            figures = []
            for level in (80, 95):
                cover = int(part[f"{what}_in{level}"].sum()) / points
                passed = abs(cover - level / 100) <= COVERAGE_TOLERANCE
                ok &= passed
                figures.append(f"{level} % band {_pct(cover)} {_mark(passed)}")
            print(f"{name} {what} ({points} points): " + "; ".join(figures))
    print(f"(goal: within {COVERAGE_TOLERANCE * 100:.0f} points of nominal)")

    if args.skip_warnings:
        print(f"\ntotal {time.monotonic() - started:.0f} s (warnings skipped)")
        return 0 if ok else 1
    print(f"\n== early warnings before labelled cash crunches ({warn_seconds:.0f} s)")
    with pl.Config(tbl_rows=100, tbl_width_chars=160, fmt_str_lengths=60):
        print(crunch)
    recalled = crunch.filter(pl.col("first_warning_as_of").is_not_null())
    reachable = crunch.filter(pl.col("origins_before") > 0)
    recall = recalled.height / reachable.height if reachable.height else 0.0
    passed = recall >= RECALL_GOAL
    ok &= passed
    print(
        f"recall: {recalled.height}/{reachable.height} crunches with a month end before them "
        f"warned = {_pct(recall)} (goal >= {_pct(RECALL_GOAL)}) {_mark(passed)}; "
        f"{crunch.height - reachable.height} crunch(es) in the first month cannot be preceded"
    )
    if recalled.height:
        leads = recalled["lead_months"]
        print(
            f"lead time (months from the first warning to the end of the crunch month): "
            f"median {leads.median():.1f}, min {leads.min()}, max {leads.max()}"
        )
    critical = crunch.filter(pl.col("first_critical_as_of").is_not_null())
    if critical.height:
        leads = critical["critical_lead_months"]
        print(
            f"critical warnings before the crunch: {critical.height}/{reachable.height}, lead "
            f"median {leads.median():.1f}, min {leads.min()}, max {leads.max()} months"
        )
    if calm.height:
        by = (
            calm.group_by("trajectory")
            .agg(
                pl.col("company_id").n_unique().alias("companies"),
                pl.len().alias("origins"),
                pl.col("warned").mean().alias("warned_share"),
                pl.col("critical").mean().alias("critical_share"),
            )
            .sort("trajectory")
        )
        print(f"companies without a crunch, re-run every {CALM_EVERY_MONTHS} months:")
        for r in by.iter_rows(named=True):
            print(
                f"  {r['trajectory']}: {r['companies']} companies, {r['origins']} origins, "
                f"warned at {_pct(r['warned_share'])}, critical at {_pct(r['critical_share'])}"
            )
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; {'all goals met' if ok else 'goals missed'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
