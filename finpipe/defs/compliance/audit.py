"""compliance/audit_trail: each company's hash-chained audit log, verified after every run
against the tip the previous verification published (so deleting the newest entries, or
rebuilding the chain from scratch, is caught too). Entries are appended by the steps that
act: every sync batch (:func:`record_sync`), and later write-backs, conflict resolutions
and manual overrides."""

import dagster as dg

from finpipe.compliance import AuditKind, ChainTip, append, verify
from finpipe.connectors.report import SyncReport
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG
from finpipe.warehouse.tables.raw import TABLES as RAW_TABLES

AUDIT_TRAIL_KEY = dg.AssetKey(["compliance", "audit_trail"])
CHECK = "audit_chain_intact"


def record_sync(wh: Warehouse, report: SyncReport, note: str) -> None:
    """Append the sync batch ``report`` to its company's chain (nothing when nothing ran)."""
    if report.sync_id == "-":
        return
    append(
        wh,
        report.company_id,
        AuditKind.SYNC_BATCH,
        subject=f"{report.provider}:{report.sync_id}",
        details={"provider": report.provider, "note": note, **report.totals()},
        actor="finpipe",
    )


def _published_tip(context: dg.AssetExecutionContext) -> ChainTip | None:
    """The tip the last verification of this company's chain published, if any."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=AUDIT_TRAIL_KEY, asset_partitions=[context.partition_key]),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return None
    sequence = materialization.metadata.get("tip_sequence")
    hash_ = materialization.metadata.get("tip_hash")
    if sequence is None or hash_ is None or not hash_.value:
        return None
    return ChainTip(int(sequence.value), str(hash_.value))


@dg.asset(
    key=AUDIT_TRAIL_KEY,
    group_name="compliance",
    kinds={"duckdb", "postgres"},
    # After every landing of the run: its sync batches are in the chain by then.
    deps=[dg.AssetKey(["raw", t.name]) for t in RAW_TABLES if not t.name.startswith("world_")],
    partitions_def=company_partitions,
    description=AUDIT_LOG.doc,
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset=AUDIT_TRAIL_KEY,
            blocking=True,
            description="No entry of the company's audit chain was edited, deleted, reordered "
            "or forged, and the tip published by the last verification is still there.",
        )
    ],
)
def audit_trail(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    company_id = context.partition_key
    anchor = _published_tip(context)
    with warehouse.open() as wh:
        result = verify(wh, company_id, anchor=anchor)
    if not result.ok:
        context.log.error(result.message)
    tip = result.tip if result.ok else anchor
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.entries,
            "dagster/table_name": AUDIT_LOG.qualified_name,
            # The next verification holds the chain to this tip.
            "tip_sequence": tip.sequence if tip else 0,
            "tip_hash": tip.hash if tip else "",
        }
    )
    yield dg.AssetCheckResult(
        check_name=CHECK,
        passed=result.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "entries": result.entries,
            "anchored_on": f"{anchor.sequence}:{anchor.hash[:12]}" if anchor else "-",
            "broken_at": result.broken_at or 0,
            "reason": str(result.reason or "-"),
            "message": result.message or "chain intact",
        },
    )
