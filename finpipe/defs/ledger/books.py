"""ledger/contacts, documents, journal_lines, allocations, bank_account_links, cash_movements:
one company's QuickBooks / Xero records as canonical double-entry books (the rules live in
:mod:`finpipe.ledger.books_build` and the per-source expansions).

Three blocking checks stop anything downstream (reconciliation, analytics) from reading
books that do not add up: every entry balances, every month's trial balance is zero, and
every account's balance equals the provider's own trial balance."""

import dagster as dg
import polars as pl

from finpipe.defs.ledger.assets import BANK_ACCOUNTS_KEY
from finpipe.defs.ledger.mapping import ACCOUNT_MAP_KEY
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.ledger.books_build import (
    build_books,
    monthly_trial_balance,
    trial_balance_differences,
    write_books,
)
from finpipe.warehouse.tables.ledger import (
    ALLOCATIONS,
    BANK_ACCOUNT_LINKS,
    CASH_MOVEMENTS,
    CONTACTS,
    DOCUMENTS,
    JOURNAL_LINES,
    PROVIDER_TRIAL_BALANCES,
)
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES
from finpipe.warehouse.tables.recon import CONFLICTS

TABLES = {
    "contacts": CONTACTS,
    "documents": DOCUMENTS,
    "journal_lines": JOURNAL_LINES,
    "allocations": ALLOCATIONS,
    "bank_account_links": BANK_ACCOUNT_LINKS,
    "cash_movements": CASH_MOVEMENTS,
}
KEYS = {name: dg.AssetKey(["ledger", name]) for name in TABLES}
JOURNAL_LINES_KEY = KEYS["journal_lines"]
CASH_MOVEMENTS_KEY = KEYS["cash_movements"]
DOCUMENTS_KEY = KEYS["documents"]
CONFLICTS_KEY = dg.AssetKey(["recon", CONFLICTS.name])
RAW_BOOK_KEYS = [
    dg.AssetKey(["raw", table.name])
    for table in (*QUICKBOOKS_TABLES.values(), *XERO_TABLES.values())
]


def _spec(name: str) -> dg.AssetSpec:
    deps = [*RAW_BOOK_KEYS, ACCOUNT_MAP_KEY, BANK_ACCOUNTS_KEY]
    return derived_table_spec(KEYS[name], TABLES[name], "ledger", deps)


_CHECKS = [
    dg.AssetCheckSpec(
        "entries_balanced",
        asset=JOURNAL_LINES_KEY,
        blocking=True,
        description="Every journal entry's lines sum to exactly zero (home currency).",
    ),
    dg.AssetCheckSpec(
        "monthly_trial_balance_zero",
        asset=JOURNAL_LINES_KEY,
        blocking=True,
        description="Per provider and month, debits equal credits.",
    ),
    dg.AssetCheckSpec(
        "matches_provider_trial_balance",
        asset=JOURNAL_LINES_KEY,
        blocking=True,
        description="Every account's ledger balance equals the provider's own trial balance "
        "(QBO reports/TrialBalance, Xero Reports/TrialBalance) at the date it was fetched.",
    ),
]


def _conflicts_spec() -> dg.AssetSpec:
    # A function, not a module-level spec: the defs loader would take that for an asset.
    return derived_table_spec(CONFLICTS_KEY, CONFLICTS, "ledger", RAW_BOOK_KEYS)


@dg.multi_asset(
    name="books",
    specs=[*(_spec(name) for name in TABLES), _conflicts_spec()],
    check_specs=_CHECKS,
    partitions_def=company_partitions,
    can_subset=False,
    description="Expand a company's QuickBooks / Xero documents into balanced journal lines, "
    "documents with open balances, contacts and allocations; keep one book of record where a "
    "company is on both; read the cash movements reconciliation needs off the journal.",
)
def books(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        company = build_books(wh, company_id)
        write_books(wh, company)
        provider_tb = wh.read(PROVIDER_TRIAL_BALANCES, company_id=company_id)
    counts = company.summary()
    context.log.info(f"books of {company_id}: {counts}")
    if company.rejects.height:
        context.log.warning(
            f"books of {company_id}: {company.rejects.height} record(s) could not be read and "
            "were quarantined (ops.quarantine): "
            + "; ".join(
                f"{r['provider']} {r['entity']} {r['source_id']}: {r['field']}: {r['reason']}"
                for r in company.rejects.head(5).iter_rows(named=True)
            )
        )
    docs = company.documents
    frames = {
        "contacts": company.contacts,
        "documents": docs,
        "journal_lines": company.journal_lines,
        "allocations": company.allocations,
        "bank_account_links": company.links,
        "cash_movements": company.movements,
    }
    extra: dict[str, dict[str, object]] = {
        "documents": {
            "by_type": dg.MetadataValue.json(
                dict(docs.group_by("doc_type").len().sort("doc_type").iter_rows())
            ),
            "by_status": dg.MetadataValue.json(
                dict(docs.group_by("status").len().sort("status").iter_rows())
            ),
            "not_book_of_record": counts["documents"] - counts["book_of_record"],
            "quarantined": company.rejects.height,
            "providers": ", ".join(company.providers) or "none",
        },
        "journal_lines": {
            "entries": counts["entries"],
            "unmapped_lines": int(company.journal_lines["standard_code"].null_count()),
        },
        "bank_account_links": {
            "by_method": dg.MetadataValue.json(
                dict(company.links.group_by("method").len().sort("method").iter_rows())
            )
        },
        "cash_movements": {
            "unlinked": int(company.movements["bank_account_id"].null_count()),
        },
    }
    previews = {
        "documents": ["doc_type", "number", "issue_date", "currency", "total", "status"],
        "journal_lines": ["entry_id", "date", "account_id", "standard_code", "amount"],
        "cash_movements": ["document_type", "date", "amount", "currency", "counterparty_name"],
    }
    for name, frame in frames.items():
        meta: dict[str, object] = {"dagster/row_count": frame.height, **extra.get(name, {})}
        if name in previews and frame.height:
            meta["preview"] = dg.MetadataValue.md(
                markdown_preview(frame, rows=10, columns=previews[name])
            )
        yield dg.MaterializeResult(asset_key=KEYS[name], metadata=meta)
    conflicts = company.conflicts
    yield dg.MaterializeResult(
        asset_key=CONFLICTS_KEY,
        metadata={
            "dagster/row_count": 0 if conflicts is None else conflicts.height,
            "on_both_sources": conflicts is not None,
            "by_kind": dg.MetadataValue.json(
                {}
                if conflicts is None
                else dict(conflicts.group_by("kind").len().sort("kind").iter_rows())
            ),
            "preview": dg.MetadataValue.md(
                "one accounting source: nothing to de-duplicate"
                if conflicts is None
                else markdown_preview(
                    conflicts, rows=10, columns=["kind", "kept_provider", "resolution"]
                )
            ),
        },
    )

    unbalanced = company.unbalanced()
    yield dg.AssetCheckResult(
        check_name="entries_balanced",
        asset_key=JOURNAL_LINES_KEY,
        passed=unbalanced.is_empty(),
        metadata={
            "entries": counts["entries"],
            "unbalanced": unbalanced.height,
            "detail": dg.MetadataValue.md(markdown_preview(unbalanced, rows=20)),
        },
    )
    monthly = monthly_trial_balance(company.journal_lines)
    off = monthly.filter(pl.col("total") != 0)
    yield dg.AssetCheckResult(
        check_name="monthly_trial_balance_zero",
        asset_key=JOURNAL_LINES_KEY,
        passed=off.is_empty(),
        metadata={
            "months": monthly.height,
            "months_off": off.height,
            "trial_balance": dg.MetadataValue.md(markdown_preview(monthly, rows=24)),
        },
    )
    differences = trial_balance_differences(
        company.source_journal_lines, provider_tb, company.accounts
    )
    checked = provider_tb.select("provider", "as_of").unique().sort("provider")
    # A source whose report was never fetched fails the check: nothing was compared.
    missing = sorted(set(company.providers) - set(checked["provider"]))
    yield dg.AssetCheckResult(
        check_name="matches_provider_trial_balance",
        asset_key=JOURNAL_LINES_KEY,
        passed=differences.is_empty() and not missing,
        metadata={
            "reports_missing": ", ".join(missing) or "none",
            "reports_compared": checked.height,
            "reports": ", ".join(f"{p} at {d}" for p, d in checked.iter_rows()) or "none",
            "accounts_compared": provider_tb.height,
            "accounts_different": differences.height,
            "differences": dg.MetadataValue.md(markdown_preview(differences, rows=20)),
        },
    )
