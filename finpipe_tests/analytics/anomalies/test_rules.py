"""Each rule on a tiny hand-built frame: exactly which documents it flags, and why."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finpipe.analytics.anomalies.rules import (
    RuleConfig,
    bank_change_payments,
    duplicate_payments,
    new_vendor_large_payments,
    off_hours_postings,
    round_amounts,
    split_payments,
    unusual_users,
)

from .helpers import at, contacts, d, transactions


def _flags(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return sorted(frame.select("document_id", "reason").rows())


def test_duplicate_payments_same_vendor_and_amount_within_days() -> None:
    tx = transactions(
        {
            "document_id": "p1",
            "number": "BP-1",
            "issue_date": d(3, 2),
            "amount": 431_000,
            "paid_document_id": "b1",
        },
        {
            "document_id": "p2",
            "number": "BP-2",
            "issue_date": d(3, 4),
            "amount": 431_000,
            "paid_document_id": "b1",
        },
        # a month later, the same amount: a recurring payment, not a duplicate
        {
            "document_id": "p3",
            "number": "BP-3",
            "issue_date": d(4, 2),
            "amount": 431_000,
            "paid_document_id": "b2",
        },
        # same amount, same days, another vendor
        {"document_id": "p4", "issue_date": d(3, 3), "amount": 431_000, "contact_id": "v2"},
    )
    flags = duplicate_payments(tx)
    reason = (
        "paid 2 times 4,310.00 GBP to Acme Ltd within 2 day(s): BP-1, BP-2 (all against bill b1)"
    )
    assert _flags(flags) == [("p1", reason), ("p2", reason)]
    assert flags["score"].to_list() == [0.95, 0.95]
    assert flags["related_document_ids"].to_list() == ["p1,p2", "p1,p2"]


def test_duplicate_bills_by_normalised_number() -> None:
    tx = transactions(
        {
            "document_id": "b1",
            "doc_type": "bill",
            "number": "INV-0042",
            "issue_date": d(3, 2),
            "amount": 10_000,
        },
        {
            "document_id": "b2",
            "doc_type": "bill",
            "number": "inv 42",
            "issue_date": d(5, 2),
            "amount": 10_050,
        },
        {
            "document_id": "b3",
            "doc_type": "bill",
            "number": "INV-43",
            "issue_date": d(5, 2),
            "amount": 10_000,
        },
    )
    flags = duplicate_payments(tx)
    assert sorted(flags["document_id"]) == ["b1", "b2"]
    assert flags["reason"][0] == (
        "2 bills of Acme Ltd with the same number 'INV-0042' (normalised '42'): "
        "100.00 GBP, 100.50 GBP"
    )


def test_split_payments_of_one_bill_just_under_the_limit() -> None:
    tx = transactions(
        {"document_id": "s1", "issue_date": d(6, 1), "amount": 990_000, "paid_document_id": "b9"},
        {"document_id": "s2", "issue_date": d(6, 2), "amount": 985_000, "paid_document_id": "b9"},
        {"document_id": "s3", "issue_date": d(6, 3), "amount": 970_000, "paid_document_id": "b9"},
        # just under too, but its own bill
        {"document_id": "o1", "issue_date": d(6, 2), "amount": 980_000, "paid_document_id": "b8"},
        # card purchases without a bill are not payments an approver sees
        {"document_id": "c1", "doc_type": "expense", "issue_date": d(6, 1), "amount": 99_000},
        {"document_id": "c2", "doc_type": "expense", "issue_date": d(6, 2), "amount": 98_000},
    )
    flags = split_payments(tx)
    reason = (
        "3 payments to Acme Ltd within 2 day(s), each just under 10,000.00 GBP (9,900.00, "
        "9,850.00, 9,700.00; together 29,450.00 GBP): #s1, #s2, #s3, all against bill b9"
    )
    assert _flags(flags) == [("s1", reason), ("s2", reason), ("s3", reason)]
    assert flags["score"].to_list() == [1.0, 1.0, 1.0]


def test_round_amounts_to_a_vendor_seldom_paid_round_sums() -> None:
    rows = [
        {
            "document_id": f"n{i}",
            "doc_type": "expense",
            "issue_date": d(1, 1 + i),
            "amount": 123_456 + i,
        }
        for i in range(9)
    ]
    tx = transactions(
        *rows,
        {"document_id": "r1", "doc_type": "expense", "issue_date": d(2, 1), "amount": 250_000},
        # rent: round every month, so not flagged
        *[
            {
                "document_id": f"rent{i}",
                "doc_type": "expense",
                "issue_date": d(1 + i, 1),
                "amount": 150_000,
                "contact_id": "landlord",
                "contact_name": "Landlord",
            }
            for i in range(6)
        ],
        # an owner's drawing posts to equity: not a vendor payment
        {
            "document_id": "o1",
            "doc_type": "expense",
            "issue_date": d(2, 1),
            "amount": 500_000,
            "contact_id": "owner",
            "standard_code": "3100",
        },
    )
    flags = round_amounts(tx)
    assert _flags(flags) == [
        (
            "r1",
            "payment of exactly 2,500.00 GBP to Acme Ltd; 0% of its 9 other payment(s) are round",
        )
    ]
    assert flags["score"].to_list() == [pytest.approx(0.85)]


def test_round_amounts_in_a_currency_without_minor_units() -> None:
    # JPY amounts are whole yen: 2,500 JPY is a multiple of 500 and at least 1,000.
    usual = [
        {"document_id": f"n{i}", "doc_type": "expense", "issue_date": d(1, 1 + i)}
        | {"amount": 1_237 + i, "currency": "JPY"}
        for i in range(9)
    ]
    tx = transactions(
        *usual,
        {"document_id": "r1", "doc_type": "expense", "issue_date": d(2, 1)}
        | {"amount": 2_500, "currency": "JPY"},
    )
    flags = round_amounts(tx)
    assert _flags(flags) == [
        ("r1", "payment of exactly 2,500 JPY to Acme Ltd; 0% of its 9 other payment(s) are round")
    ]
    # 0.65 + 0.2 (never paid round before); 2,500 is not a multiple of 1,000 JPY
    assert flags["score"].to_list() == [pytest.approx(0.85)]


def test_off_hours_entries_where_they_are_rare() -> None:
    weekdays = [x for x in range(2, 32) if dt.date(2026, 3, x).weekday() < 5]  # 22 days
    office = [
        {
            "document_id": f"p{i}",
            "issue_date": d(3, weekdays[i % 22]),
            "amount": 10_000 + i,
            "entered_at": at(3, weekdays[i % 22], 9 + i % 8),
        }
        for i in range(25)
    ]
    # card expenses that a bank-feed rule posts at any hour: a night entry is usual there
    feed = [
        {
            "document_id": f"e{i}",
            "doc_type": "expense",
            "issue_date": d(3, 2 + i % 20),
            "amount": 2_000 + i,
            "entered_at": at(3, 2 + i % 20, (i * 7) % 24),
            "contact_id": "fuel",
            "contact_name": "Fuel",
        }
        for i in range(25)
    ]
    tx = transactions(
        *office,
        *feed,
        {
            "document_id": "late",
            "number": "BP-9",
            "issue_date": d(3, 10),
            "amount": 77_700,
            "entered_at": at(3, 11, 2, 30),
        },
    )
    flags = off_hours_postings(tx)
    assert _flags(flags) == [
        (
            "late",
            "bill payment BP-9 of 777.00 GBP entered Wed 2026-03-11 02:30 UTC; only 0.0% "
            "of 25 other bill payments were entered off hours",
        )
    ]
    assert flags["score"].to_list() == [0.95]


def test_new_vendor_with_a_large_first_payment() -> None:
    usual = [
        {
            "document_id": f"u{i}",
            "doc_type": "bill",
            "issue_date": d(1 + i % 10, 1 + i % 27),
            "amount": 50_000 + 100 * i,
            "contact_id": f"v{i % 5}",
        }
        for i in range(60)
    ]
    tx = transactions(
        *usual,
        {
            "document_id": "nb",
            "doc_type": "bill",
            "number": "ADV-1",
            "issue_date": d(11, 3),
            "amount": 2_000_000,
            "contact_id": "new",
            "contact_name": "Apex Global Trading",
        },
        {
            "document_id": "np",
            "issue_date": d(11, 5),
            "amount": 2_000_000,
            "contact_id": "new",
            "contact_name": "Apex Global Trading",
        },
    )
    seen = contacts(
        {
            "contact_id": "new",
            "name": "Apex Global Trading",
            "created_at": dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC),
        }
    )
    flags = new_vendor_large_payments(tx, seen)
    assert sorted(flags["document_id"]) == ["nb", "np"]
    reasons = dict(flags.select("document_id", "reason").rows())
    assert reasons["nb"].startswith(
        "bill ADV-1 of 20,000.00 GBP to Apex Global Trading, first seen 2026-11-01 "
        "(2 day(s) before); above 99% of established vendors' purchases ("
    )


def test_payment_after_a_bank_details_change() -> None:
    earlier = [
        {"document_id": f"e{i}", "issue_date": d(1 + i, 10), "amount": 100_000 + i * 1_000}
        for i in range(6)
    ]
    tx = transactions(
        *earlier,
        {"document_id": "big", "issue_date": d(8, 5), "amount": 900_000},
        {"document_id": "later", "issue_date": d(9, 20), "amount": 950_000},  # weeks later
    )
    vendor = contacts(
        {
            "contact_id": "v1",
            "name": "Acme Ltd",
            "bank_account_number": "GB00NEW",
            "created_at": dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
            "updated_at": dt.datetime(2026, 8, 3, 11, tzinfo=dt.UTC),
        }
    )
    flags = bank_change_payments(tx, vendor)
    assert _flags(flags) == [
        (
            "big",
            "paid 9,000.00 GBP (8.8x its median of 1,025.00 GBP over 6 earlier payment(s))"
            " to Acme Ltd 2 day(s) after its record and bank details changed on 2026-08-03"
            " (account now GB00NEW)",
        )
    ]


def test_unusual_user_for_an_account_needs_posting_users() -> None:
    rows = [
        {
            "document_id": f"d{i}",
            "doc_type": "expense",
            "issue_date": d(1, 1 + i % 28),
            "amount": 1_000,
            "account_id": "6400",
            "created_by": "Ann" if i % 2 else "Bob",
        }
        for i in range(30)
    ]
    tx = transactions(
        *rows,
        {
            "document_id": "odd",
            "doc_type": "expense",
            "issue_date": d(2, 1),
            "amount": 5_000,
            "account_id": "6400",
            "created_by": "Eve",
        },
    )
    flags = unusual_users(tx)
    assert _flags(flags) == [
        (
            "odd",
            "#odd (50.00 GBP) posted to account 6400 by Eve, who posted 0 of its 30 other "
            "document(s)",
        )
    ]
    assert unusual_users(tx.with_columns(pl.lit(None, pl.String).alias("created_by"))).is_empty()


def test_config_changes_the_limits() -> None:
    tx = transactions(
        {"document_id": "s1", "issue_date": d(6, 1), "amount": 74_000, "paid_document_id": "b"},
        {"document_id": "s2", "issue_date": d(6, 2), "amount": 73_000, "paid_document_id": "b"},
    )
    assert split_payments(tx).is_empty()  # 750.00 is no default limit
    config = RuleConfig(approval_limits=(75_000,))
    assert sorted(split_payments(tx, config)["document_id"]) == ["s1", "s2"]


def test_a_holiday_entry_in_office_hours_is_off_hours() -> None:
    weekdays = [x for x in range(2, 32) if dt.date(2026, 3, x).weekday() < 5]
    office = [
        {
            "document_id": f"p{i}",
            "issue_date": d(3, weekdays[i % 22]),
            "amount": 10_000 + i,
            "entered_at": at(3, weekdays[i % 22], 9 + i % 8),
        }
        for i in range(25)
    ]
    tx = transactions(
        *office,
        {
            "document_id": "xmas",
            "issue_date": d(12, 24, 2025),
            "amount": 5_000,
            "entered_at": at(12, 25, 11, year=2025),
        },
    )
    christmas = RuleConfig(holidays=((1, 1), (12, 25)))
    assert _flags(off_hours_postings(tx, christmas)) == [
        (
            "xmas",
            "bill payment #xmas of 50.00 GBP entered Thu 2025-12-25 11:00 UTC; only 0.0% "
            "of 25 other bill payments were entered off hours",
        )
    ]
    assert off_hours_postings(tx).is_empty()  # no holidays by default
