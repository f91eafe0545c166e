"""The warehouse layer (no Dagster): declared tables on DuckDB or PostgreSQL, Polars in and out."""

from finpipe.warehouse.errors import (
    FrameSchemaError,
    WarehouseConnectionError,
    WarehouseError,
)
from finpipe.warehouse.schema import SCHEMAS, Column, Kind, Table
from finpipe.warehouse.warehouse import Warehouse, WriteResult

__all__ = [
    "SCHEMAS",
    "Column",
    "FrameSchemaError",
    "Kind",
    "Table",
    "Warehouse",
    "WarehouseConnectionError",
    "WarehouseError",
    "WriteResult",
]
