"""Which sync failures are worth retrying a few minutes later (no Dagster).

The connectors' HTTP client already retries every call (429 with ``Retry-After``, 5xx and
timeouts with backoff, one token refresh on 401). What reaches the orchestrator has survived
that, so a step-level retry only helps where the cause is likely gone minutes later: the
provider or the network was down for longer than the client waited, the warehouse blipped, a
sync was killed half way (it resumes from its committed cursor). Everything that needs a
person (``NeedsReauth``), a day's budget (daily limits) or a code/data fix (a 4xx, a parse
error) fails at once: retrying would only hammer the provider or repeat the same error.
"""

from __future__ import annotations

import requests

from finpipe.connectors.errors import NeedsReauth, ProviderError, ProviderUnavailable, SyncAborted
from finpipe.warehouse.errors import WarehouseConnectionError

# 4xx answers that mean "later" rather than "never" (the client retries 429 itself, but a
# provider can still end a sync with one when Retry-After outlasts the client's patience).
TRANSIENT_STATUSES = frozenset({408, 409, 423, 425, 429})
# Plaid-style error types the provider itself documents as retryable.
TRANSIENT_ERROR_TYPES = frozenset({"RATE_LIMIT_EXCEEDED", "API_ERROR", "INSTITUTION_ERROR"})


def is_transient(exc: BaseException) -> bool:
    """True when retrying the sync a little later can succeed without a person.

    Looks through ``__cause__`` chains (a wrapper raised ``from`` the real error is judged by
    the real error; a ``NeedsReauth`` anywhere in the chain is never retried).
    """
    chain = _cause_chain(exc)
    if any(isinstance(e, NeedsReauth) for e in chain):
        return False
    return any(_transient_alone(e) for e in chain)


def _cause_chain(exc: BaseException, limit: int = 10) -> list[BaseException]:
    """``exc`` and the errors it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < limit:
        chain.append(current)
        current = current.__cause__
    return chain


def _transient_alone(exc: BaseException) -> bool:
    if isinstance(exc, ProviderUnavailable | WarehouseConnectionError | SyncAborted):
        return True
    if isinstance(exc, ProviderError):
        error_type = getattr(exc, "error_type", None)
        return (
            exc.status >= 500
            or exc.status in TRANSIENT_STATUSES
            or (error_type in TRANSIENT_ERROR_TYPES)
        )
    return isinstance(
        exc, requests.Timeout | requests.ConnectionError | ConnectionError | TimeoutError
    )


def failure_kind(exc: BaseException) -> str:
    """``needs_reauth``, ``transient`` or ``permanent``: how a failure is reported."""
    if any(isinstance(e, NeedsReauth) for e in _cause_chain(exc)):
        return "needs_reauth"
    return "transient" if is_transient(exc) else "permanent"
