"""Cash movements read off the journal, and bank feed accounts linked to the books' bank
accounts, checked against the generated world's own links and cash documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from finpipe.ledger.books_schema import BANK_LINK_SCHEMA
from finpipe.ledger.cash_movements import cash_movements, link_bank_accounts
from finpipe.sandbox.world.recon_view import world_movements

CO = "cmp_x"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world

    root: Path = tmp_path_factory.mktemp("world")
    generate_world(WorldSpec(companies=6, months=3, seed=4), root)
    return load_world(root)


def _world_accounts(world) -> pl.DataFrame:
    return (
        world.table("accounts")
        .collect()
        .select(
            "company_id",
            "provider",
            "account_id",
            "code",
            "name",
            "account_type",
            "account_subtype",
            pl.lit(None, pl.String).alias("classification"),
            "currency",
        )
    )


def test_every_world_bank_account_is_linked_to_its_books_account(world):
    accounts = _world_accounts(world)
    feeds = world.table("bank_accounts").collect()
    links = link_bank_accounts(feeds, accounts)
    truth = (
        world.table("accounts")
        .collect()
        .filter(pl.col("bank_account_id").is_not_null())
        .select("company_id", "provider", "bank_account_id", pl.col("account_id").alias("want"))
    )
    got = truth.join(links, on=["company_id", "provider", "bank_account_id"], how="left")
    assert links.schema == BANK_LINK_SCHEMA
    assert got.height == truth.height
    assert got.filter(pl.col("cash_account_id") != pl.col("want")).height == 0
    assert got["cash_account_id"].null_count() == 0
    assert set(got["method"]) <= {"account_number", "only_candidate"}


def test_link_by_number_beats_elimination_and_ambiguity_stays_unlinked():
    feeds = pl.DataFrame(
        {
            "company_id": [CO, CO, CO],
            "bank_account_id": ["f1", "f2", "f3"],
            "account_type": ["checking", "savings", "savings"],
            "iban": ["GB00XXXX00001111", None, None],
            "account_number": [None, "99992222", "77773333"],
            "currency": ["GBP", "GBP", "GBP"],
        }
    )
    books = pl.DataFrame(
        {
            "company_id": [CO] * 3,
            "provider": ["quickbooks"] * 3,
            "account_id": ["1", "2", "3"],
            "code": [None] * 3,
            "name": ["Current (1111)", "Reserve", "Deposit"],
            "account_type": ["Bank"] * 3,
            "account_subtype": ["Checking", "Savings", "Savings"],
            "classification": ["Asset"] * 3,
            "currency": ["GBP"] * 3,
        }
    )
    links = link_bank_accounts(feeds, books)
    assert links.select("bank_account_id", "cash_account_id", "method").rows() == [
        ("f1", "1", "account_number")
    ]
    overrides = pl.DataFrame(
        {
            "company_id": [CO],
            "bank_account_id": ["f2"],
            "provider": ["quickbooks"],
            "cash_account_id": ["3"],
            "method": ["override"],
        }
    )
    links = link_bank_accounts(feeds, books, overrides)
    assert sorted(links.select("bank_account_id", "cash_account_id", "method").rows()) == [
        ("f1", "1", "account_number"),
        ("f2", "3", "override"),
        ("f3", "2", "only_candidate"),
    ]


def _books_from_world(world) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """World documents/journal/contacts in the canonical contract's columns."""
    ledger_of = (
        world.table("accounts")
        .collect()
        .filter(pl.col("bank_account_id").is_not_null())
        .select("company_id", "provider", "bank_account_id", pl.col("account_id").alias("acc"))
    )
    docs = world.table("documents").collect()
    docs = (
        docs.join(ledger_of, on=["company_id", "provider", "bank_account_id"], how="left")
        .join(
            ledger_of.rename({"bank_account_id": "from_bank_account_id", "acc": "from_acc"}),
            on=["company_id", "provider", "from_bank_account_id"],
            how="left",
        )
        .filter(pl.col("truth_duplicate_of").is_null())
        .select(
            "company_id",
            "provider",
            "document_id",
            "doc_type",
            "number",
            "reference",
            "contact_id",
            "issue_date",
            "currency",
            "status",
            pl.col("acc").alias("cash_account_id"),
            pl.col("from_acc").alias("from_cash_account_id"),
            pl.when(pl.col("payment_method") == "card_settlement")
            .then(pl.col("reference"))
            .alias("external_id"),
        )
    )
    journal = world.table("journal_lines").collect()
    contacts = (
        world.table("contacts")
        .collect()
        .select("company_id", "provider", "contact_id", "name", "bank_account_number")
    )
    return docs, journal, contacts


def test_cash_movements_equal_the_worlds_cash_documents(world):
    docs, journal, contacts = _books_from_world(world)
    accounts = _world_accounts(world)
    feeds = world.table("bank_accounts").collect()
    links = link_bank_accounts(feeds, accounts)
    got = cash_movements(docs, journal, contacts, links, accounts, feeds)
    want = world_movements(world)
    assert got.select("company_id", "movement_id").is_duplicated().sum() == 0
    # The opening-balance journals post to the bank accounts too (one leg per account);
    # the world's cash documents leave them out (reconciliation sets them aside as older
    # than the bank's history).
    opening = got.filter(pl.col("document_number").str.starts_with("OB-"))
    assert opening.height > 0 and set(opening["document_type"]) == {"journal"}
    got = got.filter(~pl.col("document_number").str.starts_with("OB-").fill_null(False))
    joined = want.join(
        got.select("company_id", "movement_id", "amount", "bank_account_id", "currency"),
        on=["company_id", "movement_id"],
        how="full",
        suffix="_got",
    )
    # every world cash movement, and nothing else, with its amount, account and currency
    assert joined.filter(pl.col("movement_id").is_null()).height == 0
    assert joined.filter(pl.col("movement_id_got").is_null()).height == 0
    for column in ("amount", "bank_account_id", "currency"):
        assert joined.filter(pl.col(column) != pl.col(f"{column}_got")).height == 0, column


def test_a_refund_and_a_transfer_carry_the_journals_signs():
    docs = pl.DataFrame(
        {
            "company_id": [CO, CO],
            "provider": ["xero", "xero"],
            "document_id": ["r1", "t1"],
            "doc_type": ["refund", "transfer"],
            "number": [None, None],
            "reference": ["RF-1", None],
            "contact_id": ["c1", None],
            "issue_date": [dt.date(2026, 3, 1)] * 2,
            "currency": ["EUR", "EUR"],
            "status": ["posted", "posted"],
            "cash_account_id": ["bank", "save"],
            "from_cash_account_id": [None, "bank"],
            "external_id": [None, None],
        }
    )
    journal = pl.DataFrame(
        {
            "company_id": [CO] * 4,
            "provider": ["xero"] * 4,
            "document_id": ["r1", "r1", "t1", "t1"],
            "account_id": ["bank", "sales", "save", "bank"],
            "amount": [-1250, 1250, 50000, -50000],
            "currency": ["EUR"] * 4,
            "foreign_amount": [-1250, 1250, 50000, -50000],
        }
    )
    contacts = pl.DataFrame(
        {
            "company_id": [CO],
            "provider": ["xero"],
            "contact_id": ["c1"],
            "name": ["Acme"],
            "bank_account_number": ["DE89370400440532013000"],
        }
    )
    accounts = pl.DataFrame(
        {
            "company_id": [CO, CO],
            "provider": ["xero", "xero"],
            "account_id": ["bank", "save"],
            "code": ["090", "091"],
            "name": ["Main (3000)", "Savings (4000)"],
            "account_type": ["BANK", "BANK"],
            "account_subtype": [None, None],
            "classification": ["ASSET", "ASSET"],
            "currency": ["EUR", "EUR"],
        }
    )
    feeds = pl.DataFrame(
        {
            "company_id": [CO, CO],
            "bank_account_id": ["feed-main", "feed-save"],
            "account_type": ["checking", "savings"],
            "iban": ["DE00000000000000003000", "DE00000000000000004000"],
            "account_number": [None, None],
            "currency": ["EUR", "EUR"],
        }
    )
    links = link_bank_accounts(feeds, accounts)
    got = cash_movements(docs, journal, contacts, links, accounts, feeds).sort("movement_id")
    assert got.select("movement_id", "bank_account_id", "amount", "counterparty_name").rows() == [
        ("xero:r1:in", "feed-main", -1250, "Acme"),
        ("xero:t1:in", "feed-save", 50000, None),
        ("xero:t1:out", "feed-main", -50000, None),
    ]
