"""finpipe's configuration, read from the environment in one place.

- ``FINPIPE_HOME``: the state folder (warehouse file, Dagster instance, world, keys);
  default ``./.finpipe``.
- ``FINPIPE_WAREHOUSE_URL``: ``duckdb:///path.duckdb`` or ``postgresql://user@host:5432/db``;
  default the DuckDB file ``$FINPIPE_HOME/warehouse.duckdb``.
- ``FINPIPE_SECRET_KEY``: the Fernet key encrypting tokens at rest; generated into
  ``$FINPIPE_HOME/secret.key`` (mode 0600) on first local use, required with PostgreSQL.
- ``FINPIPE_DAGSTER_POSTGRES_URL``: a PostgreSQL URL for the Dagster instance; unset means
  the SQLite instance under ``$FINPIPE_HOME/dagster``.
- ``FINPIPE_SANDBOX_URL``: when set (``http://127.0.0.1:PORT``), every provider connector
  talks to the sandbox at ``<url>/<provider>`` instead of the real service.

Nothing here touches the disk at import time; :func:`load_settings` only reads the
environment, and the secret key file is created by :meth:`Settings.secret_key` on demand.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from finpipe.errors import FinpipeError

DEFAULT_HOME = ".finpipe"
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class ConfigError(FinpipeError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL: either a DuckDB file or a PostgreSQL database."""

    engine: str  # "duckdb" | "postgresql"
    raw: str
    path: Path | None = None  # DuckDB file

    @property
    def is_postgres(self) -> bool:
        return self.engine == "postgresql"

    @property
    def psycopg_conninfo(self) -> str:
        """The URL in the form psycopg accepts (``postgresql://...``)."""
        if not self.is_postgres:
            raise ConfigError("psycopg_conninfo is only defined for PostgreSQL warehouses")
        return "postgresql://" + self.raw.partition("://")[2]

    @property
    def sqlalchemy_url(self) -> str:
        if self.is_postgres:
            return "postgresql+psycopg://" + self.raw.partition("://")[2]
        return f"duckdb:///{self.path}"

    def redacted(self) -> str:
        """The URL with any password replaced, safe to print or log."""
        if not self.is_postgres:
            return self.raw
        parts = urlsplit(self.raw)
        if parts.password is None:
            return self.raw
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()


def parse_warehouse_url(url: str) -> WarehouseURL:
    """Parse and validate a warehouse URL, raising :class:`ConfigError` with a fix if malformed."""
    text = url.strip()
    if "://" not in text:
        raise ConfigError(
            f"FINPIPE_WAREHOUSE_URL {text!r} is not a URL: use duckdb:///path/to/file.duckdb "
            "or postgresql://user@host:5432/database"
        )
    scheme = text.split("://", 1)[0].lower()
    if scheme == "duckdb":
        path_text = text[len("duckdb:///") :] if text.startswith("duckdb:///") else ""
        if not path_text:
            raise ConfigError(
                f"FINPIPE_WAREHOUSE_URL {text!r} names no DuckDB file: "
                "write duckdb:///relative/path.duckdb or duckdb:////absolute/path.duckdb"
            )
        return WarehouseURL(engine="duckdb", raw=text, path=Path(path_text))
    if scheme in _POSTGRES_SCHEMES:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(
                f"FINPIPE_WAREHOUSE_URL has an invalid port ({exc}); "
                "expected postgresql://user@host:5432/database"
            ) from None
        if not parts.hostname or not parts.path.strip("/"):
            safe = WarehouseURL("postgresql", text).redacted()
            raise ConfigError(
                f"FINPIPE_WAREHOUSE_URL {safe!r} needs a host and a database name: "
                "postgresql://user@host:5432/database"
            )
        del port
        return WarehouseURL(engine="postgresql", raw=text)
    raise ConfigError(
        f"FINPIPE_WAREHOUSE_URL scheme {scheme!r} is not supported: use duckdb:/// or postgresql://"
    )


BANK_API_PROVIDERS = ("openbanking", "berlingroup", "aggregator")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`load_settings`."""

    home: Path
    warehouse: WarehouseURL
    dagster_postgres_url: str | None = None
    sandbox_url: str | None = None
    # Bank APIs have no single real endpoint (each UK bank, each PSD2 bank publishes its own
    # root): FINPIPE_<PROVIDER>_API_BASE names the one this deployment talks to.
    bank_api_bases: dict[str, str] = field(default_factory=dict)
    _secret_key_env: str | None = None

    @property
    def world_dir(self) -> Path:
        """Where ``finpipe demo`` keeps its generated sandbox world."""
        return self.home / "world"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def secret_key_file(self) -> Path:
        return self.home / "secret.key"

    def secret_key(self) -> bytes:
        """The primary Fernet key (the first of :meth:`secret_keys`)."""
        return self.secret_keys()[0]

    def secret_keys(self) -> list[bytes]:
        """The Fernet keys encrypting secrets at rest, newest first.

        Taken from ``FINPIPE_SECRET_KEY`` when set: one key, or several separated by commas
        while rotating (new first; old ones still decrypt until everything is re-encrypted
        with ``finpipe secrets rotate``). Otherwise, for a local DuckDB warehouse, read from
        (or generated into) ``$FINPIPE_HOME/secret.key`` with mode 0600; with a PostgreSQL
        warehouse the variable is required, because a key on one machine's disk would make
        the shared warehouse's secrets unreadable from any other.
        """
        if self._secret_key_env:
            return [
                _validate_key(part.strip().encode(), "FINPIPE_SECRET_KEY")
                for part in self._secret_key_env.split(",")
                if part.strip()
            ]
        if self.warehouse.is_postgres:
            raise ConfigError(
                "FINPIPE_SECRET_KEY is required when the warehouse is PostgreSQL; generate one "
                "with `finpipe secret-key` and set it in every process that runs finpipe"
            )
        path = self.secret_key_file
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise ConfigError(
                    f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
                )
            return [_validate_key(path.read_bytes().strip(), str(path))]
        path.parent.mkdir(parents=True, exist_ok=True)
        key = generate_secret_key()
        # O_EXCL: two processes starting at once must not both write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return [_validate_key(path.read_bytes().strip(), str(path))]
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
        return [key]


def generate_secret_key() -> bytes:
    """A new random Fernet key (url-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32))


def _validate_key(key: bytes, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"the secret key in {where} is not a Fernet key (url-safe base64 of 32 bytes); "
            "generate one with `finpipe secret-key`"
        )
    return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read finpipe's settings from ``env`` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("FINPIPE_HOME") or DEFAULT_HOME).expanduser().absolute()
    url = env.get("FINPIPE_WAREHOUSE_URL") or f"duckdb:///{home / 'warehouse.duckdb'}"
    return Settings(
        home=home,
        warehouse=parse_warehouse_url(url),
        dagster_postgres_url=env.get("FINPIPE_DAGSTER_POSTGRES_URL") or None,
        sandbox_url=(env.get("FINPIPE_SANDBOX_URL") or "").rstrip("/") or None,
        bank_api_bases={
            provider: env[f"FINPIPE_{provider.upper()}_API_BASE"].rstrip("/")
            for provider in BANK_API_PROVIDERS
            if env.get(f"FINPIPE_{provider.upper()}_API_BASE")
        },
        _secret_key_env=env.get("FINPIPE_SECRET_KEY") or None,
    )
