"""Business intelligence over the unified ledger: statements and KPIs, health scores,
peer benchmarks, anomaly and fraud flags, cash-flow forecasts and insights. Plain Python
(Polars, DuckDB, scikit-learn, statsmodels); the Dagster layer lives in ``finpipe.defs``."""
