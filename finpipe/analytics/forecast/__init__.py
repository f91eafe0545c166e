"""Cash-flow forecast and early warning per company (plain Python, no Dagster).

:mod:`.series` builds weekly and monthly net cash flow and book cash balance from the
ledger; :mod:`.models` holds the models (seasonal naive, ETS, STL + ETS, the weekly month
profile, their ensemble, the mean);
:mod:`.backtest` chooses one per company by rolling-origin backtest (MASE against seasonal
naive); :mod:`.warnings` raises early warnings; :mod:`.build` runs it end to end and reads
the tables back. Other parts read through :func:`read_forecast`, :func:`read_backtest` and
:func:`read_warnings`.
"""

from finpipe.analytics.forecast.build import (
    CompanyForecast,
    forecast_company,
    forecast_from_journal,
    read_backtest,
    read_forecast,
    read_warnings,
    write_forecast,
)
from finpipe.analytics.forecast.config import ForecastConfig, ForecastError

__all__ = [
    "CompanyForecast",
    "ForecastConfig",
    "ForecastError",
    "forecast_company",
    "forecast_from_journal",
    "read_backtest",
    "read_forecast",
    "read_warnings",
    "write_forecast",
]
