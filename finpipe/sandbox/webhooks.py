"""Webhooks the sandbox providers send when their data changes, signed as the providers sign.

:class:`WebhookSender` is shared by the sandboxes: :meth:`WebhookSender.send` queues a body
and returns at once; a background thread POSTs it to ``<receiver>/webhooks/<provider>``
with the provider's signature header and retries on a non-2xx answer or a connection error
with exponential backoff (``backoff * 2**n``, at most ``max_backoff`` seconds, ``retries``
retries), so a sandbox request never waits on the receiver. Every delivery and attempt is
kept in :attr:`WebhookSender.deliveries` for tests.

Signatures:

* QuickBooks: ``intuit-signature`` = base64 HMAC-SHA256 of the raw body with the verifier
  token; Xero: ``x-xero-signature`` the same with the webhook key;
* the aggregator: ``Plaid-Verification``, the ES256 JWT of the aggregator sandbox's own
  :class:`~finpipe.sandbox.aggregator.webhooks.WebhookKeys` (passed to ``send`` as ``sign``,
  re-signed on every attempt so a retry carries a fresh ``iat``).

Off unless configured: :meth:`WebhookSender.from_env` reads ``FINPIPE_SANDBOX_WEBHOOK_URL``
(the receiver's base URL, e.g. ``http://127.0.0.1:8780``) plus
``FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER`` and ``FINPIPE_XERO_WEBHOOK_KEY`` (the receiver's
secrets); without the URL it returns ``None`` and nothing is ever sent. A provider without
its secret is skipped. Tests pass a sender to the sandbox explicitly.

The body builders below produce the documented payloads: QuickBooks' legacy
``eventNotifications`` (default) or its CloudEvents array, Xero's ``events`` batch with
sequences and entropy, and the aggregator's ``SYNC_UPDATES_AVAILABLE``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import heapq
import hmac
import json
import logging
import os
import secrets as _secrets
import string
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

UTC = dt.UTC
HEADERS = {
    "quickbooks": "intuit-signature",
    "xero": "x-xero-signature",
    "aggregator": "Plaid-Verification",
}
PROVIDERS = tuple(HEADERS)
URL_ENV = "FINPIPE_SANDBOX_WEBHOOK_URL"
SECRET_ENV = {
    "quickbooks": "FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER",
    "xero": "FINPIPE_XERO_WEBHOOK_KEY",
}

Signer = Callable[[bytes], str]


def hmac_signature(key: str | bytes, body: bytes) -> str:
    """base64(HMAC-SHA256(key, body)): QuickBooks' and Xero's signature header."""
    raw = key.encode() if isinstance(key, str) else key
    return base64.b64encode(hmac.new(raw, body, hashlib.sha256).digest()).decode("ascii")


@dataclass(frozen=True)
class Attempt:
    """One POST of a delivery: the HTTP status, or the connection error."""

    at: float
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    """One webhook body on its way to the receiver."""

    id: int
    provider: str
    url: str
    body: bytes
    sign: Signer = field(repr=False)
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"  # pending | delivered | failed

    @property
    def delivered(self) -> bool:
        return self.state == "delivered"

    @property
    def document(self) -> Any:
        return json.loads(self.body)


class WebhookSender:
    """POSTs signed webhook bodies in a background thread, retrying with backoff.

    ``url_by_provider`` maps a provider to the URL its webhooks go to; ``secrets`` maps a
    provider to its HMAC key (or to a function signing a body). A provider missing from
    either is not sent to (unless ``send`` gets a ``sign`` function)."""

    def __init__(
        self,
        url_by_provider: Mapping[str, str],
        secrets: Mapping[str, str | Signer] | None = None,
        *,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 5.0,
        keep: int = 10_000,
    ) -> None:
        self.url_by_provider = dict(url_by_provider)
        self._secrets = dict(secrets or {})
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._deliveries: deque[Delivery] = deque(maxlen=keep)
        self._queue: list[tuple[float, int, Delivery]] = []
        self._cond = threading.Condition()
        self._next_id = 0
        self._busy = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._sequences: dict[str, int] = {}

    def __repr__(self) -> str:  # never show the secrets
        return f"WebhookSender(urls={self.url_by_provider!r}, retries={self.retries})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> WebhookSender | None:
        """The sender configured by ``FINPIPE_SANDBOX_WEBHOOK_URL`` and the receiver's
        secrets, or ``None`` (webhooks off) when the URL is not set."""
        env = os.environ if env is None else env
        base = (env.get(URL_ENV) or "").strip().rstrip("/")
        if not base:
            return None
        urls = {provider: f"{base}/webhooks/{provider}" for provider in PROVIDERS}
        keys: dict[str, str | Signer] = {}
        for provider, name in SECRET_ENV.items():
            if env.get(name):
                keys[provider] = env[name]
            else:
                log.warning("sandbox webhooks to %s are off: %s is not set", provider, name)
        return cls(urls, keys, **options)

    # ------------------------------------------------------------------ sending

    def enabled(self, provider: str) -> bool:
        """Whether ``provider``'s webhooks have somewhere to go (and a key, for HMAC)."""
        return provider in self.url_by_provider and (
            provider == "aggregator" or provider in self._secrets
        )

    def sequence(self, provider: str, count: int) -> tuple[int, int]:
        """The next ``count`` event sequence numbers of ``provider`` (Xero's
        ``firstEventSequence`` / ``lastEventSequence``)."""
        with self._cond:
            first = self._sequences.get(provider, 0) + 1
            self._sequences[provider] = first + count - 1
            return first, first + count - 1

    def send(self, provider: str, body: bytes, *, sign: Signer | None = None) -> Delivery | None:
        """Queue ``body`` for ``provider``; returns the :class:`Delivery` (``None`` when the
        provider is not configured). Never blocks on the receiver."""
        url = self.url_by_provider.get(provider)
        if sign is None:
            secret = self._secrets.get(provider)
            if isinstance(secret, str):
                key = secret

                def sign(data: bytes) -> str:
                    return hmac_signature(key, data)

            elif secret is not None:
                sign = secret
        if url is None or sign is None:
            return None
        with self._cond:
            if self._closed:
                return None
            self._next_id += 1
            delivery = Delivery(self._next_id, provider, url, body, sign)
            self._deliveries.append(delivery)
            heapq.heappush(self._queue, (time.monotonic(), delivery.id, delivery))
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-webhooks", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return delivery

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery so far (the newest ``keep``), oldest first."""
        with self._cond:
            return list(self._deliveries)

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery is pending; False when ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the background thread (deliveries still pending are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------- the worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, delivery = heapq.heappop(self._queue)
            attempt = self._post(delivery)
            with self._cond:
                delivery.attempts.append(attempt)
                if attempt.ok or len(delivery.attempts) > self.retries:
                    delivery.state = "delivered" if attempt.ok else "failed"
                    self._busy -= 1
                    if not attempt.ok:
                        log.warning(
                            "sandbox webhook to %s gave up after %d attempts (last: %s)",
                            delivery.url,
                            len(delivery.attempts),
                            attempt.error or attempt.status,
                        )
                else:
                    delay = min(self.max_backoff, self.backoff * 2 ** (len(delivery.attempts) - 1))
                    heapq.heappush(self._queue, (time.monotonic() + delay, delivery.id, delivery))
                self._cond.notify_all()

    def _post(self, delivery: Delivery) -> Attempt:
        at = time.time()
        try:
            signature = delivery.sign(delivery.body)
        except Exception as exc:  # a broken signer must not kill the thread
            return Attempt(at, None, f"signing failed: {type(exc).__name__}")
        request = urllib.request.Request(
            delivery.url,
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                HEADERS[delivery.provider]: signature,
                "User-Agent": f"finpipe-sandbox-{delivery.provider}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read()
                return Attempt(at, answer.status)
        except urllib.error.HTTPError as exc:
            exc.read()
            return Attempt(at, exc.code)
        except (OSError, ValueError) as exc:
            return Attempt(at, None, f"{type(exc).__name__}: {exc}"[:200])


# ------------------------------------------------------------------ the bodies


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def quickbooks_body(
    realm_id: str,
    changes: Iterable[tuple[str, str, str, str]],
    *,
    cloudevents: bool = False,
) -> bytes:
    """QuickBooks' webhook for ``changes`` of one realm: ``(entity, id, operation,
    lastUpdated)`` with QBO's spelling (``Invoice``, ``Create``/``Update``/``Delete``/
    ``Void``). Legacy ``eventNotifications`` by default, else the CloudEvents array."""
    changes = list(changes)
    if cloudevents:
        verbs = {"create": "created", "update": "updated", "delete": "deleted", "void": "voided"}
        return _dumps(
            [
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
                    "type": f"qbo.{entity.lower()}.{verbs.get(op.lower(), op.lower())}.v1",
                    "datacontenttype": "application/json",
                    "time": updated,
                    "intuitentityid": record_id,
                    "intuitaccountid": realm_id,
                    "data": {},
                }
                for entity, record_id, op, updated in changes
            ]
        )
    return _dumps(
        {
            "eventNotifications": [
                {
                    "realmId": realm_id,
                    "dataChangeEvent": {
                        "entities": [
                            {"name": entity, "id": record_id, "operation": op, "lastUpdated": when}
                            for entity, record_id, op, when in changes
                        ]
                    },
                }
            ]
        }
    )


# Xero sends webhooks for these endpoints only.
XERO_CATEGORIES = {"Invoices": "INVOICE", "Contacts": "CONTACT", "CreditNotes": "CREDITNOTE"}


def xero_event(
    tenant_id: str, endpoint: str, resource_id: str, created: bool, when: dt.datetime
) -> dict[str, Any]:
    """One event of a Xero delivery (``eventDateUtc`` without a zone, as Xero writes it)."""
    utc = when.astimezone(UTC).replace(tzinfo=None)
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{endpoint}/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": utc.isoformat(timespec="milliseconds"),
        "eventType": "CREATE" if created else "UPDATE",
        "eventCategory": XERO_CATEGORIES[endpoint],
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }


def xero_body(events: list[dict[str, Any]], first: int, last: int) -> bytes:
    """A Xero delivery: ``events``, the sequences and a random ``entropy``."""
    entropy = "".join(_secrets.choice(string.ascii_uppercase) for _ in range(20))
    return _dumps(
        {
            "events": events,
            "firstEventSequence": first,
            "lastEventSequence": last,
            "entropy": entropy,
        }
    )


# ------------------------------------------------------- what the sandboxes call


def notify_quickbooks(
    sender: WebhookSender | None,
    realm_id: str,
    changes: Iterable[tuple[str, str, str, str]],
    *,
    cloudevents: bool = False,
) -> Delivery | None:
    """Send QuickBooks' webhook for ``changes`` of ``realm_id`` (no-op without a sender)."""
    changes = list(changes)
    if sender is None or not changes or not sender.enabled("quickbooks"):
        return None
    return sender.send("quickbooks", quickbooks_body(realm_id, changes, cloudevents=cloudevents))


def notify_xero(
    sender: WebhookSender | None,
    tenant_id: str,
    changes: Iterable[tuple[str, dict[str, Any], bool]],
) -> Delivery | None:
    """Send Xero's webhook for ``changes`` ``(endpoint, record, created)`` of a tenant;
    endpoints Xero sends no webhooks for are left out (no-op without a sender)."""
    if sender is None or not sender.enabled("xero"):
        return None
    from finpipe.connectors.xero.endpoints import ENDPOINTS
    from finpipe.connectors.xero.parse import parse_date

    events = []
    for endpoint, record, created in changes:
        if endpoint not in XERO_CATEGORIES:
            continue
        when = parse_date(record.get("UpdatedDateUTC")) or dt.datetime.now(UTC)
        resource_id = str(record[ENDPOINTS[endpoint].id_field])
        events.append(xero_event(tenant_id, endpoint, resource_id, created, when))
    if not events:
        return None
    first, last = sender.sequence("xero", len(events))
    return sender.send("xero", xero_body(events, first, last))


def notify_aggregator(
    sender: WebhookSender | None,
    item_id: str,
    sign: Signer,
    webhook_code: str = "SYNC_UPDATES_AVAILABLE",
) -> Delivery | None:
    """Send the aggregator's TRANSACTIONS webhook for ``item_id``, signed by ``sign`` (the
    sandbox's ``WebhookKeys.sign``); no-op without a sender."""
    if sender is None or not sender.enabled("aggregator"):
        return None
    from finpipe.sandbox.aggregator.webhooks import webhook_body

    return sender.send("aggregator", webhook_body(item_id, webhook_code), sign=sign)
