"""Placeholder filled in this session (see issue notes)."""

from __future__ import annotations

from finpipe.warehouse.schema import Table

TABLES: tuple[Table, ...] = ()
