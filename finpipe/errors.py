"""The root of finpipe's exception families.

Each layer raises its own subclass (``ConfigError``, ``WarehouseError``, ``WorldError``, ...)
so callers can catch one layer's failures without catching everything. Messages name the
record and field involved and say what to do; they never contain a secret.
"""

from __future__ import annotations


class FinpipeError(Exception):
    """Base class of every error finpipe raises on purpose."""
