"""Schema ``analytics``: the cash-flow forecast and its early warnings, per company.

``cash_series`` is the history the forecast starts from: weekly and monthly net cash flow
and book cash balance from ``ledger.journal_lines`` (cash and bank accounts of the standard
chart, home currency). ``cash_forecast`` holds 13 weekly and 12 monthly periods ahead for
every model that could be fitted (the chosen one flagged; the seasonal-naive baseline is
always there when a year of history exists), with 80 % and 95 % prediction intervals of the
flow and of the resulting balance. ``forecast_backtest`` says how each model scored in the
rolling-origin backtest that chose it (MASE, scaled by the in-sample seasonal-naive error)
and why a model was left out. ``cash_warnings`` are the early warnings, each with a
plain-language reason citing its numbers (:mod:`finpipe.analytics.forecast`).

Money columns are integer minor units of the company's home currency.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

M = Kind.MONEY
T = Kind.TEXT
F = Kind.FLOAT
I = Kind.INT  # noqa: E741 - the catalog's one-letter kind aliases

_FREQUENCY = col(
    "frequency", T, "weekly (13 weeks ahead) | monthly (12 months ahead)", nullable=False
)

CASH_SERIES = Table(
    schema="analytics",
    name="cash_series",
    doc="Weekly and monthly net cash flow and closing book cash balance per company (complete periods only), the history every forecast starts from.",
    columns=(
        company_id_column(),
        _FREQUENCY,
        col("period", Kind.DATE, "first day of the week (Monday) or month", nullable=False),
        col("period_end", Kind.DATE, "last day of the period", nullable=False),
        col("currency", T, "home currency"),
        col(
            "net_flow",
            M,
            "cash in less cash out in the period (opening balances brought forward excluded)",
            nullable=False,
        ),
        col("balance", M, "book cash at the end of the period", nullable=False),
    ),
    primary_key=("company_id", "frequency", "period"),
)

_BANDS = []
for _what, _doc in (
    ("flow", "net cash flow of the period"),
    ("balance", "cash balance at its end"),
):
    _BANDS += [
        col(f"{_what}_point", M, f"point forecast of the {_doc}", nullable=False),
        col(f"{_what}_lo80", M, f"lower bound of the 80 % interval of the {_doc}", nullable=False),
        col(f"{_what}_hi80", M, f"upper bound of the 80 % interval of the {_doc}", nullable=False),
        col(f"{_what}_lo95", M, f"lower bound of the 95 % interval of the {_doc}", nullable=False),
        col(f"{_what}_hi95", M, f"upper bound of the 95 % interval of the {_doc}", nullable=False),
    ]

CASH_FORECAST = Table(
    schema="analytics",
    name="cash_forecast",
    doc="13-week and 12-month forecasts of net cash flow and cash balance per company and model, with 80 % and 95 % prediction intervals (lo95 <= lo80 <= point <= hi80 <= hi95).",
    columns=(
        company_id_column(),
        _FREQUENCY,
        col(
            "model",
            T,
            "seasonal_naive | ets | stl_ets | month_profile (weekly) | ensemble | mean (see analytics.forecast_backtest)",
            nullable=False,
        ),
        col("period", Kind.DATE, "first day of the forecast week or month", nullable=False),
        col("step", I, "periods ahead of the last actual period (1 = next)", nullable=False),
        col("chosen", Kind.BOOL, "the model the backtest chose for this company", nullable=False),
        col(
            "as_of",
            Kind.DATE,
            "last day of the last actual period (the forecast's origin)",
            nullable=False,
        ),
        col("currency", T, "home currency"),
        *_BANDS,
    ),
    primary_key=("company_id", "frequency", "model", "period"),
)

FORECAST_BACKTEST = Table(
    schema="analytics",
    name="forecast_backtest",
    doc="How each forecast model scored in the company's rolling-origin backtest (MASE scaled by the in-sample seasonal-naive error) and which was chosen, or why a model was not scored.",
    columns=(
        company_id_column(),
        _FREQUENCY,
        col(
            "model",
            T,
            "seasonal_naive | ets | stl_ets | month_profile (weekly) | ensemble | mean",
            nullable=False,
        ),
        col(
            "status",
            T,
            "chosen | candidate | fallback (no backtest possible) | unavailable (history too short) | failed",
            nullable=False,
        ),
        col("chosen", Kind.BOOL, "the model used for this company", nullable=False),
        col("mase", F, "mean absolute scaled error over the folds (null: not scored)"),
        col(
            "mase_vs_seasonal_naive",
            F,
            "this model's MASE / the seasonal-naive MASE (below 1: better than the baseline)",
        ),
        col("folds", I, "backtest folds scored", nullable=False),
        col(
            "interval_scale_flow",
            F,
            "backtest RMSE / predicted spread of the flows: how much the model's simulated intervals were widened (> 1) or narrowed",
            nullable=False,
        ),
        col(
            "interval_scale_balance",
            F,
            "the same for the balance (the running sum of the flows)",
            nullable=False,
        ),
        col("history_periods", I, "periods of history the company has", nullable=False),
        col("reason", T, "why chosen, or why not", nullable=False),
    ),
    primary_key=("company_id", "frequency", "model"),
)

CASH_WARNINGS = Table(
    schema="analytics",
    name="cash_warnings",
    doc="Early warnings on cash: the lower forecast interval of the balance crossing zero within the horizon, a runway (cash / average monthly burn) under the threshold, or book cash already negative; each with a plain-language reason citing its numbers.",
    columns=(
        company_id_column(),
        col("warning_id", T, "<kind>:<frequency or all>", nullable=False),
        col(
            "kind",
            T,
            "balance_may_cross_zero | runway_below_threshold | cash_negative",
            nullable=False,
        ),
        col("severity", T, "critical | high", nullable=False),
        col("frequency", T, "weekly | monthly for a forecast crossing; null otherwise"),
        col("period", Kind.DATE, "first forecast week or month whose lower bound is below zero"),
        col("periods_ahead", I, "how many periods ahead that is"),
        col("as_of", Kind.DATE, "last day of the actual history the warning is based on"),
        col("currency", T, "home currency"),
        col("cash_balance", M, "book cash at as_of", nullable=False),
        col("expected_balance", M, "point forecast of the balance in that period"),
        col("lower_balance", M, "lower bound of the warning band in that period"),
        col("band", I, "the prediction interval (80 or 95 %) the crossing is read from"),
        col("monthly_burn", M, "average monthly net outflow over the recent months"),
        col("runway_months", F, "cash_balance / monthly_burn"),
        col("threshold_months", F, "runway under which a warning is raised"),
        col("model", T, "the forecast model behind a crossing"),
        col("reason", T, "plain-language explanation with the numbers", nullable=False),
    ),
    primary_key=("company_id", "warning_id"),
)

TABLES: tuple[Table, ...] = (CASH_SERIES, CASH_FORECAST, FORECAST_BACKTEST, CASH_WARNINGS)
