"""Recipes: how a cited number is recomputed from the warehouse, as plain JSON.

A recipe is either a *read* ::

    {"table": "analytics.kpis",
     "where": {"company_id": "c1", "month": "2026-03-01", "kpi": "dso"},
     "column": "value", "agg": "one"}

(``agg``: ``one`` = exactly one row's value, ``sum``, ``count``, ``max``, ``min``; ``where``
values are equal-to, a list means IN, and ``{"lt"|"le"|"gt"|"ge"|"ne": v, ...}`` (several
comparisons are ANDed: a date range) or ``{"in": [...]}`` / ``{"not_in": [...]}`` compare;
``{"of": recipe}`` means equal to the value that recipe recomputes (a lookup through another
row: the name of the contact *of a document*); dates are ISO strings; an optional
``"ids": {"column": "document_id", "values": [...]}`` says exactly which rows the filter must
match, so a fact cites the rows behind it), or an *operation* on recipes ::

    {"op": "div" | "sub" | "abs" | "add", "args": [recipe, ...]}

(``add`` takes any number of arguments, the others one or two).

Two computed columns of ``ledger.documents``:

* ``home_amount_due`` (with ``"home_currency"`` in the recipe) is the open balance in home
  currency: ``amount_due`` when the document is in the home currency, else
  ``round(amount_due * fx_rate)`` half away from zero;
* ``home_gross`` is the gross in home currency as the KPIs count sales:
  ``home_total``, or ``total`` when the ledger has no home total.

This module only *builds* recipes; :mod:`.verify` runs them (as SQL, independently of the
generator's Polars code).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

Recipe = dict[str, Any]

HOME_AMOUNT_DUE = "home_amount_due"
HOME_GROSS = "home_gross"
AGGS = ("one", "sum", "count", "max", "min")
OPS = ("div", "sub", "abs", "add")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read(
    table: str,
    where: dict[str, Any],
    column: str,
    agg: str = "one",
    *,
    ids: tuple[str, list[str]] | None = None,
    home_currency: str | None = None,
) -> Recipe:
    """A read recipe (see the module docstring); dates become ISO strings."""
    if agg not in AGGS:
        raise ValueError(f"agg {agg!r} is not one of {AGGS}")
    recipe: Recipe = {"table": table, "where": _plain(where), "column": column, "agg": agg}
    if ids is not None:
        recipe["ids"] = {"column": ids[0], "values": sorted(ids[1])}
    if home_currency is not None:
        recipe["home_currency"] = home_currency
    return recipe


def op(name: str, *args: Recipe) -> Recipe:
    """An operation on recipes: ``div`` (a / b), ``sub`` (a - b), ``abs`` (|a|), ``add``
    (a + b + ...)."""
    if name not in OPS:
        raise ValueError(f"op {name!r} is not one of {OPS}")
    return {"op": name, "args": list(args)}
