"""The dbt project of BI marts (``dbt/`` at the repo root) and how finpipe invokes it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from finpipe.config import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables that point ``dbt/profiles.yml`` at finpipe's warehouse."""
    url = settings.warehouse
    if not url.is_postgres:
        return {"FINPIPE_DBT_TARGET": "duckdb", "FINPIPE_DBT_DUCKDB_PATH": str(url.path)}
    parts = urlsplit(url.raw)
    return {
        "FINPIPE_DBT_TARGET": "postgres",
        "FINPIPE_DBT_PG_HOST": parts.hostname or "127.0.0.1",
        "FINPIPE_DBT_PG_PORT": str(parts.port or 5432),
        "FINPIPE_DBT_PG_USER": unquote(parts.username or "postgres"),
        "FINPIPE_DBT_PG_PASSWORD": unquote(parts.password or ""),
        "FINPIPE_DBT_PG_DATABASE": parts.path.lstrip("/"),
    }
