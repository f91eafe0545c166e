"""The QuickBooks Online API client: OAuth app, rate limits, query / CDC / read / write calls.

Every call goes through :class:`~finpipe.connectors.http.ProviderHTTP` (429 Retry-After,
5xx backoff, one token refresh on 401) and a :class:`~finpipe.connectors.ratelimit.RateLimiter`
holding QBO's published per-realm budget: 500 requests per minute and 10 per second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, ProviderError
from finpipe.connectors.http import ProviderHTTP, RetryPolicy
from finpipe.connectors.oauth import OAuthApp, TokenManager, TokenSet
from finpipe.connectors.quickbooks.parse import QboResponse, error_text, parse_response
from finpipe.connectors.ratelimit import RateLimiter, Window

PROVIDER = "quickbooks"
SCOPE = "com.intuit.quickbooks.accounting"
INTUIT_AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
INTUIT_API_BASE = "https://quickbooks.api.intuit.com"
REFRESH_LIFETIME = dt.timedelta(days=100)  # QBO refresh tokens: x_refresh_token_expires_in
MINOR_VERSION = 75
MAX_PAGE = 1000  # QBO answers at most 1000 entities per query (and per CDC answer)

# QBO's budget per realm is 500/min and 10/s. The client keeps a little under it: the server
# stamps a call when it arrives, the client when it leaves, so a call slowed in transit
# could otherwise land in the next window of the server's count.
PUBLISHED_PER_MINUTE = 500
PUBLISHED_PER_SECOND = 10
CLIENT_WINDOWS = (Window(PUBLISHED_PER_MINUTE, 61.0), Window(PUBLISHED_PER_SECOND, 1.1))


def quickbooks_oauth_app(
    base_url: str | None, client_id: str, client_secret: str, redirect_uri: str
) -> OAuthApp:
    """The OAuth app for QBO: Intuit's real endpoints when ``base_url`` is None, else the
    sandbox's (``<base_url>/connect/oauth2`` and ``<base_url>/oauth2/v1/tokens/bearer``)."""
    if base_url is None:
        authorize, token = INTUIT_AUTHORIZE_URL, INTUIT_TOKEN_URL
    else:
        root = base_url.rstrip("/")
        authorize, token = f"{root}/connect/oauth2", f"{root}/oauth2/v1/tokens/bearer"
    return OAuthApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=authorize,
        token_url=token,
        scopes=(SCOPE,),
        redirect_uri=redirect_uri,
        refresh_lifetime=REFRESH_LIFETIME,
    )


def api_base_url(base_url: str | None) -> str:
    """Where the v3 API lives: Intuit production when ``base_url`` is None."""
    return INTUIT_API_BASE if base_url is None else base_url.rstrip("/")


def company_name(api_base: str | None, access_token: str, realm_id: str) -> str:
    """The company file's name (``CompanyInfo.CompanyName``), read once at connect time."""
    url = f"{api_base_url(api_base)}/v3/company/{realm_id}/companyinfo/{realm_id}"
    response = requests.get(
        url,
        params={"minorversion": MINOR_VERSION},
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=30,
    )
    if response.status_code >= 400:
        raise ProviderError(PROVIDER, response.status_code, error_text(response), url)
    records = parse_response(response.content, entity="CompanyInfo").records
    return (records[0].name if records else None) or realm_id


def discover_realms(
    api_base: str | None, tokens: TokenSet, params: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``[(realmId, company name)]`` for ``connect``: QBO names the company file the person
    chose in the redirect (``realmId``); one grant reaches exactly that realm."""
    realm_id = params.get("realmId")
    if not realm_id:
        raise ConnectorError(
            "QuickBooks redirected without a realmId: the authorization was not completed "
            "for a company file; run `finpipe connect quickbooks` again and pick a company"
        )
    return [(realm_id, company_name(api_base, tokens.access_token, realm_id))]


def quickbooks_limiter(**kwargs: Any) -> RateLimiter:
    """A limiter for one realm holding QBO's per-realm budget (share it between syncs of
    the same realm in one process)."""
    return RateLimiter(CLIENT_WINDOWS, **kwargs)


def qbo_literal(value: str) -> str:
    """A quoted QBO query string literal (backslash escapes ``'`` and ``\\``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class QuickBooksClient:
    """Calls against one realm. ``api_base`` is ``https://quickbooks.api.intuit.com`` or
    the sandbox's ``<server>/quickbooks``."""

    http: ProviderHTTP
    api_base: str
    realm_id: str
    minor_version: int = MINOR_VERSION

    @classmethod
    def connect(
        cls,
        tokens: TokenManager,
        realm_id: str,
        *,
        api_base: str | None,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> QuickBooksClient:
        """A client authenticating with ``tokens`` (refreshed once on a 401)."""
        extra: dict[str, Any] = {}
        if sleep is not None:
            extra["sleep"] = sleep
        http = ProviderHTTP(
            PROVIDER,
            limiter or quickbooks_limiter(),
            error_text=error_text,
            auth_header=tokens.authorization_header,
            on_unauthorized=tokens.refresh,
            policy=policy,
            session=session,
            **extra,
        )
        return cls(http=http, api_base=api_base_url(api_base), realm_id=realm_id)

    @property
    def company_url(self) -> str:
        return f"{self.api_base}/v3/company/{self.realm_id}"

    def _get(
        self, path: str, params: Mapping[str, Any], entity: str | None, strict: bool = True
    ) -> QboResponse:
        response = self.http.request(
            "GET",
            f"{self.company_url}/{path}",
            params={**params, "minorversion": self.minor_version},
            headers={"Accept": "application/json"},
        )
        return parse_response(
            response.content, entity=entity, status=response.status_code, strict=strict
        )

    def query(
        self, statement: str, *, entity: str | None = None, strict: bool = True
    ) -> QboResponse:
        """``GET /query?query=<statement>``; ``strict=False`` returns unreadable records in
        ``rejected`` instead of raising."""
        return self._get("query", {"query": statement}, entity, strict)

    def cdc(
        self, entities: Iterable[str], changed_since: str, *, strict: bool = True
    ) -> QboResponse:
        """``GET /cdc?entities=A,B&changedSince=<iso>``."""
        params = {"entities": ",".join(entities), "changedSince": changed_since}
        return self._get("cdc", params, None, strict)

    def read(self, entity: str, entity_id: str) -> QboResponse:
        """``GET /<entity>/<id>``."""
        return self._get(f"{entity.lower()}/{entity_id}", {}, entity)

    def post(
        self, entity: str, body: Mapping[str, Any], *, operation: str | None = None
    ) -> QboResponse:
        """``POST /<entity>[?operation=delete|void]`` with a JSON entity body."""
        params: dict[str, Any] = {"minorversion": self.minor_version}
        if operation:
            params["operation"] = operation
        response = self.http.request(
            "POST",
            f"{self.company_url}/{entity.lower()}",
            params=params,
            headers={"Accept": "application/json", "Content-Type": "application/json"},
            data=payloads.dumps(body).encode(),
        )
        return parse_response(response.content, entity=entity, status=response.status_code)
