"""Helpers shared by the Berlin Group connector tests."""

from __future__ import annotations

import polars as pl

from finpipe.connectors.berlingroup import to_bank_lines
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.raw import BERLINGROUP_TABLES
from finpipe_tests.berlingroup.conftest import Running, world_booked


def frames(warehouse: Warehouse, company_id: str) -> dict[str, pl.DataFrame]:
    return {e: warehouse.read(t, company_id=company_id) for e, t in BERLINGROUP_TABLES.items()}


def assert_matches_bank(running: Running, warehouse: Warehouse, company_id: str) -> None:
    """Per account: booked counts and sums, ids and references from ``to_bank_lines`` equal
    the BankView's booked lines; pending lines equal the bank's pending lines."""
    lines = to_bank_lines(frames(warehouse, company_id)).filter(~pl.col("deleted"))
    accounts = running.sandbox.view.accounts_of(company_id)
    assert accounts.height >= 1
    for account_id in accounts.get_column("bank_account_id").to_list():
        truth = world_booked(running, account_id)
        got = lines.filter(
            (pl.col("bank_account_id") == account_id) & (pl.col("status") == "booked")
        )
        assert got.height == truth.height, account_id
        assert got["amount"].sum() == truth["amount"].sum(), account_id
        assert set(got["source_id"]) == set(truth["line_id"])
        joined = got.join(truth, left_on="source_id", right_on="line_id", suffix="_w")
        for left, right in (
            ("amount", "amount_w"),
            ("booked_date", "booked_date_w"),
            ("reference", "reference_w"),
            ("counterparty_name", "counterparty_name_w"),
            ("running_balance", "running_balance_w"),
            ("description", "description_w"),
        ):
            assert joined[left].equals(joined[right]), (account_id, left)
        pending_truth = running.sandbox.view.lines(account_id).filter(pl.col("status") == "pending")
        pending = lines.filter(
            (pl.col("bank_account_id") == account_id) & (pl.col("status") == "pending")
        )
        assert set(pending["source_id"]) == {f"pending:{i}" for i in pending_truth["line_id"]}
