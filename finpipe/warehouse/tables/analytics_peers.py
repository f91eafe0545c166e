"""Schema ``analytics``: cross-company peer benchmarks (:mod:`finpipe.analytics.peers`).

``peer_groups`` says which group each company was placed in per month and at which level of
the NAICS x revenue-band fallback; ``peer_group_members`` lists every published group's
members; ``peer_benchmarks`` holds each company's KPI percentile against its peer group,
its custom groups and the reference table; ``custom_peer_groups`` is written by users (a
company set per group id) and read by the benchmark asset.

None of them is partitioned by company (``partition_column=None``, like ``ops.companies``):
a company's percentile depends on every peer's value, so one company's new month changes its
peers' rows too. They are rebuilt together, atomically, by one unpartitioned asset; a
per-company partition would leave the groups half updated between partition runs.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Column, Kind, Table, col, company_id_column

F = Kind.FLOAT
T = Kind.TEXT


def _month() -> Column:
    return col("month", Kind.DATE, "first day of the month", nullable=False)


PEER_GROUPS = Table(
    schema="analytics",
    name="peer_groups",
    doc="Each company's peer group per month: NAICS 6/4/3/2-digit x revenue band fallback until the group has >= k members; level 'reference' when none does.",
    columns=(
        company_id_column(),
        _month(),
        col("group_id", T, "naics<d>:<prefix>[|band:<band>]; null when level is reference"),
        col(
            "level",
            T,
            "naics6+band | naics6 | naics4+band | naics4 | naics3+band | naics3 | naics2+band | "
            "naics2 | reference",
            nullable=False,
        ),
        col("naics_digits", Kind.INT, "NAICS digits of the group (2 = the sector)"),
        col("naics_prefix", T, "the NAICS prefix shared by the group (sector e.g. 44-45 at 2)"),
        col("revenue_band", T, "<250k | 250k-1M | 1M-5M | 5M-25M | >25M when the band is used"),
        col("revenue_ttm", Kind.MONEY, "trailing-12-month revenue, home currency (annualised)"),
        col("currency", T, "home currency of revenue_ttm (bands at face value)"),
        col("n_members", Kind.INT, "members of the group that month (>= k); null for reference"),
        col("k", Kind.INT, "the minimum group size in force", nullable=False),
    ),
    primary_key=("company_id", "month"),
    partition_column=None,
)

PEER_GROUP_MEMBERS = Table(
    schema="analytics",
    name="peer_group_members",
    doc="Membership of every published group (NAICS x band groups and custom groups with >= k members) per month.",
    columns=(
        _month(),
        col("group_id", T, "peer group id, or custom:<group_id>", nullable=False),
        company_id_column(),
        col("source", T, "peers | custom", nullable=False),
    ),
    primary_key=("month", "group_id", "company_id"),
    partition_column=None,
)

PEER_BENCHMARKS = Table(
    schema="analytics",
    name="peer_benchmarks",
    doc="Each company's KPI percentile (0-100, 100 = best) per month against its peer group, custom groups and the reference table, with the group's winsorised median and quartiles; never a figure of a group below k.",
    columns=(
        company_id_column(),
        _month(),
        col("kpi", T, "KPI name (finpipe.analytics.financials.kpis)", nullable=False),
        col(
            "group_id",
            T,
            "peer group id, custom:<group_id>, or reference:<naics sector>",
            nullable=False,
        ),
        col("source", T, "peers | custom | reference", nullable=False),
        col("level", T, "fallback level (peers), custom, or reference", nullable=False),
        col("value", F, "the company's KPI value (not winsorised)"),
        col(
            "percentile",
            F,
            "position in [0, 100], lower-is-better KPIs inverted so 100 is best",
            nullable=False,
        ),
        col("percentile_change_12m", F, "percentile minus the one 12 months earlier (same source)"),
        col("group_median", F, "winsorised group median (reference: published median)"),
        col("group_q1", F, "winsorised first quartile (reference: published Q1)"),
        col("group_q3", F, "winsorised third quartile (reference: published Q3)"),
        col("n", Kind.INT, "values in the group (>= k); null for reference"),
        col("higher_is_better", Kind.BOOL, "the KPI's direction", nullable=False),
    ),
    primary_key=("company_id", "month", "kpi", "group_id"),
    partition_column=None,
)

CUSTOM_PEER_GROUPS = Table(
    schema="analytics",
    name="custom_peer_groups",
    doc="User-defined peer groups: one row per group and member company; benchmarked like peer groups (same k rule) in every month.",
    columns=(
        col("group_id", T, "the user's group id (e.g. 'franchise-east')", nullable=False),
        company_id_column(),
        col("name", T, "display name of the group"),
        col("added_at", Kind.TIMESTAMP, "when the company joined the group", nullable=False),
    ),
    primary_key=("group_id", "company_id"),
    partition_column=None,
)

TABLES: tuple[Table, ...] = (PEER_GROUPS, PEER_GROUP_MEMBERS, PEER_BENCHMARKS, CUSTOM_PEER_GROUPS)
