"""The webhook receiver: an ASGI app (Starlette) with one endpoint per provider.

``POST /webhooks/quickbooks``, ``POST /webhooks/xero``, ``POST /webhooks/aggregator``:

1. the body is read up to ``max_body_bytes`` (413 beyond);
2. the provider's signature is checked on the raw bytes (401 when it fails) — before any
   parsing, so an unsigned request costs one HMAC and tells the sender nothing;
3. the body is parsed into events (400 when it is not the documented JSON);
4. new events are committed to ``ops.webhook_inbox`` and only then is 200 returned (with an
   empty body, which Xero's Intent to Receive requires); if the commit fails the answer is
   503 so the provider retries.

Any other method is 405 and any other provider 404. A rejected request leaves one counter
increment in ``ops.webhook_rejections`` and one log line with the provider and reason;
neither the body nor any header value is kept or logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from finpipe.warehouse import Warehouse
from finpipe.webhooks import events as ev
from finpipe.webhooks.errors import (
    BodyTooLargeError,
    PayloadError,
    ReceiverUnavailableError,
    WebhookError,
)
from finpipe.webhooks.inbox import Inbox
from finpipe.webhooks.verify import (
    AGGREGATOR_HEADER,
    QUICKBOOKS_HEADER,
    XERO_HEADER,
    AggregatorVerifier,
    PlaidKeyFetcher,
    verify_quickbooks,
    verify_xero,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB: Xero and QBO batches are a few KiB
_DIGITS = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class WebhookSecrets:
    """The keys the receiver verifies with. Secrets never appear in ``repr``."""

    quickbooks_verifier_token: str | None = field(default=None, repr=False)
    xero_webhook_key: str | None = field(default=None, repr=False)
    aggregator_client_id: str | None = None
    aggregator_secret: str | None = field(default=None, repr=False)
    aggregator_api_base: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookSecrets:
        """Read ``FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER``, ``FINPIPE_XERO_WEBHOOK_KEY``,
        ``FINPIPE_AGGREGATOR_CLIENT_ID`` / ``_SECRET`` and ``FINPIPE_AGGREGATOR_API_BASE``
        (falling back to ``$FINPIPE_SANDBOX_URL/aggregator``, as the connectors do)."""
        env = os.environ if env is None else env
        base = (env.get("FINPIPE_AGGREGATOR_API_BASE") or "").rstrip("/")
        if not base and env.get("FINPIPE_SANDBOX_URL"):
            base = env["FINPIPE_SANDBOX_URL"].rstrip("/") + "/aggregator"
        return cls(
            quickbooks_verifier_token=env.get("FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER") or None,
            xero_webhook_key=env.get("FINPIPE_XERO_WEBHOOK_KEY") or None,
            aggregator_client_id=env.get("FINPIPE_AGGREGATOR_CLIENT_ID") or None,
            aggregator_secret=env.get("FINPIPE_AGGREGATOR_SECRET") or None,
            aggregator_api_base=base or None,
        )

    @property
    def aggregator_verification_key_url(self) -> str | None:
        """Where the aggregator serves its webhook verification keys."""
        if not self.aggregator_api_base:
            return None
        return self.aggregator_api_base.rstrip("/") + "/webhook_verification_key/get"

    def configured(self) -> list[str]:
        """The providers whose webhooks can be verified with these secrets."""
        out = []
        if self.quickbooks_verifier_token:
            out.append("quickbooks")
        if self.xero_webhook_key:
            out.append("xero")
        if self.aggregator_client_id and self.aggregator_secret and self.aggregator_api_base:
            out.append("aggregator")
        return out


def _not_configured(provider: str, what: str) -> ReceiverUnavailableError:
    # 503, not 401: the provider keeps retrying until the operator sets the key, so no
    # event is lost to a deployment mistake.
    return ReceiverUnavailableError(
        f"the receiver has no {what} for {provider}: set it and restart", reason="not_configured"
    )


class Receiver:
    """What the endpoints share: the inbox, the secrets, the aggregator's key cache."""

    def __init__(
        self,
        inbox: Inbox,
        secrets: WebhookSecrets,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        aggregator_verifier: AggregatorVerifier | None = None,
    ) -> None:
        self.inbox = inbox
        self.secrets = secrets
        self.max_body_bytes = max_body_bytes
        if aggregator_verifier is None and "aggregator" in secrets.configured():
            assert secrets.aggregator_api_base and secrets.aggregator_client_id
            assert secrets.aggregator_secret
            aggregator_verifier = AggregatorVerifier(
                PlaidKeyFetcher(
                    secrets.aggregator_api_base,
                    secrets.aggregator_client_id,
                    secrets.aggregator_secret,
                )
            )
        self.aggregator_verifier = aggregator_verifier

    async def read_body(self, request: Request) -> bytes:
        """The raw body, refusing (413) more than ``max_body_bytes`` without reading it all."""
        declared = request.headers.get("content-length")
        if declared is not None:
            if not _DIGITS.match(declared.strip()):
                raise PayloadError(
                    "header Content-Length is not a non-negative integer",
                    reason="bad_content_length",
                )
            if int(declared) > self.max_body_bytes:
                raise BodyTooLargeError(
                    f"the body ({int(declared)} bytes) exceeds the receiver's limit of "
                    f"{self.max_body_bytes} bytes"
                )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLargeError(
                    f"the body exceeds the receiver's limit of {self.max_body_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def events(self, provider: str, request: Request, body: bytes) -> list[ev.WebhookEvent]:
        """Verify ``body`` for ``provider`` and parse it into events (raises WebhookError)."""
        headers = request.headers
        if provider == "quickbooks":
            token = self.secrets.quickbooks_verifier_token
            if not token:
                raise _not_configured(provider, "FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER")
            verify_quickbooks(body, headers.get(QUICKBOOKS_HEADER), token)
            return ev.parse_quickbooks(ev.parse_json(body))
        if provider == "xero":
            key = self.secrets.xero_webhook_key
            if not key:
                raise _not_configured(provider, "FINPIPE_XERO_WEBHOOK_KEY")
            verify_xero(body, headers.get(XERO_HEADER), key)
            return ev.parse_xero(ev.parse_json(body))
        verifier = self.aggregator_verifier
        if verifier is None:
            raise _not_configured(
                provider,
                "FINPIPE_AGGREGATOR_CLIENT_ID / _SECRET / FINPIPE_AGGREGATOR_API_BASE",
            )
        # The key fetch is blocking HTTP: keep it off the event loop.
        claims = await run_in_threadpool(verifier.verify, body, headers.get(AGGREGATOR_HEADER))
        return ev.parse_aggregator(
            ev.parse_json(body), iat=claims.iat, body_sha256=claims.request_body_sha256
        )

    def count_rejection(self, provider: str, reason: str) -> None:
        """Best effort: a counter that cannot be written must not change the answer."""
        try:
            self.inbox.reject(provider, reason)
        except Exception as exc:
            log.warning(
                "webhook rejection not counted (provider=%s reason=%s): %s",
                provider,
                reason,
                type(exc).__name__,
            )

    def flush_rejections(self) -> None:
        """Write the rejection counts gathered in memory (best effort, at shutdown)."""
        try:
            self.inbox.flush_rejections()
        except Exception as exc:
            log.warning("webhook rejection counts not written: %s", type(exc).__name__)

    async def handle(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        if provider not in ev.PROVIDERS:
            # The path's word is attacker-chosen: count it under one fixed name.
            await run_in_threadpool(self.count_rejection, "unknown", "unknown_provider")
            return JSONResponse(
                {
                    "error": "unknown_provider",
                    "message": f"no webhook endpoint here; known providers: {list(ev.PROVIDERS)}",
                },
                status_code=404,
            )
        if request.method != "POST":
            await run_in_threadpool(self.count_rejection, provider, "method_not_allowed")
            return JSONResponse(
                {"error": "method_not_allowed", "message": "webhooks are delivered with POST"},
                status_code=405,
                headers={"Allow": "POST"},
            )
        try:
            body = await self.read_body(request)
            events = await self.events(provider, request, body)
            digest = hashlib.sha256(body).hexdigest()
            result = await run_in_threadpool(self.inbox.store, provider, events, digest)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read an answer
        except WebhookError as exc:
            log.info("webhook rejected: provider=%s reason=%s", provider, exc.reason)
            await run_in_threadpool(self.count_rejection, provider, exc.reason)
            if provider == "xero":
                # Xero's Intent to Receive checks the status only; an empty body is safest.
                return Response(status_code=exc.status)
            return JSONResponse({"error": exc.reason, "message": str(exc)}, status_code=exc.status)
        log.info(
            "webhook accepted: provider=%s events=%d stored=%d duplicates=%d",
            provider,
            len(events),
            result.stored,
            result.duplicates,
        )
        return Response(status_code=200)


def create_app(
    store: Inbox | Warehouse,
    secrets: WebhookSecrets,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    aggregator_verifier: AggregatorVerifier | None = None,
) -> Starlette:
    """The receiver's ASGI app over ``store`` (an :class:`Inbox` or a warehouse, whose
    ``ops.webhook_inbox`` / ``ops.webhook_rejections`` tables must exist).

    ``aggregator_verifier`` replaces the default one (built from ``secrets``), e.g. to give
    it another clock. ``app.state.receiver`` is the :class:`Receiver`."""
    inbox = store if isinstance(store, Inbox) else Inbox(store)
    receiver = Receiver(
        inbox, secrets, max_body_bytes=max_body_bytes, aggregator_verifier=aggregator_verifier
    )
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # Counts still in memory reach the warehouse when the server stops.
        await run_in_threadpool(receiver.flush_rejections)

    app = Starlette(
        routes=[Route("/webhooks/{provider}", receiver.handle, methods=methods)],
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    return app
