"""Retry, rate limit and error handling of provider calls, against scripted answers."""

from __future__ import annotations

import random

import pytest
import requests

from finpipe.connectors.errors import ProviderError, ProviderUnavailable
from finpipe.connectors.http import ProviderHTTP, RetryPolicy
from finpipe.connectors.ratelimit import RateLimiter, Window


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def answer(status: int, body: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers.update(headers or {})
    return response


class ScriptedSession(requests.Session):
    def __init__(self, script: list[object]) -> None:
        super().__init__()
        self.script = list(script)
        self.seen_auth: list[str] = []

    def request(self, method, url, **kwargs):  # type: ignore[override]
        self.seen_auth.append(kwargs["headers"]["Authorization"])
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def client(
    script: list[object], clock: FakeClock, **kw: object
) -> tuple[ProviderHTTP, ScriptedSession]:
    session = ScriptedSession(script)
    limiter = RateLimiter((Window(1000, 60),), clock=clock, sleep=clock.sleep)
    http = ProviderHTTP(
        "quickbooks",
        limiter,
        error_text=lambda r: r.text,
        auth_header=kw.pop("auth_header", lambda: "Bearer t1"),  # type: ignore[arg-type]
        policy=RetryPolicy(max_attempts=4, rng=random.Random(1)),
        session=session,
        sleep=clock.sleep,
        **kw,  # type: ignore[arg-type]
    )
    return http, session


def test_429_waits_retry_after_then_succeeds() -> None:
    clock = FakeClock()
    http, _ = client([answer(429, headers={"Retry-After": "7"}), answer(200, "ok")], clock)
    assert http.request("GET", "http://x/q").text == "ok"
    assert http.counters.rate_limited == 1
    assert clock.now >= 7  # the limiter paused every caller for Retry-After


def test_5xx_and_timeouts_back_off_then_give_up_clearly() -> None:
    clock = FakeClock()
    script = [answer(503), requests.Timeout("slow"), answer(500), answer(502)]
    http, _ = client(script, clock)
    with pytest.raises(ProviderUnavailable, match=r"after 4 attempts \(last: HTTP 502\)"):
        http.request("GET", "http://x/q")
    assert http.counters.server_errors == 3
    assert http.counters.timeouts == 1
    assert len(clock.sleeps) == 3 and all(0 <= s <= 30 for s in clock.sleeps)


def test_4xx_is_not_retried_and_keeps_provider_text() -> None:
    clock = FakeClock()
    http, session = client([answer(400, "Invalid query: ORDERBY Foo")], clock)
    with pytest.raises(
        ProviderError, match=r"quickbooks answered 400 .*Invalid query: ORDERBY Foo"
    ):
        http.request("GET", "http://x/q")
    assert not session.script and http.counters.calls == 1


def test_401_refreshes_once_then_uses_the_new_token() -> None:
    clock = FakeClock()
    tokens = ["Bearer old"]

    def refresh() -> None:
        tokens.append("Bearer new")

    http, session = client(
        [answer(401), answer(200, "ok")],
        clock,
        auth_header=lambda: tokens[-1],
        on_unauthorized=refresh,
    )
    assert http.request("GET", "http://x/q").text == "ok"
    assert session.seen_auth == ["Bearer old", "Bearer new"]
    assert http.counters.refreshes == 1


def test_second_401_after_refresh_is_an_error() -> None:
    clock = FakeClock()
    http, _ = client(
        [answer(401), answer(401, "AuthenticationFailed")], clock, on_unauthorized=lambda: None
    )
    with pytest.raises(ProviderError, match="401"):
        http.request("GET", "http://x/q")


def test_limiter_never_exceeds_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter((Window(10, 1.0), Window(500, 60.0)), clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(1200):
        with limiter.slot():
            stamps.append(clock.now)
            clock.now += 0.001
    for i in range(len(stamps)):
        j = i
        while j < len(stamps) and stamps[j] < stamps[i] + 1.0:
            j += 1
        assert j - i <= 10
    per_minute = [s for s in stamps if s < stamps[0] + 60.0]
    assert len(per_minute) <= 500
    # and it is not needlessly slow: 500 calls at 10/s (50 s), the minute window reopens at
    # 60 s and 120 s, the last 200 at 10/s end at 140 s
    assert 138 <= stamps[-1] - stamps[0] <= 140
