"""Statements and KPIs on a ledger built by hand, every figure computed on paper.

Company ``c1`` (fiscal year from January): January opens with 100,000 of capital, borrows
30,000, buys 12,000 of equipment, invoices 50,000, buys 20,000 of goods on credit, pays
10,000 rent and 500 interest and books 1,000 depreciation. February collects the 50,000,
invoices 40,000, buys 16,000 on credit, pays rent, interest, 2,000 tax and repays 5,000.
March only pays 13,000 rent.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl
import pytest

from finpipe.analytics.financials.build import FinancialsError, compute_financials
from finpipe.analytics.financials.kpis import (
    BY_NAME,
    FORMULAS,
    KPIS,
    compute_kpis,
    kpi_registry,
    kpi_registry_markdown,
    kpis_wide,
)
from finpipe.analytics.financials.statements import LINE_OF_CODE

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


LEDGER = [
    # January
    (dt.date(2026, 1, 1), "1010", 100_000),
    (dt.date(2026, 1, 1), "3900", -100_000),
    (dt.date(2026, 1, 3), "1010", 30_000),
    (dt.date(2026, 1, 3), "2500", -30_000),
    (dt.date(2026, 1, 4), "1500", 12_000),
    (dt.date(2026, 1, 4), "1010", -12_000),
    (dt.date(2026, 1, 10), "1100", 50_000),
    (dt.date(2026, 1, 10), "4000", -50_000),
    (dt.date(2026, 1, 11), "5000", 20_000),
    (dt.date(2026, 1, 11), "2000", -20_000),
    (dt.date(2026, 1, 15), "6100", 10_000),
    (dt.date(2026, 1, 15), "1010", -10_000),
    (dt.date(2026, 1, 31), "6800", 1_000),
    (dt.date(2026, 1, 31), "1550", -1_000),
    (dt.date(2026, 1, 31), "8000", 500),
    (dt.date(2026, 1, 31), "1010", -500),
    # February
    (dt.date(2026, 2, 2), "1010", 50_000),
    (dt.date(2026, 2, 2), "1100", -50_000),
    (dt.date(2026, 2, 10), "1100", 40_000),
    (dt.date(2026, 2, 10), "4000", -40_000),
    (dt.date(2026, 2, 11), "5000", 16_000),
    (dt.date(2026, 2, 11), "2000", -16_000),
    (dt.date(2026, 2, 15), "6100", 10_000),
    (dt.date(2026, 2, 15), "1010", -10_000),
    (dt.date(2026, 2, 28), "6800", 1_000),
    (dt.date(2026, 2, 28), "1550", -1_000),
    (dt.date(2026, 2, 28), "8000", 500),
    (dt.date(2026, 2, 28), "1010", -500),
    (dt.date(2026, 2, 28), "2500", 5_000),
    (dt.date(2026, 2, 28), "1010", -5_000),
    (dt.date(2026, 2, 28), "8100", 2_000),
    (dt.date(2026, 2, 28), "1010", -2_000),
    # March
    (dt.date(2026, 3, 15), "6100", 13_000),
    (dt.date(2026, 3, 15), "1010", -13_000),
]


def journal(rows: list[tuple[dt.date, str | None, int]], company: str = "c1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": [company] * len(rows),
            "date": [r[0] for r in rows],
            "standard_code": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
        },
        schema={
            "company_id": pl.String,
            "date": pl.Date,
            "standard_code": pl.String,
            "amount": pl.Int64,
        },
    )


def documents() -> pl.DataFrame:
    rows = [
        ("i1", "invoice", "paid", "A", dt.date(2026, 1, 10), 50_000),
        ("i2", "invoice", "open", "B", dt.date(2026, 2, 10), 40_000),
        ("r1", "sales_receipt", "posted", None, dt.date(2026, 2, 12), 10_000),
        ("n1", "credit_note", "paid", "A", dt.date(2026, 2, 20), 5_000),
        ("v1", "invoice", "void", "C", dt.date(2026, 2, 21), 99_999),
        ("b1", "bill", "open", "V", dt.date(2026, 2, 11), 16_000),
    ]
    return pl.DataFrame(
        {
            "company_id": ["c1"] * len(rows),
            "document_id": [r[0] for r in rows],
            "doc_type": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "contact_id": [r[3] for r in rows],
            "issue_date": [r[4] for r in rows],
            "home_total": [r[5] for r in rows],
            "total": [r[5] for r in rows],
            "book_of_record": [True] * len(rows),
        }
    )


@pytest.fixture(scope="module")
def fin():
    return compute_financials(journal(LEDGER), documents(), fiscal_year_start_month=1)


def row(frame: pl.DataFrame, month: dt.date) -> dict:
    return frame.filter(pl.col("month") == month).row(0, named=True)


def test_every_standard_code_lands_on_one_statement_line() -> None:
    assert LINE_OF_CODE["1100"] == "accounts_receivable"
    assert LINE_OF_CODE["1550"] == "fixed_assets"
    assert LINE_OF_CODE["6800"] == "depreciation_amortisation"
    assert LINE_OF_CODE["8000"] == "interest_expense"
    assert LINE_OF_CODE["7100"] == "other_income"
    assert LINE_OF_CODE["2100"] == "other_current_liabilities"


def test_income_statement(fin) -> None:
    jan, feb = row(fin.income, JAN), row(fin.income, FEB)
    assert {k: jan[k] for k in ("revenue", "cost_of_sales", "gross_profit")} == {
        "revenue": 50_000,
        "cost_of_sales": 20_000,
        "gross_profit": 30_000,
    }
    assert (jan["ebitda"], jan["operating_income"], jan["ebit"], jan["net_income"]) == (
        20_000,
        19_000,
        19_000,
        18_500,
    )
    assert (feb["ebitda"], feb["ebit"], feb["income_tax"], feb["net_income"]) == (
        14_000,
        13_000,
        2_000,
        10_500,
    )
    assert row(fin.income, MAR)["net_income"] == -13_000


def test_balance_sheet_balances_and_splits_equity(fin) -> None:
    jan, feb = row(fin.balance, JAN), row(fin.balance, FEB)
    assert (jan["cash"], jan["accounts_receivable"], jan["fixed_assets"]) == (
        107_500,
        50_000,
        11_000,
    )
    assert (jan["total_assets"], jan["total_liabilities"], jan["total_equity"]) == (
        168_500,
        50_000,
        118_500,
    )
    assert (feb["cash"], feb["total_assets"], feb["accounts_payable"], feb["long_term_debt"]) == (
        140_000,
        190_000,
        36_000,
        25_000,
    )
    assert (feb["contributed_equity"], feb["retained_earnings"], feb["current_year_earnings"]) == (
        100_000,
        0,
        29_000,
    )
    assert (fin.balance["total_assets"] == fin.balance["total_liabilities_and_equity"]).all()


def test_fiscal_year_start_moves_earlier_profit_to_retained_earnings() -> None:
    fin = compute_financials(journal(LEDGER), fiscal_year_start_month=2)
    feb = row(fin.balance, FEB)
    assert (feb["retained_earnings"], feb["current_year_earnings"]) == (18_500, 10_500)
    assert all(frame.is_empty() for frame in fin.problems().values())


def test_cash_flow_ties_to_the_change_in_cash(fin) -> None:
    jan, feb = row(fin.cash_flow, JAN), row(fin.cash_flow, FEB)
    assert (jan["operating"], jan["investing"], jan["financing"], jan["net_change"]) == (
        -10_500,
        -12_000,
        130_000,
        107_500,
    )
    assert jan["is_opening_month"] and not feb["is_opening_month"]
    assert (feb["operating"], feb["investing"], feb["financing"], feb["net_change"]) == (
        37_500,
        0,
        -5_000,
        32_500,
    )
    assert feb["net_change"] == feb["cash_end"] - feb["cash_begin"]
    assert all(frame.is_empty() for frame in fin.problems().values())


def test_a_broken_balance_is_caught() -> None:
    # One unbalanced entry (a debit without its credit): the sheet no longer balances.
    fin = compute_financials(journal([*LEDGER, (dt.date(2026, 2, 5), "1010", 7)]))
    assert fin.problems()["unbalanced"]["month"].to_list() == [FEB, MAR]


def test_an_unmapped_account_is_kept_unclassified() -> None:
    fin = compute_financials(journal([*LEDGER[:2], (JAN, None, 300), (JAN, "4000", -300)]))
    jan = row(fin.balance, JAN)
    assert jan["unclassified"] == 300 and jan["total_assets"] == 100_300


def test_missing_column_and_bad_fiscal_month_are_refused() -> None:
    with pytest.raises(FinancialsError, match="standard_code"):
        compute_financials(journal(LEDGER).drop("standard_code"))
    with pytest.raises(FinancialsError, match="fiscal_year_start_month=13"):
        compute_financials(journal(LEDGER), fiscal_year_start_month=13)


def kpi(fin, name: str, month: dt.date = FEB) -> dict:
    return fin.kpis.filter((pl.col("kpi") == name) & (pl.col("month") == month)).row(0, named=True)


def test_every_kpi_formula_on_the_hand_ledger(fin) -> None:
    days = 2 * 365 / 12
    expected = {
        "revenue_growth_mom": -0.2,
        "gross_margin": 54_000 / 90_000,
        "operating_margin": 32_000 / 90_000,
        "net_margin": 29_000 / 90_000,
        "ebitda": 14_000.0,
        "current_ratio": 180_000 / 36_000,
        "quick_ratio": 180_000 / 36_000,
        "cash_ratio": 140_000 / 36_000,
        "working_capital": 144_000.0,
        "debt_to_equity": 25_000 / 129_000,
        "equity_ratio": 129_000 / 190_000,
        "dscr": 34_000 / (1_000 + 5_000),
        "interest_coverage": 32_000 / 1_000,
        "dso": 40_000 / 90_000 * days,
        "dpo": 36_000 / 56_000 * days,
        "dio": 0.0,
        "cash_conversion_cycle": 40_000 / 90_000 * days - 36_000 / 56_000 * days,
        "burn": 0.0,
        "top_customer_share": 45_000 / 95_000,
        "top3_customer_share": 85_000 / 95_000,
    }
    for name, value in expected.items():
        assert kpi(fin, name)["value"] == pytest.approx(value, rel=1e-12), name
    assert kpi(fin, "ebitda")["amount"] == 14_000
    assert kpi(fin, "working_capital")["amount"] == 144_000
    assert json.loads(kpi(fin, "dscr")["inputs"]) == {
        "ebitda_ttm": 34_000,
        "interest_expense_ttm": 1_000,
        "principal_repaid_ttm": 5_000,
    }
    # March: a third month of operating expenses (10,000, 10,000, 13,000)
    assert kpi(fin, "expense_volatility", MAR)["value"] == pytest.approx(math.sqrt(3e6) / 11_000)
    assert kpi(fin, "revenue_growth_mom", MAR)["value"] == -1.0


def test_nulls_say_why_and_never_infinity(fin) -> None:
    assert kpi(fin, "revenue_growth_yoy")["null_reason"] == (
        "revenue_prev_year not available (not enough months of books)"
    )
    assert kpi(fin, "runway_months")["null_reason"] == "not burning cash: runway unbounded"
    assert kpi(fin, "expense_volatility")["value"] is None
    values = fin.kpis["value"].drop_nulls()
    assert values.is_finite().all()
    assert (fin.kpis["value"].is_null() == fin.kpis["null_reason"].is_not_null()).all()


def test_division_by_zero_gives_null_with_a_reason() -> None:
    # Only capital paid in: no liabilities, no revenue, no costs.
    fin = compute_financials(journal(LEDGER[:2]))
    got = {r["kpi"]: (r["value"], r["null_reason"]) for r in fin.kpis.iter_rows(named=True)}
    assert got["current_ratio"] == (None, "no current liabilities")
    assert got["gross_margin"] == (None, "no revenue in the trailing 12 months")
    assert got["dso"] == (None, "no revenue in the trailing 12 months")
    assert got["interest_coverage"] == (None, "no interest expense in the trailing 12 months")
    assert got["top_customer_share"] == (None, "no sales documents in 12 months")
    assert got["debt_to_equity"] == (0.0, None)
    assert got["working_capital"] == (100_000.0, None)


def test_burn_and_runway() -> None:
    # Capital in, then three months paying 3,000, 6,000 and 9,000 of rent.
    rows = [*LEDGER[:2]]
    for month, rent in ((2, 3_000), (3, 6_000), (4, 9_000)):
        rows += [(dt.date(2026, month, 5), "6100", rent), (dt.date(2026, month, 5), "1010", -rent)]
    fin = compute_financials(journal(rows))
    apr = dt.date(2026, 4, 1)
    assert kpi(fin, "burn", apr)["amount"] == 6_000
    assert kpi(fin, "runway_months", apr)["value"] == pytest.approx(82_000 / 6_000)
    assert kpi(fin, "burn", JAN)["null_reason"].startswith("net_change_3m_mean not available")


def test_negative_equity_has_no_debt_to_equity() -> None:
    facts = pl.DataFrame(
        {
            "bank_overdraft": [0],
            "short_term_debt": [10],
            "long_term_debt": [0],
            "total_equity": [-5],
        }
    )
    value, reason = FORMULAS["debt_to_equity"]()
    got = facts.select(value.alias("v"), reason.alias("r")).row(0)
    assert got == (None, "equity is zero or negative")


def test_registry_documents_every_kpi() -> None:
    registry = kpi_registry()
    assert registry.height == len(KPIS) == len(BY_NAME)
    assert registry.filter(pl.col("formula") == "").is_empty()
    assert set(registry["unit"]) <= {"ratio", "days", "months", "money"}
    assert "| dso | accounts_receivable / revenue_ttm * days_ttm |" in kpi_registry_markdown()


def test_wide_kpis_and_empty_input(fin) -> None:
    wide = kpis_wide(fin.kpis)
    assert wide.columns[2:] == list(BY_NAME)
    assert wide.height == 3
    empty = compute_financials(journal([]))
    assert empty.kpis.is_empty() and empty.scores.is_empty()
    assert compute_kpis(pl.DataFrame()).is_empty()


def test_an_overdrawn_bank_is_a_liability_and_cash_flow_uses_net_cash() -> None:
    # 1,000 of capital, then 4,000 of rent paid from the bank: 3,000 overdrawn.
    rows = [
        (JAN, "1010", 1_000),
        (JAN, "3000", -1_000),
        (FEB, "6100", 4_000),
        (FEB, "1010", -4_000),
    ]
    fin = compute_financials(journal(rows))
    feb = row(fin.balance, FEB)
    assert (feb["cash"], feb["bank_overdraft"], feb["current_liabilities"]) == (0, 3_000, 3_000)
    assert (feb["total_assets"], feb["total_equity"]) == (0, -3_000)
    flow = row(fin.cash_flow, FEB)
    assert (flow["cash_begin"], flow["cash_end"], flow["net_change"]) == (1_000, -3_000, -4_000)
    assert kpi(fin, "runway_months")["value"] == 0.0
    assert all(frame.is_empty() for frame in fin.problems().values())
