"""Peer benchmarks across every company (no Dagster).

:func:`compute_peer_benchmarks` is the pure part: companies, KPIs, monthly revenue and custom
groups in; peer groups, group members and benchmark rows out. :func:`build_peer_benchmarks`
reads them from the warehouse (``ops.companies``, ``analytics.kpis``,
``analytics.income_statement``, ``analytics.custom_peer_groups``) and
:func:`write_peer_benchmarks` replaces the three output tables in one transaction.

Which benchmark a company-month-KPI gets:

- ``peers``: its NAICS x band group (:mod:`.groups`) when that group has >= k values of the KPI;
- ``reference``: otherwise, the published sector quartiles (:mod:`.reference`) when the table
  covers its sector and the KPI (no row at all when it does not);
- ``custom``: in addition, one row per custom group it belongs to that has >= k values and
  does not differ from another published group it shares members with by 1 to k-1 companies
  (:func:`differencing_suppressed`).

k-anonymity limits: only order statistics are published (percentiles, median, quartiles;
never a mean or a sum) and a company sees its own rows. Nested peer groups (a 6-digit group
and the 4-digit group around it) can both be published; a company is only ever placed in
one of them, so comparing the two takes two colluding viewers. Month-to-month membership
changes are not guarded.

Money KPIs (``ebitda``, ``working_capital``, ``burn``) are not benchmarked by default: they
measure size rather than performance, and a money median says more about a group's members.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from finpipe.analytics.financials.build import read_kpis
from finpipe.analytics.financials.kpis import KPIS
from finpipe.analytics.peers.groups import (
    MIN_K,
    PeerGroupError,
    assign_peer_groups,
    check_k,
    revenue_bands,
    trailing_revenue,
)
from finpipe.analytics.peers.percentiles import (
    STATS_SCHEMA,
    WINSOR_FRACTION,
    group_percentiles,
    percentile_change_12m,
)
from finpipe.analytics.peers.reference import load_reference, reference_benchmarks
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import INCOME_STATEMENT
from finpipe.warehouse.tables.analytics_peers import (
    CUSTOM_PEER_GROUPS,
    PEER_BENCHMARKS,
    PEER_GROUP_MEMBERS,
    PEER_GROUPS,
)
from finpipe.warehouse.tables.ops import COMPANIES

DEFAULT_KPIS: tuple[str, ...] = tuple(k.name for k in KPIS if k.unit != "money")
"""Every registry KPI except the money ones."""


@dataclass(frozen=True)
class PeerConfig:
    """How benchmarks are computed. ``k`` below :data:`~.groups.MIN_K` is refused."""

    k: int = MIN_K
    winsor_fraction: float = WINSOR_FRACTION
    kpis: tuple[str, ...] = DEFAULT_KPIS
    fx_to_band_currency: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        check_k(self.k)
        unknown = set(self.kpis) - {k.name for k in KPIS}
        if unknown:
            raise PeerGroupError(
                f"peer config: unknown KPI(s) {sorted(unknown)}; use names of "
                "finpipe.analytics.financials.kpis.KPIS"
            )


@dataclass(frozen=True)
class PeerBenchmarks:
    """The three output frames (shaped like their tables) and the k they were built with."""

    groups: pl.DataFrame
    members: pl.DataFrame
    benchmarks: pl.DataFrame
    k: int = MIN_K
    reference_rows: int = field(default=0)
    withheld_custom: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"month": pl.Date, "group_id": pl.String})
    )

    def problems(self) -> dict[str, pl.DataFrame]:
        """Rows breaking what must hold: percentiles outside [0, 100] (or not finite), a
        published group below k, a group figure published from fewer than k values."""
        b = self.benchmarks
        sizes = self.members.group_by("month", "group_id").agg(n=pl.len().cast(pl.Int64))
        return {
            "percentile_out_of_range": b.filter(
                ~(pl.col("percentile").is_finite() & pl.col("percentile").is_between(0.0, 100.0))
            ),
            "group_below_k": pl.concat(
                [
                    sizes.filter(pl.col("n") < self.k),
                    self.groups.filter(
                        pl.col("group_id").is_not_null() & (pl.col("n_members") < self.k)
                    ).select("month", "group_id", n=pl.col("n_members")),
                ]
            ),
            "figure_below_k": b.filter(
                (pl.col("source") != "reference") & (pl.col("n").is_null() | (pl.col("n") < self.k))
            ),
        }


def _values(kpis: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    direction = pl.DataFrame(
        {
            "kpi": [k.name for k in KPIS],
            "higher_is_better": [k.higher_is_better for k in KPIS],
        }
    )
    return (
        kpis.filter(pl.col("kpi").is_in(list(names)))
        .select("company_id", "month", "kpi", "value")
        .join(direction, on="kpi")
    )


def _custom_members(custom: pl.DataFrame, months: pl.DataFrame) -> pl.DataFrame:
    # A custom group holds in every month (added_at records when, it does not filter history:
    # a group made today should benchmark the past year too).
    return months.join(
        custom.select(
            group_id=pl.lit("custom:") + pl.col("group_id"), company_id=pl.col("company_id")
        ).unique(),
        how="cross",
    )


def _too_close(
    groups: pl.DataFrame, others: pl.DataFrame, k: int, same_frame: bool
) -> pl.DataFrame:
    # (month, group_id) of ``groups`` sharing a member with a group of ``others`` whose
    # membership differs from theirs by 1 to k-1 companies.
    sizes = groups.group_by("month", "group_id").agg(size=pl.len())
    other_sizes = others.group_by("month", "group_id").agg(size_other=pl.len())
    pairs = (
        groups.join(others, on=["month", "company_id"], suffix="_other")
        .filter(pl.col("group_id") != pl.col("group_id_other") if same_frame else pl.lit(True))
        .group_by("month", "group_id", "group_id_other")
        .agg(shared=pl.len())
        .join(sizes, on=["month", "group_id"])
        .join(other_sizes.rename({"group_id": "group_id_other"}), on=["month", "group_id_other"])
        .with_columns(differ=pl.col("size") + pl.col("size_other") - 2 * pl.col("shared"))
    )
    return (
        pairs.filter((pl.col("differ") > 0) & (pl.col("differ") < k))
        .select("month", "group_id")
        .unique()
    )


def differencing_suppressed(
    custom_members: pl.DataFrame, peer_members: pl.DataFrame, k: int
) -> pl.DataFrame:
    """The custom groups (``month, group_id``) to withhold because they differ from another
    published group sharing a member by 1 to k-1 companies.

    A member sees the figures of its peer group and of each custom group it is in; if two of
    those sets differ by fewer than ``k`` companies, comparing their quartiles narrows down the
    few companies in the difference, which is what ``k`` forbids. Identical sets (difference
    0) say nothing new. Peer groups come first: a custom group too close to one is withheld;
    then, among the custom groups left, two too close to each other are both withheld.
    Frames are ``month, group_id, company_id`` (membership: having KPIs that month).
    """
    first = _too_close(custom_members, peer_members, k, same_frame=False)
    left = custom_members.join(first, on=["month", "group_id"], how="anti")
    second = _too_close(left, left, k, same_frame=True)
    return pl.concat([first, second]).unique()


def compute_peer_benchmarks(
    companies: pl.DataFrame,
    kpis: pl.DataFrame,
    income: pl.DataFrame,
    custom: pl.DataFrame,
    reference: pl.DataFrame,
    config: PeerConfig | None = None,
) -> PeerBenchmarks:
    """Peer groups, members and benchmark rows for every company and month.

    ``companies``: ``company_id, naics_code``; ``kpis``: ``analytics.kpis`` rows (long);
    ``income``: ``company_id, month, currency, revenue`` (``analytics.income_statement``);
    ``custom``: ``group_id, company_id`` (``analytics.custom_peer_groups``); ``reference``:
    :func:`~.reference.load_reference`.
    """
    config = config or PeerConfig()
    k = config.k
    values = _values(kpis, config.kpis).join(
        companies.select("company_id"), on="company_id", how="semi"
    )
    revenue = revenue_bands(trailing_revenue(income), config.fx_to_band_currency).join(
        companies.select("company_id"), on="company_id", how="semi"
    )
    groups, members = assign_peer_groups(companies, revenue, k)

    peer_stats = group_percentiles(values, members, k, config.winsor_fraction).join(
        groups.select("company_id", "month", "group_id", "level"),
        on=["company_id", "month", "group_id"],
    )
    peers = peer_stats.with_columns(source=pl.lit("peers"))

    active = values.select("company_id", "month").unique()
    custom_members = _custom_members(custom, values.select("month").unique()).join(
        active, on=["company_id", "month"], how="semi"
    )
    withheld = differencing_suppressed(
        custom_members.join(
            custom_members.group_by("month", "group_id").agg(n=pl.len()).filter(pl.col("n") >= k),
            on=["month", "group_id"],
            how="semi",
        ),
        members.join(active, on=["company_id", "month"], how="semi"),
        k,
    )
    custom_members = custom_members.join(withheld, on=["month", "group_id"], how="anti")
    custom_stats = group_percentiles(values, custom_members, k, config.winsor_fraction)
    customs = custom_stats.with_columns(source=pl.lit("custom"), level=pl.lit("custom"))

    uncovered = values.join(peers, on=["company_id", "month", "kpi"], how="anti")
    reference_rows = reference_benchmarks(uncovered, companies, reference).with_columns(
        n=pl.lit(None, dtype=pl.Int64), source=pl.lit("reference"), level=pl.lit("reference")
    )

    columns = [*STATS_SCHEMA.names(), "source", "level"]
    stacked = pl.concat(
        [
            frame.select(columns).cast(dict(STATS_SCHEMA))
            for frame in (peers, customs, reference_rows)
        ]
    ).join(values.select("kpi", "higher_is_better").unique(), on="kpi")
    trend_key = pl.when(pl.col("source") == "custom").then("group_id").otherwise("source")
    benchmarks = percentile_change_12m(
        stacked.with_columns(_trend=trend_key), ["company_id", "kpi", "_trend"]
    ).drop("_trend")

    published_custom = customs.select("month", "group_id").unique()
    all_members = pl.concat(
        [
            members.with_columns(source=pl.lit("peers")),
            custom_members.join(
                published_custom, on=["month", "group_id"], how="semi"
            ).with_columns(source=pl.lit("custom")),
        ]
    )
    return PeerBenchmarks(
        groups=groups.with_columns(k=pl.lit(k, dtype=pl.Int64)),
        members=all_members.select(PEER_GROUP_MEMBERS.column_names).sort(
            "month", "group_id", "company_id"
        ),
        benchmarks=benchmarks.select(PEER_BENCHMARKS.column_names).sort(
            "company_id", "month", "kpi", "group_id"
        ),
        k=k,
        reference_rows=reference_rows.height,
        withheld_custom=withheld.sort("month", "group_id"),
    )


# --- warehouse -----------------------------------------------------------------------------


def read_inputs(
    warehouse: Warehouse, config: PeerConfig
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(companies, kpis, income, custom)`` from the warehouse; removed companies left out."""
    companies = warehouse.read(COMPANIES, where="status <> %s", params=["removed"]).select(
        "company_id", "naics_code"
    )
    kpis = read_kpis(warehouse, kpis=list(config.kpis))
    income = warehouse.read(INCOME_STATEMENT).select("company_id", "month", "currency", "revenue")
    custom = warehouse.read(CUSTOM_PEER_GROUPS).select("group_id", "company_id")
    return companies, kpis, income, custom


def build_peer_benchmarks(warehouse: Warehouse, config: PeerConfig | None = None) -> PeerBenchmarks:
    """Read every company's KPIs and revenue and compute their benchmarks."""
    config = config or PeerConfig()
    companies, kpis, income, custom = read_inputs(warehouse, config)
    return compute_peer_benchmarks(companies, kpis, income, custom, load_reference(), config)


def write_peer_benchmarks(warehouse: Warehouse, result: PeerBenchmarks) -> None:
    """Replace ``peer_groups``, ``peer_group_members`` and ``peer_benchmarks`` together."""
    with warehouse.batch() as batch:
        batch.replace_all(PEER_GROUPS, result.groups.select(PEER_GROUPS.column_names))
        batch.replace_all(PEER_GROUP_MEMBERS, result.members)
        batch.replace_all(PEER_BENCHMARKS, result.benchmarks)


def set_custom_group(
    warehouse: Warehouse,
    group_id: str,
    company_ids: Sequence[str],
    name: str | None = None,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """Make custom group ``group_id`` exactly ``company_ids`` (an empty list removes it) and
    return its rows. Members already in the group keep their ``added_at``. Unknown company
    ids are refused; fewer than k members is allowed (the group is simply not published).
    """
    known = set(warehouse.read(COMPANIES)["company_id"])
    unknown = sorted(set(company_ids) - known)
    if unknown:
        raise PeerGroupError(
            f"custom peer group {group_id!r}: unknown company id(s) {unknown}; use ids of "
            "ops.companies"
        )
    now = now or dt.datetime.now(dt.UTC)
    current = warehouse.read(CUSTOM_PEER_GROUPS)
    kept = current.filter(pl.col("group_id") == group_id).select("company_id", "added_at")
    rows = (
        pl.DataFrame({"company_id": sorted(set(company_ids))}, schema={"company_id": pl.String})
        .join(kept, on="company_id", how="left")
        .select(
            group_id=pl.lit(group_id),
            company_id="company_id",
            name=pl.lit(name, dtype=pl.String),
            added_at=pl.col("added_at").fill_null(pl.lit(now, dtype=pl.Datetime("us", "UTC"))),
        )
    )
    others = current.filter(pl.col("group_id") != group_id)
    warehouse.replace_all(CUSTOM_PEER_GROUPS, pl.concat([others, rows.cast(others.schema)]))
    return rows


def read_benchmarks(warehouse: Warehouse, company_id: str | None = None) -> pl.DataFrame:
    """``analytics.peer_benchmarks`` rows, optionally one company's (e.g. for the demo)."""
    if company_id is None:
        return warehouse.read(PEER_BENCHMARKS)
    return warehouse.read(PEER_BENCHMARKS, where="company_id = %s", params=[company_id])


# --- Markdown for the UI ----------------------------------------------------------------------


def benchmark_position(benchmarks: pl.DataFrame, company_id: str) -> str:
    """One line for ``company_id``'s latest month: its median percentile over the KPIs
    benchmarked against peers (else the reference), the level and group size."""
    rows = benchmarks.filter(pl.col("company_id") == company_id)
    if rows.is_empty():
        return f"{company_id}: no benchmark (no KPI of a covered sector, no peer group of k)"
    latest = rows.filter(pl.col("month") == pl.col("month").max())
    for source in ("peers", "reference"):
        own = latest.filter(pl.col("source") == source)
        if own.height:
            median = own["percentile"].median()
            level = own["level"].mode().sort()[0]
            size = own["n"].max()
            sized = f", n={size}" if size is not None else ""
            return (
                f"{company_id}: median percentile {median:.0f}/100 over {own.height} KPI(s) "
                f"vs {source} ({level}{sized}) in {latest['month'][0]:%Y-%m}"
            )
    return f"{company_id}: custom groups only in {latest['month'][0]:%Y-%m}"


def summary_markdown(result: PeerBenchmarks) -> str:
    """The latest month's groups: how many at each level, their sizes, who fell back to the
    reference, custom groups, and the benchmark rows by source."""
    groups = result.groups
    if groups.is_empty():
        return "_no company-month to benchmark yet (no analytics.kpis / income statement rows)_"
    month = groups["month"].max()
    latest = groups.filter(pl.col("month") == month)
    members = result.members.filter(pl.col("month") == month)
    sizes = members.group_by("group_id", "source").agg(n=pl.len())
    lines = [
        f"### Peer benchmarks, {month:%Y-%m} (k = {result.k})",
        "",
        "| level | groups | companies | min size | max size |",
        "|---|---|---|---|---|",
    ]
    by_level = (
        latest.group_by("level")
        .agg(
            groups=pl.col("group_id").n_unique(),
            companies=pl.len(),
            min_size=pl.col("n_members").min(),
            max_size=pl.col("n_members").max(),
        )
        .sort("level")
    )
    for row in by_level.iter_rows(named=True):
        groups_n = 0 if row["level"] == "reference" else row["groups"]
        lines.append(
            f"| {row['level']} | {groups_n} | {row['companies']} | "
            f"{row['min_size'] if row['min_size'] is not None else '-'} | "
            f"{row['max_size'] if row['max_size'] is not None else '-'} |"
        )
    custom = sizes.filter(pl.col("source") == "custom")
    withheld = result.withheld_custom.filter(pl.col("month") == month)["group_id"].to_list()
    lines += ["", f"Custom groups published: {custom.height}"]
    if custom.height:
        lines.append(
            ", ".join(
                f"`{g}` ({n})" for g, n in custom.sort("group_id").select("group_id", "n").rows()
            )
        )
    if withheld:
        lines.append(
            "Custom groups withheld (they differ from another group by fewer than k "
            "companies): " + ", ".join(f"`{g}`" for g in withheld)
        )
    counts = (
        result.benchmarks.filter(pl.col("month") == month).group_by("source").len().sort("source")
    )
    lines += [
        "",
        "Benchmark rows this month: " + (", ".join(f"{s} {n}" for s, n in counts.rows()) or "none"),
    ]
    return "\n".join(lines)
