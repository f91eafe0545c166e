"""Keeps the ``company`` dynamic partitions in step with ``ops.companies``."""

import dagster as dg

from finpipe.companies import partition_changes
from finpipe.defs.partitions import company_partitions
from finpipe.defs.resources import WarehouseResource
from finpipe.warehouse.tables.ops import COMPANIES


@dg.sensor(
    name="company_partitions_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `company` partition for every active or paused company in "
    "ops.companies and deletes the partitions of companies that are gone or removed.",
)
def company_partitions_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    assert company_partitions.name is not None
    existing = context.instance.get_dynamic_partitions(company_partitions.name)
    with warehouse.open() as wh:
        companies = wh.read(COMPANIES)
    changes = partition_changes(existing, companies)
    if changes.empty:
        return dg.SkipReason(f"{len(existing)} company partitions already match ops.companies")
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if changes.add:
        requests.append(company_partitions.build_add_request(list(changes.add)))
    if changes.delete:
        requests.append(company_partitions.build_delete_request(list(changes.delete)))
    context.log.info(f"partitions: +{len(changes.add)} -{len(changes.delete)}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
