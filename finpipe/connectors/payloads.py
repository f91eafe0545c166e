"""JSON payloads kept exact: numbers parse to Decimal (never binary floats) and are written
back with the digits they arrived with, so ``0.00`` stays ``0.00`` in the landing tables."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as :class:`~decimal.Decimal`."""
    return json.loads(text, parse_float=Decimal)


def _dump(value: Any) -> str:
    if isinstance(value, Decimal):
        # str() keeps the digits as written ("0.00", "1E-7"), both valid JSON numbers.
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``; Decimals keep their digits."""
    return _dump(value)
