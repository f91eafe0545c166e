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


def test_petty_repeats_are_not_duplicates_and_the_floor_follows_the_currency() -> None:
    """The same coffee twice is routine: payments under ``duplicate_minimum`` (100.00) are
    not tested unless they settle a bill (a bill paid twice is a duplicate at any amount);
    at the floor they are, and a zero-decimal currency's floor is 100 units."""
    twice = [
        {"document_id": f"{k}{i}", "issue_date": d(3, 2 + i), "amount": amount, "currency": ccy}
        for k, amount, ccy in (
            ("c", 81_53, "GBP"),
            ("f", 100_00, "GBP"),
            ("j", 99, "JPY"),
            ("b", 45_00, "GBP"),
        )
        for i in (0, 1)
    ]
    for row in twice:
        row["contact_id"] = row["document_id"][0]
        row["paid_document_id"] = "bill-1" if row["contact_id"] == "b" else None
    flagged = sorted(duplicate_payments(transactions(*twice))["document_id"].to_list())
    assert flagged == ["b0", "b1", "f0", "f1"]
    low_floor = RuleConfig(duplicate_minimum=50_00)
    flagged = sorted(duplicate_payments(transactions(*twice), low_floor)["document_id"].to_list())
    assert flagged == ["b0", "b1", "c0", "c1", "f0", "f1", "j0", "j1"]


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
        for i in range(60)
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
            "of 60 other bill payments were entered off hours",
        )
    ]
    assert flags["score"].to_list() == [0.95]


def _expense_company(*extra: dict) -> pl.DataFrame:
    """60 bill payments and 60 expenses keyed in office hours in March 2026, plus ``extra``
    expenses (to vendor "Fuel")."""
    weekdays = [x for x in range(2, 32) if dt.date(2026, 3, x).weekday() < 5]
    office = [
        {
            "document_id": f"p{i}",
            "issue_date": d(3, weekdays[i % 22]),
            "amount": 10_000 + i,
            "entered_at": at(3, weekdays[i % 22], 9 + i % 8, 7 * (i % 8)),
        }
        for i in range(60)
    ]
    keyed = [
        {
            "document_id": f"x{i}",
            "doc_type": "expense",
            "issue_date": d(3, weekdays[i % 22]),
            "amount": 3_000 + i,
            "entered_at": at(3, weekdays[i % 22], 10 + i % 6, 3 + 11 * (i % 5)),
        }
        for i in range(60)
    ]
    fuel = {"doc_type": "expense", "contact_id": "fuel", "contact_name": "Fuel"}
    return transactions(*office, *keyed, *({**fuel, **row} for row in extra))


def _night_expense(doc: str, day: int, hour: int, minute: int, second: int = 0) -> dict:
    return {
        "document_id": doc,
        "number": doc.upper(),
        "issue_date": d(3, day - 1),
        "amount": 4_500,
        "entered_at": at(3, day, hour, minute) + dt.timedelta(seconds=second),
    }


def test_a_night_batch_of_auto_added_expenses_is_not_flagged_a_lone_one_is() -> None:
    # a nightly bank-feed download auto-adds four expenses within a minute at 02:10
    batch = [_night_expense(f"feed{i}", 12, 2, 10, 15 * i) for i in range(4)]
    # a person keys one expense at 03:40 another night
    lone = _night_expense("late", 17, 3, 40)
    flags = off_hours_postings(_expense_company(*batch, lone))
    assert _flags(flags) == [
        (
            "late",
            "expense LATE of 45.00 GBP entered Tue 2026-03-17 03:40 UTC; only 0.0% of 60 "
            "other expenses were entered off hours",
        )
    ]
    # one batch at 02:10 is no schedule: a lone expense at that time another night is flagged
    lone = _night_expense("late", 17, 2, 10, 30)
    assert [f[0] for f in _flags(off_hours_postings(_expense_company(*batch, lone)))] == ["late"]


def test_a_lone_document_at_the_companys_run_time_is_machine_made() -> None:
    # the download runs at about 02:10 every night; ten nights it adds a batch of three,
    # one night a single expense (02:13), which is the same run, not a person
    runs = [
        _night_expense(f"r{day}_{i}", day, 2, 8 + day % 5, 20 * i)
        for day in range(3, 13)
        for i in range(3)
    ]
    single = _night_expense("single", 14, 2, 13)
    assert off_hours_postings(_expense_company(*runs, single)).is_empty()
    # with the schedule seen on fewer nights than required the single one is flagged
    few = RuleConfig(off_hours_schedule_runs=11)
    assert [f[0] for f in _flags(off_hours_postings(_expense_company(*runs, single), few))] == [
        "single"
    ]
    # and an expense at 03:40, far from the run time, is flagged
    late = _night_expense("late", 14, 3, 40)
    assert [f[0] for f in _flags(off_hours_postings(_expense_company(*runs, late)))] == ["late"]


def test_a_short_history_is_no_proof_that_off_hours_entries_are_rare() -> None:
    weekdays = [x for x in range(2, 32) if dt.date(2026, 3, x).weekday() < 5]

    def company(history: int) -> pl.DataFrame:
        office = [
            {
                "document_id": f"p{i}",
                "issue_date": d(3, weekdays[i % 22]),
                "amount": 10_000 + i,
                "entered_at": at(3, weekdays[i % 22], 9 + i % 8),
            }
            for i in range(history)
        ]
        late = {"document_id": "late", "issue_date": d(3, 10), "amount": 7_700}
        return transactions(*office, late | {"entered_at": at(3, 11, 2, 30)})

    # none of 25 others off hours: the rate may still be up to ~10% (95% bound)
    assert off_hours_postings(company(25)).is_empty()
    # none of 60: below 5%, rare enough
    assert _flags(off_hours_postings(company(60)))[0][0] == "late"


def _nz_company(night_utc: dt.datetime, night_local: dt.datetime) -> pl.DataFrame:
    """An Auckland company (UTC+13 in March) whose people key 60 bill payments 09:00-16:00
    local, i.e. 20:00-03:00 UTC the day before, and one entered at ``night_*``."""
    weekdays = [x for x in range(2, 32) if dt.date(2026, 3, x).weekday() < 5]
    office = []
    for i in range(60):
        local = dt.datetime(2026, 3, weekdays[i % 22], 9 + i % 8)
        office.append(
            {
                "document_id": f"p{i}",
                "issue_date": local.date(),
                "amount": 10_000 + i,
                "currency": "NZD",
                "entered_at": (local - dt.timedelta(hours=13)).replace(tzinfo=dt.UTC),
                "entered_local": local,
            }
        )
    return transactions(
        *office,
        {
            "document_id": "late",
            "number": "BP-9",
            "issue_date": d(3, 10),
            "amount": 77_700,
            "currency": "NZD",
            "entered_at": night_utc,
            "entered_local": night_local,
        },
    )


def test_off_hours_are_judged_on_the_company_clock() -> None:
    # 01:30 in Auckland is 12:30 UTC the day before: office hours in UTC, night for the
    # company; its people's 09:00-16:00 entries fall at 20:00-03:00 UTC
    tx = _nz_company(at(3, 10, 12, 30), dt.datetime(2026, 3, 11, 1, 30))
    flags = off_hours_postings(tx)
    assert _flags(flags) == [
        (
            "late",
            "bill payment BP-9 of 777.00 NZD entered Wed 2026-03-11 01:30 company time (12:30 "
            "UTC); only 0.0% of 60 other bill payments were entered off hours",
        )
    ]
    # 13:00 UTC is 02:00 the next morning in Auckland: off hours too
    tx = _nz_company(at(3, 10, 13), dt.datetime(2026, 3, 11, 2))
    assert _flags(off_hours_postings(tx))[0][0] == "late"
    # 22:00 UTC is 11:00 in Auckland: office hours, nothing flagged, although it is night in
    # UTC (as are most of the company's entries)
    tx = _nz_company(at(3, 10, 22), dt.datetime(2026, 3, 11, 11))
    assert off_hours_postings(tx).is_empty()


def test_without_the_company_clock_off_hours_are_judged_in_utc() -> None:
    tx = _nz_company(at(3, 10, 12, 30), dt.datetime(2026, 3, 11, 1, 30)).with_columns(
        pl.lit(None, pl.Datetime("us")).alias("entered_local")
    )
    # read in UTC the company's own office entries are mostly at night: nothing is rare
    assert off_hours_postings(tx).is_empty()


def _usual_bills() -> list[dict[str, object]]:
    """60 bills of five established vendors, 500.00-559.00, spread over ten months."""
    return [
        {
            "document_id": f"u{i}",
            "doc_type": "bill",
            "issue_date": d(1 + i % 10, 1 + i % 27),
            "amount": 50_000 + 100 * i,
            "contact_id": f"v{i % 5}",
        }
        for i in range(60)
    ]


def test_new_vendor_with_a_large_first_payment() -> None:
    usual = _usual_bills()
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


def test_a_vendor_new_only_to_one_provider_or_updated_long_ago_is_not_new() -> None:
    usual = _usual_bills()
    big = {"doc_type": "bill", "issue_date": d(11, 3), "amount": 2_000_000}
    # a migration: the vendor billed for years in QuickBooks is re-created in Xero
    migrated = transactions(
        *usual,
        {"document_id": "old", "issue_date": d(2, 3), "amount": 40_000}
        | {"contact_id": "q7", "contact_name": "Hoffmann & Co"},
        big
        | {"document_id": "x1", "provider": "xero", "contact_id": "x7"}
        | {"contact_name": "Hoffmann & Co."},
    )
    vendors = contacts(
        {"contact_id": "q7", "name": "Hoffmann & Co"},
        {"contact_id": "x7", "name": "Hoffmann & Co.", "provider": "xero"},
    )
    assert new_vendor_large_payments(migrated, vendors).is_empty()
    # the same documents under two unrelated vendors: the Xero one is new
    other = vendors.with_columns(
        pl.when(pl.col("contact_id") == "x7")
        .then(pl.lit("Apex Ltd"))
        .otherwise("name")
        .alias("name")
    )
    assert new_vendor_large_payments(migrated, other)["document_id"].to_list() == ["x1"]
    # Xero gives no creation date: a record last updated before the books began existed then
    first_bill = transactions(*usual, big | {"document_id": "b1", "contact_id": "x9"})
    updated = {"contact_id": "x9", "name": "Long Maintenance", "provider": "xero"}
    long_ago = contacts(updated | {"updated_at": dt.datetime(2023, 7, 3, tzinfo=dt.UTC)})
    assert new_vendor_large_payments(first_bill, long_ago).is_empty()
    lately = contacts(updated | {"updated_at": dt.datetime(2026, 11, 2, tzinfo=dt.UTC)})
    assert new_vendor_large_payments(first_bill, lately)["document_id"].to_list() == ["b1"]


def test_a_vendor_created_in_the_first_weeks_of_the_books_is_new_where_dated() -> None:
    usual = _usual_bills()
    # the books open on 1 January; the vendor is first billed on the 12th
    tx = transactions(
        *usual,
        {"document_id": "b1", "doc_type": "bill", "issue_date": d(1, 12), "amount": 2_000_000}
        | {"contact_id": "n1", "contact_name": "Apex Solutions"},
    )
    vendor = {"contact_id": "n1", "name": "Apex Solutions"}
    # QuickBooks dates the record: created on the 10th, after the books began
    dated = contacts(vendor | {"created_at": dt.datetime(2026, 1, 10, tzinfo=dt.UTC)})
    assert new_vendor_large_payments(tx, dated)["document_id"].to_list() == ["b1"]
    # created before the books: an old vendor
    older = contacts(vendor | {"created_at": dt.datetime(2025, 6, 10, tzinfo=dt.UTC)})
    assert new_vendor_large_payments(tx, older).is_empty()
    # no creation date (Xero): too close to the start to tell
    assert new_vendor_large_payments(tx, contacts(vendor)).is_empty()


def test_a_bank_details_change_early_in_the_books_is_judged_on_later_payments() -> None:
    # the vendor's first document in the books comes a week before its record changes: it
    # was there before the books (no set-up edit), and nothing was paid to it before
    tx = transactions(
        {"document_id": "b0", "doc_type": "bill", "issue_date": d(1, 5), "amount": 90_000},
        {"document_id": "big", "issue_date": d(1, 14), "amount": 2_000_000},
        *[
            {"document_id": f"l{i}", "issue_date": d(3 + i, 10), "amount": 150_000 + i * 10_000}
            for i in range(5)
        ],
    )
    vendor = contacts(
        {
            "contact_id": "v1",
            "name": "Acme Ltd",
            "updated_at": dt.datetime(2026, 1, 12, 11, tzinfo=dt.UTC),
        }
    )
    assert _flags(bank_change_payments(tx, vendor)) == [
        (
            "big",
            "paid 20,000.00 GBP (11.8x its median of 1,700.00 GBP over 5 later payment(s), the"
            " largest 1,900.00 GBP) to Acme Ltd 2 day(s) after its record and bank details"
            " changed on 2026-01-12 (account now not given)",
        )
    ]
    # first seen in the middle of the books (another vendor opens them) and edited a week
    # later: a set-up edit
    opening = transactions({"document_id": "z", "issue_date": d(1, 1), "amount": 1_000})
    opening = opening.with_columns(pl.lit("v2").alias("contact_id"), contact_name=pl.lit("Bo"))
    late = tx.with_columns(pl.col("issue_date") + pl.duration(days=200))
    moved = vendor.with_columns(pl.col("updated_at") + pl.duration(days=200))
    assert bank_change_payments(pl.concat([opening, late]), moved).is_empty()


def test_a_vendor_paid_by_card_until_its_bank_details_change() -> None:
    # never paid by transfer before: its card expenses tell what it is usually paid
    cards = [
        {"document_id": f"c{i}", "doc_type": "expense", "issue_date": d(1 + i, 10)}
        | {"amount": 30_000 + i * 1_000}
        for i in range(6)
    ]
    vendor = contacts(
        {
            "contact_id": "v1",
            "name": "Acme Ltd",
            "created_at": dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
            "updated_at": dt.datetime(2026, 8, 3, 11, tzinfo=dt.UTC),
        }
    )
    wire = {"document_id": "wire", "issue_date": d(8, 5)}
    flags = bank_change_payments(transactions(*cards, wire | {"amount": 1_000_000}), vendor)
    assert _flags(flags)[0][0] == "wire"
    assert "over 6 earlier payment(s), the largest 350.00 GBP" in _flags(flags)[0][1]
    # a card payment after the change moves no money to the new account: not judged
    card = wire | {"doc_type": "expense", "amount": 1_000_000}
    assert bank_change_payments(transactions(*cards, card), vendor).is_empty()


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
            "paid 9,000.00 GBP (8.8x its median of 1,025.00 GBP over 6 earlier payment(s),"
            " the largest 1,050.00 GBP) to Acme Ltd 2 day(s) after its record and bank details"
            " changed on 2026-08-03 (account now GB00NEW)",
        )
    ]


def test_after_a_bank_details_change_only_a_payment_above_any_before_is_flagged() -> None:
    # a vendor paid 1,000 most months and 5,000 twice: 2,500 after the edit is twice its
    # median but within what it has been paid before (a real change of bank, business as
    # usual); 6,000 is more than it ever received
    earlier = [
        {"document_id": f"e{i}", "issue_date": d(1 + i, 10), "amount": 100_000} for i in range(5)
    ] + [
        {"document_id": f"big{i}", "issue_date": d(1 + i, 20), "amount": 500_000} for i in range(2)
    ]
    vendor = contacts(
        {
            "contact_id": "v1",
            "name": "Acme Ltd",
            "created_at": dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
            "updated_at": dt.datetime(2026, 8, 3, 11, tzinfo=dt.UTC),
        }
    )
    usual = transactions(*earlier, {"document_id": "p", "issue_date": d(8, 5), "amount": 250_000})
    assert bank_change_payments(usual, vendor).is_empty()
    larger = transactions(*earlier, {"document_id": "p", "issue_date": d(8, 5), "amount": 600_000})
    assert _flags(bank_change_payments(larger, vendor))[0][0] == "p"


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
            "dated 2026-02-01 (50.00 GBP) posted to account 6400 by Eve, who posted 0 of its "
            "30 other document(s)",
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
        for i in range(60)
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
            "of 60 other bill payments were entered off hours",
        )
    ]
    assert off_hours_postings(tx).is_empty()  # no holidays by default


def test_with_posting_users_known_the_users_habit_decides() -> None:
    weekdays = [x for x in range(2, 32) if dt.date(2026, 3, x).weekday() < 5]
    # Ann keys expenses in office hours; a bank-feed rule posts the other half at any hour
    ann = [
        {
            "document_id": f"a{i}",
            "doc_type": "expense",
            "issue_date": d(3, weekdays[i % 22]),
            "amount": 1_000 + i,
            "entered_at": at(3, weekdays[i % 22], 9 + i % 8),
            "created_by": "Ann",
        }
        for i in range(40)
    ]
    feed = [
        {
            "document_id": f"f{i}",
            "doc_type": "expense",
            "issue_date": d(3, 2 + i % 20),
            "amount": 2_000 + i,
            "entered_at": at(3, 2 + i % 20, (i * 7) % 24),
            "created_by": "Bank feed rule",
        }
        for i in range(40)
    ]
    odd = {"doc_type": "expense", "issue_date": d(3, 10), "amount": 5_000}
    tx = transactions(
        *ann,
        *feed,
        odd | {"document_id": "ann-night", "entered_at": at(3, 11, 2), "created_by": "Ann"},
        # a user who does not normally post, at night: flagged though the kind is not rare
        odd | {"document_id": "temp", "entered_at": at(3, 12, 1, 30), "created_by": "temp"},
    )
    flags = off_hours_postings(tx)
    assert _flags(flags) == [
        (
            "ann-night",
            "expense #ann-night of 50.00 GBP entered Wed 2026-03-11 02:00 UTC by Ann, who "
            "entered 0 of 40 other document(s) off hours",
        ),
        (
            "temp",
            "expense #temp of 50.00 GBP entered Thu 2026-03-12 01:30 UTC by temp, who entered "
            "0 of 0 other document(s) off hours",
        ),
    ]
    # neither has a habit of night entries: the top score
    assert flags["score"].to_list() == [0.95, 0.95]
    # (the feed's own night entries are its habit: none flagged); without the users the
    # kind is too mixed to call anything rare
    assert off_hours_postings(
        tx.with_columns(pl.lit(None, pl.String).alias("created_by"))
    ).is_empty()
