"""Tenants: the company registry (``ops.companies``), connections and partition bookkeeping."""

from finpipe.companies.partitions import PartitionChanges, partition_changes
from finpipe.companies.registry import (
    CONNECTION_STATUSES,
    RegistryError,
    companies_from_world,
    connections_from_world,
    register,
)

__all__ = [
    "CONNECTION_STATUSES",
    "PartitionChanges",
    "RegistryError",
    "companies_from_world",
    "connections_from_world",
    "partition_changes",
    "register",
]
