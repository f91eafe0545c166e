"""The retry policy of the landing assets and the run-failure sensor, on failing runs of a
stand-in ``quickbooks_raw`` step executed on an ephemeral instance."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import polars as pl
import pytest

from finpipe.connectors.banks import bank_providers
from finpipe.connectors.errors import NeedsReauth, ProviderError, ProviderUnavailable
from finpipe.connectors.providers import accounting_providers
from finpipe.defs.bank_landing import build_bank_landing_assets
from finpipe.defs.connections.resources import ConnectionHealthResource
from finpipe.defs.connections.sensors import LANDING_STEPS, connection_failure_sensor
from finpipe.defs.landing import LANDING_RETRY_POLICY, build_landing_assets, transient_errors_only
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.ops_health import SYNC_RUNS
from finpipe_tests.connections.helpers import connection, connections


def failing_job(error: Callable[[], Exception], name: str = "quickbooks_raw") -> dg.JobDefinition:
    """A partitioned job whose one step is called like the QuickBooks landing step and
    raises ``error()`` inside the landing's error classification."""

    @dg.asset(
        name=name,
        partitions_def=company_partitions,
        retry_policy=dg.RetryPolicy(max_retries=2),
    )
    def _step() -> None:
        with transient_errors_only("quickbooks", "cmp_a"):
            raise error()

    defs = dg.Definitions(assets=[_step], jobs=[dg.define_asset_job("sync", selection=[_step])])
    return defs.resolve_job_def("sync")


def run_failing(
    instance: dg.DagsterInstance, error: Callable[[], Exception], name: str = "quickbooks_raw"
) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("company", ["cmp_a"])
    result = failing_job(error, name).execute_in_process(
        instance=instance, partition_key="cmp_a", raise_on_error=False
    )
    assert not result.success
    return result


def evaluate_sensor(
    instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, url: str, degrade_after: int
) -> None:
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="connection_failure_sensor",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=run,
        resources={
            "warehouse": WarehouseResource(url=url),
            "connection_health": ConnectionHealthResource(degrade_after=degrade_after),
        },
    ).for_run_failure()
    connection_failure_sensor(context)


def retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_landing_retry_policy_is_exponential_with_jitter() -> None:
    assert LANDING_RETRY_POLICY.max_retries == 3
    assert LANDING_RETRY_POLICY.delay == 30
    assert LANDING_RETRY_POLICY.backoff == dg.Backoff.EXPONENTIAL
    assert LANDING_RETRY_POLICY.jitter == dg.Jitter.PLUS_MINUS
    assert {"quickbooks_raw", "xero_raw", "aggregator_raw", "openbanking_raw"} <= set(LANDING_STEPS)


def test_the_real_landing_assets_carry_the_policy() -> None:
    built = [
        build_landing_assets(accounting_providers()["xero"]),
        build_bank_landing_assets(bank_providers()["aggregator"]),
    ]
    assert [a.node_def.name for a in built] == ["xero_raw", "aggregator_raw"]
    assert all(a.op.retry_policy == LANDING_RETRY_POLICY for a in built)


@pytest.mark.parametrize(
    ("error", "expected_retries"),
    [
        (lambda: ProviderUnavailable("quickbooks did not answer after 8 attempts"), 2),
        (lambda: ProviderError("quickbooks", 400, "ValidationFault", "u"), 0),
        (lambda: NeedsReauth("refresh token refused (invalid_grant)"), 0),
    ],
)
def test_only_transient_errors_are_retried(
    error: Callable[[], Exception], expected_retries: int
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_failing(instance, error)
    assert retries(result) == expected_retries


def test_failures_are_logged_per_run_and_degrade_after_three(duckdb_warehouse_url: str) -> None:
    with Warehouse.open(duckdb_warehouse_url) as wh:
        wh.upsert(
            CONNECTIONS,
            connections(
                connection(external_id="realm-1"),
                connection(external_id="realm-2", status="paused"),
            ),
        )
    with dg.DagsterInstance.ephemeral() as instance:
        results = [
            run_failing(instance, lambda: ProviderError("quickbooks", 400, "ValidationFault", "u"))
            for _ in range(3)
        ]
        evaluate_sensor(instance, results[0], duckdb_warehouse_url, 3)
        evaluate_sensor(instance, results[0], duckdb_warehouse_url, 3)  # again: no double count
        evaluate_sensor(instance, results[1], duckdb_warehouse_url, 3)
        with Warehouse.open(duckdb_warehouse_url) as wh:
            assert wh.count(SYNC_RUNS) == 2
            assert wh.read(CONNECTIONS)["status"].to_list() == ["active", "paused"]
        evaluate_sensor(instance, results[2], duckdb_warehouse_url, 3)
    with Warehouse.open(duckdb_warehouse_url) as wh:
        log = wh.read(SYNC_RUNS)
        conns = wh.read(CONNECTIONS)
    assert log.height == 3
    assert set(log["run_id"]) == {r.run_id for r in results}
    assert set(log["external_id"]) == {"realm-1"}
    row = log.row(0, named=True)
    assert (row["status"], row["trigger"], row["error_class"]) == (
        "failed",
        "manual",
        "ProviderError",
    )
    assert "quickbooks answered 400 for u: ValidationFault" in row["error_message"]
    assert row["started_at"] is not None and row["finished_at"] >= row["started_at"]
    realm = conns.filter(pl.col("external_id") == "realm-1").row(0, named=True)
    assert realm["status"] == "degraded"
    assert realm["status_reason"].startswith("3 consecutive failed syncs since ")
    assert "ProviderError" in realm["status_reason"]


def test_failures_outside_a_landing_step_are_not_charged(duckdb_warehouse_url: str) -> None:
    with Warehouse.open(duckdb_warehouse_url) as wh:
        wh.upsert(CONNECTIONS, connections(connection()))
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_failing(instance, lambda: ValueError("books broke"), name="books")
        evaluate_sensor(instance, result, duckdb_warehouse_url, 1)
    with Warehouse.open(duckdb_warehouse_url) as wh:
        assert wh.count(SYNC_RUNS) == 0
        assert wh.read(CONNECTIONS)["status"].to_list() == ["active"]
