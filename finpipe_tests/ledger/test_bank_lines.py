"""The canonical bank-line merge and the balance continuity check, on hand-built cases and
on a generated world."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from finpipe.ledger.bank_lines import balance_continuity, merge_bank_lines
from finpipe.ledger.bank_sources import (
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    BankSourceError,
)
from finpipe.sandbox.world import WorldSpec, generate_world, load_world

T = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
D = dt.date


def line(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "company_id": "c1",
        "bank_account_id": "acc-1",
        "source": "openbanking",
        "source_id": "t1",
        "booked_date": D(2026, 10, 1),
        "value_date": None,
        "amount": -1000,
        "currency": "GBP",
        "status": "booked",
        "description": "CARD PAYMENT",
        "counterparty_name": None,
        "counterparty_account": None,
        "reference": None,
        "bank_transaction_code": None,
        "running_balance": None,
        "pending_source_id": None,
        "deleted": False,
        "extracted_at": T,
    }
    base.update(kw)
    return base


def account(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "company_id": "c1",
        "bank_account_id": "acc-1",
        "source": "openbanking",
        "institution_name": "Barclays",
        "account_name": "Current",
        "account_type": "checking",
        "iban": "GB52 BARC 6934 7135 2459 58",
        "account_number": "69347135245958",
        "currency": "GBP",
        "reported_balance": None,
        "reported_balance_date": None,
    }
    base.update(kw)
    return base


def lines(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SOURCE_LINE_SCHEMA)


def accounts(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SOURCE_ACCOUNT_SCHEMA)


def test_removed_lines_never_reach_the_canonical_table() -> None:
    merged, _, stats = merge_bank_lines(
        [lines(line(), line(source_id="t2", deleted=True))], [accounts(account())]
    )
    assert merged.get_column("source_id").to_list() == ["t1"]
    assert stats.deleted == 1
    assert merged.item(0, "line_id") == "openbanking:acc-1:t1"


def test_pending_replaced_by_its_linked_posted_line() -> None:
    merged, _, stats = merge_bank_lines(
        [
            lines(
                line(source="aggregator", source_id="p1", status="pending", amount=-1200),
                line(
                    source="aggregator",
                    source_id="b1",
                    amount=-1500,  # tip added: amounts differ, the link decides
                    booked_date=D(2026, 10, 3),
                    pending_source_id="p1",
                ),
            )
        ],
        [],
    )
    assert merged.select("source_id", "status", "amount").rows() == [("b1", "booked", -1500)]
    assert stats.pending_replaced == 1


def test_statement_pending_replaced_by_same_amount_booked_in_the_window_one_to_one() -> None:
    def stmt(**kw: object) -> dict[str, object]:
        return line(source="statement", bank_account_id="GB52BARC69347135245958", **kw)

    merged, _, stats = merge_bank_lines(
        [
            lines(
                stmt(source_id="p1", status="pending", booked_date=D(2026, 10, 1)),
                stmt(source_id="p2", status="pending", booked_date=D(2026, 10, 1)),
                stmt(source_id="b1", booked_date=D(2026, 10, 2)),
                # too late to be p2's posting
                stmt(source_id="b2", booked_date=D(2026, 10, 20)),
            )
        ],
        [],
    )
    assert sorted(merged.select("source_id", "status").rows()) == [
        ("b1", "booked"),
        ("b2", "booked"),
        ("p2", "pending"),
    ]
    assert stats.pending_replaced == 1


def test_a_pending_line_an_api_still_reports_stays_pending() -> None:
    """The API withdraws pending lines itself: an unrelated booked coffee of the same amount
    the next day does not replace the one still pending."""
    merged, _, stats = merge_bank_lines(
        [
            lines(
                line(source_id="p1", status="pending", amount=-450, booked_date=D(2026, 10, 1)),
                line(source_id="b9", amount=-450, booked_date=D(2026, 10, 2)),
            )
        ],
        [],
    )
    assert sorted(merged.select("source_id", "status").rows()) == [
        ("b9", "booked"),
        ("p1", "pending"),
    ]
    assert stats.pending_replaced == 0


def test_statement_account_joins_the_aggregator_account_by_its_masked_number() -> None:
    agg = dict(source="aggregator", bank_account_id="eh7hSWvQ", currency="USD")
    api = lines(line(**agg, source_id="tx-1", amount=-1000))
    qfx = lines(
        line(
            source="statement",
            bank_account_id="9034081199",
            currency="USD",
            source_id="FIT-1",
            amount=-1000,
        )
    )
    plaid_accounts = accounts(
        account(**agg, iban=None, account_number="****1199"),
        # another card ending in 1199 in another currency is no rival
        account(
            source="aggregator",
            bank_account_id="other",
            currency="EUR",
            iban=None,
            account_number="****1199",
        ),
    )
    files = accounts(
        account(
            source="statement",
            bank_account_id="9034081199",
            currency="USD",
            iban=None,
            account_number="9034081199",
        )
    )
    merged, merged_accounts, stats = merge_bank_lines([api, qfx], [plaid_accounts, files])
    assert stats.statement_accounts_mapped == 1
    assert merged.select("source", "source_id", "also_reported_by").rows() == [
        ("aggregator", "tx-1", "statement:FIT-1")
    ]
    assert sorted(merged_accounts.get_column("bank_account_id")) == ["eh7hSWvQ", "other"]
    # Two aggregator accounts ending in the same digits and currency: no guess.
    rival = accounts(
        account(**agg, iban=None, account_number="****1199"),
        account(
            source="aggregator",
            bank_account_id="twin",
            currency="USD",
            iban=None,
            account_number="****1199",
        ),
    )
    _, _, ambiguous = merge_bank_lines([api, qfx], [rival, files])
    assert ambiguous.statement_accounts_mapped == 0


def test_statement_and_api_report_one_transaction_once() -> None:
    api = lines(
        line(source_id="T-1", amount=-1000),
        line(source_id="T-2", amount=-1000),  # the same amount twice on one day
        line(source_id="T-3", amount=2500),
    )
    statement = lines(
        *(
            line(
                source="statement",
                bank_account_id="GB52BARC69347135245958",  # the file names the IBAN
                source_id=f"FIT-{i}",
                amount=amount,
            )
            for i, amount in enumerate([-1000, -1000, 2500, 700])
        )
    )
    merged, merged_accounts, stats = merge_bank_lines(
        [api, statement],
        [
            accounts(account(reported_balance=10_000, reported_balance_date=D(2026, 10, 1))),
            accounts(
                account(source="statement", bank_account_id="GB52BARC69347135245958", iban=None)
            ),
        ],
    )
    assert stats.statement_accounts_mapped == 1
    assert stats.duplicates_collapsed == 3
    assert set(merged.get_column("bank_account_id")) == {"acc-1"}
    kept = merged.sort("amount", "source_id").select("source", "source_id", "also_reported_by")
    assert kept.rows() == [
        ("openbanking", "T-1", "statement:FIT-0"),
        ("openbanking", "T-2", "statement:FIT-1"),
        ("statement", "FIT-3", None),  # only the file has it
        ("openbanking", "T-3", "statement:FIT-2"),
    ]
    assert merged_accounts.select("bank_account_id", "lines", "reported_balance").rows() == [
        ("acc-1", 4, 10_000)
    ]


def test_contract_violations_name_the_columns() -> None:
    with pytest.raises(BankSourceError, match=r"missing columns \['status'"):
        merge_bank_lines([lines(line()).drop("status", "deleted")], [])


def _chain(amounts: list[tuple[dt.date, int]], opening: int) -> pl.DataFrame:
    rows, balance = [], opening
    for i, (day, amount) in enumerate(amounts):
        balance += amount
        rows.append(
            line(source_id=f"t{i}", booked_date=day, amount=amount, running_balance=balance)
        )
    return lines(*rows)


def test_balance_continuity_passes_a_consistent_chain_and_finds_a_gap() -> None:
    days = [(D(2026, 10, 1), -100), (D(2026, 10, 1), 250), (D(2026, 10, 2), -75)]
    chain = _chain(days, 1000)
    acct = accounts(account(reported_balance=1075, reported_balance_date=D(2026, 10, 2)))
    merged, merged_accounts, _ = merge_bank_lines([chain], [acct])
    ok = balance_continuity(merged, accounts=merged_accounts)
    assert ok.select("bank_account_id", "continuous", "days", "reported_mismatches").rows() == [
        ("acc-1", True, 2, 0)
    ]
    # The same lines in another order within a day are still continuous.
    shuffled = merged.reverse()
    assert balance_continuity(shuffled, accounts=merged_accounts).item(0, "continuous")
    # Drop a line: the bank's balances no longer follow from the lines.
    gap = merged.filter(pl.col("source_id") != "t1")
    broken = balance_continuity(gap, accounts=merged_accounts)
    assert not broken.item(0, "continuous")
    assert broken.item(0, "first_broken_day") == D(2026, 10, 1)
    # A reported balance the lines do not reach.
    wrong = merged_accounts.with_columns(pl.lit(1076, dtype=pl.Int64).alias("reported_balance"))
    off = balance_continuity(merged, accounts=wrong)
    assert not off.item(0, "continuous")


def test_continuity_without_reported_balance_anchors_on_the_days_first_start() -> None:
    # A day of -50 (balance 950) then +100 (balance 1050): opening 1000, not 950.
    chain = _chain([(D(2026, 10, 1), -50), (D(2026, 10, 1), 100), (D(2026, 10, 2), 5)], 1000)
    merged, _, _ = merge_bank_lines([chain], [])
    result = balance_continuity(merged)
    assert result.select("continuous", "verified", "broken_days").row(0) == (True, True, 0)
    # The bank printed 1055 after the +5, but the line says +6: broken.
    wrong = merged.with_columns(
        pl.when(pl.col("amount") == 5).then(6).otherwise(pl.col("amount")).alias("amount")
    )
    gap = balance_continuity(wrong)
    assert not gap.item(0, "continuous")


def test_one_reported_balance_and_no_running_balance_is_consistent_but_not_verified() -> None:
    plain = lines(line(source="aggregator", source_id="a", amount=-1_000_000_000))
    acct = accounts(
        account(source="aggregator", reported_balance=42, reported_balance_date=D(2026, 10, 1))
    )
    merged, merged_accounts, _ = merge_bank_lines([plain], [acct])
    result = balance_continuity(merged, accounts=merged_accounts)
    assert result.select("continuous", "verified").row(0) == (True, False)


def test_balance_continuity_checks_statement_balances_without_running_balances() -> None:
    plain = lines(
        line(source_id="a", amount=-100, booked_date=D(2026, 10, 1)),
        line(source_id="b", amount=300, booked_date=D(2026, 10, 5)),
    )
    merged, _, _ = merge_bank_lines([plain], [])
    balances = pl.DataFrame(
        {
            "bank_account_id": ["acc-1", "acc-1", "acc-1"],
            "date": [D(2026, 9, 30), D(2026, 10, 3), D(2026, 10, 31)],
            "balance": [1000, 900, 1200],
        }
    )
    ok = balance_continuity(merged, balances)
    assert ok.select("continuous", "verified").row(0) == (True, True)
    bad = balances.with_columns(
        pl.when(pl.col("date") == D(2026, 10, 3))
        .then(950)
        .otherwise(pl.col("balance"))
        .alias("balance")
    )
    result = balance_continuity(merged, bad)
    assert not result.item(0, "continuous")
    assert result.item(0, "reported_mismatches") == 1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("bank_world")
    generate_world(WorldSpec(companies=6, months=3, seed=4), out)
    return load_world(Path(out))


def test_world_lines_merge_to_the_worlds_booked_totals_and_are_continuous(world) -> None:
    """Every account of the world, fed as if an API reported it (pending lines that posted
    already soft-deleted by the connector): totals equal the world's, balances continuous."""
    world_lines = world.table("bank_lines").collect()
    world_accounts = world.table("bank_accounts").collect()
    posted = world_lines.get_column("pending_line_id").drop_nulls()
    source = world_lines.join(
        world_accounts.select("bank_account_id", pl.col("bank_provider").alias("source")),
        on="bank_account_id",
    ).select(
        "company_id",
        "bank_account_id",
        "source",
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
        "bank_transaction_code",
        pl.when(pl.col("status") == "booked")
        .then(pl.col("running_balance"))
        .alias("running_balance"),
        pl.lit(None, dtype=pl.String).alias("pending_source_id"),
        pl.col("line_id").is_in(posted.implode()).alias("deleted"),
        pl.col("created_at").alias("extracted_at"),
    )
    totals = (
        world_lines.filter(pl.col("status") == "booked")
        .group_by("bank_account_id")
        .agg(pl.col("amount").sum(), pl.len())
    )
    reported = world_accounts.join(totals, on="bank_account_id").select(
        "company_id",
        "bank_account_id",
        pl.col("bank_provider").alias("source"),
        "institution_name",
        "account_name",
        "account_type",
        "iban",
        "account_number",
        "currency",
        (pl.col("opening_balance") + pl.col("amount")).alias("reported_balance"),
        pl.lit(D(2026, 10, 31)).alias("reported_balance_date"),
    )
    merged, merged_accounts, stats = merge_bank_lines([source], [reported])
    got = (
        merged.filter(pl.col("status") == "booked")
        .group_by("bank_account_id")
        .agg(pl.col("amount").sum(), pl.len())
    )
    assert got.sort("bank_account_id").rows() == totals.sort("bank_account_id").rows()
    still_pending = world_lines.filter(
        (pl.col("status") == "pending") & ~pl.col("line_id").is_in(posted.implode())
    )
    assert stats.pending == still_pending.height
    continuity = balance_continuity(merged, accounts=merged_accounts)
    assert continuity.height == world_accounts.height
    assert continuity.get_column("continuous").all(), continuity.filter(~pl.col("continuous"))
    assert continuity.get_column("running_balances").sum() > 0
