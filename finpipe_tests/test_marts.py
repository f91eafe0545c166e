"""dbt is pointed at the same warehouse finpipe writes."""

from __future__ import annotations

from pathlib import Path

from finpipe.config import load_settings
from finpipe.marts import DBT_PROJECT_DIR, dbt_env


def test_duckdb_warehouse_maps_to_duckdb_target(tmp_path: Path) -> None:
    env = dbt_env(load_settings({"FINPIPE_HOME": str(tmp_path)}))
    assert env == {
        "FINPIPE_DBT_TARGET": "duckdb",
        "FINPIPE_DBT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }


def test_postgres_url_is_split_for_the_profile() -> None:
    settings = load_settings(
        {"FINPIPE_WAREHOUSE_URL": "postgresql://app%40corp:p%3Ass@db.example:6543/finance"}
    )
    assert dbt_env(settings) == {
        "FINPIPE_DBT_TARGET": "postgres",
        "FINPIPE_DBT_PG_HOST": "db.example",
        "FINPIPE_DBT_PG_PORT": "6543",
        "FINPIPE_DBT_PG_USER": "app@corp",
        "FINPIPE_DBT_PG_PASSWORD": "p:ss",
        "FINPIPE_DBT_PG_DATABASE": "finance",
    }


def test_profile_reads_exactly_the_variables_finpipe_sets() -> None:
    profile = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    postgres = dbt_env(load_settings({"FINPIPE_WAREHOUSE_URL": "postgresql://u@h:1/d"}))
    duck = dbt_env(load_settings({}))
    for name in {*postgres, *duck}:
        assert f"env_var('{name}'" in profile, name
