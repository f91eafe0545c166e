"""The code location loads, quickly, with the expected assets, checks, jobs and sensors."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from finpipe.definitions import defs as load_defs
from finpipe.warehouse.tables.world import TABLES as WORLD_TABLES


def test_definitions_load_with_expected_objects() -> None:
    defs = load_defs()
    repo = defs.get_repository_def()
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    expected = {"ops/companies", "ops/connections"} | {f"raw/{t.name}" for t in WORLD_TABLES}
    bank_raw = {
        f"raw/{provider}_{entity}"
        for provider, entities in (
            ("openbanking", ("accounts", "balances", "transactions")),
            ("berlingroup", ("accounts", "balances", "transactions")),
            ("aggregator", ("accounts", "transactions")),
            ("statement", ("files", "lines", "balances")),
        )
        for entity in entities
    }
    expected |= bank_raw | {"ledger/bank_accounts", "ledger/bank_lines"}
    expected |= {"ledger/standard_accounts", "ledger/account_map", "compliance/audit_trail"}
    assert expected <= keys
    jobs = {j.name for j in repo.get_all_jobs()}
    assert {"register_companies", "finpipe_main", "sync_banks", "import_statements"} <= jobs
    sensors = {s.name for s in repo.sensor_defs}
    assert {"company_partitions_sensor", "statement_inbox_sensor"} <= sensors
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert {
        "world_books_balance",
        "bank_balance_continuity",
        "no_rejected_files",
        "accounts_mapped",
        "audit_chain_intact",
    } <= checks
    # The canonical bank tables come after every bank source's landing tables.
    lines = repo.asset_graph.get(dg.AssetKey(["ledger", "bank_lines"]))
    assert {k.to_user_string() for k in lines.parent_keys} == bank_raw - {"raw/statement_files"}
    for key in repo.asset_graph.get_all_asset_keys():
        node = repo.asset_graph.get(key)
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.group_name != "default", f"{key.to_user_string()} has no group"


def test_world_assets_are_partitioned_by_company() -> None:
    repo = load_defs().get_repository_def()
    node = repo.asset_graph.get(dg.AssetKey(["raw", "world_bank_lines"]))
    assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
    assert node.partitions_def.name == "company"


def test_loading_the_code_location_is_fast_and_lazy() -> None:
    # great_expectations takes ~5 s to import: it must only be imported inside checks.
    code = (
        "import sys, time; t = time.perf_counter();"
        "from finpipe.definitions import defs; defs();"
        "print(time.perf_counter() - t, 'great_expectations' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    seconds, imported_ge = float(out[-2]), out[-1] == "True"
    assert not imported_ge
    assert seconds < 15, f"loading the definitions took {seconds:.1f}s"


def test_automation_runs_by_default_and_runs_execute_in_process() -> None:
    """Without a running automation sensor the eager ledger and reconciliation assets would
    wait for a person to switch Dagster's default one on; and a process per step would
    load the code location again for every step of a webhook-driven sync."""
    import dagster as dg

    defs = load_defs()
    sensor = defs.get_sensor_def("finpipe_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 5
    repo = defs.get_repository_def()
    assert "default_automation_condition_sensor" not in {s.name for s in repo.sensor_defs}
    job = repo.get_implicit_global_asset_job_def()
    assert job.executor_def.name == dg.in_process_executor.name
