"""Watches the statement drop folder: each company with new files gets one import run."""

import hashlib
import json

import dagster as dg

from finpipe.config import load_settings
from finpipe.connectors.statements.dropfolder import pending_files, statements_root
from finpipe.defs.jobs import statements_job
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.ops import COMPANIES


def inbox_run_key(company_id: str, files: list[tuple[str, str, int]]) -> str:
    """One key per (company, set of dropped files): the same files never start two runs,
    and the same content dropped again later (a new file, a new mtime) does."""
    digest = hashlib.sha256(json.dumps(sorted(files)).encode()).hexdigest()[:16]
    return f"statements:{company_id}:{digest}"


@dg.sensor(
    name="statement_inbox_sensor",
    job=statements_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts `import_statements` for a company when statement files settle in "
    "$FINPIPE_HOME/statements/inbox/<company_id>/ (one run per company for a burst of files). "
    "A failed run leaves its files in the inbox under the same run key: fix the cause and "
    "re-execute the run, or drop the files again.",
)
def statement_inbox_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    root = statements_root(load_settings())
    pending = pending_files(root)
    if not pending:
        return dg.SkipReason(f"no settled files in {root / 'inbox'}")
    with warehouse.open() as wh:
        known = set(wh.read(COMPANIES).get_column("company_id").to_list())
    by_company: dict[str, list[tuple[str, str, int]]] = {}
    for item in pending:
        if item.company_id not in known:
            context.log.warning(
                f"{item.path}: {item.company_id!r} is not a registered company "
                "(ops.companies); move the file to the inbox folder of a known company id"
            )
            continue
        try:
            mtime = item.path.stat().st_mtime_ns
        except FileNotFoundError:
            continue  # imported (and moved) by a run since it was listed
        by_company.setdefault(item.company_id, []).append((str(item.path), item.sha256, mtime))
    if not by_company:
        return dg.SkipReason("only files of unknown companies are waiting")
    assert company_partitions.name is not None
    partitions = set(context.instance.get_dynamic_partitions(company_partitions.name))
    missing = sorted(set(by_company) - partitions)
    requests = [
        dg.RunRequest(
            run_key=inbox_run_key(company_id, files),
            partition_key=company_id,
            tags={"finpipe/trigger": "statement_inbox", "finpipe/files": str(len(files))},
        )
        for company_id, files in sorted(by_company.items())
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[company_partitions.build_add_request(missing)]
        if missing
        else [],
    )
