"""analytics/income_statement, balance_sheet, cash_flow, kpis, health_scores,
health_components: one company's monthly statements, KPIs and health scores from its books
(the rules live in :mod:`finpipe.analytics.financials`)."""

import dagster as dg
import polars as pl

from finpipe.analytics.financials.build import (
    build_financials,
    summary_markdown,
    write_financials,
)
from finpipe.analytics.financials.kpis import kpi_registry_markdown
from finpipe.defs.financials.checks import check_results, check_specs
from finpipe.defs.ledger.books import KEYS as BOOK_KEYS
from finpipe.defs.metadata import derived_table_spec, markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.analytics_financials import TABLES

KEYS = {table.name: dg.AssetKey(["analytics", table.name]) for table in TABLES}
DEPS = [BOOK_KEYS["journal_lines"], BOOK_KEYS["documents"]]


def _specs() -> list[dg.AssetSpec]:
    # A function, not module-level specs: the defs loader would take those for assets.
    return [derived_table_spec(KEYS[t.name], t, "analytics", DEPS) for t in TABLES]


PREVIEWS = {
    "income_statement": ["month", "revenue", "gross_profit", "ebitda", "net_income"],
    "balance_sheet": ["month", "cash", "total_assets", "total_liabilities", "total_equity"],
    "cash_flow": ["month", "operating", "investing", "financing", "net_change", "cash_end"],
    "health_scores": ["month", "composite", "altman_z", "altman_zone", "biggest_mover"],
}


@dg.multi_asset(
    name="financials",
    specs=_specs(),
    check_specs=check_specs(),
    partitions_def=company_partitions,
    can_subset=False,
    description="Lay a company's books out as monthly P&L, balance sheet and cash-flow "
    "statement; compute the KPI registry per month; score its health (Altman Z'' and a 0-100 "
    "composite with sub-scores, each explained).",
)
def financials(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    with warehouse.open() as wh:
        result = build_financials(wh, company_id)
        frames = write_financials(wh, company_id, result)
    summary = summary_markdown(result)
    context.log.info(
        f"financials of {company_id}: {result.income.height} month(s), "
        f"{result.kpis.height} KPI row(s)"
    )
    for name, frame in frames.items():
        meta: dict[str, object] = {"dagster/row_count": frame.height}
        if name in PREVIEWS and frame.height:
            last = frame.sort("month", descending=True)
            meta["preview"] = dg.MetadataValue.md(
                markdown_preview(last, rows=12, columns=PREVIEWS[name])
            )
        if name == "health_scores":
            meta["summary"] = dg.MetadataValue.md(summary)
            latest = frame.sort("month").tail(1)
            if latest.height:
                row = latest.row(0, named=True)
                meta["composite"] = dg.MetadataValue.float(
                    float(row["composite"]) if row["composite"] is not None else float("nan")
                )
                meta["altman_zone"] = str(row["altman_zone"])
        if name == "kpis":
            meta["registry"] = dg.MetadataValue.md(kpi_registry_markdown())
            meta["null_by_reason"] = dg.MetadataValue.json(
                {
                    str(k): n
                    for k, n in frame.filter(pl.col("value").is_null())
                    .group_by("null_reason")
                    .len()
                    .sort("null_reason")
                    .iter_rows()
                }
            )
        yield dg.MaterializeResult(asset_key=KEYS[name], metadata=meta)
    yield from check_results(result)
