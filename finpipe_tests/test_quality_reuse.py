"""Landing expectations are re-run only on partitions that changed since their last run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

import polars as pl

from finpipe.defs.landing import landing_check_results
from finpipe.quality.reuse import (
    StoredResult,
    partition_fingerprints,
    save_results,
    stored_results,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.schema import Table
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES

INVOICES = QUICKBOOKS_TABLES["Invoice"]
BILLS = QUICKBOOKS_TABLES["Bill"]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class Source:
    """The part of a landing source the checks read."""

    name: str = "quickbooks"
    tables: dict[str, Table] = field(default_factory=lambda: {"Invoice": INVOICES, "Bill": BILLS})


def rows(table: Table, ids: list[str], at: dt.datetime, company: str = "c1") -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "company_id": [company] * n,
            "tenant_id": ["9130"] * n,
            "source_id": ids,
            "source_updated_at": [at] * n,
            "payload": [json.dumps({"Id": i}) for i in ids],
            "deleted": [False] * n,
            "extracted_at": [at] * n,
            "sync_id": ["s1"] * n,
        },
        schema=table.polars_schema(),
    )


def checks(wh: Warehouse) -> dict[str, dict]:
    return {
        r.asset_key.path[-1]: {"passed": r.passed, **{k: v.value for k, v in r.metadata.items()}}
        for r in landing_check_results(wh, Source(), "c1")  # type: ignore[arg-type]
    }


def test_unchanged_partitions_reuse_their_result_changed_ones_are_validated(
    warehouse: Warehouse,
) -> None:
    warehouse.upsert(INVOICES, rows(INVOICES, ["1", "2"], T0))
    warehouse.upsert(BILLS, rows(BILLS, ["7"], T0))
    warehouse.upsert(BILLS, rows(BILLS, ["9"], T0, company="c2"))  # another company's rows

    first = checks(warehouse)
    assert {k: (v["passed"], v["revalidated"], v["rows"]) for k, v in first.items()} == {
        "quickbooks_invoice": (True, True, 2),
        "quickbooks_bill": (True, True, 1),
    }
    assert set(stored_results(warehouse, "c1")) == {INVOICES.qualified_name, BILLS.qualified_name}

    # Nothing changed: both results are reused as they were.
    again = checks(warehouse)
    assert {k: v["revalidated"] for k, v in again.items()} == {
        "quickbooks_invoice": False,
        "quickbooks_bill": False,
    }
    assert again["quickbooks_invoice"]["rows"] == 2

    # An update of one invoice (new extraction, new payload) re-validates invoices only;
    # another company's change does not touch c1's results.
    later = T0 + dt.timedelta(minutes=5)
    warehouse.upsert(INVOICES, rows(INVOICES, ["2"], later))
    warehouse.upsert(BILLS, rows(BILLS, ["10"], later, company="c2"))
    third = checks(warehouse)
    assert {k: v["revalidated"] for k, v in third.items()} == {
        "quickbooks_invoice": True,
        "quickbooks_bill": False,
    }


def test_a_stored_failure_is_reused_as_a_failure(warehouse: Warehouse) -> None:
    warehouse.upsert(INVOICES, rows(INVOICES, ["1", "2"], T0))
    fingerprints = partition_fingerprints(warehouse, [INVOICES, BILLS], "c1")
    assert fingerprints[INVOICES.qualified_name].startswith("2|")
    assert fingerprints[BILLS.qualified_name].startswith("0|")
    save_results(
        warehouse,
        "c1",
        [
            StoredResult(
                table_name=INVOICES.qualified_name,
                fingerprint=fingerprints[INVOICES.qualified_name],
                passed=False,
                rows=2,
                failed_expectations=1,
                results="| expectation | success |",
                validated_at=T0,
            )
        ],
    )
    got = checks(warehouse)
    assert (got["quickbooks_invoice"]["passed"], got["quickbooks_invoice"]["revalidated"]) == (
        False,
        False,
    )
    assert got["quickbooks_invoice"]["failed_expectations"] == 1
    # A change of the partition validates it again (and this time it passes).
    warehouse.upsert(INVOICES, rows(INVOICES, ["3"], T0 + dt.timedelta(seconds=1)))
    assert checks(warehouse)["quickbooks_invoice"]["passed"] is True


def test_a_changed_declaration_changes_the_fingerprint(warehouse: Warehouse) -> None:
    """The expectations come from the declaration: a stored pass must not outlive a new
    NOT NULL or key."""
    warehouse.upsert(INVOICES, rows(INVOICES, ["1"], T0))
    stricter = dataclasses.replace(
        INVOICES,
        columns=tuple(
            dataclasses.replace(c, nullable=False) if c.name == "source_updated_at" else c
            for c in INVOICES.columns
        ),
    )
    before = partition_fingerprints(warehouse, [INVOICES], "c1")[INVOICES.qualified_name]
    after = partition_fingerprints(warehouse, [stricter], "c1")[INVOICES.qualified_name]
    assert before.split("|")[:3] == after.split("|")[:3]  # same rows
    assert before != after
