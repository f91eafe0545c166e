"""The aggregator path against the real aggregator sandbox over HTTP: keys fetched by kid
from ``/webhook_verification_key/get`` and cached, rotation, unknown and expired keys, and
the receiver itself under uvicorn."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from webhook_helpers import Answer, post

from finpipe.sandbox.aggregator.app import AggregatorSandbox, build
from finpipe.sandbox.aggregator.webhooks import WebhookKeys, webhook_body
from finpipe.sandbox.server import SandboxCredentials, SandboxServer, free_port
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX
from finpipe.webhooks import Inbox, WebhookSecrets, create_app

Running = tuple[AggregatorSandbox, SandboxServer, SandboxCredentials]


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("webhooks_world")
    generate_world(WorldSpec(companies=2, months=1, seed=4), out)
    return load_world(Path(out))


@pytest.fixture
def running(small_world: World, serve_provider: Callable[..., SandboxServer]) -> Running:
    creds = SandboxCredentials()
    sandbox = build(small_world, creds)
    return sandbox, serve_provider(small_world, sandbox, creds), creds


def _secrets(
    server: SandboxServer, creds: SandboxCredentials, secret: str | None = None
) -> WebhookSecrets:
    return WebhookSecrets(
        aggregator_client_id=creds.client_id,
        aggregator_secret=secret or creds.client_secret,
        aggregator_api_base=server.url("aggregator"),
    )


def _send(app: object, keys: WebhookKeys, body: bytes, **sign: object) -> Answer:
    return post(app, "aggregator", body, {"Plaid-Verification": keys.sign(body, **sign)})  # type: ignore[arg-type]


def test_verification_key_endpoint_shape(running: Running) -> None:
    sandbox, server, creds = running
    kid = sandbox.webhook_keys.current.kid
    answer = requests.post(
        server.url("aggregator") + "/webhook_verification_key/get",
        json={"client_id": creds.client_id, "secret": creds.client_secret, "key_id": kid},
        timeout=10,
    )
    assert answer.status_code == 200
    key = answer.json()["key"]
    assert set(key) == {"alg", "crv", "kid", "kty", "use", "x", "y", "created_at", "expired_at"}
    assert (key["alg"], key["crv"], key["kty"], key["use"], key["kid"]) == (
        "ES256",
        "P-256",
        "EC",
        "sig",
        kid,
    )
    assert key["expired_at"] is None
    unknown = requests.post(
        server.url("aggregator") + "/webhook_verification_key/get",
        json={"client_id": creds.client_id, "secret": creds.client_secret, "key_id": "nope"},
        timeout=10,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error_type"] == "INVALID_INPUT"
    wrong = requests.post(
        server.url("aggregator") + "/webhook_verification_key/get",
        json={"client_id": creds.client_id, "secret": "wrong", "key_id": kid},
        timeout=10,
    )
    assert wrong.json()["error_code"] == "INVALID_API_KEYS"


def test_signed_webhooks_stored_with_one_key_fetch(running: Running, wh: Warehouse) -> None:
    sandbox, server, creds = running
    app = create_app(wh, _secrets(server, creds))
    keys = sandbox.webhook_keys
    for n in range(25):
        answer = _send(app, keys, webhook_body(f"item-{n % 5}", new_transactions=n))
        assert answer.status == 200, answer.body
    # A delivery replayed as is (same JWT, same body) is stored once.
    body = webhook_body("item-replayed", new_transactions=1)
    token = keys.sign(body)
    for _ in range(2):
        assert post(app, "aggregator", body, {"Plaid-Verification": token}).status == 200
    assert keys.lookups == 1
    assert app.state.receiver.aggregator_verifier.fetches == 1
    inbox: Inbox = app.state.receiver.inbox
    events = inbox.events("aggregator")
    assert events.height == 26
    row = events.row(0, named=True)
    assert (row["entity"], row["operation"]) == ("transactions", "sync_updates_available")
    assert row["tenant_id"].startswith("item-")


def test_rotated_expired_and_unknown_keys(running: Running, duck_wh: Warehouse) -> None:
    sandbox, server, creds = running
    app = create_app(duck_wh, _secrets(server, creds))
    keys = sandbox.webhook_keys
    old = keys.current.kid
    assert _send(app, keys, webhook_body("item-1")).status == 200
    keys.rotate()  # the old key is expired at the aggregator
    assert _send(app, keys, webhook_body("item-2")).status == 200
    stale = _send(app, keys, webhook_body("item-3"), kid=old)
    assert stale.status == 401 and b"expired_key" in stale.body
    stranger = _send(app, WebhookKeys(), webhook_body("item-4"))
    assert stranger.status == 401 and b"unknown_key" in stranger.body
    late = _send(app, keys, webhook_body("item-5"), iat=int(time.time()) - 400)
    assert late.status == 401 and b"expired_jwt" in late.body
    body = webhook_body("item-6")
    tampered = post(
        app,
        "aggregator",
        body.replace(b"item-6", b"item-7"),
        {"Plaid-Verification": keys.sign(body)},
    )
    assert tampered.status == 401 and b"body_hash_mismatch" in tampered.body
    inbox: Inbox = app.state.receiver.inbox
    assert sorted(inbox.events().get_column("tenant_id")) == ["item-1", "item-2"]
    reasons = set(inbox.rejections().get_column("reason"))
    assert {"expired_key", "unknown_key", "expired_jwt", "body_hash_mismatch"} <= reasons


def test_aggregator_unreachable_or_wrong_keys_is_retryable(
    running: Running, duck_wh: Warehouse
) -> None:
    sandbox, server, creds = running
    keys = sandbox.webhook_keys
    wrong = create_app(duck_wh, _secrets(server, creds, secret="not-the-secret"))
    answer = _send(wrong, keys, webhook_body("item-1"))
    assert answer.status == 503 and b"key_unavailable" in answer.body
    down = create_app(
        duck_wh,
        WebhookSecrets(
            aggregator_client_id=creds.client_id,
            aggregator_secret=creds.client_secret,
            aggregator_api_base=f"http://127.0.0.1:{free_port()}/aggregator",
        ),
    )
    answer = _send(down, keys, webhook_body("item-1"))
    assert answer.status == 503
    assert b"not-the-secret" not in answer.body and creds.client_secret.encode() not in answer.body
    assert duck_wh.count(WEBHOOK_INBOX) == 0


@pytest.fixture
def receiver_url(running: Running, duck_wh: Warehouse) -> Iterator[tuple[str, Warehouse]]:
    """The receiver under uvicorn on loopback, as `finpipe webhooks serve` runs it."""
    _, server, creds = running
    port = free_port()
    app = create_app(duck_wh, _secrets(server, creds))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", duck_wh
    uv.should_exit = True
    thread.join(10)


def test_receiver_over_http(running: Running, receiver_url: tuple[str, Warehouse]) -> None:
    sandbox, _, _ = running
    url, warehouse = receiver_url
    keys = sandbox.webhook_keys
    body = webhook_body("item-http")
    ok = requests.post(
        f"{url}/webhooks/aggregator",
        data=body,
        headers={"Plaid-Verification": keys.sign(body)},
        timeout=10,
    )
    assert (ok.status_code, ok.content) == (200, b"")
    assert requests.get(f"{url}/webhooks/aggregator", timeout=10).status_code == 405
    assert requests.post(f"{url}/webhooks/nope", data=b"{}", timeout=10).status_code == 404
    big = requests.post(f"{url}/webhooks/aggregator", data=b"x" * (2 << 20), timeout=10)
    assert big.status_code == 413
    assert warehouse.count(WEBHOOK_INBOX) == 1
