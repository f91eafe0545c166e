"""OAuth2 authorization-code flow and token lifecycle (requests-oauthlib).

* :class:`OAuthApp` describes a provider's endpoints and the app's client credentials.
* :class:`TokenStore` keeps each connection's token set encrypted in ``ops.oauth_tokens``.
* :class:`TokenManager` hands out a valid access token; when it is near expiry it refreshes
  **once per connection** under a cross-process lock, persists the rotated refresh token
  before the new access token is used, and turns ``invalid_grant`` into ``needs_reauth``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from finpipe.connectors.errors import ConnectorError, NeedsReauth
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS

UTC = dt.UTC
# Refresh this long before expiry, so a token never expires in the middle of a call.
EXPIRY_MARGIN = dt.timedelta(seconds=120)


@dataclass(frozen=True)
class OAuthApp:
    """A provider's OAuth2 endpoints plus this deployment's client credentials."""

    provider: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    redirect_uri: str
    refresh_lifetime: dt.timedelta | None = None  # QBO: 100 days; Xero: 60 days unused

    def session(
        self, state: str | None = None, token: dict[str, Any] | None = None
    ) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            redirect_uri=self.redirect_uri,
            scope=list(self.scopes),
            state=state,
            token=token,
        )

    def authorization_url(self, state: str) -> str:
        """The URL a person opens to grant access."""
        with loopback_transport(self):
            url, _ = self.session(state=state).authorization_url(self.authorize_url)
        return url

    @property
    def is_loopback(self) -> bool:
        """True when every endpoint is on this machine (the sandbox)."""
        hosts = {urlsplit(u).hostname for u in (self.authorize_url, self.token_url)}
        return hosts <= {"127.0.0.1", "localhost", "::1"}


@contextmanager
def loopback_transport(app: OAuthApp) -> Iterator[None]:
    """oauthlib insists on https; allow plain http only when every endpoint is loopback
    (the sandbox), and only for the duration of the call."""
    if not app.is_loopback or os.environ.get("OAUTHLIB_INSECURE_TRANSPORT"):
        yield
        return
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)


@dataclass(frozen=True)
class TokenSet:
    """One connection's tokens. ``repr`` never shows the tokens themselves."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: dt.datetime
    refresh_issued_at: dt.datetime
    refresh_expires_at: dt.datetime | None
    scope: str = ""
    version: int = 0

    @classmethod
    def from_response(
        cls, body: dict[str, Any], app: OAuthApp, now: dt.datetime, version: int = 0
    ) -> TokenSet:
        if "access_token" not in body or "refresh_token" not in body:
            raise ConnectorError(
                f"{app.provider} token endpoint answered without access_token/refresh_token"
            )
        refresh_seconds = body.get("x_refresh_token_expires_in")
        refresh_expiry = (
            now + dt.timedelta(seconds=int(refresh_seconds))
            if refresh_seconds is not None
            else (now + app.refresh_lifetime if app.refresh_lifetime else None)
        )
        scope = body.get("scope", "")
        return cls(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            access_expires_at=now + dt.timedelta(seconds=int(body.get("expires_in", 3600))),
            refresh_issued_at=now,
            refresh_expires_at=refresh_expiry,
            scope=" ".join(scope) if isinstance(scope, list) else str(scope),
            version=version,
        )

    def expiring(self, now: dt.datetime) -> bool:
        return now + EXPIRY_MARGIN >= self.access_expires_at


def exchange_code(
    app: OAuthApp, authorization_response: str, now: dt.datetime | None = None
) -> TokenSet:
    """Trade the redirect URL (carrying ``code``) for a token set."""
    session = app.session()
    try:
        with loopback_transport(app):
            body = session.fetch_token(
                app.token_url,
                authorization_response=authorization_response,
                client_secret=app.client_secret,
                include_client_id=False,
                auth=requests.auth.HTTPBasicAuth(app.client_id, app.client_secret),
            )
    except OAuth2Error as exc:
        raise ConnectorError(
            f"{app.provider} refused the authorization code: {exc.error}"
        ) from None
    return TokenSet.from_response(dict(body), app, now or dt.datetime.now(UTC))


def refresh_tokens(app: OAuthApp, current: TokenSet, now: dt.datetime) -> TokenSet:
    """Use the refresh token once; raises :class:`NeedsReauth` on ``invalid_grant``."""
    response = requests.post(
        app.token_url,
        data={"grant_type": "refresh_token", "refresh_token": current.refresh_token},
        auth=(app.client_id, app.client_secret),
        headers={"Accept": "application/json"},
        timeout=30,
    )
    if response.status_code == 400 and _oauth_error(response) == "invalid_grant":
        raise NeedsReauth(
            f"{app.provider} refused the refresh token (invalid_grant): the connection must "
            "be authorised again with `finpipe connect`"
        )
    if response.status_code >= 400:
        raise ConnectorError(
            f"{app.provider} token refresh failed with HTTP {response.status_code}: "
            f"{_oauth_error(response) or 'no error code'}"
        )
    try:
        body = response.json()
    except ValueError:
        raise ConnectorError(
            f"{app.provider} token endpoint answered HTTP {response.status_code} without JSON"
        ) from None
    return TokenSet.from_response(body, app, now, version=current.version + 1)


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if error is not None else None


class TokenStore:
    """Token sets in ``ops.oauth_tokens``, encrypted with the deployment's secret key."""

    def __init__(self, warehouse: Warehouse, box: SecretBox) -> None:
        self.warehouse = warehouse
        self.box = box

    def load(self, company_id: str, provider: str) -> TokenSet | None:
        rows = self.warehouse.read(
            OAUTH_TOKENS, where="company_id = %s AND provider = %s", params=[company_id, provider]
        )
        if rows.is_empty():
            return None
        row = rows.row(0, named=True)
        secret = json.loads(
            self.box.decrypt(row["ciphertext"], what=f"the {provider} token of {company_id}")
        )
        return TokenSet(
            access_token=secret["access_token"],
            refresh_token=secret["refresh_token"],
            scope=secret.get("scope", ""),
            access_expires_at=row["access_expires_at"],
            refresh_issued_at=row["refresh_issued_at"],
            refresh_expires_at=row["refresh_expires_at"],
            version=row["version"],
        )

    def save(self, company_id: str, provider: str, tokens: TokenSet, now: dt.datetime) -> None:
        secret = json.dumps(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "scope": tokens.scope,
            }
        )
        frame = pl.DataFrame(
            {
                "company_id": [company_id],
                "provider": [provider],
                "ciphertext": [self.box.encrypt(secret)],
                "access_expires_at": [tokens.access_expires_at],
                "refresh_issued_at": [tokens.refresh_issued_at],
                "refresh_expires_at": [tokens.refresh_expires_at],
                "version": [tokens.version],
                "updated_at": [now],
            },
            schema=OAUTH_TOKENS.polars_schema(),
        )
        self.warehouse.upsert(OAUTH_TOKENS, frame)


def set_connection_status(
    warehouse: Warehouse, company_id: str, provider: str, status: str, reason: str | None
) -> None:
    """Set the status of every connection of ``company_id`` to ``provider``."""
    now = dt.datetime.now(UTC)
    current = warehouse.read(
        CONNECTIONS, where="company_id = %s AND provider = %s", params=[company_id, provider]
    )
    if current.is_empty():
        return
    warehouse.upsert(
        CONNECTIONS,
        current.with_columns(
            pl.lit(status).alias("status"),
            pl.lit(reason, dtype=pl.String).alias("status_reason"),
            pl.lit(now).alias("updated_at"),
        ),
    )


class TokenManager:
    """Valid access tokens for one connection (company × provider)."""

    def __init__(
        self,
        app: OAuthApp,
        store: TokenStore,
        company_id: str,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
    ) -> None:
        self.app = app
        self.store = store
        self.company_id = company_id
        self.clock = clock
        self._tokens: TokenSet | None = None
        self.refreshes = 0

    def _load(self) -> TokenSet:
        tokens = self.store.load(self.company_id, self.app.provider)
        if tokens is None:
            raise NeedsReauth(
                f"{self.app.provider} is not connected for company {self.company_id}: run "
                f"`finpipe connect {self.app.provider} --company {self.company_id}`"
            )
        return tokens

    def access_token(self) -> str:
        """A current access token, refreshed first if it is about to expire."""
        if self._tokens is None:
            self._tokens = self._load()
        if self._tokens.expiring(self.clock()):
            self.refresh(force=False)
        assert self._tokens is not None
        return self._tokens.access_token

    def authorization_header(self) -> str:
        return f"Bearer {self.access_token()}"

    def refresh(self, force: bool = True) -> None:
        """Refresh under the connection's lock. Another process may have refreshed while we
        waited: the stored set is re-read and used if it is newer and still valid."""
        lock = f"oauth:{self.company_id}:{self.app.provider}"
        if self._tokens is None:
            self._tokens = self._load()
        seen_version = self._tokens.version
        with self.store.warehouse.lock(lock):
            stored = self._load()
            now = self.clock()
            if stored.version > seen_version and not stored.expiring(now):
                self._tokens = stored
                return
            if not force and not stored.expiring(now):
                self._tokens = stored
                return
            try:
                fresh = refresh_tokens(self.app, stored, now)
            except NeedsReauth as exc:
                set_connection_status(
                    self.store.warehouse,
                    self.company_id,
                    self.app.provider,
                    "needs_reauth",
                    str(exc),
                )
                raise
            # The old refresh token is dead from this moment: persist before anything else.
            self.store.save(self.company_id, self.app.provider, fresh, now)
            self._tokens = fresh
            self.refreshes += 1


def rotate_token_encryption(warehouse: Warehouse, box: SecretBox) -> int:
    """Re-encrypt every stored token set under the newest key; returns how many. Run it
    after putting a new key first in ``FINPIPE_SECRET_KEY`` (old keys after it), then drop
    the old keys. Each row is re-read and rewritten under its connection's refresh lock, so
    a refresh running meanwhile is never overwritten with an older token set."""
    keys = warehouse.read(OAUTH_TOKENS).select("company_id", "provider").rows()
    for company_id, provider in keys:
        with warehouse.lock(f"oauth:{company_id}:{provider}"):
            row = warehouse.read(
                OAUTH_TOKENS,
                where="company_id = %s AND provider = %s",
                params=[company_id, provider],
            )
            ciphertext = box.rotate(
                row.item(0, "ciphertext"), what=f"the {provider} token of {company_id}"
            )
            warehouse.upsert(OAUTH_TOKENS, row.with_columns(pl.lit(ciphertext).alias("ciphertext")))
    return len(keys)
