"""HTTP client for an ASPSP's Account Information API (OBIE Read/Write v3.1).

* Consent set-up with a client-credentials token (scope ``accounts``):
  ``POST /account-access-consents`` -> ConsentId, then the PSU authorises it through the
  authorization-code flow whose request object names the consent (``openbanking_intent_id``).
* Resource reads with the consent-bound token (:class:`~finpipe.connectors.oauth.TokenManager`),
  retried by the one policy of :class:`~finpipe.connectors.http.ProviderHTTP`; pages are
  followed through ``Links.Next`` exactly as the bank gives them.
* A 429 whose ``Retry-After`` is longer than :data:`LONG_WAIT` is the bank's unattended-access
  allowance (4 pulls a day), not a burst: it is not waited out but raised as
  :class:`PullLimitReached` with the time the next pull is allowed.
* 401 after a refresh, a refused refresh, and 403 ``UK.OBIE.Reauthenticate`` mean the consent
  is gone (expired or revoked): :class:`~finpipe.connectors.errors.NeedsReauth`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, NeedsReauth, ProviderError
from finpipe.connectors.http import ProviderHTTP, RetryPolicy, retry_after
from finpipe.connectors.oauth import OAuthApp, TokenManager
from finpipe.connectors.openbanking.codes import API_PREFIX, AUTHORIZE_PATH, TOKEN_PATH
from finpipe.connectors.openbanking.jws import LIFETIME as REQUEST_OBJECT_LIFETIME
from finpipe.connectors.openbanking.jws import intent_claims, sign_hs256
from finpipe.connectors.ratelimit import RateLimiter, Window

PROVIDER = "openbanking"
# Real ASPSPs each publish their own endpoints (OBIE Directory / well-known configuration):
# no default, FINPIPE_OPENBANKING_API_BASE names the bank (a missing one fails loudly).
REAL_API_BASE: str | None = None
SCOPES = ("openid", "accounts")
PERMISSIONS = (
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsBasic",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
)
CONSENT_LIFETIME = dt.timedelta(days=90)
LONG_WAIT = 300.0  # seconds: a Retry-After longer than this is a daily allowance, not a burst
UTC = dt.UTC


class PullLimitReached(ConnectorError):
    """The consent's unattended reads for today are spent (429 with a long Retry-After)."""

    def __init__(self, url: str, retry_after: float, now: dt.datetime) -> None:
        self.url = url
        self.retry_after = retry_after
        self.resume_at = now + dt.timedelta(seconds=retry_after)
        super().__init__(
            f"openbanking refused {url} with 429: the consent's unattended reads for the last "
            f"24 hours are used up; the sync can resume after {self.resume_at.isoformat()} "
            f"(Retry-After {int(retry_after)} s) from its committed cursors"
        )


def error_text(response: requests.Response) -> str:
    """The bank's own words from an ``OBErrorResponse1`` (Code, Message, Errors[])."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code} without a body"
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [f"{body.get('Code', response.status_code)}: {body.get('Message', '')}".strip()]
    for err in body.get("Errors") or []:
        where = f" at {err['Path']}" if err.get("Path") else ""
        parts.append(f"{err.get('ErrorCode')}{where}: {err.get('Message')}")
    return "; ".join(parts)


def error_codes(response: requests.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    errs = body.get("Errors") if isinstance(body, dict) else None
    return [str(e.get("ErrorCode")) for e in errs or [] if isinstance(e, dict)]


@dataclass(frozen=True)
class OpenBankingApp(OAuthApp):
    """The OAuth app whose authorize URL carries the request object naming the consent."""

    consent_id: str = ""
    issuer: str = ""

    def authorization_url(self, state: str) -> str:
        url = super().authorization_url(state)
        # The object repeats every authorization parameter exactly as the query sends it
        # (OIDC: the values must match; FAPI: the bank uses only the signed ones).
        query = dict(parse_qsl(urlsplit(url).query))
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "aud": self.issuer,
            "client_id": query.get("client_id", self.client_id),
            "response_type": query.get("response_type", "code"),
            "redirect_uri": query.get("redirect_uri", self.redirect_uri),
            "scope": query.get("scope", " ".join(self.scopes)),
            "state": query.get("state", state),
            "nonce": secrets.token_urlsafe(12),
            "iat": now,
            "nbf": now,
            "exp": now + REQUEST_OBJECT_LIFETIME,
            "claims": intent_claims(self.consent_id),
        }
        # HS256 with the client secret: the sandbox's documented stand-in for PS256.
        return f"{url}&request={sign_hs256(claims, self.client_secret)}"


def openbanking_app(
    api_base: str, client_id: str, client_secret: str, redirect_uri: str, consent_id: str = ""
) -> OpenBankingApp:
    base = api_base.rstrip("/")
    return OpenBankingApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=f"{base}{AUTHORIZE_PATH}",
        token_url=f"{base}{TOKEN_PATH}",
        scopes=SCOPES,
        redirect_uri=redirect_uri,
        refresh_lifetime=CONSENT_LIFETIME,
        consent_id=consent_id,
        issuer=base,
    )


class _Session(requests.Session):
    """Turns the daily-allowance 429 into :class:`PullLimitReached` before the retry policy
    would sleep through it."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if response.status_code == 429:
            wait = retry_after(response) or 0.0
            if wait > LONG_WAIT:
                raise PullLimitReached(str(url), wait, dt.datetime.now(UTC))
        return response


@dataclass
class ConsentClient:
    """Client-credentials calls: create, read and delete account-access-consents."""

    api_base: str
    client_id: str
    client_secret: str = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session)

    def _token(self) -> str:
        response = self.session.post(
            f"{self.api_base.rstrip('/')}{TOKEN_PATH}",
            data={"grant_type": "client_credentials", "scope": "accounts"},
            auth=(self.client_id, self.client_secret),
            headers={"Accept": "application/json"},
            timeout=30,
        )
        if response.status_code != 200:
            raise ConnectorError(
                f"openbanking refused the client-credentials grant (HTTP "
                f"{response.status_code}); check FINPIPE_OPENBANKING_CLIENT_ID / _SECRET"
            )
        return str(response.json()["access_token"])

    def _call(self, method: str, path: str, json: Any = None) -> requests.Response:
        url = f"{self.api_base.rstrip('/')}{API_PREFIX}{path}"
        response = self.session.request(
            method,
            url,
            json=json,
            headers={
                "Authorization": f"Bearer {self._token()}",
                "Accept": "application/json",
                "x-fapi-interaction-id": str(uuid.uuid4()),
            },
            timeout=30,
        )
        if response.status_code >= 400:
            raise ProviderError(PROVIDER, response.status_code, error_text(response), url)
        return response

    def create(
        self, permissions: tuple[str, ...] = PERMISSIONS, expires: dt.datetime | None = None
    ) -> dict[str, Any]:
        """``POST /account-access-consents``; returns ``Data`` (ConsentId, Status, ...)."""
        data: dict[str, Any] = {"Permissions": list(permissions)}
        if expires is not None:
            data["ExpirationDateTime"] = expires.isoformat(timespec="seconds")
        body = payloads.loads(
            self._call("POST", "/account-access-consents", {"Data": data, "Risk": {}}).text
        )
        return dict(body["Data"])

    def get(self, consent_id: str) -> dict[str, Any]:
        return dict(
            payloads.loads(self._call("GET", f"/account-access-consents/{consent_id}").text)["Data"]
        )

    def delete(self, consent_id: str) -> None:
        self._call("DELETE", f"/account-access-consents/{consent_id}")


class AccountsClient:
    """Consent-bound reads (``/accounts``, balances, transactions) for one company."""

    def __init__(
        self,
        api_base: str,
        tokens: TokenManager,
        *,
        customer_ip: str | None = None,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.base = f"{api_base.rstrip('/')}{API_PREFIX}"
        self.tokens = tokens
        # Set only while the PSU is present (connect): such reads are not unattended.
        self.customer_ip = customer_ip
        self.http = ProviderHTTP(
            PROVIDER,
            limiter or RateLimiter((Window(20, 1.0),), max_concurrent=4),
            error_text,
            auth_header=tokens.authorization_header,
            on_unauthorized=lambda: tokens.refresh(force=True),
            policy=policy,
            session=_Session(),
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "x-fapi-interaction-id": str(uuid.uuid4())}
        if self.customer_ip:
            headers["x-fapi-customer-ip-address"] = self.customer_ip
        return headers

    def get(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One GET; 401 after a refresh or 403 Reauthenticate -> :class:`NeedsReauth`."""
        try:
            response = self.http.request("GET", url, params=params, headers=self._headers())
        except ProviderError as exc:
            if exc.status == 401 or (
                exc.status == 403 and "Reauthenticate" in exc.provider_message
            ):
                raise NeedsReauth(
                    f"openbanking no longer accepts the consent's token at {url} "
                    f"({exc.provider_message or exc.status}): the consent expired or was "
                    "revoked; reconnect with `finpipe connect openbanking`"
                ) from None
            raise
        return dict(payloads.loads(response.text))

    def pages(self, path: str, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of ``path``: the first with ``params``, then ``Links.Next`` verbatim."""
        body = self.get(f"{self.base}{path}", params)
        yield body
        while (nxt := (body.get("Links") or {}).get("Next")) is not None:
            body = self.get(str(nxt))
            yield body

    def accounts(self) -> list[dict[str, Any]]:
        return [a for page in self.pages("/accounts") for a in page["Data"].get("Account", [])]

    def balances(self, account_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.pages(f"/accounts/{account_id}/balances"):
            found = page["Data"].get("Balance", [])
            out.extend(found if isinstance(found, list) else [found])
        return out
