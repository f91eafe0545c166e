"""Helpers of the webhook receiver tests: an in-process ASGI client and signing shortcuts.

Starlette's TestClient needs ``httpx2``, which this environment does not install, so the
tests drive the ASGI app directly: one request in, status/headers/body out. It exercises
the same code a server would (routing, streaming body, the app's threadpool hops).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finpipe.webhooks import WebhookSecrets, hmac_base64

QBO_TOKEN = "qbo-verifier-token-for-tests"
XERO_KEY = "xero-webhook-key-for-tests"
SECRETS = WebhookSecrets(quickbooks_verifier_token=QBO_TOKEN, xero_webhook_key=XERO_KEY)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def call(
    app: Any,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | Sequence[tuple[bytes, bytes]] = (),
    *,
    chunk: int | None = None,
    content_length: bool = True,
) -> Answer:
    """Send one HTTP request to the ASGI ``app``. ``headers`` may be raw byte pairs (to send
    what no HTTP client would); ``chunk`` streams the body in pieces of that size."""
    if isinstance(headers, Mapping):
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    else:
        raw = list(headers)
    if content_length and not any(k == b"content-length" for k, _ in raw):
        raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1", errors="replace"),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8780),
    }
    size = chunk or max(len(body), 1)
    pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a real server would wait for a disconnect
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    return Answer(
        status=start["status"],
        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])},
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def post(app: Any, provider: str, body: bytes, headers: Mapping[str, str] | None = None) -> Answer:
    """POST ``body`` to the provider's endpoint."""
    return call(app, "POST", f"/webhooks/{provider}", body, dict(headers or {}))


def qbo_headers(body: bytes, token: str = QBO_TOKEN) -> dict[str, str]:
    return {"intuit-signature": hmac_base64(token, body), "content-type": "application/json"}


def xero_headers(body: bytes, key: str = XERO_KEY) -> dict[str, str]:
    return {"x-xero-signature": hmac_base64(key, body), "content-type": "application/json"}


def itr_body(sequence: int = 0) -> bytes:
    """An Intent-to-Receive delivery: no events, sequences 0."""
    return (
        b'{"events":[],"firstEventSequence":%d,"lastEventSequence":%d,'
        b'"entropy":"OSHPXTUSXASRFBBCJFEN"}' % (sequence, sequence)
    )
