"""Run every detector on one company and write ``analytics.anomaly_flags``,
``analytics.benford_tests`` and ``analytics.seasonal_alerts`` (no Dagster)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from finpipe.analytics.anomalies.benford import (
    DEFAULT_BENFORD,
    BenfordConfig,
    account_tests,
    benford_flags,
    vendor_tests,
)
from finpipe.analytics.anomalies.features import CompanyTransactions, load_company
from finpipe.analytics.anomalies.flags import FLAG_TYPES, with_flag_ids
from finpipe.analytics.anomalies.model import DEFAULT_MODEL, ModelConfig, model_flags
from finpipe.analytics.anomalies.rules import DEFAULT_RULES, RuleConfig, run_rules
from finpipe.analytics.anomalies.seasonal import (
    DEFAULT_SEASONAL,
    SeasonalConfig,
    seasonal_alerts,
    spike_flags,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_anomalies import (
    ANOMALY_FLAGS,
    BENFORD_TESTS,
    SEASONAL_ALERTS,
)


@dataclass(frozen=True)
class AnomalyConfig:
    rules: RuleConfig = field(default_factory=RuleConfig)
    benford: BenfordConfig = field(default_factory=BenfordConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    seasonal: SeasonalConfig = field(default_factory=SeasonalConfig)


DEFAULT_CONFIG = AnomalyConfig(DEFAULT_RULES, DEFAULT_BENFORD, DEFAULT_MODEL, DEFAULT_SEASONAL)


@dataclass(frozen=True)
class CompanyAnomalies:
    company_id: str
    flags: pl.DataFrame  # ANOMALY_FLAGS rows
    benford: pl.DataFrame  # BENFORD_TESTS rows
    alerts: pl.DataFrame  # SEASONAL_ALERTS rows

    def counts(self) -> dict[str, int]:
        """Flags per type (every known type, zeros included)."""
        by = dict(self.flags.group_by("type").len().iter_rows())
        return {t: int(by.get(t, 0)) for t in FLAG_TYPES}

    def benford_counts(self) -> dict[str, int]:
        """Benford tests per ``scope:conformity``."""
        counts = self.benford.group_by("scope", "conformity").len().sort("scope", "conformity")
        return {f"{s}:{c}": int(n) for s, c, n in counts.iter_rows()}

    def top(self, n: int = 10) -> pl.DataFrame:
        return self.flags.sort(["score", "amount", "flag_id"], descending=[True, True, False]).head(
            n
        )


def detect(data: CompanyTransactions, config: AnomalyConfig = DEFAULT_CONFIG) -> CompanyAnomalies:
    """Every detector on one company's transactions."""
    tx = data.transactions
    tests = pl.concat(
        [
            vendor_tests(tx, config.benford),
            account_tests(data.journal_lines, config.benford, data.currency),
        ]
    )
    alerts = seasonal_alerts(data.journal_lines, data.currency, config.seasonal)
    flags = pl.concat(
        [
            run_rules(tx, data.contacts, config.rules),
            benford_flags(tx, tests, config.benford),
            model_flags(tx, config.model),
            spike_flags(tx, alerts),
        ]
    )
    flags = with_flag_ids(flags.with_columns(pl.lit(data.company_id).alias("company_id")))
    cid = pl.lit(data.company_id).alias("company_id")
    return CompanyAnomalies(
        company_id=data.company_id,
        flags=flags.rename({"number": "document_number"})
        .select(ANOMALY_FLAGS.column_names)
        .cast(dict(ANOMALY_FLAGS.polars_schema()))
        .sort("flag_id"),
        benford=tests.with_columns(cid)
        .select(BENFORD_TESTS.column_names)
        .cast(dict(BENFORD_TESTS.polars_schema())),
        alerts=alerts.with_columns(cid, pl.lit(data.currency).alias("currency"))
        .select(SEASONAL_ALERTS.column_names)
        .cast(dict(SEASONAL_ALERTS.polars_schema())),
    )


def detect_company(
    warehouse: Warehouse, company_id: str, config: AnomalyConfig = DEFAULT_CONFIG
) -> CompanyAnomalies:
    """Read one company's books and run every detector."""
    return detect(load_company(warehouse, company_id), config)


def write_anomalies(warehouse: Warehouse, result: CompanyAnomalies) -> None:
    """Replace the company's partition of the three tables in one transaction."""
    with warehouse.batch() as batch:
        batch.replace_partition(ANOMALY_FLAGS, result.company_id, result.flags)
        batch.replace_partition(BENFORD_TESTS, result.company_id, result.benford)
        batch.replace_partition(SEASONAL_ALERTS, result.company_id, result.alerts)
