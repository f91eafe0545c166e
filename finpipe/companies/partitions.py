"""Keeping the Dagster ``company`` partitions in step with ``ops.companies`` (pure logic)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

# Companies in these statuses own a partition; a removed company's partition goes away.
PARTITIONED_STATUSES = ("active", "paused")


@dataclass(frozen=True)
class PartitionChanges:
    """Partition keys to add and to delete, both sorted for stable run keys and logs."""

    add: tuple[str, ...]
    delete: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.add and not self.delete


def partition_changes(existing: Iterable[str], companies: pl.DataFrame) -> PartitionChanges:
    """What to add and delete so the partitions equal the registry's partitioned companies."""
    wanted = set(
        companies.filter(pl.col("status").is_in(PARTITIONED_STATUSES))
        .get_column("company_id")
        .to_list()
    )
    current = set(existing)
    return PartitionChanges(
        add=tuple(sorted(wanted - current)), delete=tuple(sorted(current - wanted))
    )
