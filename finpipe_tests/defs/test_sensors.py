"""The company partitions sensor, evaluated with build_sensor_context."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from finpipe.config import load_settings
from finpipe.definitions import defs as load_defs
from finpipe.defs.companies.sensors import company_partitions_sensor
from finpipe.defs.resources import WarehouseResource
from finpipe.instance import prepare_dagster_home


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_sensor_adds_then_settles(finpipe_home: Path) -> None:
    home = prepare_dagster_home(load_settings())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = load_defs()
        assert (
            defs.resolve_job_def("register_companies").execute_in_process(instance=instance).success
        )
        resources = {"warehouse": WarehouseResource()}
        first = company_partitions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert isinstance(first, dg.SensorResult)
        [request] = first.dynamic_partitions_requests
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        assert len(request.partition_keys) == 4
        instance.add_dynamic_partitions("company", list(request.partition_keys))
        instance.add_dynamic_partitions("company", ["cmp_gone"])
        second = company_partitions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        [delete] = second.dynamic_partitions_requests
        assert isinstance(delete, dg.DeleteDynamicPartitionsRequest)
        assert list(delete.partition_keys) == ["cmp_gone"]
        instance.delete_dynamic_partition("company", "cmp_gone")
        third = company_partitions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert isinstance(third, dg.SkipReason)
