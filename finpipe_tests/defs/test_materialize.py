"""Partitioned materializations on both instance kinds, against both warehouse engines."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finpipe.companies import partition_changes
from finpipe.config import Settings, load_settings
from finpipe.definitions import defs as load_defs
from finpipe.instance import POOL_LIMITS, apply_pool_limits, prepare_dagster_home
from finpipe.sandbox.world import load_world
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS
from finpipe.warehouse.tables.world import TABLES as WORLD_TABLES
from finpipe.warehouse.tables.world import WORLD_BANK_LINES, WORLD_DOCUMENTS


def _register_and_partition(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    result = defs.resolve_job_def("register_companies").execute_in_process(instance=instance)
    assert result.success
    with Warehouse.from_settings(load_settings()) as wh:
        registry = wh.read(COMPANIES)
    changes = partition_changes(instance.get_dynamic_partitions("company"), registry)
    instance.add_dynamic_partitions("company", list(changes.add))
    return sorted(instance.get_dynamic_partitions("company"))


def _assert_company_landed(company_id: str, world_dir: Path) -> None:
    world = load_world(world_dir)
    with Warehouse.from_settings(load_settings()) as wh:
        for table in (WORLD_DOCUMENTS, WORLD_BANK_LINES):
            short = table.name.removeprefix("world_")
            expected = world.table(short).filter(pl.col("company_id") == company_id).collect()
            landed = wh.read(table, company_id=company_id)
            assert landed.height == expected.height > 0
            money = "total" if table is WORLD_DOCUMENTS else "amount"
            assert landed[money].sum() == expected[money].sum()
            key = list(table.primary_key)
            assert landed.sort(key).equals(expected.select(table.column_names).sort(key))


def _run_main(
    defs: dg.Definitions, instance: dg.DagsterInstance, company: str
) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def("finpipe_main").execute_in_process(
        instance=instance, partition_key=company
    )
    assert result.success
    return result


def _assert_partitioned_runs(
    defs: dg.Definitions, instance: dg.DagsterInstance, settings: Settings, company: str
) -> str:
    """One company's finpipe_main: every check passes, a re-run changes nothing, a
    connection that needs re-authorisation fails the run. Returns the first run's id."""
    result = _run_main(defs, instance, company)
    checks = result.get_asset_check_evaluations()
    names = sorted({c.check_name for c in checks})
    assert names == [
        "accounts_mapped",
        "audit_chain_intact",
        "bank_balance_continuity",
        "cash_flow_ties_to_cash",
        "connections_active",
        "entries_balanced",
        "flags_explained",
        "forecasts_finite",
        "insight_ranks_contiguous",
        "insights_verified",
        "intervals_ordered",
        "landing_expectations",
        "matches_exclusive",
        "matches_provider_trial_balance",
        "monthly_trial_balance_zero",
        "no_rejected_files",
        "nothing_unreconciled_over_90_days",
        "open_balances_agree_with_provider",
        "overrides_valid",
        "scores_in_range",
        "statements_tie_to_trial_balance",
        "world_books_balance",
        "writeback_clean",
    ]
    assert all(c.passed for c in checks)
    # No connection is active yet (the world only registers pending ones): every
    # landing table of this company is materialized empty, and says why.
    event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "quickbooks_invoice"]))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    assert meta["dagster/row_count"].value == 0
    assert meta["note"].value == "no active quickbooks connection"
    _assert_company_landed(company, settings.world_dir)
    with Warehouse.from_settings(settings) as wh:
        before = {t.name: wh.count(t) for t in WORLD_TABLES}
        _run_main(defs, instance, company)
        after = {t.name: wh.count(t) for t in WORLD_TABLES}
    assert before == after
    event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "world_bank_lines"]))
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.partition == company
    meta = event.asset_materialization.metadata
    assert meta["dagster/row_count"].value == after["world_bank_lines"] > 0
    assert meta["rows_replaced"].value == after["world_bank_lines"]

    # A connection that needs re-authorisation fails the run loudly, without retries.
    with Warehouse.from_settings(settings) as wh:
        conn = wh.read(
            CONNECTIONS,
            where="company_id = %s AND provider IN ('quickbooks', 'xero')",
            params=[company],
        ).row(0, named=True)
        wh.execute(
            "UPDATE ops.connections SET status = 'needs_reauth', "
            "status_reason = 'refresh token refused' WHERE company_id = %s AND provider = %s",
            [company, conn["provider"]],
        )
    failed = defs.resolve_job_def("finpipe_main").execute_in_process(
        instance=instance, partition_key=company, raise_on_error=False
    )
    assert not failed.success
    messages = [
        e.event_specific_data.error.message
        for e in failed.all_events
        if e.is_step_failure and e.event_specific_data is not None
    ]
    assert any(
        f"{conn['external_id']} of {company} is needs_reauth: refresh token refused" in m
        for m in messages
    ), messages
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in failed.all_events)
    return result.run_id


# The instance and the warehouse are independent: each engine's warehouse runs once, the
# DuckDB file under the embedded SQLite instance and PostgreSQL under the PostgreSQL one.
@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_sqlite_instance_partitioned_run_is_idempotent(finpipe_home: Path) -> None:
    settings = load_settings()
    home = prepare_dagster_home(settings)
    assert (home / "dagster.yaml").read_text().startswith("# finpipe's embedded default")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = load_defs()
        companies = _register_and_partition(defs, instance)
        assert len(companies) == 4
        _assert_partitioned_runs(defs, instance, settings, companies[0])


@pytest.fixture
def dagster_postgres_url(postgres_server_url: str) -> str:
    import psycopg

    name = f"finpipe_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server_url.rpartition("/")[0] + "/" + name
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)
def test_postgres_instance_records_runs_and_events(
    finpipe_home: Path, dagster_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINPIPE_DAGSTER_POSTGRES_URL", dagster_postgres_url)
    settings = load_settings()
    home = prepare_dagster_home(settings)
    assert "postgres_url" in (home / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        applied = apply_pool_limits(instance)
        assert applied == POOL_LIMITS
        assert instance.event_log_storage.get_concurrency_info("xero").slot_count == 5
        defs = load_defs()
        company = _register_and_partition(defs, instance)[1]
        run_id = _assert_partitioned_runs(defs, instance, settings, company)

    # A second instance object reads everything back from PostgreSQL.
    with dg.DagsterInstance.from_config(str(home)) as reread:
        run = reread.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == company
        materialized = reread.get_materialized_partitions(dg.AssetKey(["raw", "world_documents"]))
        assert materialized == {company}
        records = reread.get_records_for_run(run_id).records
        kinds = {
            r.event_log_entry.dagster_event_type
            for r in records
            if r.event_log_entry.is_dagster_event
        }
        assert dg.DagsterEventType.ASSET_MATERIALIZATION in kinds
        assert dg.DagsterEventType.RUN_SUCCESS in kinds
    _assert_company_landed(company, settings.world_dir)
    with Warehouse.from_settings(settings) as wh:
        assert wh.count(CONNECTIONS) > 0
