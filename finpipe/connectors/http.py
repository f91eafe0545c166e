"""HTTP calls to a provider: rate limited, retried the way each failure deserves, counted.

* 429: wait ``Retry-After`` (or a backoff when absent) and try again; the limiter pauses
  every caller sharing it.
* 5xx and timeouts / connection resets: exponential backoff with full jitter.
* 401 once per call: the token is refreshed through ``on_unauthorized`` and the call repeated.
* any other 4xx: not retried; raised as :class:`ProviderError` with the provider's own text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from finpipe.connectors.errors import ProviderError, ProviderUnavailable
from finpipe.connectors.ratelimit import RateLimiter


@dataclass
class CallCounters:
    """What a client did: shown in materialization metadata and integration health."""

    calls: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    retries: int = 0
    refreshes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.25
    max_delay: float = 30.0
    timeout: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**attempt)]."""
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))


def retry_after(response: requests.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds (never negative), or None when absent or not
    a number of seconds."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ProviderHTTP:
    """One provider connection's HTTP client (one per company × provider × tenant)."""

    def __init__(
        self,
        provider: str,
        limiter: RateLimiter,
        error_text: Callable[[requests.Response], str],
        *,
        auth_header: Callable[[], str],
        on_unauthorized: Callable[[], None] | None = None,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.limiter = limiter
        self.error_text = error_text
        self.auth_header = auth_header
        self.on_unauthorized = on_unauthorized
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.counters = CallCounters()
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
    ) -> requests.Response:
        """Send the call, retrying as the module docstring says; returns a 2xx/304 answer."""
        refreshed = False
        attempt = 0
        while True:
            all_headers = {"Authorization": self.auth_header(), **(headers or {})}
            try:
                with self.limiter.slot():
                    self.counters.calls += 1
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        headers=all_headers,
                        json=json,
                        data=data,
                        timeout=self.policy.timeout,
                    )
            except (requests.Timeout, requests.ConnectionError) as exc:
                self.counters.timeouts += 1
                attempt = self._next_attempt(attempt, url, f"{type(exc).__name__}")
                continue
            status = response.status_code
            if status < 300 or status == 304:
                return response
            if status == 401 and self.on_unauthorized is not None and not refreshed:
                self.counters.refreshes += 1
                self.on_unauthorized()
                refreshed = True
                continue
            if status == 429:
                self.counters.rate_limited += 1
                wait = retry_after(response)
                wait = self.policy.backoff(attempt) if wait is None else wait
                self.limiter.pause(wait)
                attempt = self._next_attempt(attempt, url, "429 Too Many Requests", wait=0.0)
                continue
            if status >= 500:
                self.counters.server_errors += 1
                attempt = self._next_attempt(attempt, url, f"HTTP {status}")
                continue
            raise ProviderError(self.provider, status, self.error_text(response), url)

    def _next_attempt(self, attempt: int, url: str, reason: str, wait: float | None = None) -> int:
        attempt += 1
        if attempt >= self.policy.max_attempts:
            raise ProviderUnavailable(
                f"{self.provider} did not answer {url} after {attempt} attempts "
                f"(last: {reason}); the sync will resume from its last committed cursor"
            )
        self.counters.retries += 1
        self._sleep(self.policy.backoff(attempt) if wait is None else wait)
        return attempt
