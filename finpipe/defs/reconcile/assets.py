"""recon/*: bank lines reconciled against the books' cash movements, and payments matched to
open invoices, per company (the rules live in :mod:`finpipe.reconcile`)."""

import dagster as dg
import polars as pl

from finpipe.defs.ledger.assets import BANK_LINES_KEY
from finpipe.defs.ledger.books import KEYS as BOOK_KEYS
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.reconcile.build import (
    match_company_invoices,
    reconcile_company,
    write_invoices,
    write_recon,
)
from finpipe.reconcile.summary import exceptions_markdown
from finpipe.warehouse import Table
from finpipe.warehouse.tables.recon import (
    INVOICE_MATCHES,
    INVOICE_SUGGESTIONS,
    MATCHES,
    OPEN_ITEMS,
    SUGGESTIONS,
    SUMMARY,
    UNAPPLIED_PAYMENTS,
    UNMATCHED_BANK_LINES,
    UNMATCHED_MOVEMENTS,
)


def recon_key(table: Table) -> dg.AssetKey:
    return dg.AssetKey(["recon", table.name])


RECON_TABLES = (MATCHES, SUGGESTIONS, UNMATCHED_BANK_LINES, UNMATCHED_MOVEMENTS, SUMMARY)
INVOICE_TABLES = (OPEN_ITEMS, INVOICE_MATCHES, INVOICE_SUGGESTIONS, UNAPPLIED_PAYMENTS)
MATCHES_KEY = recon_key(MATCHES)
SUMMARY_KEY = recon_key(SUMMARY)
OPEN_ITEMS_KEY = recon_key(OPEN_ITEMS)
UNMATCHED_BANK_LINES_KEY = recon_key(UNMATCHED_BANK_LINES)


def _spec(table: Table, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    return derived_table_spec(recon_key(table), table, "reconciliation", deps)


@dg.multi_asset(
    name="reconciliation",
    specs=[_spec(t, [BANK_LINES_KEY, BOOK_KEYS["cash_movements"]]) for t in RECON_TABLES],
    check_specs=[
        dg.AssetCheckSpec(
            "matches_exclusive",
            asset=MATCHES_KEY,
            blocking=True,
            description="No bank line and no movement is in two match groups, every "
            "confidence is in [0, 1], and no automatic match is also a suggestion.",
        ),
        dg.AssetCheckSpec(
            "nothing_unreconciled_over_90_days",
            asset=SUMMARY_KEY,
            description="Warns while bank lines or ledger movements older than 90 days are "
            "still unreconciled: someone must look at them.",
        ),
    ],
    partitions_def=company_partitions,
    can_subset=False,
    description="Reconcile a company's booked bank lines against its books' cash movements: "
    "exact id, reference, amount and date, tolerance, counterparty, subset-sum; ambiguous "
    "candidates become suggestions for a person.",
)
def reconciliation(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        recon = reconcile_company(wh, company_id)
        write_recon(wh, recon)
    result = recon.result
    matches = result.matches
    lines_by_rule = recon.rates_by_rule()
    booked = recon.bank_lines.filter(pl.col("status") == "booked").height
    matched_lines = matches["bank_line_id"].n_unique()
    rates = {rule: round(n / booked, 4) for rule, n in lines_by_rule.items()} if booked else {}
    context.log.info(
        f"reconciliation of {company_id}: {matched_lines}/{booked} booked bank lines matched "
        f"({lines_by_rule}), {result.suggestions['suggestion_id'].n_unique()} suggestion(s)"
    )
    yield dg.MaterializeResult(
        asset_key=MATCHES_KEY,
        metadata={
            "dagster/row_count": matches.height,
            "bank_lines_booked": booked,
            "bank_lines_matched": matched_lines,
            "match_rate": round(matched_lines / booked, 4) if booked else 0.0,
            "match_rate_by_rule": dg.MetadataValue.json(rates),
            "matches_by_type": dg.MetadataValue.json(
                dict(matches.group_by("match_type").len().sort("match_type").iter_rows())
            ),
            "seconds_by_step": dg.MetadataValue.json(
                {k: round(v, 3) for k, v in result.timings.items()}
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=recon_key(SUGGESTIONS),
        metadata={
            "dagster/row_count": result.suggestions.height,
            "suggestions_by_rule": dg.MetadataValue.json(result.suggestion_counts),
        },
    )
    exceptions = exceptions_markdown(result, recon.bank_lines, recon.movements)
    yield dg.MaterializeResult(
        asset_key=UNMATCHED_BANK_LINES_KEY,
        metadata={
            "dagster/row_count": recon.unmatched_bank_lines.height,
            "as_of": recon.as_of.isoformat(),
            "exceptions": dg.MetadataValue.md(exceptions),
        },
    )
    yield dg.MaterializeResult(
        asset_key=recon_key(UNMATCHED_MOVEMENTS),
        metadata={
            "dagster/row_count": recon.unmatched_movements.height,
            # opening balances and books older than the bank feed: nothing to match
            "before_bank_history": recon.before_history.height,
        },
    )
    summary = recon.summary
    yield dg.MaterializeResult(
        asset_key=SUMMARY_KEY,
        metadata={
            "dagster/row_count": summary.height,
            "summary": dg.MetadataValue.md(
                markdown_preview(
                    summary,
                    columns=[
                        "currency",
                        "bank_lines_booked",
                        "bank_lines_matched",
                        "matched_share",
                        "bank_lines_suggested",
                        "bank_unmatched_amount",
                        "movements_unmatched",
                        "auto_reconciled_amount_share",
                    ],
                )
            ),
        },
    )
    twice_lines = matches.group_by("bank_line_id").agg(pl.col("group_id").n_unique().alias("g"))
    twice_moves = matches.group_by("movement_id").agg(pl.col("group_id").n_unique().alias("g"))
    bad_conf = matches.filter(~pl.col("confidence").is_between(0.0, 1.0))
    both = matches.join(
        result.suggestions.select("bank_line_id", "movement_id"),
        on=["bank_line_id", "movement_id"],
        how="semi",
    )
    problems = {
        "bank_lines_in_two_groups": twice_lines.filter(pl.col("g") > 1).height,
        "movements_in_two_groups": twice_moves.filter(pl.col("g") > 1).height,
        "confidence_out_of_range": bad_conf.height,
        "matched_and_suggested": both.height,
    }
    yield dg.AssetCheckResult(
        check_name="matches_exclusive",
        asset_key=MATCHES_KEY,
        passed=not any(problems.values()),
        metadata=problems,
    )
    old = {
        "bank_amount_over_90_days": int(summary["bank_unmatched_over_90"].sum() or 0),
        "ledger_amount_over_90_days": int(summary["movement_unmatched_over_90"].sum() or 0),
    }
    yield dg.AssetCheckResult(
        check_name="nothing_unreconciled_over_90_days",
        asset_key=SUMMARY_KEY,
        passed=not any(old.values()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={**old, "as_of": recon.as_of.isoformat()},
    )


@dg.multi_asset(
    name="invoice_matching",
    specs=[_spec(t, [BOOK_KEYS["documents"], BOOK_KEYS["allocations"]]) for t in INVOICE_TABLES],
    check_specs=[
        dg.AssetCheckSpec(
            "open_balances_agree_with_provider",
            asset=OPEN_ITEMS_KEY,
            description="Every open balance computed from the allocations equals the amount "
            "due the provider reports; disagreements are listed.",
        )
    ],
    partitions_def=company_partitions,
    can_subset=False,
    description="Apply the books' allocations to invoices and bills, match unapplied "
    "payments and credits to open items (reference, exact amount, oldest first), and age "
    "what stays open.",
)
def invoice_matching(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        invoices = match_company_invoices(wh, company_id)
        write_invoices(wh, invoices)
    items = invoices.open_items
    open_ = items.filter(pl.col("open_balance") != 0)
    context.log.info(
        f"invoice matching of {company_id}: {invoices.counts}, {open_.height} open item(s)"
    )
    yield dg.MaterializeResult(
        asset_key=OPEN_ITEMS_KEY,
        metadata={
            "dagster/row_count": items.height,
            "open": open_.height,
            "as_of": invoices.as_of.isoformat(),
            "by_status": dg.MetadataValue.json(
                dict(items.group_by("status").len().sort("status").iter_rows())
            ),
            "largest_open": dg.MetadataValue.md(
                markdown_preview(
                    open_.sort("open_balance", descending=True),
                    columns=["side", "number", "currency", "open_balance", "age_bucket"],
                )
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=recon_key(INVOICE_MATCHES),
        metadata={
            "dagster/row_count": invoices.matches.height,
            "matches_by_rule": dg.MetadataValue.json(invoices.counts),
        },
    )
    yield dg.MaterializeResult(
        asset_key=recon_key(INVOICE_SUGGESTIONS),
        metadata={"dagster/row_count": invoices.suggestions.height},
    )
    yield dg.MaterializeResult(
        asset_key=recon_key(UNAPPLIED_PAYMENTS),
        metadata={
            "dagster/row_count": invoices.unapplied.height,
            "rejected_allocations": invoices.rejects.height,
        },
    )
    disagree = items.filter(pl.col("disagrees").fill_null(False))
    yield dg.AssetCheckResult(
        check_name="open_balances_agree_with_provider",
        asset_key=OPEN_ITEMS_KEY,
        passed=disagree.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "items": items.height,
            "disagreeing": disagree.height,
            "detail": dg.MetadataValue.md(
                markdown_preview(
                    disagree,
                    columns=["doc_type", "number", "open_balance", "provider_amount_due"],
                )
            ),
        },
    )
