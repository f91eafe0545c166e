"""A client-side rate limiter: sliding windows (per second, minute, day) plus a cap on
calls in flight, so one process stays under a provider's published budget.

Across processes the Dagster concurrency pool of the provider bounds how many syncs run at
once; within a process every call goes through :meth:`RateLimiter.slot`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """At most ``limit`` calls in any ``seconds``-long window."""

    limit: int
    seconds: float


class RateLimiter:
    """Blocks callers until a call fits every window and the concurrency cap."""

    def __init__(
        self,
        windows: tuple[Window, ...],
        max_concurrent: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.windows = windows
        self.max_concurrent = max_concurrent
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._history: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self.waited_seconds = 0.0

    def _wait_needed(self, now: float) -> float:
        wait = max(0.0, self._paused_until - now)
        longest = max((w.seconds for w in self.windows), default=0.0)
        while self._history and self._history[0] <= now - longest:
            self._history.popleft()
        for window in self.windows:
            start = now - window.seconds
            # Calls inside this window are the newest ones; count from the right.
            inside = 0
            for stamp in reversed(self._history):
                if stamp <= start:
                    break
                inside += 1
            if inside >= window.limit:
                oldest_inside = self._history[len(self._history) - window.limit]
                wait = max(wait, oldest_inside + window.seconds - now)
        if self.max_concurrent is not None and self._in_flight >= self.max_concurrent:
            wait = max(wait, 0.01)
        return wait

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one call's place: blocks until the call is within every budget."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._history.append(now)
                    self._in_flight += 1
                    break
            self.waited_seconds += wait
            self._sleep(wait)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def recent(self, seconds: float) -> int:
        """Calls recorded in the last ``seconds``."""
        with self._lock:
            now = self._clock()
            return sum(1 for stamp in self._history if stamp > now - seconds)

    def record(self, count: int) -> None:
        """Count ``count`` calls made now by someone else (they use the same budget)."""
        if count <= 0:
            return
        with self._lock:
            self._history.extend([self._clock()] * count)

    def pause(self, seconds: float) -> None:
        """Stop issuing calls for ``seconds`` (a provider's ``Retry-After``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
