"""Settings of the cash-flow forecast and its early warnings, and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass

from finpipe.errors import FinpipeError

WEEKLY = "weekly"
MONTHLY = "monthly"
FREQUENCIES = (WEEKLY, MONTHLY)


class ForecastError(FinpipeError):
    """A forecast cannot be made as asked (bad settings or input frame)."""


@dataclass(frozen=True)
class Frequency:
    """One forecast frequency: its horizon, season length and rolling-origin folds."""

    name: str
    horizon: int  # periods forecast ahead
    season: int  # periods per year: the seasonal-naive lag and the seasonal models' period
    fold_step: int  # periods between two backtest origins
    max_folds: int

    def label(self, steps: int) -> str:
        unit = "week" if self.name == WEEKLY else "month"
        return f"{steps} {unit}{'s' if steps != 1 else ''}"


FREQUENCY_SETTINGS: dict[str, Frequency] = {
    WEEKLY: Frequency(WEEKLY, horizon=13, season=52, fold_step=13, max_folds=4),
    MONTHLY: Frequency(MONTHLY, horizon=12, season=12, fold_step=3, max_folds=4),
}


@dataclass(frozen=True)
class ForecastConfig:
    """Knobs of :func:`finpipe.analytics.forecast.build.forecast_company`.

    ``runway_threshold_months``: a runway (cash / average monthly burn) under it is a
    warning. ``burn_months``: how many recent complete months the average burn covers.
    ``warning_band``: the prediction interval (80 or 95) whose lower bound must stay above
    zero. ``paths``: simulated sample paths behind every interval (the cash balance is a
    running sum of correlated flows, so its bands come from paths, not a formula).
    """

    runway_threshold_months: float = 6.0
    burn_months: int = 3
    warning_band: int = 80
    paths: int = 2000
    seed: int = 20240601

    def validate(self) -> None:
        """Raise :class:`ForecastError` naming the first setting out of range."""
        if not self.runway_threshold_months > 0:
            raise ForecastError(
                f"ForecastConfig.runway_threshold_months={self.runway_threshold_months} must "
                "be positive (months of runway under which to warn, e.g. 6)"
            )
        if not 1 <= self.burn_months <= 24:
            raise ForecastError(
                f"ForecastConfig.burn_months={self.burn_months} is out of range: use 1..24"
            )
        if self.warning_band not in (80, 95):
            raise ForecastError(f"ForecastConfig.warning_band={self.warning_band} must be 80 or 95")
        if not 200 <= self.paths <= 100_000:
            raise ForecastError(
                f"ForecastConfig.paths={self.paths} is out of range: use 200..100000"
            )
