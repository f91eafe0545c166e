"""Resources shared by every asset: the warehouse and the sandbox world."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from finpipe.config import load_settings, parse_warehouse_url
from finpipe.sandbox.world import World, load_world
from finpipe.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The finpipe warehouse (DuckDB file or PostgreSQL).

    ``url`` unset means ``FINPIPE_WAREHOUSE_URL``, else the DuckDB file in ``FINPIPE_HOME``.
    """

    url: str | None = None

    def resolved_url(self) -> str:
        return self.url or load_settings().warehouse.raw

    def engine(self) -> str:
        return parse_warehouse_url(self.resolved_url()).engine

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """A warehouse handle with every declared table present; closed on exit."""
        warehouse = Warehouse.open(self.resolved_url())
        try:
            yield warehouse
        finally:
            warehouse.close()


class SandboxWorldResource(dg.ConfigurableResource):
    """The generated sandbox world the demo (and the sandbox providers) serve.

    ``path`` unset means ``$FINPIPE_HOME/world``.
    """

    path: str | None = None

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path else load_settings().world_dir

    def load(self) -> World:
        return load_world(self.resolved_path())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "world": SandboxWorldResource(),
        }
    )
