"""The Dagster instance finpipe runs on: SQLite under ``$FINPIPE_HOME/dagster`` by default,
PostgreSQL when ``FINPIPE_DAGSTER_POSTGRES_URL`` is set.

This module prepares ``DAGSTER_HOME`` (writing the chosen ``dagster.yaml`` template there)
and applies the concurrency pool limits. It is used by the CLI and by tests, never at
import time of the code location.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from finpipe.config import Settings

# One pool per provider so published rate limits hold across parallel runs: each step that
# calls a provider takes a slot of that provider's pool. `warehouse_duckdb` serialises
# writers to a DuckDB file (one writer process at a time).
POOL_LIMITS: dict[str, int] = {
    "quickbooks": 4,
    "xero": 5,  # Xero allows 5 concurrent calls per tenant
    "openbanking": 2,
    "berlingroup": 2,
    "aggregator": 4,
    "statement": 2,
    "warehouse_duckdb": 1,
}


def template(postgres: bool) -> str:
    """The text of the instance template (SQLite or PostgreSQL)."""
    name = "dagster.postgres.yaml" if postgres else "dagster.yaml"
    return resources.files("finpipe.instance").joinpath(name).read_text()


def prepare_dagster_home(settings: Settings, home: Path | None = None) -> Path:
    """Write the instance's ``dagster.yaml`` into ``home`` (default
    ``$FINPIPE_HOME/dagster``) and set ``DAGSTER_HOME`` to it; returns the folder."""
    target = home or settings.dagster_home
    target.mkdir(parents=True, exist_ok=True)
    postgres = settings.dagster_postgres_url is not None
    text = template(postgres)
    config = target / "dagster.yaml"
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    os.environ["DAGSTER_HOME"] = str(target)
    if postgres:
        os.environ["FINPIPE_DAGSTER_POSTGRES_URL"] = dagster_postgres_url(
            settings.dagster_postgres_url or ""
        )
    return target


def dagster_postgres_url(url: str) -> str:
    """The URL with psycopg2 named as driver: SQLAlchemy 2.1 defaults ``postgresql://`` to
    psycopg 3, whose server-side parameters break dagster-postgres's ``NOTIFY`` statements."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg2://{rest}"
    return url


def apply_pool_limits(instance: object, limits: dict[str, int] | None = None) -> dict[str, int]:
    """Set each pool's slot count on ``instance`` (a ``DagsterInstance``); returns them."""
    chosen = dict(POOL_LIMITS if limits is None else limits)
    for pool, slots in chosen.items():
        instance.event_log_storage.set_concurrency_slots(pool, slots)  # type: ignore[attr-defined]
    return chosen


def open_instance(settings: Settings) -> object:
    """The ``DagsterInstance`` for ``settings``, prepared and with pool limits applied."""
    from dagster import DagsterInstance

    home = prepare_dagster_home(settings)
    instance = DagsterInstance.from_config(str(home))
    apply_pool_limits(instance)
    return instance
