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


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_statement_inbox_sensor_one_run_per_company_and_burst(finpipe_home: Path) -> None:
    import os
    import time

    from finpipe.connectors.statements.dropfolder import inbox_dir
    from finpipe.defs.statements.sensors import statement_inbox_sensor
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables.ops import COMPANIES

    settings = load_settings()
    home = prepare_dagster_home(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = load_defs()
        assert (
            defs.resolve_job_def("register_companies").execute_in_process(instance=instance).success
        )
        with Warehouse.from_settings(settings) as wh:
            company = wh.read(COMPANIES).item(0, "company_id")
        resources = {"warehouse": WarehouseResource()}

        def tick() -> dg.SensorResult | dg.SkipReason:
            return statement_inbox_sensor(
                dg.build_sensor_context(instance=instance, resources=resources)
            )

        assert isinstance(tick(), dg.SkipReason)  # nothing dropped yet
        inbox = inbox_dir(settings.home, company)
        inbox.mkdir(parents=True)
        settled = time.time() - 10
        for i in range(3):  # a burst of three files: one run
            path = inbox / f"statement-{i}.ofx"
            path.write_text(f"OFXHEADER:100\n{i}\n")
            os.utime(path, (settled, settled))
        (inbox / "half-written.ofx.part").write_text("OFX")  # still being written: ignored
        stranger = inbox_dir(settings.home, "cmp_unknown")
        stranger.mkdir(parents=True)
        (stranger / "x.ofx").write_text("OFXHEADER:100\n")
        os.utime(stranger / "x.ofx", (settled, settled))
        first = tick()
        assert isinstance(first, dg.SensorResult)
        [request] = first.run_requests
        assert request.partition_key == company
        assert request.tags["finpipe/files"] == "3"
        [partitions] = first.dynamic_partitions_requests
        assert list(partitions.partition_keys) == [company]
        # The same files evaluated again ask for the same run (the run key dedups it).
        again = tick()
        assert isinstance(again, dg.SensorResult)
        assert [r.run_key for r in again.run_requests] == [request.run_key]
        # One more file: a new run key.
        extra = inbox / "statement-9.ofx"
        extra.write_text("OFXHEADER:100\n9\n")
        os.utime(extra, (settled, settled))
        later = tick()
        assert isinstance(later, dg.SensorResult)
        assert later.run_requests[0].run_key != request.run_key
