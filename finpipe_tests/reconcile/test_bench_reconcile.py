"""The reconciliation benchmark script's functions, at a small size: scoring against a
hand-checked truth, the synthetic data, the DuckDB baseline, the subprocess steps and the
demo-world quality figures."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from finpipe_tests.bench_scripts import load_bench

br = load_bench("bench_reconcile")

CO = "co1"


def _bank(*ids: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": [CO] * len(ids),
            "line_id": [f"b-{i}" for i in ids],
            "source_id": list(ids),
            "status": ["booked"] * len(ids),
        }
    )


def _movements(*ids: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": [CO] * len(ids),
            "movement_id": [f"m-{i}" for i in ids],
            "document_id": list(ids),
        }
    )


def _pairs(rows: list[tuple[str, str, str, str]], id_name: str, **extra) -> pl.DataFrame:
    """(id, line, document, rule) rows as engine rows naming b-<line> / m-<document>."""
    frame = pl.DataFrame(
        {
            "company_id": [CO] * len(rows),
            id_name: [r[0] for r in rows],
            "bank_line_id": [f"b-{r[1]}" for r in rows],
            "movement_id": [f"m-{r[2]}" for r in rows],
            "rule": [r[3] for r in rows],
        }
    )
    return frame.with_columns(pl.Series(k, v) for k, v in extra.items())


# Four truth groups: three 1:1 and one 1:n (line L3 settles D3 and D4).
TRUTH = pl.DataFrame(
    {
        "company_id": [CO] * 5,
        "match_id": ["g1", "g2", "g3", "g3", "g4"],
        "bank_line_id": ["L1", "L2", "L3", "L3", "L4"],
        "document_id": ["D1", "D2", "D3", "D4", "D5"],
        "match_type": ["1:1", "1:1", "1:n", "1:n", "1:1"],
    }
)
BANK = _bank("L1", "L2", "L3", "L4")
MOV = _movements("D1", "D2", "D3", "D4", "D5")


def test_score_hand_checked_with_groups_and_suggestions():
    # auto: L1-D1 right, L2-D5 wrong, L3-{D3, D4} one 1:n group (both right) -> 3/4 pairs
    matches = _pairs(
        [
            ("a1", "L1", "D1", "exact_id"),
            ("a2", "L2", "D5", "amount_date"),
            ("a3", "L3", "D3", "subset_sum"),
            ("a4", "L3", "D4", "subset_sum"),
        ],
        "match_id",
        group_id=["a1", "a2", "G", "G"],
        match_type=["1:1", "1:1", "1:n", "1:n"],
    )
    # one question about L4, two answers: D5 (right) and D2 (wrong)
    suggestions = _pairs(
        [("q1", "L4", "D5", "counterparty"), ("q1", "L4", "D2", "counterparty")],
        "suggestion_id",
        group_id=["s1", "s2"],
    )
    q = br.score(BANK, MOV, SimpleNamespace(matches=matches, suggestions=suggestions), TRUTH)
    assert (q.auto_pairs, q.correct_pairs, q.precision) == (4, 3, 0.75)
    assert q.suggested_pairs == 2
    # g1 and g3 by auto matches, g4 by a suggestion, g2 missed
    assert (q.truth_groups, q.recalled_auto, q.recalled) == (4, 2, 3)
    assert (q.recall_auto, q.recall) == (0.5, 0.75)
    assert q.reachable_groups == 4

    by_type = {r["match_type"]: r for r in q.by_type.iter_rows(named=True)}
    assert by_type["1:1"]["truth_groups"] == 3
    assert by_type["1:1"]["recalled_auto"] == 1
    assert by_type["1:1"]["recalled"] == 2
    assert by_type["1:1"]["auto_pairs"] == 2 and by_type["1:1"]["correct"] == 1
    assert by_type["1:n"]["recalled"] == 1 and by_type["1:n"]["recall"] == 1.0
    assert by_type["1:n"]["auto_pairs"] == 2 and by_type["1:n"]["precision"] == 1.0
    assert by_type["n:1"]["truth_groups"] == 0

    by_rule = {r["rule"]: r for r in q.by_rule.iter_rows(named=True)}
    assert list(by_rule)[: len(br.KNOWN_RULES)] == list(br.KNOWN_RULES)
    assert (by_rule["exact_id"]["auto_pairs"], by_rule["exact_id"]["correct"]) == (1, 1)
    assert (by_rule["amount_date"]["auto_pairs"], by_rule["amount_date"]["correct"]) == (1, 0)
    assert by_rule["subset_sum"]["groups"] == 1
    assert by_rule["counterparty"]["suggested_pairs"] == 2
    assert by_rule["counterparty"]["suggested_correct"] == 1
    assert by_rule["counterparty"]["groups"] == 1
    assert by_rule["tolerance"]["auto_pairs"] == 0


def test_score_todays_api_pairs_of_a_group_must_be_matched_together():
    # no group_id, no match_type, no suggestions attribute: each row is its own 1:1 group,
    # so the 1:n truth group g3 is not recalled although both its pairs are right
    matches = _pairs(
        [
            ("a1", "L1", "D1", "exact_id"),
            ("a3", "L3", "D3", "amount_date"),
            ("a4", "L3", "D4", "amount_date"),
        ],
        "match_id",
    )
    q = br.score(BANK, MOV, SimpleNamespace(matches=matches), TRUTH)
    assert (q.auto_pairs, q.correct_pairs, q.precision) == (3, 3, 1.0)
    assert (q.recalled, q.recall) == (1, 0.25)
    by_type = {r["match_type"]: r for r in q.by_type.iter_rows(named=True)}
    assert by_type["1:n"]["recalled"] == 0
    # the rows sharing bank line L3 but no group are still 1:1 rows
    assert by_type["1:1"]["auto_pairs"] == 3


def test_score_counts_a_pending_line_as_unreachable():
    bank = BANK.with_columns(
        pl.when(pl.col("source_id") == "L2")
        .then(pl.lit("pending"))
        .otherwise("status")
        .alias("status")
    )
    empty = _pairs([], "match_id")
    q = br.score(bank, MOV, SimpleNamespace(matches=empty, suggestions=None), TRUTH)
    assert q.precision is None
    assert (q.truth_groups, q.reachable_groups, q.recalled) == (4, 3, 0)


def test_synthetic_data_is_consistent():
    syn = br.synthesise(20_000, seed=3)
    bank, mov, truth = syn.bank_lines, syn.movements, syn.truth
    assert bank.height == mov.height == 20_000
    assert bank["line_id"].n_unique() == 20_000
    assert mov["movement_id"].n_unique() == 20_000
    assert bank["company_id"].n_unique() == 10
    assert bank["amount"].dtype == pl.Int64 and mov["amount"].dtype == pl.Int64
    one = truth.filter(pl.col("match_type") == "1:1")
    assert one.height == 17_000  # 85 %
    b = bank.select(
        "company_id",
        pl.col("source_id").alias("bank_line_id"),
        "booked_date",
        pl.col("amount").alias("b_amount"),
        "currency",
    )
    m = mov.select("company_id", "document_id", "date", "amount", pl.col("currency").alias("m_ccy"))
    pairs = one.join(b, on=["company_id", "bank_line_id"]).join(m, on=["company_id", "document_id"])
    assert pairs.height == one.height
    lag = (pairs["booked_date"] - pairs["date"]).dt.total_days()
    assert lag.min() == 0 and lag.max() == 5
    assert (pairs["currency"] == pairs["m_ccy"]).all()
    netted = pairs.filter(pl.col("b_amount") != pl.col("amount"))
    # fee-netted settlements only: the bank got less, by 2.9 % + 0.30
    assert 0 < netted.height < one.height * 0.03
    assert (netted["amount"] - netted["b_amount"] == netted["amount"] * 29 // 1000 + 30).all()
    # batch deposits: the line's amount is the sum of its payments
    batch = (
        truth.filter(pl.col("match_type") == "1:n")
        .join(mov.select("company_id", "document_id", "amount"), on=["company_id", "document_id"])
        .group_by("company_id", "bank_line_id")
        .agg(pl.col("amount").sum(), pl.len().alias("n"))
        .join(b, on=["company_id", "bank_line_id"])
    )
    assert batch.height == 400
    assert batch["n"].min() >= 2
    assert (batch["amount"] == batch["b_amount"]).all()
    # amounts repeat within a company
    assert mov.select("company_id", "amount").n_unique() < 0.8 * mov.height


def test_baseline_matches_and_scores_below_one():
    syn = br.synthesise(20_000, seed=3)
    pairs = br.baseline_pairs(syn.bank_lines, syn.movements)
    assert pairs.height > 10_000
    # mutual best: each line and each movement once
    assert pairs["bank_line_id"].n_unique() == pairs.height
    assert pairs["movement_id"].n_unique() == pairs.height
    q = br.score(syn.bank_lines, syn.movements, br._baseline_result(pairs), syn.truth)
    assert q.auto_pairs == pairs.height
    # amount + date alone: mostly right, but repeated amounts cost precision
    assert 0.9 < q.precision < 1.0
    assert 0.8 < q.recall < 0.97


def test_performance_steps_in_subprocesses(tmp_path: Path, capsys):
    perf = br.performance(20_000, 5, tmp_path)
    base, full = perf["baseline"], perf["full"]
    assert base["pairs"] > 10_000 and full["pairs"] > 10_000
    for r in (base, full):
        assert r["seconds"] > 0
        assert r["peak_rss_mb"] >= r["rss_loaded_mb"] > 10
    assert full["precision"] > 0.95
    assert "passes_1_4" in perf
    ok = br.print_performance(perf, 20_000)
    out = capsys.readouterr().out
    assert "baseline" in out and "full" in out and "x" in out
    assert isinstance(ok, bool)


def test_world_quality_small_demo_world(tmp_path: Path):
    spec = br.demo_world_spec(companies=2, months=3, seed=5)
    q, seconds = br.world_quality(spec, tmp_path / "world")
    assert seconds > 0
    assert q.truth_groups > 100
    assert q.reachable_groups == q.truth_groups
    assert q.precision is not None and q.precision >= 0.99
    assert 0.5 < q.recall <= 1.0
    assert set(br.KNOWN_RULES) <= set(q.by_rule["rule"].to_list())
    assert q.by_type["match_type"].to_list() == list(br.MATCH_TYPES)


def test_demo_world_spec_uses_the_demo_defaults():
    from finpipe.cli.demo import demo

    defaults = {p.name: p.default for p in demo.params}
    spec = br.demo_world_spec()
    assert (spec.companies, spec.months, spec.seed) == (
        defaults["companies"],
        defaults["months"],
        defaults["seed"],
    )
    assert br.demo_world_spec(companies=3).companies == 3


@dataclasses.dataclass(frozen=True)
class _ByRules:
    passes: tuple[str, ...] = (*br.KNOWN_RULES,)


@dataclasses.dataclass(frozen=True)
class _BySwitches:
    window_max_days: int = 7
    enable_counterparty: bool = True
    enable_subset_sum: bool = True
    fee_inflows_only: bool = True


@dataclasses.dataclass(frozen=True)
class _NoSwitch:
    window_max_days: int = 7


@pytest.mark.parametrize(
    ("config_cls", "expected"),
    [
        (_ByRules, {"passes": br.FIRST_FOUR_RULES}),
        (_BySwitches, {"enable_counterparty": False, "enable_subset_sum": False}),
        (_NoSwitch, None),
    ],
)
def test_passes_1_4_config_finds_the_switch(monkeypatch, config_cls, expected):
    import finpipe.reconcile as reconcile_pkg
    from finpipe.reconcile import schema

    monkeypatch.setattr(reconcile_pkg, "ReconConfig", config_cls)
    monkeypatch.setattr(schema, "RULES", br.KNOWN_RULES)
    config, how = br.passes_1_4_config()
    if expected is None:
        assert config is None and "no switch" in how
    else:
        assert config == dataclasses.replace(config_cls(), **expected)
        # a switch that is not about the later passes stays as it was
        assert getattr(config, "fee_inflows_only", True) is True


def test_pass_timings_read_from_the_result():
    assert br.pass_timings(SimpleNamespace(timings={"exact_id": 1, "reference": 2.5})) == {
        "exact_id": 1.0,
        "reference": 2.5,
    }
    assert br.pass_timings(SimpleNamespace(matches=None)) is None


def test_dates_are_in_the_benchmark_year():
    days = br._days(pl.Series([0, 364]).to_numpy())
    assert days.to_list() == [dt.date(2025, 1, 1), dt.date(2025, 12, 31)]


def test_peak_rss_is_this_programs_own():
    # VmHWM, not ru_maxrss (which Linux carries over from the parent across fork + exec)
    assert br.peak_rss_mb() >= br.rss_mb() > 10
