"""raw/statement_*: the statement files dropped into a company's inbox, imported once each
(all or nothing, keyed by content hash); bad files are moved aside with the reason."""

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import polars as pl

from finpipe.compliance import AuditKind, append
from finpipe.config import load_settings
from finpipe.connectors.statements.dropfolder import import_inbox, statements_root
from finpipe.defs.landing import landing_check_results, landing_check_specs, landing_specs
from finpipe.defs.metadata import markdown_preview
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Table
from finpipe.warehouse.tables.raw import STATEMENT_BALANCES, STATEMENT_FILES, STATEMENT_LINES


@dataclass(frozen=True)
class _Statements:
    """The drop folder as a landing source (name + landing tables)."""

    name: str
    tables: dict[str, Table]


STATEMENTS = _Statements(
    "statement",
    {"files": STATEMENT_FILES, "lines": STATEMENT_LINES, "balances": STATEMENT_BALANCES},
)
FILES_KEY = dg.AssetKey(["raw", STATEMENT_FILES.name])
REJECTED_CHECK = "no_rejected_files"


@dg.multi_asset(
    name="statement_raw",
    specs=landing_specs(STATEMENTS),
    check_specs=[
        *landing_check_specs(STATEMENTS),
        dg.AssetCheckSpec(
            REJECTED_CHECK,
            asset=FILES_KEY,
            description="Warns when a file dropped for this company was rejected (see the "
            "reason, fix or re-export the file, drop it again).",
        ),
    ],
    partitions_def=company_partitions,
    can_subset=False,
    pool="statement",
    description=(
        "Import every statement file waiting in $FINPIPE_HOME/statements/inbox/<company>/: "
        "camt.053, OFX/QFX, MT940 or CSV; imported once by content hash, all or nothing."
    ),
)
def statement_raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    root = statements_root(load_settings())
    with warehouse.open() as wh:
        # Files modified in the last second may still be being copied in: left for the next
        # run (writers that rename into place, like the demo's export, are never half-read).
        results = import_inbox(wh, root, company_id, dt.datetime.now(dt.UTC))
        if results:
            append(
                wh,
                company_id,
                AuditKind.SYNC_BATCH,
                subject=f"statement:{context.run.run_id}",
                details={
                    "files": [
                        {"name": r.file_name, "sha256": r.sha256, "status": r.status}
                        for r in results
                    ],
                    "new_lines": sum(r.lines_new for r in results),
                },
                actor="finpipe",
            )
        counts = {
            entity: wh.count(table, company_id) for entity, table in STATEMENTS.tables.items()
        }
        checks = list(landing_check_results(wh, STATEMENTS, company_id))
    report = pl.DataFrame(
        {
            "file": [r.file_name for r in results],
            "status": [r.status for r in results],
            "format": [r.format for r in results],
            "lines": [r.lines for r in results],
            "new_lines": [r.lines_new for r in results],
            "reason": [r.reason or "; ".join(r.warnings) or "" for r in results],
        },
        schema={
            "file": pl.String(),
            "status": pl.String(),
            "format": pl.String(),
            "lines": pl.Int64(),
            "new_lines": pl.Int64(),
            "reason": pl.String(),
        },
    )
    by_status = {
        s: report.filter(pl.col("status") == s).height
        for s in ("imported", "already_imported", "rejected")
    }
    context.log.info(f"statement inbox of {company_id}: {by_status}")
    preview = dg.MetadataValue.md(markdown_preview(report, rows=50))
    yield dg.MaterializeResult(
        asset_key=FILES_KEY,
        metadata={
            "dagster/row_count": counts["files"],
            "files_imported": by_status["imported"],
            "files_already_imported": by_status["already_imported"],
            "files_rejected": by_status["rejected"],
            "inbox": str(root / "inbox" / company_id),
            "files": preview,
        },
    )
    for entity in ("lines", "balances"):
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["raw", STATEMENTS.tables[entity].name]),
            metadata={
                "dagster/row_count": counts[entity],
                "new_lines": int(report.get_column("new_lines").sum() or 0)
                if entity == "lines"
                else dg.MetadataValue.text("-"),
            },
        )
    yield from checks
    rejected = report.filter(pl.col("status") == "rejected")
    yield dg.AssetCheckResult(
        asset_key=FILES_KEY,
        check_name=REJECTED_CHECK,
        passed=rejected.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected": rejected.height,
            "rejected_files": dg.MetadataValue.md(markdown_preview(rejected, rows=20)),
        },
    )
