"""The warehouse layer's exception family."""

from __future__ import annotations

from finpipe.errors import FinpipeError


class WarehouseError(FinpipeError):
    """A read or write against the warehouse failed."""


class WarehouseConnectionError(WarehouseError):
    """The warehouse cannot be opened or reached."""


class FrameSchemaError(WarehouseError):
    """A frame does not fit the declared table it is written to (column, type, nulls, keys)."""
