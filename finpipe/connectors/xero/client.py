"""HTTP access to Xero: the OAuth app, tenant discovery, error text, and a client that keeps
every tenant inside Xero's published limits.

Xero's limits are per tenant (organisation): 60 calls in any minute, 5,000 a day, 5 in
flight; plus 10,000 a minute per app across tenants. Every answer carries
``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``; a 429
carries ``Retry-After`` and ``X-Rate-Limit-Problem`` (``minute``/``day``/``concurrent``).

:class:`XeroClient` gives each tenant its own :class:`XeroRateLimiter` (so one busy tenant
never starves another), which also reads ``X-MinLimit-Remaining``: calls that someone else
made against the tenant's minute (another process, another deployment) count against this
client's budget too, so it slows down before Xero has to say no. A 429 for the *day* limit
is not waited out (Retry-After can be hours): it raises :class:`DailyLimitReached` and the
sync resumes from its committed cursors on the next run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, ProviderError
from finpipe.connectors.http import CallCounters, ProviderHTTP, RetryPolicy
from finpipe.connectors.oauth import OAuthApp, TokenManager, TokenSet
from finpipe.connectors.ratelimit import RateLimiter, Window
from finpipe.connectors.xero.parse import validation_messages
from finpipe.logsafe import redact

PROVIDER = "xero"
REAL_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
REAL_TOKEN_URL = "https://identity.xero.com/connect/token"
REAL_API_BASE = "https://api.xero.com"
ACCOUNTING_PATH = "/api.xro/2.0"

READ_SCOPES = (
    "offline_access",
    "accounting.transactions.read",
    "accounting.contacts.read",
    "accounting.settings.read",
    "accounting.journals.read",
)
# Creating/updating Invoices and BankTransactions needs accounting.transactions, Contacts
# accounting.contacts (Xero's broad scopes, accepted by apps created before March 2026).
WRITE_SCOPES = ("accounting.transactions", "accounting.contacts")
REFRESH_LIFETIME = dt.timedelta(days=60)


class XeroRateLimiter(RateLimiter):
    """A :class:`RateLimiter` that also counts the calls Xero says *others* made.

    Xero's ``X-MinLimit-Remaining`` covers every caller of the tenant (another process, a
    second app instance). When it reports fewer calls left than this limiter believes, the
    difference is recorded as calls made now, so this client waits for them to leave the
    minute instead of running into a 429. Stamping them "now" is conservative: they really
    happened earlier and leave Xero's window sooner.
    """

    def __init__(self, *args: Any, minute: Window, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.minute = minute
        self.others_seen = 0

    def observe_minute_remaining(self, remaining: int) -> None:
        others = (self.minute.limit - remaining) - self.recent(self.minute.seconds)
        if others > 0:
            self.record(others)
            self.others_seen += others


@dataclass(frozen=True)
class XeroLimits:
    """Xero's published per-tenant budget, and the margin the client keeps from it.

    ``window_margin`` seconds are added to each window: the client stamps a call when it
    leaves, Xero when it arrives, so a call whose latency is lower than the one it replaces
    in the window would otherwise land a hair inside Xero's minute.
    """

    per_minute: int = 60
    per_day: int = 5000
    concurrent: int = 5
    window_margin: float = 1.0
    # Below this many calls left in the app-wide minute (all tenants), pause one slot.
    app_reserve: int = 100

    def limiter(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> XeroRateLimiter:
        minute = Window(self.per_minute, 60.0 + self.window_margin)
        return XeroRateLimiter(
            windows=(minute, Window(self.per_day, 86_400.0 + self.window_margin)),
            max_concurrent=self.concurrent,
            clock=clock,
            sleep=sleep,
            minute=minute,
        )


XERO_LIMITS = XeroLimits()


class DailyLimitReached(ConnectorError):
    """Xero's 5,000 calls/day for a tenant are spent; the sync resumes on a later run."""


def xero_oauth_app(
    base_url: str | None,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    *,
    write: bool = False,
) -> OAuthApp:
    """Xero's OAuth app: the real identity service when ``base_url`` is None, else the
    sandbox under ``base_url`` (``<sandbox>/xero``). ``write`` adds the write scopes."""
    if base_url is None:
        authorize, token = REAL_AUTHORIZE_URL, REAL_TOKEN_URL
    else:
        base = base_url.rstrip("/")
        authorize = f"{base}/identity/connect/authorize"
        token = f"{base}/identity/connect/token"
    return OAuthApp(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=authorize,
        token_url=token,
        scopes=READ_SCOPES + (WRITE_SCOPES if write else ()),
        redirect_uri=redirect_uri,
        refresh_lifetime=REFRESH_LIFETIME,
    )


def error_text(response: requests.Response) -> str:
    """Xero's own words for an error answer, for :class:`ProviderError`.

    Validation errors (400) list ``Elements[].ValidationErrors[].Message``; 401/403 answers
    are problem documents (``Title``/``Detail``, e.g. ``TokenExpired: ...``); 404 is plain
    text ("The resource you're looking for cannot be found")."""
    # Error text ends up in exceptions and run logs: it goes through the secret redactor.
    try:
        body = payloads.loads(response.content)
    except ValueError:
        text = response.text.strip()
        return redact(text[:500]) or f"HTTP {response.status_code} with an empty body"
    messages = validation_messages(body)
    if isinstance(body, Mapping) and body.get("Type") == "ValidationException" and messages:
        return redact("ValidationException: " + "; ".join(messages))
    if isinstance(body, Mapping) and body.get("Title") and body.get("Detail"):
        return redact(f"{body['Title']}: {body['Detail']}")
    return redact("; ".join(messages) or response.text.strip()[:500])


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _TenantSession(requests.Session):
    """A session that reads Xero's rate-limit headers for one tenant."""

    def __init__(self, tenant_id: str, limits: XeroLimits, limiter: XeroRateLimiter) -> None:
        super().__init__()
        self.tenant_id = tenant_id
        self.limits = limits
        self.limiter = limiter
        self.min_remaining: int | None = None
        self.day_remaining: int | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if response.status_code == 429 and response.headers.get("X-Rate-Limit-Problem") == "day":
            raise DailyLimitReached(
                f"xero tenant {self.tenant_id} has used its {self.limits.per_day} calls for the "
                f"day; Xero says retry after {response.headers.get('Retry-After', '?')} s. "
                "The next run resumes from the committed cursors."
            )
        self.min_remaining = _int_header(response, "X-MinLimit-Remaining")
        self.day_remaining = _int_header(response, "X-DayLimit-Remaining")
        if self.min_remaining is not None:
            self.limiter.observe_minute_remaining(self.min_remaining)
        app_remaining = _int_header(response, "X-AppMinLimit-Remaining")
        if app_remaining is not None and app_remaining < self.limits.app_reserve:
            # The app's 10,000 calls a minute are shared by every tenant: yield a slot.
            self.limiter.pause(60.0 / self.limits.per_minute)
        return response


class XeroClient:
    """Calls to one connection's Xero tenants, each within its own rate budget."""

    def __init__(
        self,
        api_base: str,
        tokens: TokenManager,
        *,
        limits: XeroLimits = XERO_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._policy = policy
        self._tenants: dict[str, ProviderHTTP] = {}
        self._tenants_lock = threading.Lock()

    def http(self, tenant_id: str) -> ProviderHTTP:
        """The rate-limited, retrying HTTP client of ``tenant_id`` (one per tenant, also when
        several threads ask for it at once: two limiters would double the budget)."""
        with self._tenants_lock:
            return self._http(tenant_id)

    def _http(self, tenant_id: str) -> ProviderHTTP:
        if tenant_id not in self._tenants:
            limiter = self.limits.limiter(self._clock, self._sleep)
            self._tenants[tenant_id] = ProviderHTTP(
                PROVIDER,
                limiter,
                error_text,
                auth_header=self.tokens.authorization_header,
                on_unauthorized=self.tokens.refresh,
                policy=self._policy,
                session=_TenantSession(tenant_id, self.limits, limiter),
                sleep=self._sleep,
            )
        return self._tenants[tenant_id]

    def url(self, endpoint: str, source_id: str | None = None) -> str:
        path = f"{self.api_base}{ACCOUNTING_PATH}/{endpoint}"
        return f"{path}/{source_id}" if source_id else path

    def get(
        self,
        tenant_id: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        if_modified_since: dt.datetime | None = None,
    ) -> requests.Response:
        headers = {"xero-tenant-id": tenant_id, "Accept": "application/json"}
        if if_modified_since is not None:
            headers["If-Modified-Since"] = format_if_modified_since(if_modified_since)
        return self.http(tenant_id).request(
            "GET", self.url(endpoint), params=params, headers=headers
        )

    def send(
        self,
        tenant_id: str,
        method: str,
        endpoint: str,
        body: Any,
        *,
        source_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> requests.Response:
        """PUT/POST ``body`` (exact JSON: Decimals keep their digits)."""
        headers = {
            "xero-tenant-id": tenant_id,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self.http(tenant_id).request(
            method,
            self.url(endpoint, source_id),
            headers=headers,
            data=payloads.dumps(body).encode(),
        )

    @property
    def counters(self) -> CallCounters:
        """Every tenant's call counters added up."""
        total = CallCounters()
        for http in self._tenants.values():
            for name, value in http.counters.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
        return total


def format_if_modified_since(instant: dt.datetime) -> str:
    """Xero's ``If-Modified-Since`` form: a UTC timestamp to the second, ``yyyy-mm-ddThh:mm:ss``."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def list_tenants(api_base: str, tokens: TokenSet | TokenManager) -> list[dict[str, Any]]:
    """The organisations the grant reaches: ``GET /connections`` (one entry per tenant with
    ``id``, ``tenantId``, ``tenantType``, ``tenantName``, ``createdDateUtc``...)."""
    header = (
        tokens.authorization_header()
        if isinstance(tokens, TokenManager)
        else f"Bearer {tokens.access_token}"
    )
    url = f"{api_base.rstrip('/')}/connections"
    response = requests.get(
        url,
        headers={"Authorization": header, "Accept": "application/json"},
        timeout=30,
    )
    if response.status_code >= 400:
        raise ProviderError(PROVIDER, response.status_code, error_text(response), url)
    body = payloads.loads(response.content)
    if not isinstance(body, list):
        raise ConnectorError(f"xero {url} answered {body!r} instead of a list of connections")
    return [dict(entry) for entry in body]


def discover_tenants(
    api_base: str, tokens: TokenSet, params: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``(tenantId, tenantName)`` of every ORGANISATION the grant reaches (for ``connect``)."""
    return [
        (str(entry["tenantId"]), str(entry.get("tenantName") or entry["tenantId"]))
        for entry in list_tenants(api_base, tokens)
        if entry.get("tenantType", "ORGANISATION") == "ORGANISATION"
    ]
