"""Great Expectations suites for declared tables: schema, non-null keys, unique keys."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import polars as pl

from finpipe.warehouse import Table

_context_lock = threading.Lock()
_context: Any = None


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, in the words an operator reads in the UI."""

    expectation: str
    column: str
    success: bool
    unexpected_count: int
    examples: list[Any]


def _ephemeral_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _context = context
        return _context


def declared_table_suite(table: Table) -> list[Any]:
    """The expectations every landed frame of ``table`` must meet."""
    import great_expectations as gx

    suite: list[Any] = [
        gx.expectations.ExpectTableColumnsToMatchOrderedList(column_list=table.column_names)
    ]
    for column in table.columns:
        if not column.nullable:
            suite.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=column.name))
    varying_key = [k for k in table.primary_key if k != table.partition_column]
    if len(varying_key) == 1:
        suite.append(gx.expectations.ExpectColumnValuesToBeUnique(column=varying_key[0]))
    elif varying_key:
        suite.append(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=varying_key))
    return suite


def validate_frame(table: Table, frame: pl.DataFrame) -> list[Outcome]:
    """Run :func:`declared_table_suite` on ``frame`` (one company's partition)."""
    import great_expectations as gx

    context = _ephemeral_context()
    with _context_lock:
        name = f"{table.qualified_name}-{threading.get_ident()}"
        source = context.data_sources.add_or_update_pandas(name)
        asset = source.add_dataframe_asset(name="frame")
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": frame.to_pandas()}
        )
    suite = gx.ExpectationSuite(name=table.qualified_name, expectations=declared_table_suite(table))
    result = batch.validate(suite)
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []))
        details = item.result or {}
        outcomes.append(
            Outcome(
                expectation=config.type,
                column=column,
                success=bool(item.success),
                unexpected_count=int(details.get("unexpected_count") or 0),
                examples=list(details.get("partial_unexpected_list") or [])[:5],
            )
        )
    return outcomes
