"""Health scores per company and month: Altman Z″ and a 0-100 composite (no Dagster).

**Altman Z″** (the non-manufacturer, private-firm model):
``Z″ = 6.56·X1 + 3.26·X2 + 6.72·X3 + 1.05·X4`` with X1 = working capital / total assets,
X2 = retained earnings (incl. current-year earnings) / total assets, X3 = EBIT of the trailing
12 months / total assets, X4 = book equity / total liabilities. Zones: below 1.10 distress,
1.10-2.60 grey, above 2.60 safe. Total assets not positive means insolvent books: Z″ is null
and the zone ``distress``; no liabilities at all leaves X4 (and Z″) undefined and the zone
``safe`` (equity then equals the assets).

**Composite** (0-100) = the weighted mean of six sub-scores (:data:`SUBSCORES`); each
sub-score is the weighted mean of KPI transforms (:data:`TRANSFORMS`): a KPI is mapped
linearly from its ``bad`` anchor (score 0) to its ``good`` anchor (100) and clamped. A KPI
that is null for a reason that says something (no interest to cover, not burning cash,
equity wiped out) gets the transform's ``null_score``; one null for lack of history is left
out and the weights renormalised. Each component's ``contribution`` (normalised weight ×
sub-score) sums to the composite, and ``change`` says how much it moved since last month.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ALTMAN = {
    "x1_working_capital": 6.56,
    "x2_retained_earnings": 3.26,
    "x3_ebit": 6.72,
    "x4_equity_to_liabilities": 1.05,
}
DISTRESS_BELOW = 1.10
SAFE_ABOVE = 2.60

SUBSCORES: dict[str, float] = {
    "liquidity": 0.20,
    "profitability": 0.25,
    "leverage": 0.15,
    "efficiency": 0.10,
    "growth": 0.15,
    "cash_stability": 0.15,
}


@dataclass(frozen=True)
class Transform:
    """A KPI's share of a sub-score: linear from ``bad`` (0) to ``good`` (100), clamped.
    ``null_reason`` (a substring of the KPI's null reason) scores ``null_score``."""

    subscore: str
    kpi: str
    weight: float
    bad: float
    good: float
    null_reason: str | None = None
    null_score: float | None = None


TRANSFORMS: tuple[Transform, ...] = (
    Transform("liquidity", "current_ratio", 1.0, 0.5, 2.0, "no current liabilities", 100.0),
    Transform("liquidity", "quick_ratio", 1.0, 0.3, 1.5, "no current liabilities", 100.0),
    Transform("liquidity", "cash_ratio", 1.0, 0.0, 1.0, "no current liabilities", 100.0),
    Transform("profitability", "net_margin", 2.0, -0.15, 0.15),
    Transform("profitability", "operating_margin", 1.0, -0.15, 0.15),
    Transform("profitability", "gross_margin", 0.5, 0.0, 0.6),
    Transform("leverage", "equity_ratio", 2.0, -0.25, 0.6, "total assets", 0.0),
    Transform("leverage", "debt_to_equity", 1.0, 3.0, 0.0, "equity is zero or negative", 0.0),
    Transform("leverage", "interest_coverage", 1.0, 1.0, 6.0, "no interest expense", 100.0),
    Transform("efficiency", "dso", 1.0, 90.0, 20.0),
    Transform("efficiency", "dpo", 1.0, 90.0, 20.0),
    Transform("growth", "revenue_growth_yoy", 2.0, -0.3, 0.3),
    Transform("growth", "revenue_growth_3m", 1.0, -0.15, 0.15),
    Transform("cash_stability", "runway_months", 2.0, 1.0, 18.0, "not burning cash", 100.0),
    Transform("cash_stability", "expense_volatility", 1.0, 0.5, 0.05),
)

HEALTH_SCORE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "month": pl.Date,
        "composite": pl.Float64,
        "composite_change": pl.Float64,
        **dict.fromkeys(SUBSCORES, pl.Float64),
        "altman_z": pl.Float64,
        "altman_zone": pl.String,
        "altman_change": pl.Float64,
        "altman_note": pl.String,
        "biggest_mover": pl.String,
        "explanation": pl.String,
    }
)
COMPONENT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "month": pl.Date,
        "score": pl.String,
        "component": pl.String,
        "value": pl.Float64,
        "weight": pl.Float64,
        "contribution": pl.Float64,
        "change": pl.Float64,
        "inputs": pl.String,
    }
)


def transforms_frame() -> pl.DataFrame:
    """:data:`TRANSFORMS` as a table (what the docs print and the scoring joins on)."""
    return pl.DataFrame(
        [t.__dict__ for t in TRANSFORMS],
        schema={
            "subscore": pl.String,
            "kpi": pl.String,
            "weight": pl.Float64,
            "bad": pl.Float64,
            "good": pl.Float64,
            "null_reason": pl.String,
            "null_score": pl.Float64,
        },
        orient="row",
    )


def zone(z: pl.Expr) -> pl.Expr:
    """The Z″ zone of ``z``: distress (< 1.10), grey (1.10-2.60), safe (> 2.60)."""
    return (
        pl.when(z < DISTRESS_BELOW)
        .then(pl.lit("distress"))
        .when(z <= SAFE_ABOVE)
        .then(pl.lit("grey"))
        .when(z.is_not_null())
        .then(pl.lit("safe"))
    )


def _change(value: str, over: list[str]) -> pl.Expr:
    return pl.col(value) - pl.col(value).shift(1).over(over, order_by="month")


def altman(facts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(scores, components)``: Z″, zone and note per company-month, and its four terms
    (ratio, coefficient, contribution, change, inputs) from ``facts``
    (:func:`finpipe.analytics.financials.kpis.kpi_facts`)."""
    c = pl.col
    ta = c("total_assets").cast(pl.Float64)
    assets_ok = c("total_assets") > 0
    liab_ok = c("total_liabilities") > 0
    ratios = {
        "x1_working_capital": (
            pl.when(assets_ok).then((c("current_assets") - c("current_liabilities")) / ta),
            ("current_assets", "current_liabilities", "total_assets"),
        ),
        "x2_retained_earnings": (
            pl.when(assets_ok).then((c("retained_earnings") + c("current_year_earnings")) / ta),
            ("retained_earnings", "current_year_earnings", "total_assets"),
        ),
        "x3_ebit": (pl.when(assets_ok).then(c("ebit_ttm") / ta), ("ebit_ttm", "total_assets")),
        "x4_equity_to_liabilities": (
            pl.when(assets_ok & liab_ok).then(
                c("total_equity") / c("total_liabilities").cast(pl.Float64)
            ),
            ("total_equity", "total_liabilities"),
        ),
    }
    keys = ["company_id", "month"]
    parts = []
    for name, (ratio, inputs) in ratios.items():
        coef = ALTMAN[name]
        parts.append(
            facts.select(
                *keys,
                pl.lit("altman_z").alias("score"),
                pl.lit(name).alias("component"),
                ratio.alias("value"),
                pl.lit(coef).alias("weight"),
                (ratio * coef).alias("contribution"),
                pl.struct([c(i) for i in inputs]).struct.json_encode().alias("inputs"),
            )
        )
    components = pl.concat(parts).with_columns(
        change=_change("contribution", ["company_id", "component"])
    )
    z = components.group_by(keys).agg(
        pl.when(pl.col("contribution").null_count() == 0)
        .then(pl.col("contribution").sum())
        .alias("altman_z")
    )
    scores = (
        facts.select(*keys, "total_assets", "total_liabilities")
        .join(z, on=keys, how="left")
        .with_columns(
            altman_zone=pl.when(c("total_assets") <= 0)
            .then(pl.lit("distress"))
            .when(c("total_liabilities") <= 0)
            .then(pl.lit("safe"))
            .otherwise(zone(c("altman_z"))),
            altman_note=pl.when(c("total_assets") <= 0)
            .then(pl.lit("total assets not positive: the books show insolvency"))
            .when(c("total_liabilities") <= 0)
            .then(pl.lit("no liabilities: X4 undefined, equity covers every asset")),
        )
        .with_columns(altman_change=_change("altman_z", ["company_id"]))
        .select(*keys, "altman_z", "altman_zone", "altman_change", "altman_note")
    )
    return scores.sort(keys), components.select(list(COMPONENT_SCHEMA)).sort([*keys, "component"])


def kpi_scores(kpis: pl.DataFrame) -> pl.DataFrame:
    """Each transform's score (0-100, null when left out) per company-month from long KPI
    rows (``analytics.kpis`` shape): company_id, month, subscore, kpi, value, weight, score."""
    t = transforms_frame().rename({"null_reason": "null_match"})
    rows = kpis.select("company_id", "month", "kpi", "value", "null_reason").join(t, on="kpi")
    c = pl.col
    linear = ((c("value") - c("bad")) / (c("good") - c("bad"))).clip(0.0, 1.0) * 100.0
    meaningful = c("null_reason").is_not_null() & c("null_reason").str.contains(
        c("null_match").fill_null("\x00"), literal=True
    )
    return rows.with_columns(
        score=pl.when(c("value").is_not_null()).then(linear).when(meaningful).then(c("null_score"))
    ).select("company_id", "month", "subscore", "kpi", "value", "weight", "score")


def composite(kpis: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(scores, components)``: the composite and its sub-scores per company-month, and
    one component row per sub-score (value, normalised weight, contribution, change, the
    KPI values and scores behind it as JSON)."""
    keys = ["company_id", "month"]
    if kpis.height == 0:
        empty = pl.DataFrame(schema={**{k: HEALTH_SCORE_SCHEMA[k] for k in keys}})
        return empty.with_columns(
            composite=pl.lit(None, pl.Float64),
            **{s: pl.lit(None, pl.Float64) for s in SUBSCORES},
        ), pl.DataFrame(schema=COMPONENT_SCHEMA)
    scored = kpi_scores(kpis)
    c = pl.col
    used = c("score").is_not_null()
    sub = (
        scored.group_by(*keys, "subscore")
        .agg(
            ((c("score") * c("weight")).filter(used).sum() / c("weight").filter(used).sum()).alias(
                "value"
            ),
            pl.struct("kpi", c("value").alias("kpi_value"), c("score").alias("kpi_score"), "weight")
            .sort_by("kpi")
            .alias("_inputs"),
        )
        .with_columns(
            value=pl.when(c("value").is_nan()).then(None).otherwise(c("value")),
            _w=c("subscore").replace_strict(SUBSCORES, return_dtype=pl.Float64),
        )
    )
    present = c("value").is_not_null()
    sub = sub.with_columns(
        weight=pl.when(present).then(c("_w") / c("_w").filter(present).sum().over(keys))
    ).with_columns(contribution=c("weight") * c("value"))
    components = sub.select(
        *keys,
        pl.lit("composite").alias("score"),
        c("subscore").alias("component"),
        "value",
        "weight",
        "contribution",
        c("_inputs").list.eval(pl.element().struct.json_encode()).list.join(",").alias("_j"),
    ).with_columns(
        inputs=pl.concat_str([pl.lit("["), c("_j"), pl.lit("]")]),
        change=_change("contribution", ["company_id", "component"]),
    )
    wide = components.pivot(on="component", index=keys, values="value")
    for s in SUBSCORES:
        if s not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(s))
    total = components.group_by(keys).agg(
        # clip: normalised float weights can sum 100 to 100.00000000000001
        pl.when(c("contribution").is_not_null().any())
        .then(c("contribution").sum().clip(0.0, 100.0))
        .alias("composite")
    )
    scores = total.join(wide.select(*keys, *SUBSCORES), on=keys).sort(keys)
    return scores, components.select(list(COMPONENT_SCHEMA)).sort([*keys, "component"])


def health(facts: pl.DataFrame, kpis: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(analytics.health_scores rows, analytics.health_components rows)`` per
    company-month: composite and sub-scores, Z″ and zone, what moved them since last month."""
    keys = ["company_id", "month"]
    if facts.height == 0:
        return pl.DataFrame(schema=HEALTH_SCORE_SCHEMA), pl.DataFrame(schema=COMPONENT_SCHEMA)
    z_scores, z_parts = altman(facts)
    c_scores, c_parts = composite(kpis)
    c = pl.col
    scores = (
        facts.select(keys)
        .join(c_scores, on=keys, how="left")
        .join(z_scores, on=keys, how="left")
        .with_columns(composite_change=_change("composite", ["company_id"]))
    )
    # The sub-score whose contribution moved most since last month, and a one-line reason.
    movers = (
        c_parts.filter(c("change").is_not_null())
        .sort(c("change").abs(), descending=True)
        .group_by(keys, maintain_order=True)
        .agg(
            c("component").first().alias("biggest_mover"),
            pl.concat_str([c("component"), pl.lit(" "), c("change").round(1).cast(pl.String)])
            .head(3)
            .str.join(", ")
            .alias("_movers"),
        )
    )
    scores = scores.join(movers, on=keys, how="left").with_columns(
        explanation=pl.concat_str(
            [
                pl.lit("composite "),
                c("composite").round(1).cast(pl.String),
                pl.when(c("composite_change").is_not_null())
                .then(
                    pl.concat_str(
                        [
                            pl.lit(" ("),
                            c("composite_change").round(1).cast(pl.String),
                            pl.lit(" vs last month: "),
                            c("_movers"),
                            pl.lit(")"),
                        ]
                    )
                )
                .otherwise(pl.lit("")),
                pl.lit("; Z'' "),
                c("altman_z").round(2).cast(pl.String).fill_null("n/a"),
                pl.lit(" "),
                c("altman_zone").fill_null("unknown"),
            ]
        )
    )
    parts = pl.concat([c_parts, z_parts]).sort([*keys, "score", "component"])
    return scores.select(list(HEALTH_SCORE_SCHEMA)).cast(dict(HEALTH_SCORE_SCHEMA)), parts.cast(
        dict(COMPONENT_SCHEMA)
    )
