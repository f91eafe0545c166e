"""Injected expense spikes: beyond the category's natural range, and dressed like routine
spending (the label is the only give-away)."""

from __future__ import annotations

import numpy as np
import polars as pl
from world_helpers import Loaded

from finpipe.sandbox.world import catalog as cat
from finpipe.sandbox.world.anomalies import SPIKE_NATURAL_QUANTILE, _natural_month_quantile


def _simulated_quantile(lam: float, sigma: float, q: float, seed: int) -> float:
    """The same compound Poisson-lognormal month quantile, drawn independently."""
    rng = np.random.default_rng(seed)
    draws = 200_000
    n = rng.poisson(lam, draws)
    charge = rng.lognormal(-0.5 * sigma**2, sigma, int(n.sum())) / lam
    month = np.bincount(np.repeat(np.arange(draws), n), weights=charge, minlength=draws)
    return float(np.quantile(month, q))


def test_natural_quantile_matches_an_independent_simulation() -> None:
    lam = np.array([2.0, 5.0, 12.0])
    got = _natural_month_quantile(lam, np.ones(3), q=0.999)
    want = [_simulated_quantile(x, 0.8, 0.999, seed=11) for x in lam]
    assert np.array_equal(got, _natural_month_quantile(lam, np.ones(3), q=0.999))  # seeded
    assert np.allclose(got, want, rtol=0.08)


def test_few_uneven_charges_make_a_wider_range() -> None:
    # a small account (few charges) reaches a far higher multiple of its mean than a busy
    # one, and card charges (sigma 0.8) further than bills and direct debits (sigma 0.6)
    lam = np.array([2.0, 5.0, 12.0])
    card = _natural_month_quantile(lam, np.ones(3))
    bill = _natural_month_quantile(lam, np.zeros(3))
    assert (np.diff(card) < 0).all() and (np.diff(bill) < 0).all()
    assert (card > bill).all()
    # once in ten thousand months, even a busy account is well above twice its mean
    assert SPIKE_NATURAL_QUANTILE == 0.9999
    assert card[-1] > 2.5 and card[0] > 8.0


def test_spike_charges_carry_their_category_description(medium_world: Loaded) -> None:
    a = medium_world["truth_anomalies"].filter(pl.col("anomaly_type") == "expense_spike")
    assert a.height > 0
    lines = medium_world["document_lines"].join(
        a.select("company_id", "provider", "document_id"),
        on=["company_id", "provider", "document_id"],
    )
    assert lines.height >= a.height
    routine = {c.description for c in cat.CATEGORIES if c.bucket == "opex"}
    assert set(lines["description"]) <= routine
    # and no document of the world says what it is
    assert (
        medium_world["document_lines"].filter(pl.col("description") == "Unusual spend").is_empty()
    )
