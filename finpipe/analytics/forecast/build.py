"""One company's cash-flow forecast end to end: series from the ledger, model choice by
backtest, forecasts with intervals, early warnings; and the reads other parts use.

Intervals come from simulated sample paths of the flows (``ForecastConfig.paths``): the
flow bands are their quantiles per period, the balance bands the quantiles of the last
actual balance plus their running sums. Quantiles of finite paths are finite; the order
lo95 <= lo80 <= point <= hi80 <= hi95 is enforced after rounding to minor units, so the
table's promise holds even where sampling noise would cross two bounds.

Other parts (insights) read through :func:`read_forecast`, :func:`read_backtest` and
:func:`read_warnings`.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from finpipe.analytics.forecast.backtest import Selection, select_model
from finpipe.analytics.forecast.config import (
    FREQUENCIES,
    FREQUENCY_SETTINGS,
    MONTHLY,
    WEEKLY,
    ForecastConfig,
    ForecastError,
    Frequency,
)
from finpipe.analytics.forecast.models import (
    ENSEMBLE,
    LABELS,
    MEAN,
    SEASONAL_NAIVE,
    ModelForecast,
    ModelUnavailable,
    combine,
    forecast_model,
    min_history,
)
from finpipe.analytics.forecast.series import cash_series, next_periods
from finpipe.analytics.forecast.warnings import early_warnings
from finpipe.analytics.formats import format_money
from finpipe.warehouse import Table, Warehouse, WriteResult
from finpipe.warehouse.tables.analytics_forecast import (
    CASH_FORECAST,
    CASH_SERIES,
    CASH_WARNINGS,
    FORECAST_BACKTEST,
)
from finpipe.warehouse.tables.ledger import JOURNAL_LINES
from finpipe.warehouse.tables.ops import COMPANIES

QUANTILES = {"lo95": 0.025, "lo80": 0.10, "hi80": 0.90, "hi95": 0.975}
BAND_ORDER = ("lo95", "lo80", "point", "hi80", "hi95")


@dataclass(frozen=True)
class SeriesForecast:
    """The forecast of one flow history at one frequency: the backtest's choice and the
    final fit of every model that could be fitted (the chosen one first)."""

    frequency: Frequency
    flows: np.ndarray
    start_balance: int
    selection: Selection
    chosen: str | None
    forecasts: dict[str, ModelForecast]
    notes: dict[str, str] = field(default_factory=dict)  # final fits that failed

    def bands(self, model: str) -> dict[str, np.ndarray]:
        """``flow_<band>`` and ``balance_<band>`` arrays (int64 minor units) of ``model``,
        with the interval calibration its backtest measured."""
        score = self.selection.score(model)
        flow_scale = score.flow_scale if score is not None else 1.0
        balance_scale = score.balance_scale if score is not None else 1.0
        return forecast_bands(self.forecasts[model], self.start_balance, flow_scale, balance_scale)


def forecast_bands(
    fc: ModelForecast, start_balance: int, flow_scale: float = 1.0, balance_scale: float = 1.0
) -> dict[str, np.ndarray]:
    """Point and interval bounds of the flows and of the balance they lead to, in int64
    minor units and ordered lo95 <= lo80 <= point <= hi80 <= hi95. The paths' spread around
    the point forecast is multiplied by ``flow_scale`` (flows) and ``balance_scale`` (their
    running sum) first."""
    out: dict[str, np.ndarray] = {}
    point_path = fc.point[:, None]
    flow_paths = point_path + flow_scale * (fc.paths - point_path)
    cum_point = np.cumsum(fc.point)[:, None]
    balance_paths = (
        start_balance + cum_point + balance_scale * (np.cumsum(fc.paths, axis=0) - cum_point)
    )
    for what, point, paths in (
        ("flow", fc.point, flow_paths),
        ("balance", start_balance + np.cumsum(fc.point), balance_paths),
    ):
        values = {"point": np.rint(point).astype(np.int64)}
        for band, q in QUANTILES.items():
            if paths.shape[1]:
                values[band] = np.rint(np.quantile(paths, q, axis=1)).astype(np.int64)
            else:
                values[band] = values["point"].copy()
        # monotone repair outward from the point forecast
        values["lo80"] = np.minimum(values["lo80"], values["point"])
        values["lo95"] = np.minimum(values["lo95"], values["lo80"])
        values["hi80"] = np.maximum(values["hi80"], values["point"])
        values["hi95"] = np.maximum(values["hi95"], values["hi80"])
        out.update({f"{what}_{band}": values[band] for band in BAND_ORDER})
    return out


def _rng(config: ForecastConfig, key: str) -> np.random.Generator:
    return np.random.default_rng([config.seed, zlib.crc32(key.encode())])


def forecast_series(
    flows: np.ndarray,
    start_balance: int,
    freq: Frequency,
    config: ForecastConfig,
    rng: np.random.Generator,
    first_period: dt.date | None = None,
) -> SeriesForecast:
    """Choose a model for ``flows`` (the first period starting on ``first_period``) by
    backtest and fit the chosen model, the seasonal-naive baseline and every other scored
    candidate on the whole history."""
    y = np.asarray(flows, dtype=np.float64)
    selection = select_model(y, freq, rng, first_period)
    by_score = sorted(
        (s for s in selection.scores if s.mase is not None),
        key=lambda s: s.mase if s.mase is not None else np.inf,
    )
    order = [selection.chosen] if selection.chosen else []
    order += [s.model for s in by_score if s.model not in order]
    if SEASONAL_NAIVE not in order and len(y) >= min_history(SEASONAL_NAIVE, freq):
        order.append(SEASONAL_NAIVE)
    forecasts: dict[str, ModelForecast] = {}
    notes: dict[str, str] = {}
    for model in sorted(order, key=lambda m: m == ENSEMBLE):
        try:
            forecasts[model] = (
                combine(list(forecasts.values()), config.paths)
                if model == ENSEMBLE
                else forecast_model(model, y, freq, freq.horizon, config.paths, rng, first_period)
            )
        except ModelUnavailable as exc:
            notes[model] = f"final fit failed: {exc}"
    chosen = selection.chosen
    if chosen is not None and chosen not in forecasts:
        # the winner could not be refitted on the whole history: the next best stands in
        ranked = [m for m in order if m in forecasts and m != SEASONAL_NAIVE]
        fallback = (
            ranked[0] if ranked else (SEASONAL_NAIVE if SEASONAL_NAIVE in forecasts else None)
        )
        if fallback is None and len(y) >= min_history(MEAN, freq):
            forecasts[MEAN] = forecast_model(MEAN, y, freq, freq.horizon, config.paths, rng)
            fallback = MEAN
        notes[chosen] = f"{notes.get(chosen, '')}; replaced by {fallback}".lstrip("; ")
        chosen = fallback
    return SeriesForecast(freq, y, int(start_balance), selection, chosen, forecasts, notes)


@dataclass(frozen=True)
class CompanyForecast:
    """Everything the forecast asset writes for one company, and its summary."""

    company_id: str
    currency: str | None
    as_of: dt.date | None  # the books are closed through this day
    series: pl.DataFrame  # analytics.cash_series rows
    forecast: pl.DataFrame  # analytics.cash_forecast rows
    backtest: pl.DataFrame  # analytics.forecast_backtest rows
    warnings: pl.DataFrame  # analytics.cash_warnings rows
    results: dict[str, SeriesForecast]

    def summary_markdown(self) -> str:
        """The Markdown the Dagster UI shows: chosen models against seasonal naive, the
        next 13 weeks' balance with its 80 % band, and the warnings."""
        cur = self.currency
        lines = [f"### Cash forecast of {self.company_id}"]
        if self.series.is_empty():
            return "\n".join([*lines, "", "_no cash lines in the ledger: nothing to forecast_"])
        for name in FREQUENCIES:
            hist = self.series.filter(pl.col("frequency") == name)
            res = self.results.get(name)
            if res is None or hist.is_empty():
                continue
            last = hist.row(-1, named=True)
            lines.append(
                f"- **{name}**: {hist.height} periods to {last['period_end']}, balance "
                f"{format_money(last['balance'], cur)}; " + _choice_text(res)
            )
        weekly = self.forecast.filter((pl.col("frequency") == WEEKLY) & pl.col("chosen")).sort(
            "step"
        )
        if weekly.height:
            lines += [
                "",
                f"**Next 13 weeks: cash balance ({LABELS[weekly['model'][0]]}, 80 % band)**",
                "",
                "| week of | expected | 80 % low | 80 % high |",
                "|---|---:|---:|---:|",
            ]
            lines += [
                f"| {r['period']} | {format_money(r['balance_point'], cur, suffix=False)} | "
                f"{format_money(r['balance_lo80'], cur, suffix=False)} | "
                f"{format_money(r['balance_hi80'], cur, suffix=False)} |"
                for r in weekly.iter_rows(named=True)
            ]
        lines += ["", "**Warnings**", ""]
        lines += [
            f"- **{r['severity']}**: {r['reason']}" for r in self.warnings.iter_rows(named=True)
        ]
        if self.warnings.is_empty():
            lines.append("- none")
        return "\n".join(lines)


def _choice_text(res: SeriesForecast) -> str:
    sel = res.selection
    if res.chosen is None:
        return f"no forecast ({sel.reason})"
    chosen = sel.score(res.chosen)
    base = sel.score(SEASONAL_NAIVE)
    text = f"chosen **{LABELS[res.chosen]}**"
    if chosen is not None and chosen.mase is not None:
        text += f", backtest MASE {chosen.mase:.2f}"
        if base is not None and base.mase is not None:
            text += f" vs seasonal naive {base.mase:.2f}"
        text += f" over {chosen.folds} folds"
    else:
        text += f" ({sel.reason})"
    return text


def forecast_from_journal(
    journal_lines: pl.DataFrame,
    company_id: str,
    currency: str | None,
    config: ForecastConfig | None = None,
    as_of: dt.date | None = None,
) -> CompanyForecast:
    """The forecast of ``company_id`` from its ``ledger.journal_lines`` rows (books closed
    through ``as_of``, by default the latest posting date)."""
    config = config or ForecastConfig()
    config.validate()
    lines = journal_lines.filter(pl.col("company_id") == company_id)
    close = as_of or (lines["date"].max() if lines.height else None)
    series_parts, forecast_parts, backtest_parts = [], [], []
    results: dict[str, SeriesForecast] = {}
    chosen_rows: dict[str, pl.DataFrame] = {}
    for name in FREQUENCIES:
        freq = FREQUENCY_SETTINGS[name]
        # lines hold this company only and cash_series returns only the asked frequency.
        hist = cash_series(lines, name, as_of)
        series_parts.append(hist.with_columns(pl.lit(currency, pl.String).alias("currency")))
        if hist.is_empty():
            continue
        flows = hist["net_flow"].to_numpy()
        last = hist.row(-1, named=True)
        res = forecast_series(
            flows,
            last["balance"],
            freq,
            config,
            _rng(config, f"{company_id}:{name}"),
            hist["period"][0],
        )
        results[name] = res
        rows = forecast_frame(company_id, res, last["period"], last["period_end"], currency)
        forecast_parts.append(rows)
        backtest_parts.append(backtest_frame(company_id, res))
        chosen_rows[name] = rows.filter(pl.col("chosen"))
    series = _concat(series_parts, CASH_SERIES)
    monthly = series.filter(pl.col("frequency") == MONTHLY)
    warnings = pl.DataFrame(schema=CASH_WARNINGS.polars_schema())
    if monthly.height:
        last = monthly.row(-1, named=True)
        warnings = early_warnings(
            company_id,
            cash=last["balance"],
            as_of=last["period_end"],
            currency=currency,
            recent_months=monthly["net_flow"].tail(config.burn_months).to_list(),
            forecasts=chosen_rows,
            config=config,
        )
    return CompanyForecast(
        company_id=company_id,
        currency=currency,
        as_of=close,
        series=series,
        forecast=_concat(forecast_parts, CASH_FORECAST),
        backtest=_concat(backtest_parts, FORECAST_BACKTEST),
        warnings=warnings,
        results=results,
    )


def _concat(parts: list[pl.DataFrame], table: Table) -> pl.DataFrame:
    schema = table.polars_schema()
    frames = [p.select(list(schema)).cast(dict(schema)) for p in parts if p.height]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def forecast_frame(
    company_id: str,
    res: SeriesForecast,
    last_period: dt.date,
    as_of: dt.date,
    currency: str | None,
) -> pl.DataFrame:
    """``analytics.cash_forecast`` rows of every fitted model of ``res``."""
    freq = res.frequency
    periods = next_periods(last_period, freq.name, freq.horizon)
    frames = []
    for model in res.forecasts:
        bands = res.bands(model)
        frames.append(
            pl.DataFrame(
                {
                    "company_id": company_id,
                    "frequency": freq.name,
                    "model": model,
                    "period": periods,
                    "step": np.arange(1, freq.horizon + 1),
                    "chosen": model == res.chosen,
                    "as_of": as_of,
                    "currency": currency,
                    **bands,
                }
            )
        )
    return _concat(frames, CASH_FORECAST)


def backtest_frame(company_id: str, res: SeriesForecast) -> pl.DataFrame:
    """``analytics.forecast_backtest`` rows of ``res``."""
    base = res.selection.score(SEASONAL_NAIVE)
    base_mase = base.mase if base is not None else None
    rows = []
    for s in res.selection.scores:
        reason = s.reason
        if s.model in res.notes:
            reason += f"; {res.notes[s.model]}"
        rows.append(
            {
                "company_id": company_id,
                "frequency": res.frequency.name,
                "model": s.model,
                "status": s.status,
                "chosen": s.model == res.chosen,
                "mase": s.mase,
                "mase_vs_seasonal_naive": (
                    s.mase / base_mase if s.mase is not None and base_mase else None
                ),
                "folds": s.folds,
                "interval_scale_flow": s.flow_scale,
                "interval_scale_balance": s.balance_scale,
                "history_periods": len(res.flows),
                "reason": reason,
            }
        )
    return pl.DataFrame(rows, schema=FORECAST_BACKTEST.polars_schema())


# ------------------------------------------------------------------ the warehouse


def forecast_company(
    warehouse: Warehouse, company_id: str, config: ForecastConfig | None = None
) -> CompanyForecast:
    """Read ``company_id``'s books (``ledger.journal_lines``) and home currency
    (``ops.companies``) and forecast its cash."""
    journal = warehouse.read(JOURNAL_LINES, company_id=company_id)
    company = warehouse.read(COMPANIES, where="company_id = %s", params=[company_id])
    currency = company["home_currency"][0] if company.height else None
    return forecast_from_journal(journal, company_id, currency, config)


def write_forecast(warehouse: Warehouse, result: CompanyForecast) -> list[WriteResult]:
    """Replace the company's partition of the four forecast tables, in one transaction."""
    with warehouse.batch() as batch:
        for table, frame in (
            (CASH_SERIES, result.series),
            (CASH_FORECAST, result.forecast),
            (FORECAST_BACKTEST, result.backtest),
            (CASH_WARNINGS, result.warnings),
        ):
            batch.replace_partition(table, result.company_id, frame)
    return batch.results


def read_forecast(
    warehouse: Warehouse,
    company_id: str,
    frequency: str | None = None,
    *,
    chosen_only: bool = True,
) -> pl.DataFrame:
    """``analytics.cash_forecast`` rows of ``company_id`` (one frequency or both; the chosen
    model's only unless ``chosen_only`` is false), ordered by frequency, model and step."""
    if frequency is not None and frequency not in FREQUENCIES:
        raise ForecastError(f"read_forecast: frequency {frequency!r} is not one of {FREQUENCIES}")
    clauses, params = [], []
    if frequency is not None:
        clauses.append("frequency = %s")
        params.append(frequency)
    if chosen_only:
        clauses.append("chosen")
    return warehouse.read(
        CASH_FORECAST,
        company_id=company_id,
        where=" AND ".join(clauses) or None,
        params=params,
        order_by=["frequency", "model", "step"],
    )


def read_backtest(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    """``analytics.forecast_backtest`` rows of ``company_id``."""
    return warehouse.read(FORECAST_BACKTEST, company_id=company_id)


def read_warnings(warehouse: Warehouse, company_id: str | None = None) -> pl.DataFrame:
    """``analytics.cash_warnings`` rows (one company's, or every company's), most severe
    first."""
    frame = warehouse.read(CASH_WARNINGS, company_id=company_id)
    rank = pl.col("severity").replace_strict({"critical": 0, "high": 1}, default=2)
    return frame.sort(rank, "company_id", "warning_id")


__all__ = [
    "CompanyForecast",
    "SeriesForecast",
    "forecast_bands",
    "forecast_company",
    "forecast_from_journal",
    "forecast_series",
    "read_backtest",
    "read_forecast",
    "read_warnings",
    "write_forecast",
]
