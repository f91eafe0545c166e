"""The generator's building blocks: exact FX conversion, the standard chart, identifiers,
weighted picks, charts of accounts."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import polars as pl
from world_helpers import Loaded

from finpipe.sandbox.world.chart import TEMPLATE
from finpipe.sandbox.world.fx import RATE_SCALE, convert
from finpipe.sandbox.world.identifiers import iban_is_valid, ibans
from finpipe.sandbox.world.rng import WeightedPicker
from finpipe.sandbox.world.standard_chart import (
    CLASSES,
    SECTIONS,
    STANDARD_ACCOUNTS,
    standard_chart_frame,
)

CLASS_OF_DIGIT = {
    "1": {"asset"},
    "2": {"liability"},
    "3": {"equity"},
    "4": {"income"},
    "5": {"expense"},
    "6": {"expense"},
    "7": {"income"},
    "8": {"expense"},
}


def test_convert_is_exact_half_up() -> None:
    rng = np.random.default_rng(0)
    amounts = np.r_[rng.integers(-(10**12), 10**12, 2000), [0, 1, -1, 5, -5, 2**40]]
    rates = np.r_[rng.integers(1, 3 * RATE_SCALE, 2000), [RATE_SCALE] * 6]
    got = convert(amounts, rates)
    for a, r, g in zip(amounts.tolist(), rates.tolist(), got.tolist(), strict=True):
        expected = (Decimal(a) * Decimal(r) / RATE_SCALE).quantize(Decimal(1), ROUND_HALF_UP)
        assert g == int(expected), (a, r)


def test_standard_chart_is_a_clean_taxonomy() -> None:
    frame = standard_chart_frame()
    assert frame["code"].is_unique().all()
    assert set(frame["account_class"]) <= set(CLASSES)
    assert set(frame["section"]) <= set(SECTIONS)
    for a in STANDARD_ACCOUNTS:
        assert a.account_class in CLASS_OF_DIGIT[a.code[0]], a
        assert len(a.code) == 4 and a.name and a.description
    assert {"1010", "1100", "2000", "2200", "3900", "4000", "5000", "6000", "7100"} <= set(
        frame["code"]
    )


def test_template_covers_both_providers() -> None:
    keys = [t.key for t in TEMPLATE]
    assert len(keys) == len(set(keys))
    for must in ("checking", "ar", "ap", "sales_tax", "obe", "fx_realised", "clearing"):
        t = TEMPLATE[keys.index(must)]
        assert t.qbo is not None and t.xero is not None, must


def test_account_codes_unique_per_file(world: Loaded) -> None:
    acc = world["accounts"].filter(pl.col("code").is_not_null())
    assert acc.select("company_id", "provider", "code").is_duplicated().sum() == 0
    names = world["accounts"].select("company_id", "provider", "name")
    assert names.is_duplicated().sum() == 0


def test_ibans() -> None:
    assert iban_is_valid("GB29NWBK60161331926819")
    assert not iban_is_valid("GB28NWBK60161331926819")
    rng = np.random.default_rng(1)
    for country, code in (
        ("GB", "20"),
        ("DE", "10070000"),
        ("FR", "30004"),
        ("NL", "ABNA"),
        ("IE", "AIBK"),
        ("ES", "0049"),
    ):
        for iban in ibans(rng, country, [code] * 50):
            assert iban.startswith(country) and iban_is_valid(iban), iban


def test_weighted_picker_follows_weights() -> None:
    groups = np.array([0, 0, 0, 1, 1])
    weights = np.array([1.0, 2.0, 7.0, 1.0, 1.0])
    picker = WeightedPicker(groups, weights, rows=np.array([10, 11, 12, 20, 21]))
    rng = np.random.default_rng(2)
    picks = picker.pick(rng, np.zeros(20_000, dtype=np.int64))
    share = np.bincount(picks - 10, minlength=3) / len(picks)
    assert np.allclose(share, [0.1, 0.2, 0.7], atol=0.02)
    assert set(picker.pick(rng, np.ones(100, dtype=np.int64))) <= {20, 21}
