"""Cross-source de-duplication: twins between QuickBooks and Xero copies of a migrating
company, the source policy, and the conflicts it leaves; on a hand-built company and on a
generated world scored against its ``truth_duplicate_of``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from finpipe.ledger.books_schema import CONTACT_SCHEMA, DOCUMENT_SCHEMA, UTC
from finpipe.ledger.conflicts import (
    CONFLICT_SCHEMA,
    SOURCE_POLICY_SCHEMA,
    TWIN_SCHEMA,
    ConflictError,
    find_twins,
    infer_policy,
    resolve,
)

CO = "cmp_m"
CUT = dt.date(2026, 3, 1)


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


def documents(*rows: tuple) -> pl.DataFrame:
    """(provider, id, doc_type, number, contact, issue_date, total)."""
    frame = pl.DataFrame(
        [
            {
                "company_id": CO,
                "provider": p,
                "document_id": i,
                "doc_type": t,
                "number": n,
                "contact_id": c,
                "issue_date": day,
                "total": total,
                "currency": "GBP",
                "status": "posted" if t == "expense" else "open",
            }
            for p, i, t, n, c, day, total in rows
        ]
    )
    missing = [
        pl.lit(None, t).alias(n) for n, t in DOCUMENT_SCHEMA.items() if n not in frame.columns
    ]
    return frame.with_columns(missing).select(list(DOCUMENT_SCHEMA)).cast(dict(DOCUMENT_SCHEMA))


def contacts(*rows: tuple[str, str, str]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [{"company_id": CO, "provider": p, "contact_id": c, "name": n} for p, c, n in rows]
    )
    missing = [
        pl.lit(None, t).alias(n) for n, t in CONTACT_SCHEMA.items() if n not in frame.columns
    ]
    return frame.with_columns(missing).select(list(CONTACT_SCHEMA)).cast(dict(CONTACT_SCHEMA))


def policy(cut: dt.date = CUT, before: str = "quickbooks", after: str = "xero") -> pl.DataFrame:
    return pl.DataFrame(
        [{"company_id": CO, "cutover_date": cut, "before_provider": before, "after_provider": after,
          "updated_at": dt.datetime(2026, 1, 5, tzinfo=dt.UTC)}],
        schema=SOURCE_POLICY_SCHEMA,
    )  # fmt: skip


Q, X = "quickbooks", "xero"
DOCS = documents(
    # before the cut-over: QuickBooks is the book of record
    (Q, "q1", "invoice", "1043", "qa", d(2, 10), 12000),
    (X, "x1", "invoice", "INV-1043", "xa", d(2, 10), 12000),
    # from the cut-over: Xero
    (Q, "q2", "invoice", "1050", "qa", d(3, 5), 5000),
    (X, "x2", "invoice", "INV-1050", "xa", d(3, 5), 5000),
    # same number, different totals: a conflict, not a silent merge
    (Q, "q3", "invoice", "1051", "qa", d(3, 6), 7000),
    (X, "x3", "invoice", "INV-1051", "xa", d(3, 6), 7100),
    # a re-keyed bill two days off
    (Q, "q5", "bill", "SI-777", "qs", d(2, 12), 880),
    (X, "x5", "bill", "SI-777", "xs", d(2, 14), 880),
    # one QuickBooks expense, two identical Xero candidates: ambiguous
    (Q, "q4", "expense", None, "qo", d(2, 20), 999),
    (X, "x4a", "expense", None, "xo", d(2, 20), 999),
    (X, "x4b", "expense", None, "xo", d(2, 20), 999),
    # keyed into the abandoned file after the cut-over only
    (Q, "q6", "expense", None, "qo", d(3, 20), 3000),
    # same amount and day, different vendors: not twins
    (Q, "q8", "expense", None, "qg", d(2, 25), 4500),
    (X, "x8", "expense", None, "xi", d(2, 25), 4500),
    # Xero only, after the cut-over: fine
    (X, "x7", "invoice", "INV-1060", "xa", d(3, 25), 6400),
)
CONTACTS = contacts(
    (Q, "qa", "Acme Ltd"),
    (X, "xa", "ACME Limited"),
    (Q, "qs", "Supplier GmbH"),
    (X, "xs", "Supplier GmbH"),
    (Q, "qo", "Office Supplies Co"),
    (X, "xo", "Office Supplies Co."),
    (Q, "qg", "Globex Corporation"),
    (X, "xi", "Initech"),
)


def by_pair(conflicts: pl.DataFrame) -> dict[tuple, dict]:
    return {
        (r["quickbooks_document_id"], r["xero_document_id"]): r
        for r in conflicts.iter_rows(named=True)
    }


def test_twins_are_one_to_one_and_ties_are_ambiguous() -> None:
    twins = find_twins(DOCS, CONTACTS)
    assert twins.schema == TWIN_SCHEMA
    got = set(twins.select("quickbooks_document_id", "xero_document_id", "kind").rows())
    assert got == {
        ("q1", "x1", "duplicate"),
        ("q2", "x2", "duplicate"),
        ("q3", "x3", "amount_mismatch"),
        ("q5", "x5", "date_mismatch"),
        ("q4", "x4a", "ambiguous"),
        ("q4", "x4b", "ambiguous"),
    }
    assert twins.filter(pl.col("quickbooks_document_id") == "q1")["number_match"].item() is True


def test_configured_cutover_keeps_the_right_side_each_period() -> None:
    result = resolve(DOCS, find_twins(DOCS, CONTACTS), policy())
    assert result.conflicts.schema == CONFLICT_SCHEMA
    keep = dict(result.documents.select("document_id", "book_of_record").iter_rows())
    assert [k for k, v in sorted(keep.items()) if not v] == ["q2", "q3", "x1", "x5"]
    c = by_pair(result.conflicts)
    assert c[("q1", "x1")]["kept_provider"] == "quickbooks"
    assert c[("q1", "x1")]["resolution"] == (
        "kept QBO 1043 (book of record before 2026-03-01 under the configured policy); "
        "dropped Xero INV-1043 as its twin"
    )
    assert c[("q2", "x2")]["resolution"] == (
        "kept Xero INV-1050 (book of record from 2026-03-01 under the configured policy); "
        "dropped QBO 1050 as its twin"
    )
    assert (c[("q5", "x5")]["kind"], c[("q5", "x5")]["kept_provider"]) == (
        "date_mismatch",
        "quickbooks",
    )
    assert set(result.conflicts["policy"]) == {"configured"}
    # a document only in the file that is not the book of record is kept and flagged
    lone = {k: v for k, v in c.items() if v["kind"] == "only_in_non_authoritative"}
    assert set(lone) == {("q6", None), (None, "x8")}
    assert keep["q6"] and keep["x8"] and keep["q8"] and keep["x7"]
    assert lone[("q6", None)]["resolution"].startswith(
        "kept QBO expense q6: no twin in Xero, the book of record from 2026-03-01"
    )


def test_amount_mismatch_is_a_conflict_not_a_silent_merge() -> None:
    result = resolve(DOCS, find_twins(DOCS, CONTACTS), policy())
    row = by_pair(result.conflicts)[("q3", "x3")]
    assert (row["kind"], row["kept_provider"]) == ("amount_mismatch", "xero")
    assert "totals differ (QBO 7000 vs Xero 7100 GBP minor units)" in row["resolution"]
    assert "totals quickbooks=7000 xero=7100" in row["details"]


def test_ambiguous_twins_drop_nothing() -> None:
    result = resolve(DOCS, find_twins(DOCS, CONTACTS), policy())
    amb = result.conflicts.filter(pl.col("kind") == "ambiguous")
    assert set(amb.select("quickbooks_document_id", "xero_document_id").rows()) == {
        ("q4", "x4a"),
        ("q4", "x4b"),
    }
    assert amb["kept_provider"].null_count() == 2
    keep = dict(result.documents.select("document_id", "book_of_record").iter_rows())
    assert keep["q4"] and keep["x4a"] and keep["x4b"]


def test_rerun_gives_identical_conflict_ids() -> None:
    first = resolve(DOCS, find_twins(DOCS, CONTACTS), policy()).conflicts
    shuffled = DOCS.sample(fraction=1.0, shuffle=True, seed=7)
    again = resolve(shuffled, find_twins(shuffled, CONTACTS.reverse()), policy()).conflicts
    assert first.equals(again)
    assert first["conflict_id"].n_unique() == first.height
    assert all(i.startswith("cf_") and len(i) == 23 for i in first["conflict_id"])


def test_inferred_policy_and_rejected_policy_rows() -> None:
    docs = documents(
        (Q, "q1", "invoice", "1", "qa", d(1, 5), 100),
        (Q, "q2", "invoice", "2", "qa", d(3, 9), 200),
        (X, "x2", "invoice", "INV-0002", "xa", d(3, 9), 200),
        (X, "x3", "invoice", "INV-0003", "xa", d(4, 1), 300),
    )
    # every document: Xero starts on 9 March; its own documents (no twin) on 1 April
    assert infer_policy(docs).select(
        "cutover_date", "before_provider", "after_provider"
    ).rows() == [(d(3, 9), "quickbooks", "xero")]
    twins = find_twins(docs, CONTACTS)
    assert infer_policy(docs, twins)["cutover_date"].to_list() == [d(4, 1)]
    bad = policy(after="quickbooks")
    result = resolve(docs, twins, bad)
    assert result.rejects.select("field").to_series().to_list() == ["after_provider"]
    assert "must be the other of quickbooks and xero" in result.rejects["reason"][0]
    (row,) = result.conflicts.iter_rows(named=True)
    assert (row["policy"], row["kept_provider"]) == ("inferred", "quickbooks")
    assert row["resolution"] == (
        "kept QBO 2 (book of record before 2026-04-01 under the inferred policy); "
        "dropped Xero INV-0002 as its twin"
    )
    with pytest.raises(ConflictError, match=r"missing columns \['total'\]"):
        find_twins(docs.drop("total"), CONTACTS)


# --- the world ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    path: Path = tmp_path_factory.mktemp("world") / "w"
    generate_world(WorldSpec(companies=6, months=3, seed=4), path)
    return load_world(path)


def world_books(world) -> tuple[pl.DataFrame, pl.DataFrame]:
    """World documents (with ``truth_duplicate_of`` kept) and contacts as books frames."""
    docs = world.table("documents").collect()
    docs = docs.with_columns(
        pl.col("doc_type").alias("source_type"),
        pl.lit(None, pl.Int64).alias("amount_due"),
        pl.col("bank_account_id").alias("cash_account_id"),
        pl.col("from_bank_account_id").alias("from_cash_account_id"),
        pl.lit(None, pl.String).alias("external_id"),
        pl.col("sync_version").cast(pl.String),
    ).select(*DOCUMENT_SCHEMA, "truth_duplicate_of")
    cts = (
        world.table("contacts")
        .collect()
        .with_columns(
            (pl.col("kind") == "customer").alias("is_customer"),
            (pl.col("kind") == "vendor").alias("is_supplier"),
            pl.lit(None, pl.String).alias("tax_number"),
            pl.lit(True).alias("is_active"),
        )
    )
    return (
        docs.cast(dict(DOCUMENT_SCHEMA)),
        cts.select(list(CONTACT_SCHEMA)).cast(dict(CONTACT_SCHEMA)),
    )


def test_world_twins_match_the_truth(world) -> None:
    docs, cts = world_books(world)
    twins = find_twins(docs, cts)
    dup = docs.filter(pl.col("truth_duplicate_of").is_not_null())
    truth = set(
        dup.select(
            "company_id",
            pl.when(pl.col("provider") == Q)
            .then("document_id")
            .otherwise("truth_duplicate_of")
            .alias("q"),
            pl.when(pl.col("provider") == X)
            .then("document_id")
            .otherwise("truth_duplicate_of")
            .alias("x"),
        ).rows()
    )
    found = set(
        twins.filter(pl.col("kind") != "ambiguous")
        .select("company_id", "quickbooks_document_id", "xero_document_id")
        .rows()
    )
    precision = len(found & truth) / max(len(found), 1)
    recall = len(found & truth) / len(truth)
    print(
        f"twins: truth {len(truth)} found {len(found)} "
        f"precision {precision:.4f} recall {recall:.4f}"
    )
    assert len(truth) > 300
    assert precision >= 0.99 and recall >= 0.99

    # the world's own cut-over, configured: exactly the world's book-of-record copies stay
    cos = world.table("companies").collect().filter(pl.col("accounting_provider") == "both")
    configured = cos.select(
        "company_id",
        pl.col("migration_cutover_date").alias("cutover_date"),
        pl.lit(Q).alias("before_provider"),
        pl.lit(X).alias("after_provider"),
        pl.lit(None, UTC).alias("updated_at"),
    )
    result = resolve(docs, twins, configured)
    wrong = result.documents.filter(
        pl.col("book_of_record") != pl.col("truth_duplicate_of").is_null()
    )
    assert wrong.is_empty()
    assert result.conflicts.filter(pl.col("kind") == "only_in_non_authoritative").is_empty()
    assert result.conflicts.height == len(found)

    # inferred: Xero's own documents (no twin) start two weeks after the true cut-over
    # (QuickBooks stayed in use), so the twins of those two weeks keep the QuickBooks copy
    inferred = resolve(docs, twins)
    (pol,) = inferred.policy.iter_rows(named=True)
    (true_cut,) = cos["migration_cutover_date"].to_list()
    assert (pol["before_provider"], pol["after_provider"], pol["policy"]) == (Q, X, "inferred")
    assert true_cut < pol["cutover_date"] <= true_cut + dt.timedelta(days=15)
    assert inferred.conflicts.filter(pl.col("kind") == "only_in_non_authoritative").is_empty()
    wrong = inferred.documents.filter(
        pl.col("book_of_record") != pl.col("truth_duplicate_of").is_null()
    )
    in_window = wrong["issue_date"].is_between(true_cut, pol["cutover_date"], closed="left")
    assert wrong.height > 0 and in_window.all()
    # the same pairs keep their ids whatever the policy
    assert set(inferred.conflicts["conflict_id"]) == set(result.conflicts["conflict_id"])
