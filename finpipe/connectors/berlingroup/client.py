"""HTTP access to a NextGenPSD2 (Berlin Group) ASPSP: the TPP calls on consents, the
OAuth authorisation server's metadata, and the AIS calls of one consent.

* Every call carries a fresh ``X-Request-ID``; AIS calls carry ``Consent-ID`` and the
  consent's ``Authorization: Bearer`` token and **no** ``PSU-IP-Address`` (a scheduled
  sync is an access without the PSU, which is what ``frequencyPerDay`` meters).
* Errors arrive as ``{"tppMessages": [{"category", "code", "text"}]}`` (or, from some
  ASPSPs, the RFC 7807 form with ``title``/``detail``/``code``): :func:`error_text` reads
  both. Status handling on top of :class:`~finpipe.connectors.http.ProviderHTTP`:

  - ``401 CONSENT_EXPIRED`` / ``CONSENT_INVALID``, ``403 CONSENT_UNKNOWN``: refreshing the
    token cannot help, so they raise :class:`~finpipe.connectors.errors.NeedsReauth` at
    once (``TOKEN_EXPIRED``/``TOKEN_INVALID`` go through the one refresh-and-retry);
  - ``429 ACCESS_EXCEEDED`` without ``Retry-After`` (or with one longer than a minute) is
    the consent's ``frequencyPerDay`` used up: :class:`AccessExceeded` says when the sync
    can resume; a short ``Retry-After`` is a throttle and is waited out.

TPP authentication: real ASPSPs identify the TPP by its eIDAS QWAC (mutual TLS) and may
require signed requests. finpipe sends its client credentials by HTTP Basic on the consent
endpoints instead (what the sandbox accepts); a production deployment adds the QWAC to
the ``requests`` session (``session.cert``).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import requests

from finpipe.connectors import payloads
from finpipe.connectors.banks import BankCredentials
from finpipe.connectors.errors import ConnectorError, NeedsReauth, ProviderError
from finpipe.connectors.http import CallCounters, ProviderHTTP, RetryPolicy, retry_after
from finpipe.connectors.oauth import OAuthApp, TokenManager
from finpipe.connectors.ratelimit import RateLimiter, Window
from finpipe.logsafe import redact

PROVIDER = "berlingroup"
METADATA_PATH = "/.well-known/oauth-authorization-server"
# A short Retry-After on 429 is a throttle worth waiting for; anything longer (or none) means
# the consent's frequencyPerDay is used up for the day.
MAX_THROTTLE_WAIT = 60.0
UTC = dt.UTC


class AccessExceeded(ConnectorError):
    """``429 ACCESS_EXCEEDED``: the consent's accesses without the PSU are used up."""

    def __init__(self, message: str, resume_at: dt.datetime) -> None:
        super().__init__(message)
        self.resume_at = resume_at


def tpp_messages(response: requests.Response) -> list[dict[str, Any]]:
    """The ``tppMessages`` of an answer (RFC 7807 bodies as one message), or []."""
    try:
        body = payloads.loads(response.content)
    except ValueError:
        return []
    if not isinstance(body, Mapping):
        return []
    messages = body.get("tppMessages")
    if isinstance(messages, list):
        return [m for m in messages if isinstance(m, Mapping)]
    if body.get("code") or body.get("title"):
        return [{"code": body.get("code"), "text": body.get("detail") or body.get("title")}]
    return []


def tpp_codes(response: requests.Response) -> set[str]:
    return {str(m.get("code")) for m in tpp_messages(response) if m.get("code")}


def error_text(response: requests.Response) -> str:
    """The ASPSP's own words for an error answer (``CODE: text; ...``), secrets redacted."""
    messages = tpp_messages(response)
    if messages:
        return redact(
            "; ".join(f"{m.get('code') or '?'}: {m.get('text') or ''}".strip() for m in messages)
        )
    text = response.text.strip()
    return redact(text[:500]) or f"HTTP {response.status_code} with an empty body"


def next_midnight(now: dt.datetime) -> dt.datetime:
    day = now.astimezone(UTC).date() + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


class _ConsentSession(requests.Session):
    """Turns the consent-level answers that retrying cannot fix into finpipe errors."""

    def __init__(self, company_id: str, consent_id: str, clock: Callable[[], dt.datetime]):
        super().__init__()
        self.company_id = company_id
        self.consent_id = consent_id
        self.clock = clock

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        status = response.status_code
        if status not in (400, 401, 403, 429):
            return response
        codes = tpp_codes(response)
        consent = f"berlingroup consent {self.consent_id} of company {self.company_id}"
        reconnect = (
            f"run `finpipe connect berlingroup --company {self.company_id}` to authorise a new one"
        )
        if status == 401 and "CONSENT_EXPIRED" in codes:
            raise NeedsReauth(
                f"{consent} has expired ({error_text(response)}); the PSU must {reconnect}"
            )
        if (status == 401 and "CONSENT_INVALID" in codes) or (
            status in (400, 403) and "CONSENT_UNKNOWN" in codes
        ):
            raise NeedsReauth(
                f"{consent} is no longer usable ({error_text(response)}); the PSU must {reconnect}"
            )
        if status == 429 and "ACCESS_EXCEEDED" in codes:
            wait = retry_after(response)
            if wait is not None and wait <= MAX_THROTTLE_WAIT:
                return response  # a throttle: ProviderHTTP waits Retry-After and retries
            now = self.clock()
            resume = now + dt.timedelta(seconds=wait) if wait is not None else next_midnight(now)
            raise AccessExceeded(
                f"{consent} has used up its accesses without the PSU for today "
                f"(frequencyPerDay; {error_text(response)}). Everything read so far is committed; "
                f"the next sync can resume from the committed cursors after "
                f"{resume.isoformat(timespec='minutes')}.",
                resume,
            )
        return response


def resolve(api_base: str, href: str) -> str:
    """An ``_links`` href (relative to the API root, or absolute) as a full URL."""
    if href.startswith(("http://", "https://")):
        return href
    base = api_base.rstrip("/")
    return f"{base}{href}" if href.startswith("/") else urljoin(base + "/", href)


def basic_auth(credentials: BankCredentials) -> str:
    """``Basic base64(client_id:client_secret)`` (the sandbox's stand-in for the QWAC)."""
    pair = f"{credentials.client_id}:{credentials.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _limiter() -> RateLimiter:
    # NextGenPSD2 publishes no call budget besides frequencyPerDay: stay modest.
    return RateLimiter(windows=(Window(40, 1.0),), max_concurrent=2)


class TppClient:
    """The TPP's own calls: consents and the authorisation server's metadata."""

    def __init__(
        self,
        api_base: str,
        credentials: BankCredentials,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.http = ProviderHTTP(
            PROVIDER,
            _limiter(),
            error_text,
            auth_header=lambda: basic_auth(credentials),
            policy=policy,
            sleep=sleep,
        )

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"X-Request-ID": str(uuid.uuid4()), "Accept": "application/json", **extra}

    def create_consent(
        self, body: dict[str, Any], redirect_uri: str | None = None
    ) -> dict[str, Any]:
        """``POST /v1/consents``; returns the 201 body (``consentId``, ``_links``...)."""
        headers = self._headers(**{"Content-Type": "application/json"})
        if redirect_uri:
            headers["TPP-Redirect-URI"] = redirect_uri
        url = f"{self.api_base}/v1/consents"
        response = self.http.request(
            "POST", url, headers=headers, data=payloads.dumps(body).encode()
        )
        answer = payloads.loads(response.content)
        if not isinstance(answer, dict) or not answer.get("consentId"):
            raise ConnectorError(f"berlingroup {url} answered without a consentId: {answer!r}")
        return answer

    def consent(self, consent_id: str) -> dict[str, Any]:
        """``GET /v1/consents/{consentId}`` (access, validUntil, consentStatus...)."""
        url = f"{self.api_base}/v1/consents/{consent_id}"
        return dict(payloads.loads(self.http.request("GET", url, headers=self._headers()).content))

    def consent_status(self, consent_id: str) -> str:
        url = f"{self.api_base}/v1/consents/{consent_id}/status"
        body = payloads.loads(self.http.request("GET", url, headers=self._headers()).content)
        return str(body.get("consentStatus"))

    def delete_consent(self, consent_id: str) -> None:
        """``DELETE /v1/consents/{consentId}`` (the TPP terminates the consent)."""
        url = f"{self.api_base}/v1/consents/{consent_id}"
        self.http.request("DELETE", url, headers=self._headers())

    def authorisation_server(self, href: str | None = None) -> dict[str, Any]:
        """The RFC 8414 metadata the ``scaOAuth`` link points at (default: the ASPSP's
        well-known location under the API root)."""
        url = resolve(self.api_base, href) if href else f"{self.api_base}{METADATA_PATH}"
        response = self.http.request("GET", url, headers={"Accept": "application/json"})
        body = payloads.loads(response.content)
        if not isinstance(body, dict) or not all(
            body.get(k) for k in ("authorization_endpoint", "token_endpoint")
        ):
            raise ConnectorError(
                f"berlingroup {url} is not OAuth authorisation server metadata "
                "(authorization_endpoint / token_endpoint missing)"
            )
        return body


def oauth_app(
    metadata: Mapping[str, Any], credentials: BankCredentials, consent_id: str, redirect_uri: str
) -> OAuthApp:
    """The OAuth app of one consent: NextGenPSD2's OAuth SCA approach asks for
    ``scope=AIS:<consentId>``."""
    return OAuthApp(
        provider=PROVIDER,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        authorize_url=str(metadata["authorization_endpoint"]),
        token_url=str(metadata["token_endpoint"]),
        scopes=(f"AIS:{consent_id}",),
        redirect_uri=redirect_uri,
    )


class AisClient:
    """AIS calls under one consent."""

    def __init__(
        self,
        api_base: str,
        tokens: TokenManager,
        company_id: str,
        consent_id: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.consent_id = consent_id
        self.http = ProviderHTTP(
            PROVIDER,
            _limiter(),
            error_text,
            auth_header=tokens.authorization_header,
            on_unauthorized=tokens.refresh,
            policy=policy,
            session=_ConsentSession(company_id, consent_id, clock),
            sleep=sleep,
        )

    def get(self, href: str) -> Any:
        """GET an AIS resource (path or ``_links`` href) and return its JSON body."""
        url = resolve(self.api_base, href)
        headers = {
            "X-Request-ID": str(uuid.uuid4()),
            "Consent-ID": self.consent_id,
            "Accept": "application/json",
        }
        response = self.http.request("GET", url, headers=headers)
        try:
            return payloads.loads(response.content)
        except ValueError:
            raise ProviderError(
                PROVIDER, response.status_code, "the answer is not JSON", url
            ) from None

    @property
    def counters(self) -> CallCounters:
        return self.http.counters
