"""Schema ``analytics``: anomaly and fraud flags (see :mod:`finpipe.analytics.anomalies`).

``anomaly_flags`` holds one row per flagged (document, type) with a score in [0, 1] and a
reason naming its numbers; ``benford_tests`` the first-digit test of every vendor and
account with enough amounts, and whether their spread lets Benford's law apply;
``seasonal_alerts`` the months whose revenue or category expense the seasonal adjustment
cannot explain. All are per company and deterministic: the
same books give the same rows.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

M = Kind.MONEY
T = Kind.TEXT
F = Kind.FLOAT

ANOMALY_FLAGS = Table(
    schema="analytics",
    name="anomaly_flags",
    doc="Per transaction, each anomaly a detector found: its type, a score in [0, 1] and a human-readable reason naming the numbers.",
    columns=(
        company_id_column(),
        col("flag_id", T, "hash of (company, provider, document, type)", nullable=False),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("document_id", T, "ledger.documents id (the provider's)", nullable=False),
        col("doc_type", T, "canonical document type", nullable=False),
        col("document_number", T, "document number"),
        col("issue_date", Kind.DATE, "document date"),
        col("amount", M, "gross, home currency (minor units)", nullable=False),
        col("currency", T, "home currency", nullable=False),
        col(
            "type",
            T,
            "duplicate_payment | split_payment | round_amount | off_hours_posting | new_vendor_large_payment | bank_details_changed | benford_vendor | expense_spike | unusual_user | model_outlier",
            nullable=False,
        ),
        col("score", F, "0..1, higher is more suspicious", nullable=False),
        col("reason", T, "why, with the numbers", nullable=False),
        col("detector", T, "rules | benford | model | seasonal", nullable=False),
        col(
            "related_document_ids",
            T,
            "the other documents of the finding (a duplicate's twin, a split's parts), comma separated",
        ),
    ),
    primary_key=("company_id", "flag_id"),
)

BENFORD_TESTS = Table(
    schema="analytics",
    name="benford_tests",
    doc="Benford first-digit test per vendor (purchase amounts) and per account (journal lines) with at least 30 amounts of 10.00 or more: MAD with Nigrini's conformity range, chi-square and z, and whether the amounts spread widely enough for Benford's law to apply.",
    columns=(
        company_id_column(),
        col("scope", T, "vendor | account", nullable=False),
        col("scope_id", T, "contact id or account id", nullable=False),
        col("scope_name", T, "vendor name or the account's standard code"),
        col("n", Kind.INT, "amounts tested", nullable=False),
        col("mad", F, "mean absolute deviation from Benford's proportions", nullable=False),
        col(
            "conformity",
            T,
            "close (<= 0.006) | acceptable (<= 0.012) | marginal (<= 0.015) | nonconformity",
            nullable=False,
        ),
        col("chi2", F, "chi-square statistic, 8 degrees of freedom", nullable=False),
        col("p_value", F, "of the chi-square", nullable=False),
        col("max_z", F, "largest per-digit z (continuity corrected)", nullable=False),
        col("mean_digit", F, "mean first digit (Benford: 3.44)", nullable=False),
        col("digit_counts", T, "counts of first digits 1-9, comma separated", nullable=False),
        col(
            "log10_spread",
            F,
            "spread of log10(amount): SD of its middle 90 % / 0.789 (a log-normal's sigma)",
            nullable=False,
        ),
        col(
            "applicable",
            Kind.BOOL,
            "spread >= 0.50: natural amounts this wide follow the law, so the test can tell; "
            "only applicable vendors are flagged",
            nullable=False,
        ),
        col("not_applicable_reason", T, "why the law does not apply (null when it does)"),
    ),
    primary_key=("company_id", "scope", "scope_id"),
)

SEASONAL_ALERTS = Table(
    schema="analytics",
    name="seasonal_alerts",
    doc="Months whose revenue is far above its robust trend and season (robust z of the residual), or whose operating-expense account is at least double its level and season and beyond what the account's own charges produce once in 1,000 months.",
    columns=(
        company_id_column(),
        col("series", T, "revenue | expense", nullable=False),
        col("category", T, "standard account code ('' for revenue)", nullable=False),
        col("month", Kind.DATE, "first day of the month", nullable=False),
        col("actual", M, "the month's amount, home currency", nullable=False),
        col("expected", M, "trend + seasonal", nullable=False),
        col("residual", M, "actual - expected", nullable=False),
        col(
            "z",
            F,
            "revenue: robust z of the residual; expenses: the normal quantile of the probability that the account's own charges reach the month (at most about 3.9)",
            nullable=False,
        ),
        col("score", F, "0..1", nullable=False),
        col("currency", T, "home currency", nullable=False),
        col("reason", T, "why, with the numbers", nullable=False),
    ),
    primary_key=("company_id", "series", "category", "month"),
)

TABLES: tuple[Table, ...] = (ANOMALY_FLAGS, BENFORD_TESTS, SEASONAL_ALERTS)
