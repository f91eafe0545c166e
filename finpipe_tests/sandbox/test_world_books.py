"""The generated books are true double entry, in every provider file, and the monthly
ground truth is exactly what the book-of-record journal says."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from world_helpers import Loaded, book_of_record_lines, with_standard

from finpipe.ledger.balance import monthly_trial_balance, unbalanced_entries
from finpipe.sandbox.world.standard_chart import BY_CODE


def test_every_entry_balances(world: Loaded) -> None:
    lines = world["journal_lines"]
    assert unbalanced_entries(lines, ("company_id", "provider", "entry_id")).height == 0
    months = monthly_trial_balance(lines)
    assert (months["difference"] == 0).all()
    per_provider = lines.group_by("company_id", "provider", pl.col("date").dt.truncate("1mo")).agg(
        pl.col("amount").sum()
    )
    assert (per_provider["amount"] == 0).all()


def test_void_and_deleted_documents_have_no_effect(world: Loaded) -> None:
    docs = world["documents"]
    dead = docs.filter(pl.col("status").is_in(["void", "deleted"]))
    assert dead.height > 0
    assert set(dead["status"]) == {"void", "deleted"}
    key = ["company_id", "provider", "document_id"]
    assert world["journal_lines"].join(dead, on=key).height == 0
    alloc = world["allocations"]
    for col in ("source_document_id", "target_document_id"):
        assert alloc.join(dead, left_on=["company_id", "provider", col], right_on=key).height == 0
    live_docs = docs.filter(~pl.col("status").is_in(["void", "deleted"]))
    posted = world["journal_lines"].select(key).unique()
    assert live_docs.join(posted, on=key, how="anti").height == 0


def test_truth_monthly_recomputes_from_the_journal(world: Loaded) -> None:
    lines = with_standard(world, book_of_record_lines(world))
    assert lines["truth_standard_account"].null_count() == 0
    sections = {code: (a.account_class, a.section) for code, a in BY_CODE.items()}
    lines = lines.with_columns(
        pl.col("truth_standard_account")
        .replace_strict({k: v[0] for k, v in sections.items()})
        .alias("cls"),
        pl.col("truth_standard_account")
        .replace_strict({k: v[1] for k, v in sections.items()})
        .alias("section"),
        pl.col("date").dt.truncate("1mo").alias("month"),
    )

    def s(cond: pl.Expr) -> pl.Expr:
        return pl.col("amount").filter(cond).sum()

    flows = lines.group_by("company_id", "month").agg(
        (-s(pl.col("section") == "revenue")).alias("revenue"),
        s(pl.col("section") == "cost_of_sales").alias("cost_of_sales"),
        s(pl.col("section") == "operating_expense").alias("operating_expenses"),
        (-s(pl.col("section").is_in(["other_income", "other_expense"]))).alias(
            "other_income_expense"
        ),
        s(pl.col("section") == "cash").alias("d_cash"),
        s(pl.col("truth_standard_account") == "1100").alias("d_ar"),
        (-s(pl.col("truth_standard_account") == "2000")).alias("d_ap"),
        s(pl.col("cls") == "asset").alias("d_assets"),
        (-s(pl.col("cls") == "liability")).alias("d_liabilities"),
        (-s(pl.col("cls") == "equity")).alias("d_equity"),
    )
    truth = (
        world["truth_monthly"]
        .join(flows, on=["company_id", "month"], how="left")
        .sort("company_id", "month")
        .with_columns(pl.all().exclude("company_id", "month").fill_null(0))
    )
    for col in ("revenue", "cost_of_sales", "operating_expenses", "other_income_expense"):
        assert (truth[col] == truth[f"{col}_right"]).all(), col
    truth = truth.with_columns(
        (
            pl.col("revenue")
            - pl.col("cost_of_sales")
            - pl.col("operating_expenses")
            + pl.col("other_income_expense")
        ).alias("ni"),
    )
    assert (truth["ni"] == truth["net_income"]).all()
    cum = truth.with_columns(
        pl.col(c).cum_sum().over("company_id")
        for c in ("d_cash", "d_ar", "d_ap", "d_assets", "d_liabilities", "d_equity", "ni")
    )
    assert (cum["d_cash"] == cum["cash"]).all()
    assert (cum["d_ar"] == cum["accounts_receivable"]).all()
    assert (cum["d_ap"] == cum["accounts_payable"]).all()
    assert (cum["d_assets"] == cum["total_assets"]).all()
    assert (cum["d_liabilities"] == cum["total_liabilities"]).all()
    assert (cum["d_equity"] + cum["ni"] == cum["total_equity"]).all()
    assert (truth["total_assets"] == truth["total_liabilities"] + truth["total_equity"]).all()
    months = world["truth_monthly"].group_by("company_id").len()["len"]
    assert (months == world.spec.months).all()


def test_foreign_currency_documents(world: Loaded) -> None:
    docs = world["documents"].join(
        world["companies"].select("company_id", "home_currency"), on="company_id"
    )
    foreign = docs.filter(pl.col("currency") != pl.col("home_currency"))
    home = docs.filter(pl.col("currency") == pl.col("home_currency"))
    assert foreign.height > 0
    assert (foreign["fx_rate"] != Decimal(1)).all()
    assert (home["fx_rate"] == Decimal(1)).all()
    # home_total is total x fx_rate, rounded half away from zero, exactly
    sample = foreign.head(500)
    for total, rate, home_total in sample.select("total", "fx_rate", "home_total").iter_rows():
        expected = (Decimal(total) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert home_total == int(expected)
    # exchange differences are booked to the FX accounts
    fx_lines = with_standard(world, world["journal_lines"]).filter(
        pl.col("truth_standard_account").is_in(["7100", "7110"])
    )
    assert fx_lines.height > 0
    # a fully paid foreign invoice leaves nothing behind on receivables
    lines = with_standard(world, book_of_record_lines(world))
    ar = lines.filter(pl.col("truth_standard_account") == "1100")
    single = world["companies"].filter(pl.col("accounting_provider") != "both")
    paid_foreign = foreign.filter(
        (pl.col("doc_type") == "invoice") & (pl.col("status") == "paid")
    ).join(single.select("company_id"), on="company_id")
    assert paid_foreign.height > 0
    key = ["company_id", "provider"]
    ar_by_doc = ar.group_by(*key, "document_id").agg(pl.col("amount").sum().alias("ar"))
    settled = (
        world["allocations"]
        .join(
            paid_foreign.select(*key, "document_id"),
            left_on=[*key, "target_document_id"],
            right_on=[*key, "document_id"],
        )
        .join(ar_by_doc, left_on=[*key, "source_document_id"], right_on=[*key, "document_id"])
        .group_by(*key, "target_document_id")
        .agg(pl.col("ar").sum().alias("relief"))
    )
    net = paid_foreign.join(ar_by_doc, on=[*key, "document_id"]).join(
        settled, left_on=[*key, "document_id"], right_on=[*key, "target_document_id"]
    )
    assert net.height > 0
    assert (net["ar"] + net["relief"] == 0).all()


def test_card_settlements_are_net_of_fees(world: Loaded) -> None:
    docs = world["documents"].filter(pl.col("payment_method") == "card_settlement")
    assert docs.height > 0
    lines = world["document_lines"].join(
        docs.select("company_id", "provider", "document_id", "total"),
        on=["company_id", "provider", "document_id"],
    )
    per_doc = lines.group_by("company_id", "provider", "document_id").agg(
        pl.col("amount").sum(), pl.col("total").first(), (pl.col("amount") < 0).sum().alias("fees")
    )
    assert (per_doc["amount"] == per_doc["total"]).all()
    assert (per_doc["fees"] == 1).all()


def test_payroll_journals_and_transfers_post(world: Loaded) -> None:
    docs = world["documents"]
    assert docs.filter(pl.col("payment_method") == "payroll").height > 0
    transfers = docs.filter(pl.col("doc_type") == "transfer")
    assert transfers.height > 0
    assert transfers["from_bank_account_id"].null_count() == 0
    assert (transfers["from_bank_account_id"] != transfers["bank_account_id"]).all()
    lines = world["journal_lines"].join(transfers, on=["company_id", "provider", "document_id"])
    assert lines.group_by("document_id").len()["len"].min() == 2


def test_allocations_never_exceed_what_is_settled(world: Loaded) -> None:
    docs = world["documents"]
    alloc = world["allocations"]
    key = ["company_id", "provider"]
    applied = alloc.group_by(*key, "target_document_id").agg(pl.col("amount").sum())
    targets = docs.join(
        applied, left_on=[*key, "document_id"], right_on=[*key, "target_document_id"], how="left"
    ).with_columns(pl.col("amount").fill_null(0))
    inv = targets.filter(pl.col("doc_type").is_in(["invoice", "bill"]))
    paid = inv.filter(pl.col("status") == "paid")
    assert (paid["amount"] >= paid["total"]).all()
    part = inv.filter(pl.col("status") == "partially_paid")
    assert ((part["amount"] > 0) & (part["amount"] < part["total"])).all()
    open_ = inv.filter(pl.col("status") == "open")
    assert (open_["amount"] == 0).all()
    # partial payments and over-payment remainders exist
    per_target = alloc.group_by(*key, "target_document_id").len()
    assert (per_target["len"] > 1).any()
    per_source = alloc.group_by(*key, "source_document_id").len()
    assert (per_source["len"] > 1).any()
