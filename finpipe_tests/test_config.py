"""Configuration: URLs, defaults and the secret key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from finpipe.config import ConfigError, generate_secret_key, load_settings, parse_warehouse_url


def test_defaults_put_everything_under_home(tmp_path: Path) -> None:
    settings = load_settings({"FINPIPE_HOME": str(tmp_path / "state")})
    assert settings.home == tmp_path / "state"
    assert settings.warehouse.engine == "duckdb"
    assert settings.warehouse.path == tmp_path / "state" / "warehouse.duckdb"
    assert settings.dagster_home == tmp_path / "state" / "dagster"
    assert settings.world_dir == tmp_path / "state" / "world"
    assert settings.dagster_postgres_url is None


def test_default_home_is_dot_finpipe_in_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).home == tmp_path / ".finpipe"


def test_postgres_url_switches_engine_and_redacts_password() -> None:
    url = parse_warehouse_url("postgresql://app:s3cret@db.internal:5433/finance")
    assert url.is_postgres
    assert url.sqlalchemy_url == "postgresql+psycopg://app:s3cret@db.internal:5433/finance"
    assert url.redacted() == "postgresql://app:***@db.internal:5433/finance"
    assert "s3cret" not in url.redacted()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("warehouse.duckdb", "is not a URL"),
        ("duckdb://", "names no DuckDB file"),
        ("mysql://root@localhost/db", "scheme 'mysql' is not supported"),
        ("postgresql://user@host:99999/db", "invalid port"),
        ("postgresql://user:pw@host:5432/", "needs a host and a database name"),
    ],
)
def test_malformed_urls_are_rejected_with_a_fix(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        parse_warehouse_url(url)
    assert "pw@" not in str(info.value)


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings({"FINPIPE_HOME": str(tmp_path)})
    key = settings.secret_key()
    mode = stat.S_IMODE(settings.secret_key_file.stat().st_mode)
    assert mode == 0o600
    assert settings.secret_key() == key  # read back, not regenerated
    assert len(key) == 44


def test_secret_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = load_settings({"FINPIPE_HOME": str(tmp_path)})
    settings.secret_key()
    settings.secret_key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        settings.secret_key()


def test_secret_key_required_with_postgres_warehouse() -> None:
    settings = load_settings({"FINPIPE_WAREHOUSE_URL": "postgresql://u@h:5432/d"})
    with pytest.raises(ConfigError, match="FINPIPE_SECRET_KEY is required"):
        settings.secret_key()
    key = generate_secret_key().decode()
    with_key = load_settings(
        {"FINPIPE_WAREHOUSE_URL": "postgresql://u@h:5432/d", "FINPIPE_SECRET_KEY": key}
    )
    assert with_key.secret_key() == key.encode()


def test_malformed_secret_key_is_refused() -> None:
    settings = load_settings({"FINPIPE_SECRET_KEY": "not-a-key"})
    with pytest.raises(ConfigError, match="not a Fernet key"):
        settings.secret_key()


def test_several_keys_while_rotating_newest_first() -> None:
    new, old = generate_secret_key().decode(), generate_secret_key().decode()
    settings = load_settings({"FINPIPE_SECRET_KEY": f"{new}, {old}"})
    assert settings.secret_keys() == [new.encode(), old.encode()]
    assert settings.secret_key() == new.encode()


def test_bank_api_roots_come_from_the_environment_or_fail_clearly() -> None:
    from finpipe.connectors.banks import bank_providers

    providers = bank_providers()
    settings = load_settings(
        {"FINPIPE_HOME": "/tmp/x", "FINPIPE_BERLINGROUP_API_BASE": "https://psd2.bank.example/"}
    )
    assert providers["berlingroup"].api_base(settings) == "https://psd2.bank.example"
    assert providers["aggregator"].api_base(settings) == "https://production.plaid.com"
    with pytest.raises(ConfigError, match="set FINPIPE_OPENBANKING_API_BASE"):
        providers["openbanking"].api_base(settings)
    sandbox = load_settings(
        {"FINPIPE_HOME": "/tmp/x", "FINPIPE_SANDBOX_URL": "http://127.0.0.1:9/"}
    )
    assert providers["openbanking"].api_base(sandbox) == "http://127.0.0.1:9/openbanking"
