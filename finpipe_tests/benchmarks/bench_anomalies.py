"""Anomaly and fraud flags benchmark: detectors scored against the world's injected labels.

A world is generated (default 12 companies x 24 months; the generator leaves some companies
clean), every company's QuickBooks / Xero records are rendered by the sandbox renderers and
landed in ``raw.*`` of a DuckDB warehouse exactly as a sync lands them, the books are built
(``build_books`` + ``write_books``), and the detectors run on what finpipe built. Flags are
then held against ``truth_anomalies`` (document ids are the providers' ids on both sides):

* per injected type: recall (labelled documents flagged with that type) and precision
  (flags of that type on a document labelled with it); goal recall >= 0.9 at precision
  >= 0.8 for every type;
* overall PR-AUC: average precision of each document's highest flag score (0 when not
  flagged) against "labelled with any anomaly";
* false-positive rate on clean companies: flagged documents / documents (all flags, and
  without the model's);
* the unsupervised scorers compared: average precision of each scorer's percentile ranking
  against the labels, on the same features.

``cash_crunch`` (company level) belongs to the cash-flow forecast's alerts and is not scored
here. Nothing is tuned to the labels: the detectors read only the warehouse.

    .venv/bin/python finpipe_tests/benchmarks/bench_anomalies.py [--companies 12]
        [--months 24] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from finpipe.sandbox.world.anomalies import ANOMALY_TYPES
from finpipe_tests.world_books import build_company_books, land_world

RECALL_GOAL = 0.9
PRECISION_GOAL = 0.8
# every document-level type the world injects (cash_crunch is company level)
SCORED_TYPES = tuple(t for t in ANOMALY_TYPES if t != "cash_crunch")


# --- scoring ------------------------------------------------------------------------------


def document_labels(truth: pl.DataFrame) -> pl.DataFrame:
    """(company_id, provider, document_id, label) of every labelled document (a document
    with two labels keeps both rows)."""
    return (
        truth.filter(pl.col("document_id").is_not_null())
        .select("company_id", "provider", "document_id", pl.col("anomaly_type").alias("label"))
        .unique()
    )


def per_type(flags: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Per scored type: labelled documents, flags, hits, recall, precision."""
    keys = ["company_id", "provider", "document_id"]
    rows = []
    for t in SCORED_TYPES:
        lab = labels.filter(pl.col("label") == t).select(keys).unique()
        fl = flags.filter(pl.col("type") == t).select(keys).unique()
        hit = fl.join(lab, on=keys, how="semi").height
        rows.append(
            {
                "type": t,
                "labelled": lab.height,
                "flagged": fl.height,
                "hits": hit,
                "recall": hit / lab.height if lab.height else None,
                "precision": hit / fl.height if fl.height else None,
            }
        )
    return pl.DataFrame(rows)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    if labels.sum() == 0:
        return None
    return float(average_precision_score(labels, scores))


def document_scores(
    transactions: pl.DataFrame, flags: pl.DataFrame, labels: pl.DataFrame
) -> pl.DataFrame:
    """Every transaction with its highest flag score (0 if none) and whether it is labelled."""
    keys = ["company_id", "provider", "document_id"]
    best = flags.group_by(keys).agg(pl.col("score").max())
    return (
        transactions.select(keys)
        .join(best, on=keys, how="left")
        .join(labels.select(keys).unique().with_columns(pl.lit(1).alias("y")), on=keys, how="left")
        .with_columns(pl.col("score").fill_null(0.0), pl.col("y").fill_null(0))
    )


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:5.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--companies", type=int, default=12)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from finpipe.analytics.anomalies.build import detect
    from finpipe.analytics.anomalies.features import load_company
    from finpipe.analytics.anomalies.model import METHODS, ModelConfig, model_scores
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world
    from finpipe.warehouse import Warehouse

    ok = True
    with tempfile.TemporaryDirectory(prefix="finpipe-bench-anomalies-") as tmp:
        started = time.perf_counter()
        spec = WorldSpec(companies=args.companies, months=args.months, seed=args.seed)
        generate_world(spec, Path(tmp) / "world")
        world = load_world(Path(tmp) / "world")
        with Warehouse.open(f"duckdb:///{Path(tmp) / 'wh.duckdb'}") as wh:
            companies = land_world(world, wh)
            for cid in companies:
                build_company_books(wh, cid)
            prepared = time.perf_counter() - started
            started = time.perf_counter()
            data = {cid: load_company(wh, cid) for cid in companies}
            results = {cid: detect(data[cid]) for cid in companies}
            detect_seconds = time.perf_counter() - started
        truth = world.table("truth_anomalies").collect()
        labels = document_labels(truth)
        anomalous = set(labels["company_id"].unique().to_list())
        clean = [c for c in companies if c not in anomalous]
        flags = pl.concat([r.flags for r in results.values()])
        tx = pl.concat([d.transactions for d in data.values()])

        print(
            f"world {args.companies} companies x {args.months} months, seed {args.seed}: "
            f"{len(clean)} clean, {tx.height:,} live transactions, "
            f"{labels.height} labelled documents; raw + books in {prepared:.1f}s, "
            f"detectors in {detect_seconds:.1f}s ({detect_seconds / len(companies):.2f}s per "
            "company)"
        )
        print("\nper injected type (goal: recall >= 0.90 at precision >= 0.80)")
        print(
            f"  {'type':<26} {'labelled':>8} {'flagged':>8} {'hits':>6} {'recall':>7} "
            f"{'precision':>9}  verdict"
        )
        for r in per_type(flags, labels).iter_rows(named=True):
            met = (r["recall"] or 0) >= RECALL_GOAL and (r["precision"] or 0) >= PRECISION_GOAL
            ok &= met
            print(
                f"  {r['type']:<26} {r['labelled']:>8} {r['flagged']:>8} {r['hits']:>6} "
                f"{_fmt(r['recall']):>7} {_fmt(r['precision']):>9}  {'PASS' if met else 'FAIL'}"
            )
        print("  cash_crunch: company level, scored by the cash-flow forecast's alerts")

        docs = document_scores(tx, flags, labels)
        ap = average_precision(docs["score"].to_numpy(), docs["y"].to_numpy())
        no_model = document_scores(tx, flags.filter(pl.col("type") != "model_outlier"), labels)
        ap_rules = average_precision(no_model["score"].to_numpy(), no_model["y"].to_numpy())
        print(f"\noverall PR-AUC (average precision of the document's top flag score): {_fmt(ap)}")
        print(f"  without the model's flags: {_fmt(ap_rules)}")

        clean_docs = docs.filter(pl.col("company_id").is_in(clean))
        clean_flags = flags.filter(pl.col("company_id").is_in(clean))
        flagged = clean_flags.select("company_id", "provider", "document_id").unique().height
        flagged_nm = (
            clean_flags.filter(pl.col("type") != "model_outlier")
            .select("company_id", "provider", "document_id")
            .unique()
            .height
        )
        if clean_docs.height:
            print(
                f"\nfalse-positive rate on {len(clean)} clean companies: {flagged}/"
                f"{clean_docs.height} documents = {flagged / clean_docs.height:.4%} "
                f"(without the model's flags: {flagged_nm} = "
                f"{flagged_nm / clean_docs.height:.4%})"
            )
            print(
                "  by type: "
                + ", ".join(
                    f"{t} {n}"
                    for t, n in clean_flags.group_by("type").len().sort("type").iter_rows()
                )
            )
        else:
            print("\nno clean company in this world: false-positive rate not measured")

        print("\nunsupervised scorers (average precision of the percentile ranking vs any label)")
        for method in METHODS:
            started = time.perf_counter()
            parts = [
                model_scores(d.transactions, ModelConfig(method=method)) for d in data.values()
            ]
            seconds = time.perf_counter() - started
            scored = pl.concat(
                [
                    p.with_columns(pl.lit(cid).alias("company_id"))
                    for cid, p in zip(data, parts, strict=True)
                ]
            )
            y = scored.join(
                labels.select("company_id", "provider", "document_id")
                .unique()
                .with_columns(pl.lit(1).alias("y")),
                on=["company_id", "provider", "document_id"],
                how="left",
            )["y"].fill_null(0)
            ap_m = average_precision(scored["score"].to_numpy(), y.to_numpy())
            print(f"  {method:<17} AP {_fmt(ap_m)}  ({seconds:.1f}s)")

        print("\nsample reasons:")
        for t in SCORED_TYPES:
            row = flags.filter(pl.col("type") == t).sort(
                "score", "flag_id", descending=[True, False]
            )
            if row.height:
                print(f"  [{t}] {row['reason'][0]}")
    print("\nall goals met" if ok else "\nGOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
