"""One company's transactions as the detectors read them, from what finpipe lands and builds.

Everything comes from the unified ledger (``ledger.documents``, ``ledger.contacts``,
``ledger.allocations``, ``ledger.journal_lines``) plus two fields only the providers'
payloads carry (``raw.*``): when a document was *entered* (QuickBooks ``MetaData.CreateTime``,
Xero ``Journals.CreatedDateUTC`` of the document's journal), as a UTC instant and on the
company's own clock (QuickBooks writes ``CreateTime`` with the company's UTC offset; Xero keeps
UTC and names the organisation's zone in ``Organisation.Timezone``), and when a vendor was created
(QuickBooks ``Vendor.MetaData.CreateTime``; Xero gives no creation date, so the vendor's first
document stands in). Neither provider's API names the user who keyed a document: the
``created_by`` column stays null unless a source fills it, and the user rules then find
nothing (they are tested on hand-built frames).

Amounts are integer minor units; ``amount`` is the document's gross in home currency
(``abs(home_total)``), the figure every detector compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from finpipe.ledger.books_schema import DEAD_STATUSES
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ledger import ALLOCATIONS, CONTACTS, DOCUMENTS, JOURNAL_LINES
from finpipe.warehouse.tables.raw import QUICKBOOKS_ENTITIES, QUICKBOOKS_TABLES, XERO_TABLES

# QuickBooks entities that are documents (their CreateTime is the entry instant).
QBO_DOCUMENT_ENTITIES = tuple(
    e
    for e in QUICKBOOKS_ENTITIES
    if e not in ("Account", "Customer", "Vendor", "Item", "CompanyInfo", "Preferences")
)
# Money going out to a vendor: what duplicate, split, round-sum and bank-change rules read.
PAYMENT_TYPES = ("bill_payment", "expense")
PURCHASE_TYPES = ("bill", "expense")
# Standard-chart code prefixes of cash and control accounts (bank, receivable, payable,
# credit card): the other side of a document, never what it is about.
CASH_AND_CONTROL = ("10", "11", "20", "21")

TRANSACTION_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "document_id": pl.String,
        "doc_type": pl.String,
        "number": pl.String,
        "reference": pl.String,
        "contact_id": pl.String,
        "contact_name": pl.String,
        "contact_kind": pl.String,  # customer | vendor | employee
        "issue_date": pl.Date,
        "amount": pl.Int64,  # abs(home_total), minor units of home currency
        "currency": pl.String,  # home currency
        "entered_at": pl.Datetime("us", "UTC"),
        # the same instant on the company's local clock (null: the zone is unknown)
        "entered_local": pl.Datetime("us"),
        "created_by": pl.String,
        "account_id": pl.String,  # main non-cash account the document posts to
        "standard_code": pl.String,
        "paid_document_id": pl.String,  # the bill/invoice a payment is applied to (first)
        "cash_account_id": pl.String,  # the bank / card account the money moved through
    }
)
CONTACT_FEATURE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "contact_id": pl.String,
        "name": pl.String,
        "kind": pl.String,
        "bank_account_number": pl.String,
        "created_at": pl.Datetime("us", "UTC"),
        "updated_at": pl.Datetime("us", "UTC"),
    }
)


@dataclass(frozen=True)
class CompanyTransactions:
    """What the detectors of one company read."""

    company_id: str
    currency: str
    transactions: pl.DataFrame  # TRANSACTION_SCHEMA, live book-of-record documents
    contacts: pl.DataFrame  # CONTACT_FEATURE_SCHEMA
    journal_lines: pl.DataFrame  # ledger.journal_lines of the company


# Xero ``Organisation.Timezone`` (the Accounting API's ``TimeZone`` enum: Windows zone ids in
# upper case without spaces) to IANA zones, after the CLDR windowsZones table (its "001"
# territory). An organisation in a zone missing here is read in UTC.
XERO_TIMEZONES: dict[str, str] = {
    "UTC": "UTC",
    "GMTSTANDARDTIME": "Europe/London",
    "GREENWICHSTANDARDTIME": "Atlantic/Reykjavik",
    "WEUROPESTANDARDTIME": "Europe/Berlin",
    "ROMANCESTANDARDTIME": "Europe/Paris",
    "CENTRALEUROPESTANDARDTIME": "Europe/Budapest",
    "CENTRALEUROPEANSTANDARDTIME": "Europe/Warsaw",
    "GTBSTANDARDTIME": "Europe/Bucharest",
    "FLESTANDARDTIME": "Europe/Kiev",
    "EEUROPESTANDARDTIME": "Europe/Chisinau",
    "SOUTHAFRICASTANDARDTIME": "Africa/Johannesburg",
    "ARABIANSTANDARDTIME": "Asia/Dubai",
    "INDIASTANDARDTIME": "Asia/Calcutta",
    "SINGAPORESTANDARDTIME": "Asia/Singapore",
    "CHINASTANDARDTIME": "Asia/Shanghai",
    "TOKYOSTANDARDTIME": "Asia/Tokyo",
    "WAUSTRALIASTANDARDTIME": "Australia/Perth",
    "AUSCENTRALSTANDARDTIME": "Australia/Darwin",
    "CENAUSTRALIASTANDARDTIME": "Australia/Adelaide",
    "EAUSTRALIASTANDARDTIME": "Australia/Brisbane",
    "AUSEASTERNSTANDARDTIME": "Australia/Sydney",
    "TASMANIASTANDARDTIME": "Australia/Hobart",
    "NEWZEALANDSTANDARDTIME": "Pacific/Auckland",
    "HAWAIIANSTANDARDTIME": "Pacific/Honolulu",
    "ALASKANSTANDARDTIME": "America/Anchorage",
    "PACIFICSTANDARDTIME": "America/Los_Angeles",
    "USMOUNTAINSTANDARDTIME": "America/Phoenix",
    "MOUNTAINSTANDARDTIME": "America/Denver",
    "CENTRALSTANDARDTIME": "America/Chicago",
    "CANADACENTRALSTANDARDTIME": "America/Regina",
    "EASTERNSTANDARDTIME": "America/New_York",
    "ATLANTICSTANDARDTIME": "America/Halifax",
    "NEWFOUNDLANDSTANDARDTIME": "America/St_Johns",
}
_ENTERED_SCHEMA = {
    "provider": pl.String,
    "id": pl.String,
    "created": pl.Datetime("us", "UTC"),
    "created_local": pl.Datetime("us"),
}


def xero_zone(timezone: str | None) -> str | None:
    """IANA zone of a Xero ``Organisation.Timezone`` value (None when unknown)."""
    return XERO_TIMEZONES.get((timezone or "").upper().replace(" ", ""))


def _qbo_created(warehouse: Warehouse, company_id: str, entities: tuple[str, ...]) -> pl.DataFrame:
    """``MetaData.CreateTime`` of the entities' records: the instant (UTC) and the wall clock
    it was written in (QuickBooks writes the company's offset, ``2026-01-05T09:12:00-08:00``)."""
    parts = []
    for entity in entities:
        raw = warehouse.read(QUICKBOOKS_TABLES[entity], company_id=company_id)
        if raw.height:
            parts.append(
                raw.select(
                    pl.lit("quickbooks").alias("provider"),
                    pl.col("source_id").alias("id"),
                    pl.col("payload").str.json_path_match("$.MetaData.CreateTime").alias("t"),
                )
            )
    if not parts:
        return pl.DataFrame(schema=_ENTERED_SCHEMA)
    return qbo_entry_times(pl.concat(parts))


def qbo_entry_times(frame: pl.DataFrame) -> pl.DataFrame:
    """``(provider, id, t)`` rows with ``t`` a QuickBooks ``CreateTime`` string as
    ``(provider, id, created, created_local)``: the UTC instant and the wall clock the time was
    written on (its offset is the company's, so the digits before it are local time)."""
    return frame.select(
        "provider",
        "id",
        pl.col("t")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False)
        .dt.convert_time_zone("UTC")
        .dt.cast_time_unit("us")
        .alias("created"),
        pl.col("t")
        .str.slice(0, 19)
        .str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False)
        .dt.cast_time_unit("us")
        .alias("created_local"),
    ).cast(_ENTERED_SCHEMA)


def _xero_ms_date(column: str) -> pl.Expr:
    """Xero's ``/Date(1790762687861+0000)/`` as a UTC instant."""
    ms = pl.col(column).str.extract(r"/Date\((-?\d+)", 1).cast(pl.Int64)
    return pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us")


def xero_organisation_zone(warehouse: Warehouse, company_id: str) -> str | None:
    """IANA zone of the company's Xero organisation (None without one, or an unknown zone)."""
    raw = warehouse.read(XERO_TABLES["Organisation"], company_id=company_id)
    if not raw.height:
        return None
    zones = raw["payload"].str.json_path_match("$.Timezone").drop_nulls()
    return xero_zone(zones[0]) if zones.len() else None


def _xero_entered(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    """Per Xero document its first journal's ``CreatedDateUTC``: the instant and the wall
    clock of the organisation's zone (null when the zone is unknown)."""
    raw = warehouse.read(XERO_TABLES["Journals"], company_id=company_id)
    if not raw.height:
        return pl.DataFrame(schema=_ENTERED_SCHEMA)
    return xero_entry_times(
        raw.select(
            pl.col("payload").str.json_path_match("$.SourceID").alias("id"),
            pl.col("payload").str.json_path_match("$.CreatedDateUTC").alias("t"),
        ),
        xero_organisation_zone(warehouse, company_id),
    )


def xero_entry_times(journals: pl.DataFrame, zone: str | None) -> pl.DataFrame:
    """``(id, t)`` rows of Xero journals (``SourceID``, ``CreatedDateUTC``) as
    ``(provider, id, created, created_local)`` per source document: its first journal's
    instant and that instant on the ``zone`` clock (null when the zone is unknown)."""
    local = (
        pl.col("created").dt.convert_time_zone(zone).dt.replace_time_zone(None)
        if zone is not None
        else pl.lit(None, pl.Datetime("us"))
    )
    return (
        journals.filter(pl.col("id").is_not_null())
        .select(pl.lit("xero").alias("provider"), "id", _xero_ms_date("t").alias("created"))
        .group_by("provider", "id")
        .agg(pl.col("created").min())
        .with_columns(local.alias("created_local"))
        .cast(_ENTERED_SCHEMA)
    )


def home_currency(documents: pl.DataFrame) -> str:
    """The currency documents carry at a rate of one and their home total (the most common)."""
    home = documents.filter(
        (pl.col("total") == pl.col("home_total")) & pl.col("currency").is_not_null()
    )
    if home.is_empty():
        return ""
    return str(home.group_by("currency").len().sort("len", "currency", descending=True)[0, 0])


def main_accounts(journal_lines: pl.DataFrame) -> pl.DataFrame:
    """Per document the account its largest line posts to, cash and control accounts
    (bank, receivable, payable and card codes, :data:`CASH_AND_CONTROL`) left aside: the expense or
    income account the document is really about."""
    lines = journal_lines.filter(pl.col("document_id").is_not_null())
    aside = pl.col("standard_code").fill_null("").str.slice(0, 2).is_in(CASH_AND_CONTROL)
    return (
        lines.filter(~aside)
        .sort(pl.col("amount").abs(), "line_no", descending=[True, False])
        .group_by("provider", "document_id", maintain_order=True)
        .agg(pl.col("account_id").first(), pl.col("standard_code").first())
    )


def build_transactions(
    company_id: str,
    documents: pl.DataFrame,
    contacts: pl.DataFrame,
    allocations: pl.DataFrame,
    journal_lines: pl.DataFrame,
    entered: pl.DataFrame,
) -> pl.DataFrame:
    """Live book-of-record documents with their contact, entry instant, main account and the
    document a payment is applied to, as :data:`TRANSACTION_SCHEMA`."""
    live = documents.filter(
        pl.col("book_of_record")
        & ~pl.col("status").is_in(DEAD_STATUSES)
        & pl.col("home_total").is_not_null()
    )
    names = contacts.select(
        "provider",
        "contact_id",
        pl.col("name").alias("contact_name"),
        pl.col("kind").alias("contact_kind"),
    ).unique(["provider", "contact_id"])
    paid = (
        allocations.sort("allocation_id")
        .group_by("provider", "source_document_id", maintain_order=True)
        .agg(pl.col("target_document_id").first().alias("paid_document_id"))
        .rename({"source_document_id": "document_id"})
    )
    if "created_local" not in entered.columns:  # no wall clock known: judged in UTC
        entered = entered.with_columns(pl.lit(None, pl.Datetime("us")).alias("created_local"))
    entered = entered.rename(
        {"id": "document_id", "created": "entered_at", "created_local": "entered_local"}
    )
    out = (
        live.join(names, on=["provider", "contact_id"], how="left")
        .join(paid, on=["provider", "document_id"], how="left")
        .join(entered, on=["provider", "document_id"], how="left")
        .join(main_accounts(journal_lines), on=["provider", "document_id"], how="left")
        .with_columns(
            pl.lit(company_id).alias("company_id"),
            pl.col("home_total").abs().cast(pl.Int64).alias("amount"),
            pl.lit(home_currency(documents)).alias("currency"),
            pl.lit(None, pl.String).alias("created_by"),
        )
    )
    return (
        out.select(list(TRANSACTION_SCHEMA))
        .cast(dict(TRANSACTION_SCHEMA))
        .sort("issue_date", "provider", "document_id")
    )


def contact_features(contacts: pl.DataFrame, created: pl.DataFrame) -> pl.DataFrame:
    """Contacts with their creation instant where the provider gives one."""
    created = created.select("provider", "id", "created").rename(
        {"id": "contact_id", "created": "created_at"}
    )
    return (
        contacts.join(created, on=["provider", "contact_id"], how="left")
        .select(list(CONTACT_FEATURE_SCHEMA))
        .cast(dict(CONTACT_FEATURE_SCHEMA))
    )


def load_company(warehouse: Warehouse, company_id: str) -> CompanyTransactions:
    """Read one company's books and the entry instants of its documents."""
    documents = warehouse.read(DOCUMENTS, company_id=company_id)
    contacts = warehouse.read(CONTACTS, company_id=company_id)
    allocations = warehouse.read(ALLOCATIONS, company_id=company_id)
    journal = warehouse.read(JOURNAL_LINES, company_id=company_id)
    entered = pl.concat(
        [
            _qbo_created(warehouse, company_id, QBO_DOCUMENT_ENTITIES),
            _xero_entered(warehouse, company_id),
        ]
    )
    vendors_created = _qbo_created(warehouse, company_id, ("Vendor", "Customer"))
    transactions = build_transactions(
        company_id, documents, contacts, allocations, journal, entered
    )
    return CompanyTransactions(
        company_id=company_id,
        currency=home_currency(documents),
        transactions=transactions,
        contacts=contact_features(contacts, vendors_created),
        journal_lines=journal,
    )
