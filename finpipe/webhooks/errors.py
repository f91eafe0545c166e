"""The webhook receiver's exception family.

Every rejection is a :class:`WebhookError` carrying the HTTP status the provider gets and a
short ``reason`` code, the only thing the receiver keeps about a rejected request (counted
in ``ops.webhook_rejections``). Messages name the request field and what to do; they never
contain a secret, a signature or the body.
"""

from __future__ import annotations

from finpipe.errors import FinpipeError


class WebhookError(FinpipeError):
    """A webhook request was refused; ``status`` is the answer, ``reason`` the counter key."""

    status: int = 400
    reason: str = "rejected"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class SignatureError(WebhookError):
    """The request is not provably from the provider (401: the provider must not retry it
    as is, and an attacker learns nothing about why)."""

    status = 401
    reason = "bad_signature"


class PayloadError(WebhookError):
    """The body is signed but is not the JSON shape the provider documents (400)."""

    status = 400
    reason = "malformed_payload"


class BodyTooLargeError(WebhookError):
    """The body exceeds the receiver's limit (413)."""

    status = 413
    reason = "body_too_large"


class ReceiverUnavailableError(WebhookError):
    """The receiver cannot decide or cannot store right now (503: the provider retries)."""

    status = 503
    reason = "unavailable"


class KeyFetchError(ReceiverUnavailableError):
    """The aggregator's verification-key endpoint could not be reached or answered 5xx."""

    reason = "key_unavailable"
