"""Bank statements: matches to the books, balances, pending lines, bank-only lines, and
reconciliation of every bank account's ledger balance to its statement."""

from __future__ import annotations

import polars as pl
from world_helpers import Loaded, book_of_record_lines

CASH_TYPES = {
    "customer_payment",
    "bill_payment",
    "expense",
    "deposit",
    "transfer",
    "journal",
    "sales_receipt",
    "refund",
}


def test_truth_matches_reference_real_lines_and_documents(world: Loaded) -> None:
    lines = world["bank_lines"]
    matches = world["truth_matches"]
    docs = world["documents"]
    booked = lines.filter(pl.col("status") == "booked")
    assert (
        matches.join(
            booked,
            left_on=["company_id", "bank_line_id"],
            right_on=["company_id", "line_id"],
            how="anti",
        ).height
        == 0
    )
    matched_docs = matches.join(docs, on=["company_id", "provider", "document_id"])
    assert matched_docs.height == matches.height
    assert set(matched_docs["doc_type"]) <= CASH_TYPES
    assert (matched_docs["truth_duplicate_of"].is_null()).all()  # book-of-record documents
    assert not matched_docs["status"].is_in(["void", "deleted"]).any()
    # every booked ledger-cash line is explained; bank-only lines never are
    ledger = booked.filter(pl.col("truth_kind") == "ledger_cash")
    assert (
        ledger.join(
            matches,
            left_on=["company_id", "line_id"],
            right_on=["company_id", "bank_line_id"],
            how="anti",
        ).height
        == 0
    )
    other = lines.filter(pl.col("truth_kind") != "ledger_cash")
    assert (
        other.join(
            matches, left_on=["company_id", "line_id"], right_on=["company_id", "bank_line_id"]
        ).height
        == 0
    )


def test_match_groups_add_up(world: Loaded) -> None:
    lines = world["bank_lines"].select("company_id", "line_id", "amount")
    m = world["truth_matches"].join(
        lines,
        left_on=["company_id", "bank_line_id"],
        right_on=["company_id", "line_id"],
        suffix="_line",
    )
    assert set(m["match_type"]) == {"1:1", "1:n", "n:1"}
    one = m.filter(pl.col("match_type") == "1:1")
    assert (one["amount"] == one["amount_line"]).all()
    assert one.group_by("company_id", "match_id").len()["len"].max() == 1
    batched = (
        m.filter(pl.col("match_type") == "1:n")
        .group_by("company_id", "match_id")
        .agg(
            pl.col("amount").sum(),
            pl.col("amount_line").first(),
            pl.len(),
            pl.col("bank_line_id").n_unique().alias("lines"),
        )
    )
    assert (batched["amount"] == batched["amount_line"]).all()
    assert (batched["len"] > 1).all() and (batched["lines"] == 1).all()
    split = m.filter(pl.col("match_type") == "n:1")
    assert (split["amount"] == split["amount_line"]).all()
    per_doc = split.group_by("company_id", "match_id").agg(
        pl.col("document_id").n_unique().alias("docs"), pl.len()
    )
    assert (per_doc["docs"] == 1).all() and (per_doc["len"] > 1).any()
    # a split document's lines add up to what it moved through the bank
    docs = world["documents"].select("company_id", "provider", "document_id", "home_total")
    whole = (
        split.group_by("company_id", "provider", "document_id", "match_id")
        .agg(pl.col("amount").sum(), pl.len())
        .filter(pl.col("len") > 1)
        .join(docs, on=["company_id", "provider", "document_id"])
    )
    assert (whole["amount"] == -whole["home_total"]).all()


def test_running_balances(world: Loaded) -> None:
    accounts = world["bank_accounts"].select("bank_account_id", "opening_balance", "bank_provider")
    booked = (
        world["bank_lines"]
        .filter(pl.col("status") == "booked")
        .join(accounts, on="bank_account_id")
    )
    calc = booked.with_columns(
        (pl.col("opening_balance") + pl.col("amount").cum_sum().over("bank_account_id")).alias(
            "calc"
        )
    )
    given = calc.filter(pl.col("running_balance").is_not_null())
    assert given.height > 0
    assert (given["running_balance"] == given["calc"]).all()
    assert calc.filter(pl.col("bank_provider") != "aggregator")["running_balance"].null_count() == 0
    # statement order: booked dates never go backwards within an account
    back = booked.with_columns(pl.col("booked_date").diff().over("bank_account_id").alias("d"))
    assert (back["d"].drop_nulls().dt.total_days() >= 0).all()


def test_pending_then_booked(world: Loaded) -> None:
    lines = world["bank_lines"]
    pending = lines.filter(pl.col("status") == "pending")
    assert pending.height > 0
    assert pending["running_balance"].null_count() == pending.height
    linked = lines.filter(pl.col("pending_line_id").is_not_null())
    assert linked.height > 0
    assert (linked["status"] == "booked").all()
    target = linked.join(
        lines.select("company_id", "line_id", "status", "booked_date", "bank_account_id"),
        left_on=["company_id", "pending_line_id"],
        right_on=["company_id", "line_id"],
        suffix="_p",
    )
    assert target.height == linked.height
    assert (target["status_p"] == "pending").all()
    assert (target["bank_account_id"] == target["bank_account_id_p"]).all()
    assert (target["booked_date_p"] <= target["booked_date"]).all()
    assert lines["pending_line_id"].drop_nulls().is_duplicated().sum() == 0
    # some pending amounts differ from what was finally booked (tips, pre-authorisations)
    amounts = linked.join(
        lines.select("company_id", "line_id", "amount"),
        left_on=["company_id", "pending_line_id"],
        right_on=["company_id", "line_id"],
        suffix="_p",
    )
    assert (amounts["amount"] != amounts["amount_p"]).any()


def test_posting_lags_and_narrations(world: Loaded) -> None:
    m = (
        world["truth_matches"]
        .join(
            world["bank_lines"],
            left_on=["company_id", "bank_line_id"],
            right_on=["company_id", "line_id"],
        )
        .join(world["documents"], on=["company_id", "provider", "document_id"])
    )
    lag = (m["booked_date"] - m["issue_date"]).dt.total_days()
    assert lag.min() >= 0
    assert lag.quantile(0.95) <= 9  # 0-5 business days (plus weekends), cheque batches
    text = world["bank_lines"]["description"]
    assert text.str.len_chars().min() > 0
    joined = " ".join(text.sample(min(text.len(), 5000), seed=1).to_list())
    assert any(token in joined for token in ("POS ", "KARTENZAHLUNG", "CARD PAYMENT", "DEBIT CARD"))


def test_bank_only_lines(world: Loaded) -> None:
    kinds = set(world["bank_lines"]["truth_kind"])
    assert {"ledger_cash", "bank_fee"} <= kinds
    fees = world["bank_lines"].filter(pl.col("truth_kind") == "bank_fee")
    assert (fees["amount"] < 0).all()
    interest = world["bank_lines"].filter(pl.col("truth_kind") == "interest")
    assert (interest["amount"] > 0).all()


def test_ledger_reconciles_to_statement(world: Loaded) -> None:
    """Books vs bank per account and document: every difference is explained (opening
    balance, a cheque never cashed, a payment still in transit at the end); bank-only lines
    (fees, interest) are the rest."""
    companies = world["companies"].select("company_id", "home_currency")
    accounts = world["bank_accounts"].join(companies, on="company_id")
    # Bank ledger accounts of every provider file (a migrated company has two per bank account).
    ledger_accounts = (
        world["accounts"]
        .filter(pl.col("bank_account_id").is_not_null())
        .select("company_id", "provider", "account_id", "bank_account_id")
    )
    lines = (
        book_of_record_lines(world)
        .join(ledger_accounts, on=["company_id", "provider", "account_id"])
        .join(accounts.select("bank_account_id", "currency", "home_currency"), on="bank_account_id")
    )
    lines = lines.with_columns(
        pl.when(pl.col("currency") == pl.col("home_currency"))
        .then(pl.col("amount"))
        .otherwise(pl.col("foreign_amount"))
        .alias("own")
    )
    ledger = lines.group_by("company_id", "bank_account_id", "document_id").agg(
        pl.col("own").sum().alias("ledger")
    )
    bank_lines = world["bank_lines"]
    matched = (
        world["truth_matches"]
        .join(
            bank_lines.select("company_id", "line_id", "bank_account_id"),
            left_on=["company_id", "bank_line_id"],
            right_on=["company_id", "line_id"],
        )
        .group_by("company_id", "bank_account_id", "document_id")
        .agg(pl.col("amount").sum().alias("matched"))
    )
    per_doc = (
        ledger.join(
            matched, on=["company_id", "bank_account_id", "document_id"], how="full", coalesce=True
        )
        .with_columns(pl.col("ledger", "matched").fill_null(0))
        .with_columns((pl.col("ledger") - pl.col("matched")).alias("diff"))
    )
    # totals: ledger = opening + booked ledger cash + what has not cleared
    booked = bank_lines.filter(
        (pl.col("status") == "booked") & (pl.col("truth_kind") == "ledger_cash")
    )
    totals = (
        accounts.join(
            per_doc.group_by("bank_account_id").agg(pl.col("ledger").sum(), pl.col("diff").sum()),
            on="bank_account_id",
        )
        .join(
            booked.group_by("bank_account_id").agg(pl.col("amount").sum().alias("cash")),
            on="bank_account_id",
            how="left",
        )
        .with_columns(pl.col("cash").fill_null(0))
    )
    assert (totals["ledger"] == totals["cash"] + totals["diff"]).all()
    # every unexplained document is the opening balance, an uncashed cheque or in transit
    docs = world["documents"].select(
        "company_id",
        "document_id",
        "doc_type",
        "number",
        "payment_method",
        "issue_date",
        "provider",
    )
    open_items = per_doc.filter(pl.col("diff") != 0).join(docs, on=["company_id", "document_id"])
    end = world["companies"]["end_date"].max()
    explained = (
        pl.col("number").str.starts_with("OB-")
        | (pl.col("payment_method") == "check")
        | (pl.col("issue_date") >= pl.lit(end) - pl.duration(days=12))
    )
    assert open_items.filter(~explained).height == 0
    assert (
        open_items.filter(pl.col("payment_method") == "check").height > 0
        or world.spec.companies < 10
    )
