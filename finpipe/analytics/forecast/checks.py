"""What must hold of a stored forecast (``analytics.cash_forecast``), as frames of the rows
that break it: the Dagster checks and the tests use these."""

from __future__ import annotations

from itertools import pairwise

import polars as pl

BANDS = ("lo95", "lo80", "point", "hi80", "hi95")
VALUE_COLUMNS = tuple(f"{what}_{band}" for what in ("flow", "balance") for band in BANDS)


def non_finite_rows(forecast: pl.DataFrame) -> pl.DataFrame:
    """Rows with a null (or, in a float frame, NaN / infinite) figure."""
    cols = [c for c in VALUE_COLUMNS if c in forecast.columns]
    bad = [pl.col(c).is_null() for c in cols]
    bad += [~pl.col(c).is_finite() for c in cols if forecast.schema[c] in (pl.Float32, pl.Float64)]
    return forecast.filter(pl.any_horizontal(bad)) if bad else forecast.head(0)


def disordered_intervals(forecast: pl.DataFrame) -> pl.DataFrame:
    """Rows where lo95 <= lo80 <= point <= hi80 <= hi95 fails for the flow or the balance."""
    ordered = [
        pl.col(f"{what}_{low}") <= pl.col(f"{what}_{high}")
        for what in ("flow", "balance")
        for low, high in pairwise(BANDS)
    ]
    return forecast.filter(~pl.all_horizontal(ordered).fill_null(False))
