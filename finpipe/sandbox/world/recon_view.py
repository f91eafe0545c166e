"""The world's bank lines and cash documents as the reconciliation engine's inputs.

Evaluation helpers: the benchmark and the tests score the engine against the world's ground
truth (``truth_matches``), which names world bank line ids and world document ids. Here the
bank lines keep the world line id as ``source_id`` and the movements keep ``document_id``,
so a match maps straight back to the truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from finpipe.sandbox.world.writer import World

CASH_TYPES = (
    "customer_payment",
    "bill_payment",
    "expense",
    "deposit",
    "transfer",
    "sales_receipt",
    "refund",
)
INFLOW_TYPES = ("customer_payment", "sales_receipt", "deposit")


def world_bank_lines(world: World) -> pl.DataFrame:
    """``ledger.bank_lines``-shaped frame from the world's bank lines."""
    bl = world.table("bank_lines").collect()
    return bl.select(
        "company_id",
        pl.concat_str([pl.lit("w"), "bank_account_id", "line_id"], separator=":").alias("line_id"),
        "bank_account_id",
        pl.col("line_id").alias("source_id"),
        "booked_date",
        "value_date",
        "amount",
        "currency",
        "status",
        "description",
        "counterparty_name",
        "counterparty_account",
        "reference",
    )


def world_movements(world: World) -> pl.DataFrame:
    """Ledger cash movements from the world's cash documents (book-of-record copies, live):
    one per document and bank account (a transfer moves through two), in the bank account's
    currency (a foreign document at its home-currency amount, as the books convert it).
    A journal that posts to a bank account (payroll: the net pay leaves the bank in several
    lines) moves what its journal lines on that account say."""
    docs = world.table("documents").collect()
    contacts = (
        world.table("contacts")
        .collect()
        .select(
            "company_id",
            "provider",
            "contact_id",
            pl.col("name").alias("counterparty_name"),
            pl.col("bank_account_number").alias("counterparty_account"),
        )
    )
    accounts = (
        world.table("bank_accounts")
        .collect()
        .select("bank_account_id", pl.col("currency").alias("account_currency"))
    )
    cash = docs.filter(
        pl.col("doc_type").is_in(CASH_TYPES)
        & pl.col("status").is_in(["void", "deleted"]).not_()
        & pl.col("truth_duplicate_of").is_null()
        & (pl.col("bank_account_id").is_not_null() | pl.col("from_bank_account_id").is_not_null())
    ).join(contacts, on=["company_id", "provider", "contact_id"], how="left")
    sign = pl.when(pl.col("doc_type").is_in(INFLOW_TYPES)).then(1).otherwise(-1)
    legs = pl.concat(
        [
            cash.filter(pl.col("bank_account_id").is_not_null()).with_columns(
                pl.when(pl.col("doc_type") == "transfer").then(1).otherwise(sign).alias("sign"),
                pl.lit("in").alias("leg"),
            ),
            cash.filter(pl.col("doc_type") == "transfer").with_columns(
                pl.col("from_bank_account_id").alias("bank_account_id"),
                pl.lit(-1).alias("sign"),
                pl.lit("out").alias("leg"),
            ),
        ]
    ).join(accounts, on="bank_account_id")
    legs = pl.concat([legs, _journal_legs(world, docs, contacts, accounts)], how="diagonal")
    amount = pl.coalesce(
        "journal_amount",
        pl.when(pl.col("currency") == pl.col("account_currency"))
        .then(pl.col("total"))
        .otherwise(pl.col("home_total"))
        * pl.col("sign"),
    )
    return legs.select(
        "company_id",
        pl.concat_str(["provider", "document_id", "leg"], separator=":").alias("movement_id"),
        "document_id",
        pl.col("number").alias("document_number"),
        pl.col("doc_type").alias("document_type"),
        "bank_account_id",
        pl.col("issue_date").alias("date"),
        amount.alias("amount"),
        pl.col("account_currency").alias("currency"),
        pl.col("currency").alias("document_currency"),
        "counterparty_name",
        "counterparty_account",
        "reference",
        # a card-processor payout id is a provider payment id the books know
        pl.when(pl.col("payment_method") == "card_settlement")
        .then(pl.col("reference"))
        .alias("external_id"),
    )


def _journal_legs(
    world: World, docs: pl.DataFrame, contacts: pl.DataFrame, accounts: pl.DataFrame
) -> pl.DataFrame:
    """Live journals posting to a bank account, with the signed amount their lines put
    through that account (``journal_amount``, the account's currency)."""
    journals = docs.filter(
        (pl.col("doc_type") == "journal")
        & pl.col("status").is_in(["void", "deleted"]).not_()
        & pl.col("truth_duplicate_of").is_null()
        & pl.col("bank_account_id").is_not_null()
    ).join(contacts, on=["company_id", "provider", "contact_id"], how="left")
    ledger_account = (
        world.table("accounts")
        .collect()
        .filter(pl.col("bank_account_id").is_not_null())
        .select("company_id", "provider", "bank_account_id", pl.col("account_id").alias("acc"))
    )
    lines = world.table("journal_lines").collect()
    posted = (
        journals.select("company_id", "provider", "document_id", "bank_account_id")
        .join(ledger_account, on=["company_id", "provider", "bank_account_id"])
        .join(accounts, on="bank_account_id")
        .join(
            lines.rename({"account_id": "acc", "currency": "line_currency"}),
            on=["company_id", "provider", "document_id", "acc"],
        )
        .group_by("company_id", "provider", "document_id")
        .agg(
            pl.when(pl.col("line_currency") == pl.col("account_currency"))
            .then(pl.col("foreign_amount"))
            .otherwise(pl.col("amount"))
            .sum()
            .alias("journal_amount")
        )
    )
    return (
        journals.join(posted, on=["company_id", "provider", "document_id"])
        .join(accounts, on="bank_account_id")
        .with_columns(pl.lit(-1).alias("sign"), pl.lit("in").alias("leg"))
    )
