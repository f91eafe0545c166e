"""The checker: recompute every number an insight cites from the warehouse (no Dagster).

It reads only an insight's stored form (title, text and the ``facts`` JSON: value, unit,
shown text and recipe of each number), runs each recipe as SQL against the declared tables
(:mod:`.recipes`; never the generator's Polars code) and requires, per number:

* the recomputed value equals the stored one: exactly for money, counts, dates and text;
  floats (ratios, days, percentages, scores) within a relative 1e-9 (the stored float
  round-trips, so only real differences fail), and their written form (the unit's rounding,
  :mod:`.formats`) must be identical;
* the stored ``shown`` equals the recomputed value written by the unit's rule;
* the title or text contains that written form;
* the cited rows (``ids`` in the recipe) are exactly the rows the filter matches;

and, for the text as a whole, that every number written in the title and text is one of the
cited numbers' written forms (after removing names and document numbers). An insight is
verified when nothing fails; the detail names each failing number.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from finpipe.analytics.insights.formats import fmt, number_tokens
from finpipe.analytics.insights.recipes import HOME_AMOUNT_DUE, HOME_GROSS, Recipe
from finpipe.errors import FinpipeError
from finpipe.warehouse import Warehouse
from finpipe.warehouse.schema import Kind, Table, quote
from finpipe.warehouse.tables import by_name
from finpipe.warehouse.tables.ledger import DOCUMENTS

FLOAT_TOLERANCE = 1e-9
EXACT_UNITS = ("money", "count", "date", "month", "text")
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ne": "<>"}


class InsightError(FinpipeError):
    """Insights cannot be built, checked or narrated as asked."""


class RecipeError(InsightError):
    """A recipe cannot be run (unknown table or column, not exactly one row, bad operation)."""


@dataclass(frozen=True)
class Verification:
    """The checker's verdict on one insight."""

    insight_id: str
    verified: bool
    numbers: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {"numbers": self.numbers, "mismatches": self.mismatches, "stray_numbers": self.stray},
            sort_keys=True,
            default=str,
        )

    def describe(self) -> str:
        """One line naming every failing number."""
        if self.verified:
            return f"{self.insight_id}: verified ({self.numbers} numbers)"
        parts = [f"{m['key']}: {m['problem']}" for m in self.mismatches]
        parts += [f"number {t!r} in the text is not a cited number" for t in self.stray]
        return f"{self.insight_id}: NOT verified: " + "; ".join(parts)


# --- running recipes ----------------------------------------------------------------------------


def _param(table: Table, column: str, value: Any) -> Any:
    kind = table.column(column).kind
    if value is None:
        return None
    if kind is Kind.DATE:
        return dt.date.fromisoformat(str(value)[:10])
    if kind in (Kind.INT, Kind.MONEY):
        return int(value)
    if kind is Kind.FLOAT:
        return float(value)
    if kind is Kind.BOOL:
        return bool(value)
    return str(value)


def _where(warehouse: Warehouse, table: Table, where: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, cond in sorted(where.items()):
        try:
            table.column(column)
        except KeyError:
            raise RecipeError(
                f"recipe filter names column {column!r}, not declared on {table.qualified_name}"
            ) from None
        name = quote(column)
        negate = False
        if isinstance(cond, dict):
            if not cond:
                raise RecipeError(f"recipe filter on {column!r} has no operator")
            if set(cond) <= set(_COMPARE):
                # Several comparisons on one column are ANDed (a date range).
                for how, value in sorted(cond.items()):
                    clauses.append(f"{name} {_COMPARE[how]} %s")
                    params.append(_param(table, column, value))
                continue
            (how, value), *rest = cond.items()
            if rest:
                raise RecipeError(
                    f"recipe filter on {column!r}: {how!r} cannot be combined with others"
                )
            if how == "of":
                # A lookup: the value another recipe recomputes (None matches nothing).
                found = run_recipe(warehouse, value)
                clauses.append(f"{name} = %s")
                params.append(_param(table, column, found))
                continue
            if how not in ("in", "not_in"):
                raise RecipeError(f"recipe filter on {column!r}: unknown operator {how!r}")
            cond, negate = list(value), how == "not_in"
        if isinstance(cond, list):
            if not cond:
                clauses.append("TRUE" if negate else "FALSE")
                continue
            marks = ", ".join(["%s"] * len(cond))
            clauses.append(f"{name} {'NOT IN' if negate else 'IN'} ({marks})")
            params.extend(_param(table, column, v) for v in cond)
        elif cond is None:
            clauses.append(f"{name} IS NULL")
        else:
            clauses.append(f"{name} = %s")
            params.append(_param(table, column, cond))
    return " AND ".join(clauses) or "TRUE", params


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def run_recipe(warehouse: Warehouse, recipe: Recipe) -> Any:
    """The value ``recipe`` recomputes; raises :class:`RecipeError` naming what is wrong."""
    if "op" in recipe:
        args = [run_recipe(warehouse, r) for r in recipe.get("args", [])]
        name = recipe["op"]
        if name == "abs" and len(args) == 1:
            return abs(args[0])
        if name == "add" and args:
            return sum(args[1:], args[0])
        if name == "sub" and len(args) == 2:
            return args[0] - args[1]
        if name == "div" and len(args) == 2:
            if not args[1]:
                raise RecipeError("recipe divides by zero")
            return args[0] / args[1]
        raise RecipeError(f"recipe operation {name!r} with {len(args)} argument(s) is not known")
    try:
        table = by_name(recipe["table"])
    except KeyError as exc:
        raise RecipeError(str(exc)) from None
    column, agg = recipe["column"], recipe.get("agg", "one")
    params: list[Any] = []
    if column == HOME_AMOUNT_DUE:
        if table is not DOCUMENTS:
            raise RecipeError(f"{HOME_AMOUNT_DUE} is a column of ledger.documents only")
        expr = (
            'CASE WHEN "currency" = %s OR "fx_rate" IS NULL THEN "amount_due" '
            'ELSE CAST(ROUND("amount_due" * "fx_rate", 0) AS BIGINT) END'
        )
        params.append(recipe.get("home_currency"))
        integer = True
    elif column == HOME_GROSS:
        if table is not DOCUMENTS:
            raise RecipeError(f"{HOME_GROSS} is a column of ledger.documents only")
        expr, integer = 'COALESCE("home_total", "total")', True
    else:
        try:
            kind = table.column(column).kind
        except KeyError:
            raise RecipeError(f"{table.qualified_name} has no column {column!r}") from None
        expr, integer = quote(column), kind in (Kind.INT, Kind.MONEY)
    where, where_params = _where(warehouse, table, recipe.get("where", {}))
    source = f"FROM {table.qualified_name} WHERE {where}"
    if agg == "one":
        sql = f"SELECT {expr} AS v {source}"
    elif agg == "sum":
        total = f"COALESCE(SUM({expr}), 0)"
        sql = f"SELECT {f'CAST({total} AS BIGINT)' if integer else total} AS v {source}"
    elif agg == "count":
        sql = f"SELECT COUNT(*) AS v {source}"
    elif agg in ("max", "min"):
        sql = f"SELECT {agg.upper()}({expr}) AS v {source}"
    else:
        raise RecipeError(f"recipe aggregation {agg!r} is not known")
    frame = warehouse.query(sql, [*params, *where_params])
    if agg == "one" and frame.height != 1:
        raise RecipeError(
            f"{table.qualified_name} where {recipe.get('where')} matched {frame.height} rows, "
            "not exactly one"
        )
    ids = recipe.get("ids")
    if ids:
        found = warehouse.query(f"SELECT {quote(ids['column'])} AS i {source}", where_params)[
            "i"
        ].to_list()
        if sorted(map(str, found)) != sorted(map(str, ids["values"])):
            raise RecipeError(
                f"cited {ids['column']}s {sorted(ids['values'])} are not the rows the filter "
                f"matches now {sorted(map(str, found))}"
            )
    value = frame.item(0, "v") if frame.height else None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    return _plain(value)


# --- comparing -------------------------------------------------------------------------------


def _same(stored: Any, recomputed: Any, unit: str, currency: str | None) -> bool:
    if stored is None or recomputed is None:
        return stored is None and recomputed is None
    if unit in ("money", "count"):
        return int(stored) == int(recomputed) and float(stored) == float(recomputed)
    if unit in ("date", "month", "text"):
        return str(stored) == str(recomputed)
    a, b = float(stored), float(recomputed)
    close = abs(a - b) <= FLOAT_TOLERANCE * max(1.0, abs(a), abs(b))
    return close and fmt(a, unit, currency) == fmt(b, unit, currency)


def check_numbers(
    warehouse: Warehouse, insight_id: str, numbers: list[dict[str, Any]], title: str, text: str
) -> Verification:
    """Verify one insight from its stored form (see the module docstring)."""
    mismatches: list[dict[str, Any]] = []
    shown: list[str] = []
    labels: list[str] = []
    written = f"{title}\n{text}"
    for number in numbers:
        key, unit, ccy = number["key"], number["unit"], number.get("currency")
        try:
            recomputed = run_recipe(warehouse, number["recipe"])
        except (RecipeError, KeyError, TypeError, ValueError) as exc:
            mismatches.append(
                {"key": key, "stored": number.get("value"), "problem": f"recipe failed: {exc}"}
            )
            continue
        expected = fmt(recomputed, unit, ccy)
        (labels if unit == "text" else shown).append(expected)
        problem = None
        if not _same(number.get("value"), recomputed, unit, ccy):
            problem = f"stored {number.get('value')!r}, warehouse gives {recomputed!r}"
        elif number.get("shown") != expected:
            problem = f"stored as {number.get('shown')!r}, should read {expected!r}"
        elif expected not in text:
            problem = f"text does not say {expected!r}"
        if problem:
            mismatches.append(
                {
                    "key": key,
                    "stored": number.get("value"),
                    "recomputed": recomputed,
                    "problem": problem,
                }
            )
    backed = {t for s in shown for t in number_tokens(s)}
    stray = [t for t in number_tokens(written, tuple(labels)) if t not in backed]
    return Verification(
        insight_id, not mismatches and not stray, len(numbers), mismatches, sorted(set(stray))
    )


def verify_row(warehouse: Warehouse, row: dict[str, Any]) -> Verification:
    """Verify one ``analytics.insights`` row (``facts`` as JSON text or already parsed)."""
    facts = row["facts"]
    numbers = json.loads(facts) if isinstance(facts, str) else facts
    return check_numbers(warehouse, row["insight_id"], numbers, row["title"], row["text"])
