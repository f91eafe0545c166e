"""The unsupervised model: features, determinism, each scorer ranking a planted outlier first."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from finpipe.analytics.anomalies.flags import AnomalyError
from finpipe.analytics.anomalies.model import (
    FEATURES,
    METHODS,
    ModelConfig,
    features,
    model_flags,
    model_scores,
)

from .helpers import transactions


def _books(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(300):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=int(i % 200))
        rows.append(
            {
                "document_id": f"d{i:03d}",
                "doc_type": "bill_payment" if i % 2 else "bill",
                "contact_id": f"v{i % 6}",
                "issue_date": day,
                "amount": int(rng.lognormal(np.log(50_000), 0.3)),
                "entered_at": dt.datetime.combine(day, dt.time(9 + i % 8), tzinfo=dt.UTC),
            }
        )
    # one huge payment to a vendor never seen before, keyed at 3 a.m. on a Sunday
    rows.append(
        {
            "document_id": "zz",
            "doc_type": "bill_payment",
            "contact_id": "new",
            "issue_date": dt.date(2026, 6, 7),
            "amount": 5_000_000,
            "entered_at": dt.datetime(2026, 6, 7, 3, tzinfo=dt.UTC),
        }
    )
    return transactions(*rows)


def test_features_are_finite_and_named() -> None:
    f = features(_books())
    assert f.height == 301
    x = f.select(FEATURES).to_numpy()
    assert np.isfinite(x).all()
    row = f.filter(pl.col("document_id") == "zz").row(0, named=True)
    assert row["weekend"] == 1.0
    assert row["log_contact_docs"] == 0.0  # its only document
    assert row["roundness"] == 6.0  # 5,000,000 minor units: six trailing zeros


@pytest.mark.parametrize("method", METHODS)
def test_each_scorer_ranks_the_planted_outlier_top(method: str) -> None:
    scores = model_scores(_books(), ModelConfig(method=method))
    assert scores["score"].is_between(0.0, 1.0).all()
    top = scores.sort("score", descending=True)["document_id"][0]
    assert top == "zz"


def test_the_model_is_deterministic() -> None:
    tx = _books()
    first = model_scores(tx, ModelConfig(method="isolation_forest", random_state=3))
    again = model_scores(
        tx.sample(fraction=1.0, shuffle=True, seed=9),
        ModelConfig(method="isolation_forest", random_state=3),
    )
    assert first.equals(again)
    flags = model_flags(tx)
    assert flags.equals(model_flags(tx))
    assert "zz" in flags["document_id"].to_list()
    # an unnumbered document is named by its date, not its provider id
    assert flags["reason"][0].startswith("bill payment dated 2026-06-07 of 50,000.00 GBP")


def test_too_few_rows_give_no_scores_and_unknown_methods_fail() -> None:
    assert model_scores(_books().head(10)).is_empty()
    with pytest.raises(AnomalyError, match="unknown method 'svm'"):
        model_scores(_books(), ModelConfig(method="svm"))
