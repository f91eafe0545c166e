"""Manual overrides are recorded in the audit chain once per version, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from finpipe.compliance import AuditKind, verify
from finpipe.compliance.overrides import record_overrides
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG

CO = "acme"
T1 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _overrides(updated: datetime, code: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": [CO],
            "provider": ["quickbooks"],
            "account_id": ["42"],
            "standard_code": [code],
            "note": ["the controller says so"],
            "updated_at": [updated],
        }
    )


def test_each_override_version_is_recorded_once(warehouse: Warehouse) -> None:
    table = "ops.account_map_overrides"
    key = ["provider", "account_id"]
    assert record_overrides(warehouse, CO, table, _overrides(T1, "6100"), key) == 1
    # the same row seen again (a re-run) adds nothing
    assert record_overrides(warehouse, CO, table, _overrides(T1, "6100"), key) == 0
    # a person edits it: a new version, a new entry
    assert record_overrides(warehouse, CO, table, _overrides(T2, "6200"), key) == 1
    log = warehouse.read(AUDIT_LOG, company_id=CO).sort("sequence")
    assert log["kind"].to_list() == [AuditKind.MANUAL_OVERRIDE.value] * 2
    assert log["subject"].to_list() == [
        f"{table}:quickbooks/42@2026-11-01 09:00:00.000000+00:00",
        f"{table}:quickbooks/42@2026-11-02 09:00:00.000000+00:00",
    ]
    assert '"standard_code":"6200"' in log["details"][1]
    assert verify(warehouse, CO).ok


def test_no_rows_records_nothing(warehouse: Warehouse) -> None:
    empty = _overrides(T1, "6100").head(0)
    assert record_overrides(warehouse, CO, "ops.source_policies", empty, ["company_id"]) == 0
    assert warehouse.read(AUDIT_LOG, company_id=CO).height == 0
