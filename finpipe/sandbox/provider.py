"""What every sandbox provider shares: OAuth, published rate limits enforced per tenant,
fault injection, and call counters that let tests prove a client stayed within budget."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from finpipe.sandbox.oauth_server import OAuthServer


@dataclass(frozen=True)
class Limit:
    """At most ``calls`` in any ``seconds`` window per tenant; ``name`` is what the provider
    reports (Xero's ``X-Rate-Limit-Problem``: ``minute``/``day``; QBO: ``second``/``minute``)."""

    name: str
    calls: int
    seconds: float


@dataclass
class Faults:
    """Fault injection knobs. ``error_rate`` of API calls answer 5xx; ``storm_429`` next calls
    answer 429 whatever the budget; ``latency`` seconds are added to every API call."""

    error_rate: float = 0.0
    storm_429: int = 0
    storm_retry_after: int = 1
    latency: float = 0.0
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def configure(self, **values: float | int) -> None:
        for key, value in values.items():
            if not hasattr(self, key) or key == "rng":
                raise ValueError(f"unknown fault knob {key!r}")
            setattr(self, key, value)
        if "seed" in values:
            self.rng.seed(int(values["seed"]))


@dataclass
class TenantCounters:
    calls: int = 0
    limit_rejections: int = 0  # 429s because the client went over a published limit
    fault_429s: int = 0
    fault_5xx: int = 0
    max_in_window: dict[str, int] = field(default_factory=dict)
    max_concurrent: int = 0


class ProviderSandbox:
    """Base class of a sandbox provider: subclasses add routes and the provider's own
    error bodies; :meth:`admit` runs before every API call."""

    name: str = "provider"

    def __init__(
        self,
        oauth: OAuthServer,
        limits: tuple[Limit, ...],
        max_concurrent: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.oauth = oauth
        self.limits = limits
        self.max_concurrent = max_concurrent
        self.faults = Faults()
        self.clock = clock
        self.counters: dict[str, TenantCounters] = defaultdict(TenantCounters)
        self._history: dict[str, deque[float]] = defaultdict(deque)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    # -- to override ---------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def unauthorized(self, request: Request) -> Response:
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    def rate_limited(self, limit: Limit, retry_after: int) -> Response:
        return JSONResponse(
            {"error": "rate limited"},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )

    def server_error(self) -> Response:
        return JSONResponse({"error": "service unavailable"}, status_code=503)

    # -- shared --------------------------------------------------------------

    async def admit(self, request: Request, tenant: str) -> Response | None:
        """Authenticate and meter one API call for ``tenant``; a Response means 'answer
        with this instead'. Call :meth:`release` after answering when this returns None."""
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        refused = await self.authenticate(request, tenant)
        if refused is not None:
            return refused
        return self.meter(tenant)

    async def authenticate(self, request: Request, tenant: str) -> Response | None:
        """Who is calling: a ``Bearer`` token of the provider's OAuth server that may read
        ``tenant`` by default; providers with other credentials (API keys in the body,
        consent headers) override this. A Response means 'refuse with this'."""
        subject = self.oauth.subject_of(request.headers.get("authorization", ""))
        if subject is None or not self.may_access(subject, tenant):
            return self.unauthorized(request)
        return None

    def meter(self, tenant: str) -> Response | None:
        """Count one call of ``tenant`` against the published limits and the fault knobs;
        a Response means 'answer with this instead'. Call :meth:`release` after answering
        when this returns None."""
        with self._lock:
            counters = self.counters[tenant]
            counters.calls += 1
            if self.faults.storm_429 > 0:
                self.faults.storm_429 -= 1
                counters.fault_429s += 1
                return self.rate_limited(Limit("storm", 0, 1), self.faults.storm_retry_after)
            now = self.clock()
            history = self._history[tenant]
            longest = max((limit.seconds for limit in self.limits), default=0)
            while history and history[0] <= now - longest:
                history.popleft()
            for limit in self.limits:
                inside = sum(1 for stamp in history if stamp > now - limit.seconds)
                if inside >= limit.calls:
                    counters.limit_rejections += 1
                    oldest = next(s for s in history if s > now - limit.seconds)
                    retry = max(1, int(oldest + limit.seconds - now + 0.999))
                    return self.rate_limited(limit, retry)
            if self.max_concurrent is not None and self._in_flight[tenant] >= self.max_concurrent:
                counters.limit_rejections += 1
                return self.rate_limited(Limit("concurrent", self.max_concurrent, 0), 1)
            history.append(now)
            for limit in self.limits:
                inside = sum(1 for stamp in history if stamp > now - limit.seconds)
                counters.max_in_window[limit.name] = max(
                    counters.max_in_window.get(limit.name, 0), inside
                )
            if self.faults.error_rate and self.faults.rng.random() < self.faults.error_rate:
                counters.fault_5xx += 1
                return self.server_error()
            self._in_flight[tenant] += 1
            counters.max_concurrent = max(counters.max_concurrent, self._in_flight[tenant])
        return None

    def release(self, tenant: str) -> None:
        with self._lock:
            self._in_flight[tenant] -= 1

    def may_access(self, subject: str, tenant: str) -> bool:
        """Whether a token granted to ``subject`` (a company) may read ``tenant``."""
        return True

    def remaining(self, tenant: str, limit: Limit) -> int:
        """Calls left in ``limit``'s current window (for X-*-Remaining headers)."""
        now = self.clock()
        with self._lock:
            inside = sum(1 for s in self._history[tenant] if s > now - limit.seconds)
        return max(0, limit.calls - inside)

    def counters_snapshot(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                tenant: {
                    "calls": c.calls,
                    "limit_rejections": c.limit_rejections,
                    "fault_429s": c.fault_429s,
                    "fault_5xx": c.fault_5xx,
                    "max_in_window": dict(c.max_in_window),
                    "max_concurrent": c.max_concurrent,
                }
                for tenant, c in self.counters.items()
            }
