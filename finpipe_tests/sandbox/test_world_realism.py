"""The world looks like real small businesses: mix, seasons, trajectories, providers,
migrations, currencies, statement habits."""

from __future__ import annotations

import polars as pl
from world_helpers import Loaded

from finpipe.sandbox.world.reference import INDUSTRY_PROFILES

NAICS = {p.name: set(p.naics) for p in INDUSTRY_PROFILES}


def test_company_mix(medium_world: Loaded) -> None:
    co = medium_world["companies"]
    assert set(co["industry"]) == set(NAICS)
    assert set(co["truth_trajectory"]) == {"growing", "stable", "declining", "distressed"}
    assert set(co["accounting_provider"]) == {"quickbooks", "xero", "both"}
    assert {"USD", "GBP", "EUR"} <= set(co["home_currency"])
    for industry, naics in co.select("industry", "naics_code").iter_rows():
        assert naics in NAICS[industry]
    expected_bank = {"US": {"aggregator", "statement"}, "GB": {"openbanking", "statement"}}
    for country, provider in co.select("country", "bank_provider").iter_rows():
        assert provider in expected_bank.get(country, {"berlingroup", "statement"})
    assert (co["qbo_realm_id"].is_null() == (co["accounting_provider"] == "xero")).all()
    assert (co["xero_tenant_id"].is_null() == (co["accounting_provider"] == "quickbooks")).all()
    both = co.filter(pl.col("accounting_provider") == "both")
    assert both["migration_cutover_date"].null_count() == 0
    assert (both["migration_cutover_date"].dt.day() == 1).all()
    assert (
        co.filter(pl.col("accounting_provider") != "both")["migration_cutover_date"].null_count()
        == co.height - both.height
    )


def test_bank_lines_per_company_month(medium_world: Loaded) -> None:
    lines = medium_world["bank_lines"].filter(pl.col("status") == "booked")
    per = lines.group_by("company_id").len()["len"] / medium_world.spec.months
    assert 60 <= per.median() <= 400


def _monthly(w: Loaded, industry: str) -> pl.DataFrame:
    co = w["companies"].filter(
        (pl.col("industry") == industry) & (pl.col("truth_trajectory") != "distressed")
    )
    return w["truth_monthly"].join(co.select("company_id"), on="company_id")


def test_seasonality(medium_world: Loaded) -> None:
    retail = _monthly(medium_world, "retail")
    assert retail["company_id"].n_unique() >= 2
    for _, frame in retail.group_by("company_id"):
        december = frame.filter(pl.col("month").dt.month() == 12)["revenue"]
        assert december.len() == 1
        assert december[0] > frame["revenue"].median()
    restaurants = _monthly(medium_world, "restaurant")
    by_month = restaurants.group_by(pl.col("month").dt.month().alias("m")).agg(
        pl.col("revenue").sum()
    )
    rev = dict(by_month.iter_rows())
    assert rev[7] > rev[2] and rev[12] > rev[2]
    construction = _monthly(medium_world, "construction")
    by_month = dict(
        construction.group_by(pl.col("month").dt.month().alias("m"))
        .agg(pl.col("revenue").sum())
        .iter_rows()
    )
    assert by_month[6] > 1.3 * by_month[1]


def test_trajectories(medium_world: Loaded) -> None:
    co = medium_world["companies"]
    monthly = (
        medium_world["truth_monthly"]
        .join(co.select("company_id", "truth_trajectory"), on="company_id")
        .sort("company_id", "month")
    )
    distressed = monthly.filter(pl.col("truth_trajectory") == "distressed")
    assert distressed["company_id"].n_unique() >= 1
    for _, frame in distressed.group_by("company_id"):
        assert frame["cash"][-1] < frame["cash"][0]
        assert frame["net_income"].sum() < 0
    crunch = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "cash_crunch")
    assert set(crunch["company_id"]) == set(distressed["company_id"])
    assert crunch["document_id"].null_count() == crunch.height
    growing = monthly.filter(pl.col("truth_trajectory") == "growing")
    first = (
        growing.group_by("company_id").head(3).group_by("company_id").agg(pl.col("revenue").sum())
    )
    last = (
        growing.group_by("company_id").tail(3).group_by("company_id").agg(pl.col("revenue").sum())
    )
    both = first.join(last, on="company_id", suffix="_last")
    assert (both["revenue_last"] > both["revenue"]).mean() >= 0.75


def test_migration_twins(world: Loaded) -> None:
    co = world["companies"].filter(pl.col("accounting_provider") == "both")
    assert co.height >= 1
    docs = world["documents"].join(
        co.select("company_id", "migration_cutover_date"), on="company_id"
    )
    dup = docs.filter(pl.col("truth_duplicate_of").is_not_null())
    assert dup.height > 0
    twin = dup.join(
        docs,
        left_on=["company_id", "truth_duplicate_of"],
        right_on=["company_id", "document_id"],
        suffix="_twin",
    )
    assert twin.height == dup.height
    assert (twin["provider"] != twin["provider_twin"]).all()
    for col in ("doc_type", "issue_date", "total", "currency", "number"):
        assert (twin[col].eq_missing(twin[f"{col}_twin"])).all(), col
    assert twin["truth_duplicate_of_twin"].null_count() == twin.height  # primary has none
    # book of record: QuickBooks before the cutover, Xero from it
    primary = docs.filter(pl.col("truth_duplicate_of").is_null())
    early = primary.filter(pl.col("issue_date") < pl.col("migration_cutover_date"))
    late = primary.filter(pl.col("issue_date") >= pl.col("migration_cutover_date"))
    assert (early["provider"] == "quickbooks").all() and (late["provider"] == "xero").all()
    # the overlap sits around the cutover
    days = (dup["issue_date"] - dup["migration_cutover_date"]).dt.total_days()
    standalone = dup.filter(
        ~pl.col("doc_type").is_in(
            ["invoice", "bill", "customer_payment", "bill_payment", "credit_note", "vendor_credit"]
        )
    )
    sdays = (standalone["issue_date"] - standalone["migration_cutover_date"]).dt.total_days()
    assert sdays.min() >= -45 and sdays.max() < 14
    assert days.max() < 14


def test_card_processors_and_cash(medium_world: Loaded) -> None:
    lines = medium_world["bank_lines"]
    text = " ".join(
        lines.filter(pl.col("bank_transaction_code") == "PMNT-RCDT-DMCT")["description"]
        .head(20_000)
        .to_list()
    )
    assert "STRIPE" in text.upper() and "SQUARE" in text.upper()
    docs = medium_world["documents"]
    assert docs.filter(pl.col("payment_method") == "cash").height > 0
    assert docs.filter(pl.col("doc_type") == "credit_note").height > 0
    assert docs.filter(pl.col("doc_type") == "vendor_credit").height > 0


def test_vendor_bank_detail_changes(medium_world: Loaded) -> None:
    contacts = medium_world["contacts"].filter(pl.col("bank_details_changed_at").is_not_null())
    assert contacts.height > 0
    lines = medium_world["bank_lines"].filter(pl.col("counterparty_account").is_not_null())
    m = (
        medium_world["truth_matches"]
        .join(
            medium_world["documents"].select("company_id", "provider", "document_id", "contact_id"),
            on=["company_id", "provider", "document_id"],
        )
        .join(
            lines.select("company_id", "line_id", "booked_date", "counterparty_account"),
            left_on=["company_id", "bank_line_id"],
            right_on=["company_id", "line_id"],
        )
        .join(
            contacts.select(
                "company_id",
                "provider",
                "contact_id",
                "bank_account_number",
                "bank_details_changed_at",
            ),
            on=["company_id", "provider", "contact_id"],
        )
    )
    after = m.filter(pl.col("booked_date") >= pl.col("bank_details_changed_at").dt.date())
    before = m.filter(pl.col("booked_date") < pl.col("bank_details_changed_at").dt.date())
    assert after.height > 0 and before.height > 0
    assert (after["counterparty_account"] == after["bank_account_number"]).all()
    assert (before["counterparty_account"] != before["bank_account_number"]).all()


def _local_created(docs: pl.DataFrame, companies: pl.DataFrame) -> pl.DataFrame:
    """``docs`` with ``local`` = ``created_at`` on the company's office clock (naive)."""
    from finpipe.sandbox.world.timezones import zone_name

    zones = companies.select(
        "company_id", pl.col("country").map_elements(zone_name, return_dtype=pl.String).alias("tz")
    )
    parts = [
        part.with_columns(
            pl.col("created_at").dt.convert_time_zone(tz).dt.replace_time_zone(None).alias("local")
        )
        for (tz,), part in docs.join(zones, on="company_id").group_by("tz")
    ]
    return pl.concat(parts)


def test_entry_times(world: Loaded) -> None:
    """People key documents in office hours on weekdays of the company's own clock (Xero's
    bank-rule documents included: a person clicks OK on each); the unusual user at night or
    at the weekend; QuickBooks' nightly bank-feed download adds its documents in one batch a
    night at the company's stable time of Intuit's run (from about 22:00 Pacific); payroll
    journals are posted in office hours; nothing is entered after the world ends."""
    docs = _local_created(world["documents"], world["companies"])
    xero_rule = (pl.col("created_by") == "Bank feed rule") & (pl.col("provider") == "xero")
    people = docs.filter(
        ~pl.col("created_by").is_in(
            ["Bank feed rule", "Payroll sync", "Card processor sync", "Migration tool"]
        )
        | xero_rule
    )
    assert people.filter(xero_rule).height
    end = world["companies"]["end_date"].max()
    # QuickBooks auto-added documents: minutes after 22:00 Pacific, one batch a night
    pacific = pl.col("created_at").dt.convert_time_zone("America/Los_Angeles")
    feed = docs.filter(
        (pl.col("created_by") == "Bank feed rule")
        & (pl.col("provider") == "quickbooks")
        & (pl.col("local").dt.date() < end)
    ).with_columns(
        ((pacific.dt.hour().cast(pl.Int64) * 60 + pacific.dt.minute() - 22 * 60) % 1440).alias(
            "after"
        ),
        (pacific - pl.duration(hours=12)).dt.date().alias("night"),
    )
    assert feed.height
    assert feed["after"].max() < 2 * 60 + 10
    nights = feed.group_by("company_id", "night").agg(
        pl.len().alias("n"),
        (pl.col("created_at").max() - pl.col("created_at").min()).alias("span"),
        pl.col("after").min().alias("start"),
    )
    assert (nights["span"].dt.total_seconds() <= 180).all()
    assert nights["n"].max() >= 3  # batches, not one document a night
    # each company's download comes at its own stable time (a few minutes' drift)
    spread = nights.group_by("company_id").agg(pl.col("start").max() - pl.col("start").min())
    assert (spread["start"] <= 6).all()
    payroll = docs.filter(pl.col("created_by") == "Payroll sync")["local"].dt.hour()
    assert ((payroll >= 8) & (payroll <= 18)).all()
    anomalies = world["truth_anomalies"].filter(pl.col("anomaly_type") == "off_hours_posting")
    odd = people.join(
        anomalies.select("company_id", "provider", "document_id"),
        on=["company_id", "provider", "document_id"],
    )
    usual = people.join(
        anomalies.select("company_id", "provider", "document_id"),
        on=["company_id", "provider", "document_id"],
        how="anti",
    )
    hour = usual["local"].dt.hour()
    assert ((hour >= 8) & (hour <= 18)).all()
    assert (usual["local"].dt.weekday() <= 5).all()
    if odd.height:
        night = (odd["local"].dt.hour() < 5) | (odd["local"].dt.weekday() >= 6)
        assert night.all()
        assert set(odd["created_by"]).isdisjoint(set(usual["created_by"]))
    assert (docs["updated_at"] >= docs["created_at"]).all()
    assert (docs["local"].dt.date() <= end).all()
    assert (docs["issue_date"] >= world["companies"]["start_date"].min()).all()
