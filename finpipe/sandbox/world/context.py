"""What every generation step shares: the calendar, profiles, pickers, rates and the book,
plus small vectorised helpers (explode counts into events, draw days, round money)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finpipe.sandbox.world import chart
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.book import Book
from finpipe.sandbox.world.companies import Companies
from finpipe.sandbox.world.contacts import Contacts
from finpipe.sandbox.world.fx import RATE_SCALE, FxRates
from finpipe.sandbox.world.items import Items
from finpipe.sandbox.world.rng import Streams
from finpipe.sandbox.world.spec import Calendar, WorldSpec, busday_add, busday_on_or_before


@dataclass
class Ctx:
    spec: WorldSpec
    cal: Calendar
    co: Companies
    contacts: Contacts
    items: Items
    fx: FxRates
    streams: Streams
    book: Book

    @property
    def revenue(self) -> np.ndarray:
        """(companies, months) expected revenue, home minor units."""
        return self.co.revenue0[:, None] * self.co.level

    def role(self, name: str) -> int:
        return chart.ROLE[name]

    def rate_to_home(self, ccy: np.ndarray, ci: np.ndarray, day: np.ndarray) -> np.ndarray:
        return self.fx.rate(ccy, self.co.home_ccy[ci], day)

    def from_home(self, home_amount: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """A home-currency float amount expressed in the document currency (rounded)."""
        return np.rint(home_amount * RATE_SCALE / rate).astype(np.int64)

    def bank_for(self, ci: np.ndarray, ccy: np.ndarray) -> np.ndarray:
        """The bank account kind a payment in ``ccy`` goes through."""
        fx_ok = self.co.has_kind[ci, ref.FX_CHECKING] & (ccy == self.co.foreign_ccy[ci])
        return np.where(fx_ok, ref.FX_CHECKING, ref.CHECKING).astype(np.int8)


def explode(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(companies, months) event counts -> (company, month) of each event."""
    n, months = counts.shape
    flat = counts.ravel()
    cells = np.repeat(np.arange(n * months), flat)
    return (cells // months).astype(np.int32), (cells % months).astype(np.int32)


def day_in_month(
    rng: np.random.Generator, cal: Calendar, month: np.ndarray, business: bool = True
) -> np.ndarray:
    """A random day in each month; business days only when ``business``."""
    start = cal.month_starts[month]
    length = cal.month_starts[month + 1] - start
    day = start + (rng.random(len(month)) * length).astype(np.int32)
    if business:
        fwd = busday_add(day, 0)
        day = np.where(fwd < start + length, fwd, busday_on_or_before(day))
    return day.astype(np.int32)


def money(x: np.ndarray) -> np.ndarray:
    """Float amounts (minor units) rounded to integer minor units, at least 1."""
    return np.maximum(np.rint(x), 1).astype(np.int64)


def clip_business(day: np.ndarray) -> np.ndarray:
    """Roll each day forward to a business day."""
    return busday_add(day, 0)
