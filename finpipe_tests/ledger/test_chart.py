"""The ledger's standard chart of accounts: a consistent taxonomy, the table it lands in."""

from __future__ import annotations

import polars as pl
import pytest

from finpipe.ledger import chart
from finpipe.sandbox.world import standard_chart as world_chart
from finpipe.warehouse.tables.mapping import STANDARD_ACCOUNTS

# The class each leading digit stands for (see the module docstring).
DIGIT_CLASS = {
    "1": "asset",
    "2": "liability",
    "3": "equity",
    "4": "income",
    "5": "expense",
    "6": "expense",
    "7": "income",
    "8": "expense",
}


def test_codes_are_unique_four_digits_and_the_first_digit_is_the_class() -> None:
    codes = [a.code for a in chart.STANDARD_ACCOUNTS]
    assert len(codes) == len(set(codes)) == 70
    for account in chart.STANDARD_ACCOUNTS:
        assert len(account.code) == 4 and account.code.isdigit(), account
        assert DIGIT_CLASS[account.code[0]] == account.account_class, account
        assert account.section in chart.CLASS_SECTIONS[account.account_class], account
        assert account.name and account.description, account


def test_every_section_is_used_and_has_a_catch_all_of_its_class() -> None:
    used = {a.section for a in chart.STANDARD_ACCOUNTS}
    assert used == set(chart.SECTIONS)
    assert set(chart.SECTION_CATCH_ALL) == set(chart.SECTIONS)
    for section, code in chart.SECTION_CATCH_ALL.items():
        catch_all = chart.standard_account(code)
        cls = next(c for c, sections in chart.CLASS_SECTIONS.items() if section in sections)
        assert catch_all.account_class == cls, (section, code)


def test_normal_balance_follows_the_class() -> None:
    assert chart.standard_account("1100").normal_balance == "debit"
    assert chart.standard_account("6100").normal_balance == "debit"
    assert chart.standard_account("2000").normal_balance == "credit"
    assert chart.standard_account("4000").normal_balance == "credit"
    assert chart.standard_account("3100").normal_balance == "credit"


def test_unknown_code_error_names_it() -> None:
    with pytest.raises(KeyError, match="'9999' is not a finpipe standard account code"):
        chart.standard_account("9999")
    assert chart.is_standard_code("1010") and not chart.is_standard_code("9999")


def test_the_frame_fits_the_declared_table() -> None:
    frame = chart.standard_chart_frame()
    assert frame.schema == STANDARD_ACCOUNTS.polars_schema()
    assert frame.height == len(chart.STANDARD_ACCOUNTS)
    assert frame["code"].is_unique().all()
    assert frame.filter(pl.col("code") == "2100").row(0, named=True) == {
        "code": "2100",
        "name": "Credit card",
        "account_class": "liability",
        "section": "current_liability",
        "normal_balance": "credit",
        "description": "company credit cards",
    }


def test_the_world_generator_scores_against_the_same_chart() -> None:
    # The generator's ground truth names the ledger's accounts: one chart, not a copy.
    assert world_chart.STANDARD_ACCOUNTS is chart.STANDARD_ACCOUNTS
    assert world_chart.BY_CODE is chart.BY_CODE
