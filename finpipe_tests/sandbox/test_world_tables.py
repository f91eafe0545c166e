"""Every generated table conforms to its declaration and references resolve."""

from __future__ import annotations

import polars as pl
import pytest
from world_helpers import Loaded

from finpipe.sandbox.world.identifiers import iban_is_valid
from finpipe.sandbox.world.standard_chart import BY_CODE, STANDARD_ACCOUNTS
from finpipe.warehouse.tables.world import TABLES


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_schema_nulls_and_keys(world: Loaded, table) -> None:
    frame = world[table.name.removeprefix("world_")]
    assert frame.schema == table.polars_schema()
    assert frame.height > 0
    for column in table.columns:
        if not column.nullable:
            assert frame[column.name].null_count() == 0, column.name
    key = list(table.primary_key)
    assert frame.select(key).is_duplicated().sum() == 0, key


def test_manifest_counts_and_files(small_world: Loaded) -> None:
    manifest = small_world.manifest
    assert manifest is not None and small_world.root is not None
    for name, frame in small_world.tables.items():
        assert manifest.row_counts[name] == frame.height
        assert len(manifest.sha256[name]) == 64
        assert (small_world.root / f"{name}.parquet").is_file()
    assert manifest.spec == small_world.spec


def _missing(
    child: pl.DataFrame, parent: pl.DataFrame, on: list[str], parent_on: list[str] | None = None
) -> int:
    child = child.drop_nulls(on)
    return child.join(parent, left_on=on, right_on=parent_on or on, how="anti").height


def test_references_resolve(world: Loaded) -> None:
    docs = world["documents"]
    accounts = world["accounts"]
    contacts = world["contacts"]
    key = ["company_id", "provider"]
    assert _missing(docs, contacts, [*key, "contact_id"]) == 0
    assert _missing(world["document_lines"], docs, [*key, "document_id"]) == 0
    assert _missing(world["document_lines"], accounts, [*key, "account_id"]) == 0
    assert _missing(world["document_lines"], world["items"], [*key, "item_id"]) == 0
    assert _missing(world["journal_lines"], accounts, [*key, "account_id"]) == 0
    assert _missing(world["journal_lines"], docs, [*key, "document_id"]) == 0
    alloc = world["allocations"]
    assert _missing(alloc, docs, [*key, "source_document_id"], [*key, "document_id"]) == 0
    assert _missing(alloc, docs, [*key, "target_document_id"], [*key, "document_id"]) == 0
    banks = world["bank_accounts"].select("company_id", "bank_account_id")
    assert _missing(docs, banks, ["company_id", "bank_account_id"]) == 0
    assert (
        _missing(
            docs, banks, ["company_id", "from_bank_account_id"], ["company_id", "bank_account_id"]
        )
        == 0
    )
    assert _missing(world["bank_lines"], banks, ["company_id", "bank_account_id"]) == 0
    ledger = world["bank_accounts"].select("company_id", "ledger_account_id")
    assert (
        _missing(
            ledger, accounts, ["company_id", "ledger_account_id"], ["company_id", "account_id"]
        )
        == 0
    )
    items = world["items"]
    assert _missing(items, accounts, [*key, "income_account_id"], [*key, "account_id"]) == 0
    for name in ("accounts", "contacts", "items", "documents", "journal_lines", "bank_lines"):
        assert _missing(world[name], world["companies"], ["company_id"]) == 0, name


def test_every_account_maps_to_a_standard_account(world: Loaded) -> None:
    codes = set(world["accounts"]["truth_standard_account"].unique())
    assert codes <= set(BY_CODE)
    assert 55 <= len(STANDARD_ACCOUNTS) <= 80
    assert len(codes) >= 40  # the charts exercise most of the taxonomy


def test_provider_account_styles(world: Loaded) -> None:
    acc = world["accounts"]
    qbo = acc.filter(pl.col("provider") == "quickbooks")
    xero = acc.filter(pl.col("provider") == "xero")
    assert qbo["account_id"].str.contains(r"^\d+$").all()
    assert (
        xero["account_id"]
        .str.contains(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        .all()
    )
    pairs = set(zip(qbo["account_type"], qbo["account_subtype"], strict=True))
    assert {
        ("Bank", "Checking"),
        ("Accounts Receivable", "AccountsReceivable"),
        ("Other Current Liability", "SalesTaxPayable"),
    } <= pairs
    assert {"BANK", "CURRENT", "CURRLIAB", "EQUITY", "EXPENSE", "OVERHEADS"} <= set(
        xero["account_type"]
    )
    assert {"DEBTORS", "CREDITORS"} <= set(xero["account_subtype"].drop_nulls())
    assert {"200", "610", "800"} <= set(xero["code"].drop_nulls())
    assert set(acc["classification"]) <= {"Asset", "Liability", "Equity", "Revenue", "Expense"}
    # every posting account is active
    inactive = acc.filter(~pl.col("active")).select("company_id", "provider", "account_id")
    assert inactive.height > 0  # some unused accounts are archived, as in real files
    key = ["company_id", "provider", "account_id"]
    for table, column in (
        ("journal_lines", "account_id"),
        ("document_lines", "account_id"),
        ("items", "income_account_id"),
        ("items", "expense_account_id"),
    ):
        used = world[table].select("company_id", "provider", pl.col(column).alias("account_id"))
        assert used.join(inactive, on=key).height == 0, (table, column)


def test_document_ids_follow_provider_style(world: Loaded) -> None:
    docs = world["documents"]
    qbo = docs.filter(pl.col("provider") == "quickbooks")
    xero = docs.filter(pl.col("provider") == "xero")
    assert qbo["document_id"].str.contains(r"^\d{1,7}$").all()
    assert xero["document_id"].str.len_chars().eq(36).all()
    realm = world["companies"]["qbo_realm_id"].drop_nulls()
    assert realm.str.contains(r"^9130\d{12}$").all()


def test_bank_identifiers_are_valid(world: Loaded) -> None:
    banks = world["bank_accounts"]
    for iban in banks["iban"].drop_nulls():
        assert iban_is_valid(iban), iban
    for iban in world["contacts"]["bank_account_number"].drop_nulls():
        if iban[:2].isalpha():
            assert iban_is_valid(iban), iban
    us = banks.filter(pl.col("routing_number").is_not_null())
    for routing in us["routing_number"]:  # ABA checksum
        d = [int(x) for x in routing]
        assert (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0
    counts = banks.group_by("company_id").len()["len"]
    assert counts.min() >= 1 and counts.max() <= 3
