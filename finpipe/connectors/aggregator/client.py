"""HTTP access to a Plaid-style aggregator: keys in the body, Plaid's error object, and
client-side limits per Item and endpoint.

Plaid authenticates every call with ``client_id`` and ``secret`` in the JSON body (no
bearer token), answers errors as ``{error_type, error_code, error_message, display_message,
request_id, ...}`` and limits calls per Item and endpoint. The client keeps each Item under
Plaid's published **Production** limits (the stricter of Production and Sandbox):
``/transactions/sync`` 50 a minute, ``/accounts/get`` 15, ``/item/get`` 15, ``/item/remove``
30. A 429 carries no ``Retry-After``: :class:`~finpipe.connectors.http.ProviderHTTP` backs
off with jitter. 5xx and timeouts are retried there too; every other error raises
:class:`PlaidError` carrying Plaid's ``error_code``.

Nothing here logs or raises with a request body: bodies carry the secret and access token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from finpipe.connectors import payloads
from finpipe.connectors.banks import BankCredentials
from finpipe.connectors.errors import ProviderError
from finpipe.connectors.http import CallCounters, ProviderHTTP, RetryPolicy
from finpipe.connectors.ratelimit import RateLimiter, Window
from finpipe.logsafe import redact

PROVIDER = "aggregator"
REAL_API_BASE = "https://production.plaid.com"
# Plaid's Sandbox institution "First Platypus Bank" (non-OAuth); the sandbox accepts any
# ins_<digits> and reports the company's own bank as the Item's institution.
SANDBOX_INSTITUTION = "ins_109508"

# Plaid's Production limits per Item, calls a minute; one second of margin on the window
# because the client stamps a call when it leaves and Plaid when it arrives.
ITEM_LIMITS: dict[str, int] = {
    "/transactions/sync": 50,
    "/accounts/get": 15,
    "/item/get": 15,
    "/item/remove": 30,
}
WINDOW_SECONDS = 61.0


@dataclass(frozen=True)
class PlaidErrorBody:
    """The fields of Plaid's error object a connector acts on."""

    error_type: str
    error_code: str
    error_message: str
    request_id: str | None

    @classmethod
    def parse(cls, response: requests.Response) -> PlaidErrorBody:
        """The error object of an error answer (or a stand-in naming the HTTP status)."""
        try:
            body = payloads.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict) or "error_code" not in body:
            text = redact(response.text[:200]) if response.text else "no body"
            return cls("UNKNOWN", f"HTTP_{response.status_code}", text, None)
        return cls(
            str(body.get("error_type") or "UNKNOWN"),
            str(body.get("error_code")),
            redact(str(body.get("error_message") or "")),
            str(body["request_id"]) if body.get("request_id") else None,
        )

    def __str__(self) -> str:
        rid = f" (request_id {self.request_id})" if self.request_id else ""
        return f"{self.error_type} {self.error_code}: {self.error_message}{rid}"


class PlaidError(ProviderError):
    """An error answer the retry policy does not fix; ``code`` is Plaid's ``error_code``."""

    def __init__(self, path: str, status: int, error: PlaidErrorBody, url: str) -> None:
        super().__init__(PROVIDER, status, str(error), url)
        self.path = path
        self.code = error.error_code
        self.error_type = error.error_type
        self.request_id = error.request_id


class AggregatorClient:
    """Calls to one aggregator deployment: one rate limiter per (Item, endpoint), one
    session for all."""

    def __init__(
        self,
        api_base: str,
        credentials: BankCredentials,
        *,
        policy: RetryPolicy | None = None,
        item_limits: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self._credentials = credentials
        self.policy = policy or RetryPolicy()
        self.item_limits = {**ITEM_LIMITS, **(item_limits or {})}
        self._clock = clock
        self._sleep = sleep
        self.session = session or requests.Session()
        self._https: dict[tuple[str, str], ProviderHTTP] = {}
        self._lock = threading.Lock()
        # The last error body parsed on this thread (ProviderHTTP only hands us text).
        self._last = threading.local()

    # ---------------------------------------------------------------- plumbing

    def _error_text(self, response: requests.Response) -> str:
        error = PlaidErrorBody.parse(response)
        self._last.error = error
        return str(error)

    def http(self, item_id: str, path: str) -> ProviderHTTP:
        """The HTTP client of ``path`` for ``item_id`` (calls without an Item share one)."""
        key = (item_id, path)
        with self._lock:
            if key not in self._https:
                per_minute = self.item_limits.get(path)
                windows = (Window(per_minute, WINDOW_SECONDS),) if per_minute else ()
                self._https[key] = ProviderHTTP(
                    PROVIDER,
                    RateLimiter(windows, clock=self._clock, sleep=self._sleep),
                    self._error_text,
                    auth_header=lambda: "",
                    policy=self.policy,
                    session=self.session,
                    sleep=self._sleep,
                )
            return self._https[key]

    def counters(self) -> CallCounters:
        """Every call made so far, summed over Items and endpoints."""
        total = CallCounters()
        with self._lock:
            https = list(self._https.values())
        for http in https:
            for name, value in http.counters.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def post(self, path: str, body: dict[str, Any], item_id: str = "") -> dict[str, Any]:
        """POST ``body`` plus the keys to ``path``; Plaid's answer parsed exactly (amounts as
        Decimal). Raises :class:`PlaidError` for an error answer retrying does not fix."""
        url = f"{self.api_base}{path}"
        full = {
            "client_id": self._credentials.client_id,
            "secret": self._credentials.client_secret,
            **body,
        }
        http = self.http(item_id, path)
        self._last.error = None
        try:
            # Authorization: None drops the header (requests' merge rule): Plaid takes no
            # bearer token, the keys travel in the body.
            response = http.request(
                "POST",
                url,
                data=payloads.dumps(full).encode(),
                headers={"Content-Type": "application/json", "Authorization": None},  # type: ignore[dict-item]
            )
        except ProviderError as exc:
            error = getattr(self._last, "error", None) or PlaidErrorBody(
                "UNKNOWN", f"HTTP_{exc.status}", exc.provider_message, None
            )
            raise PlaidError(path, exc.status, error, url) from None
        parsed = payloads.loads(response.content)
        if not isinstance(parsed, dict):
            raise PlaidError(
                path,
                response.status_code,
                PlaidErrorBody("UNKNOWN", "INVALID_RESPONSE", "the answer is not an object", None),
                url,
            )
        return parsed

    # ---------------------------------------------------------------- endpoints

    def create_sandbox_public_token(self, company_id: str, institution_id: str) -> str:
        """Sandbox only: a public token for ``company_id`` (stands for Plaid Link)."""
        answer = self.post(
            "/sandbox/public_token/create",
            {
                "institution_id": institution_id,
                "initial_products": ["transactions"],
                "sandbox_company": company_id,
            },
        )
        return str(answer["public_token"])

    def exchange_public_token(self, public_token: str) -> tuple[str, str]:
        """(access_token, item_id) for a public token from Link."""
        answer = self.post("/item/public_token/exchange", {"public_token": public_token})
        return str(answer["access_token"]), str(answer["item_id"])

    def item(self, access_token: str, item_id: str) -> dict[str, Any]:
        """``/item/get``."""
        return self.post("/item/get", {"access_token": access_token}, item_id)

    def remove_item(self, access_token: str, item_id: str) -> None:
        """``/item/remove``: the access token stops working."""
        self.post("/item/remove", {"access_token": access_token}, item_id)

    def accounts(self, access_token: str, item_id: str) -> dict[str, Any]:
        """``/accounts/get``: the Item's accounts with their balances."""
        return self.post("/accounts/get", {"access_token": access_token}, item_id)

    def transactions_sync(
        self, access_token: str, item_id: str, cursor: str | None, count: int
    ) -> dict[str, Any]:
        """One ``/transactions/sync`` page from ``cursor`` (None: the beginning)."""
        body: dict[str, Any] = {"access_token": access_token, "count": count}
        if cursor:
            body["cursor"] = cursor
        return self.post("/transactions/sync", body, item_id)
