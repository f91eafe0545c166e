"""What to generate (:class:`WorldSpec`), its validation and the calendar it implies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from finpipe.errors import FinpipeError

GENERATOR_VERSION = "1.0.0"

MAX_COMPANIES = 5_000
MAX_MONTHS = 120
EPOCH = dt.date(1970, 1, 1)


class WorldError(FinpipeError):
    """A world cannot be generated or loaded as asked (bad spec, bad folder, missing file)."""


@dataclass(frozen=True)
class WorldSpec:
    """The knobs of a generated world; everything else derives from ``seed``.

    Activity spans ``months`` whole months ending with ``end_month`` (the first day of the
    last generated month).
    """

    companies: int = 12
    months: int = 24
    seed: int = 42
    end_month: dt.date = dt.date(2026, 10, 1)

    def validate(self) -> None:
        """Raise :class:`WorldError` naming the first field that is out of range."""
        for name in ("companies", "months", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise WorldError(f"WorldSpec.{name} must be an integer, got {value!r}")
        if not 1 <= self.companies <= MAX_COMPANIES:
            raise WorldError(
                f"WorldSpec.companies={self.companies} is out of range: use 1..{MAX_COMPANIES}"
            )
        if not 1 <= self.months <= MAX_MONTHS:
            raise WorldError(f"WorldSpec.months={self.months} is out of range: use 1..{MAX_MONTHS}")
        if not 0 <= self.seed < 2**63:
            raise WorldError(f"WorldSpec.seed={self.seed} is out of range: use 0..2**63-1")
        end = self.end_month
        if isinstance(end, dt.datetime) or not isinstance(end, dt.date):
            raise WorldError(f"WorldSpec.end_month must be a datetime.date, got {end!r}")
        if end.day != 1:
            raise WorldError(
                f"WorldSpec.end_month={end.isoformat()} must be the first day of a month "
                f"(e.g. {end.replace(day=1).isoformat()})"
            )
        if not 2000 <= end.year <= 2100:
            raise WorldError(f"WorldSpec.end_month={end.isoformat()} is out of range: 2000-2100")
        start_index = end.year * 12 + end.month - 1 - (self.months - 1)
        if start_index < 1999 * 12:
            raise WorldError("WorldSpec: the window would start before 1999; use fewer months")

    def to_json(self) -> dict[str, object]:
        return {
            "companies": self.companies,
            "months": self.months,
            "seed": self.seed,
            "end_month": self.end_month.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WorldSpec:
        return cls(
            companies=int(data["companies"]),  # type: ignore[arg-type]
            months=int(data["months"]),  # type: ignore[arg-type]
            seed=int(data["seed"]),  # type: ignore[arg-type]
            end_month=dt.date.fromisoformat(str(data["end_month"])),
        )


def _month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def to_days(day: dt.date) -> int:
    """Days since 1970-01-01 (the integer representation of dates used everywhere here)."""
    return (day - EPOCH).days


@dataclass(frozen=True)
class Calendar:
    """The generated window as day numbers (days since 1970-01-01).

    ``month_starts`` has ``months + 1`` entries: the first day of every month and the first
    day after the window, so month ``m`` spans ``[month_starts[m], month_starts[m + 1])``.
    """

    months: int
    month_starts: np.ndarray
    month_of_year: np.ndarray  # 1..12 per month index
    start: int
    end: int  # last day (inclusive)
    start_date: dt.date
    end_date: dt.date

    @classmethod
    def from_spec(cls, spec: WorldSpec) -> Calendar:
        last = spec.end_month.year * 12 + spec.end_month.month - 1
        first = last - spec.months + 1
        starts = [_month_start(i) for i in range(first, last + 2)]
        days = np.array([to_days(d) for d in starts], dtype=np.int32)
        moy = np.array([d.month for d in starts[:-1]], dtype=np.int8)
        return cls(
            months=spec.months,
            month_starts=days,
            month_of_year=moy,
            start=int(days[0]),
            end=int(days[-1]) - 1,
            start_date=starts[0],
            end_date=starts[-1] - dt.timedelta(days=1),
        )

    def days_in_month(self) -> np.ndarray:
        return np.diff(self.month_starts).astype(np.int32)

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Month index (0-based, may be -1 or ``months`` outside the window) of each day."""
        return (np.searchsorted(self.month_starts, days, side="right") - 1).astype(np.int32)


def weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return ((np.asarray(days, dtype=np.int64) + 3) % 7).astype(np.int8)


def busday_add(days: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
    """Move each day forward to a business day, then ``offset`` business days further."""
    d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    out = np.busday_offset(d64, offset, roll="forward")
    return out.astype(np.int64).astype(np.int32)


def busday_on_or_before(days: np.ndarray) -> np.ndarray:
    """The business day on or before each day."""
    d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return np.busday_offset(d64, 0, roll="backward").astype(np.int64).astype(np.int32)
