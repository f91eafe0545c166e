"""Exchange rates: one deterministic daily path per currency, and exact conversions.

Rates are fixed-point integers with 8 decimals (``RATE_SCALE``), which is exactly what the
documents' ``fx_rate`` column (DECIMAL(18, 8)) stores, so a home amount recomputed from a
document's own ``total`` and ``fx_rate`` always equals the ``home_total`` written.
"""

from __future__ import annotations

import numpy as np

from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.rng import Streams
from finpipe.sandbox.world.spec import Calendar

RATE_SCALE = 100_000_000
_PAD = 120  # days of rates after the window (payment dates of late items are clipped anyway)


class FxRates:
    """Daily USD-per-unit paths; ``rate(from, to, day)`` in fixed point."""

    def __init__(self, cal: Calendar, streams: Streams) -> None:
        rng = streams.get("fx")
        self.first = cal.start - 31
        days = cal.end - self.first + 1 + _PAD
        usd = np.empty((len(ref.CURRENCIES), days))
        for c, start in enumerate(ref.USD_PER_UNIT):
            if c == ref.USD:
                usd[c] = 1.0
                continue
            # Daily log-returns of ~0.45% with a slow pull back towards the start level.
            steps = rng.normal(0.0, 0.0045, days)
            path = np.empty(days)
            x = 0.0
            for k in range(days):  # one loop per currency-day over a few thousand days
                x = 0.995 * x + steps[k]
                path[k] = x
            usd[c] = start * np.exp(path)
        self.usd_per_unit = usd

    def rate(self, from_ccy: np.ndarray, to_ccy: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Units of ``to_ccy`` per unit of ``from_ccy`` on ``day``, fixed point (int64)."""
        idx = np.clip(
            np.asarray(day, dtype=np.int64) - self.first, 0, self.usd_per_unit.shape[1] - 1
        )
        f = np.asarray(from_ccy, dtype=np.int64)
        t = np.asarray(to_ccy, dtype=np.int64)
        r = self.usd_per_unit[f, idx] / self.usd_per_unit[t, idx]
        out = np.rint(r * RATE_SCALE).astype(np.int64)
        return np.where(f == t, RATE_SCALE, out)


def convert(amount: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """``amount * rate`` rounded half away from zero, exact in integers."""
    amount = np.asarray(amount, dtype=np.int64)
    rate = np.asarray(rate, dtype=np.int64)
    # |amount| < 2**40 and rate < 2**31 keep the product inside int64; split to be safe.
    hi, lo = np.divmod(np.abs(amount), 1 << 20)
    prod_hi = hi * rate  # scaled by 2**20
    prod_lo = lo * rate
    q_hi, r_hi = np.divmod(prod_hi, RATE_SCALE)
    total_rem = (r_hi << 20) + prod_lo
    q_lo, r_lo = np.divmod(total_rem, RATE_SCALE)
    q = (q_hi << 20) + q_lo
    q += r_lo * 2 >= RATE_SCALE
    return np.sign(amount) * q
