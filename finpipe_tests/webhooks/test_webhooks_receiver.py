"""The receiver over ASGI: statuses, what is stored, replays, and 503 when storing fails."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from webhook_helpers import (
    QBO_TOKEN,
    SECRETS,
    XERO_KEY,
    Answer,
    call,
    itr_body,
    post,
    qbo_headers,
    xero_headers,
)

from finpipe.warehouse import Warehouse, WarehouseError
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX
from finpipe.webhooks import (
    Inbox,
    StoreResult,
    WebhookSecrets,
    create_app,
    hmac_base64,
    parse_quickbooks,
    parse_xero,
)


def _rejections(inbox: Inbox) -> dict[tuple[str, str], int]:
    frame = inbox.rejections()
    return {(r["provider"], r["reason"]): r["count"] for r in frame.iter_rows(named=True)}


def _expect(answer: Answer, status: int) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])


@pytest.mark.conformance
def test_conformance_bodies_are_stored(wh: Warehouse, conformance_dir: Path) -> None:
    folder = conformance_dir / "webhooks"
    legacy = json.loads((folder / "quickbooks_legacy_signature_vector.json").read_text())
    app = create_app(
        wh,
        WebhookSecrets(
            quickbooks_verifier_token=legacy["verifier_token"], xero_webhook_key=XERO_KEY
        ),
    )
    body = (folder / legacy["body_file"]).read_bytes()
    answer = post(app, "quickbooks", body, {"intuit-signature": legacy["signature"]})
    _expect(answer, 200)
    assert answer.body == b""
    for name in (
        "quickbooks_cloudevents_customer_created.json",
        "quickbooks_cloudevents_invoice_deleted.json",
    ):
        raw = (folder / name).read_bytes()
        _expect(post(app, "quickbooks", raw, qbo_headers(raw, legacy["verifier_token"])), 200)
    for name in ("xero_contact_update.json", "xero_creditnote_create.json"):
        raw = (folder / name).read_bytes()
        answer = post(app, "xero", raw, xero_headers(raw))
        _expect(answer, 200)
        assert answer.body == b""
    inbox: Inbox = app.state.receiver.inbox
    events = inbox.events().sort("provider", "entity", "tenant_id")
    assert events.select("provider", "tenant_id", "entity", "entity_id", "operation").rows() == [
        ("quickbooks", "1185883450", "customer", "1", "create"),
        ("quickbooks", "310687", "customer", "1234", "create"),
        ("quickbooks", "9341455322581846", "invoice", "29", "delete"),
        (
            "xero",
            "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
            "contact",
            "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
            "update",
        ),
        (
            "xero",
            "aef86862-2015-4b6b-88bc-d89032cecc50",
            "creditnote",
            "55d84274-a3da-4829-a7c0-0cab601b95cc",
            "create",
        ),
    ]
    stored = events.filter(pl.col("event_id") == "delete-event").row(0, named=True)
    assert json.loads(stored["payload"])["type"] == "qbo.invoice.deleted.v1"
    assert stored["received_at"] is not None
    assert inbox.rejections().is_empty()


def test_xero_intent_to_receive(duck_wh: Warehouse) -> None:
    app = create_app(duck_wh, SECRETS)
    body = itr_body()
    good = post(app, "xero", body, xero_headers(body))
    assert (good.status, good.body) == (200, b"")
    bad = post(app, "xero", body, xero_headers(body, "not-the-key"))
    assert (bad.status, bad.body) == (401, b"")
    # Every correctly signed / incorrectly signed request, whatever its body.
    missing = post(app, "xero", body)
    assert (missing.status, missing.body) == (401, b"")
    inbox: Inbox = app.state.receiver.inbox
    assert inbox.count() == 0
    assert _rejections(inbox) == {("xero", "bad_signature"): 1, ("xero", "missing_signature"): 1}


def _legacy(realm: str = "123", entity_id: str = "1", when: str = "2026-01-01T00:00:00Z") -> bytes:
    return json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": realm,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Invoice",
                                "id": entity_id,
                                "operation": "Update",
                                "lastUpdated": when,
                            }
                        ]
                    },
                }
            ]
        }
    ).encode()


def test_rejected_requests_store_nothing_but_a_counter(wh: Warehouse) -> None:
    app = create_app(wh, SECRETS, max_body_bytes=4096)
    inbox: Inbox = app.state.receiver.inbox
    body = _legacy()
    cases: list[tuple[str, Any, int, str]] = [
        (
            "tampered",
            lambda: post(app, "quickbooks", body.replace(b"123", b"124"), qbo_headers(body)),
            401,
            "bad_signature",
        ),
        (
            "wrong key",
            lambda: post(app, "quickbooks", body, qbo_headers(body, "wrong")),
            401,
            "bad_signature",
        ),
        ("unsigned", lambda: post(app, "quickbooks", body), 401, "missing_signature"),
        (
            "xero wrong key",
            lambda: post(app, "xero", body, xero_headers(body, QBO_TOKEN)),
            401,
            "bad_signature",
        ),
        (
            "oversized declared",
            lambda: post(app, "quickbooks", b"x" * 5000, qbo_headers(b"x" * 5000)),
            413,
            "body_too_large",
        ),
        (
            "oversized streamed",
            lambda: call(
                app,
                "POST",
                "/webhooks/quickbooks",
                b"x" * 5000,
                qbo_headers(b"x" * 5000),
                chunk=1000,
                content_length=False,
            ),
            413,
            "body_too_large",
        ),
        (
            "malformed json",
            lambda: post(app, "quickbooks", b"{not json", qbo_headers(b"{not json")),
            400,
            "malformed_json",
        ),
        (
            "wrong shape",
            lambda: post(app, "quickbooks", b'{"stuff":"5"}', qbo_headers(b'{"stuff":"5"}')),
            400,
            "malformed_payload",
        ),
        (
            "xero malformed",
            lambda: post(app, "xero", b"[1,", xero_headers(b"[1,")),
            400,
            "malformed_json",
        ),
        (
            "bad content-length",
            lambda: call(
                app,
                "POST",
                "/webhooks/quickbooks",
                body,
                {**qbo_headers(body), "content-length": "12x"},
            ),
            400,
            "bad_content_length",
        ),
        ("GET", lambda: call(app, "GET", "/webhooks/quickbooks"), 405, "method_not_allowed"),
        (
            "unknown provider",
            lambda: post(app, "stripe", body, qbo_headers(body)),
            404,
            "unknown_provider",
        ),
        ("aggregator not configured", lambda: post(app, "aggregator", body), 503, "not_configured"),
    ]
    for name, send, status, _ in cases:
        answer = send()
        assert answer.status == status, (name, answer.status, answer.body[:200])
    assert call(app, "DELETE", "/webhooks/xero").headers.get("allow") == "POST"
    assert inbox.count() == 0
    counted = _rejections(inbox)
    assert counted[("quickbooks", "bad_signature")] == 2
    assert counted[("quickbooks", "body_too_large")] == 2
    assert counted[("unknown", "unknown_provider")] == 1
    for _, _, _, reason in cases:
        assert any(r == reason for _, r in counted), reason
    # Only counters: no body, header or address is kept anywhere.
    assert set(inbox.rejections().columns) == {"provider", "reason", "day", "count", "updated_at"}


def test_replays_are_stored_once(wh: Warehouse) -> None:
    app = create_app(wh, SECRETS)
    inbox: Inbox = app.state.receiver.inbox
    body = _legacy()
    for _ in range(3):
        _expect(post(app, "quickbooks", body, qbo_headers(body)), 200)
    assert inbox.count() == 1
    # The same CloudEvent id inside a different delivery (batched with a new one).
    first = json.dumps([_cloudevent("evt-1", "7")]).encode()
    second = json.dumps([_cloudevent("evt-1", "7"), _cloudevent("evt-2", "8")], indent=1).encode()
    _expect(post(app, "quickbooks", first, qbo_headers(first)), 200)
    _expect(post(app, "quickbooks", second, qbo_headers(second)), 200)
    assert {"evt-1", "evt-2"} <= set(inbox.events().get_column("event_id"))
    assert inbox.count() == 3
    # The same change announced as UPDATE and as Update by Xero: one event.
    upper = _xero("UPDATE")
    mixed = _xero("Update")
    _expect(post(app, "xero", upper, xero_headers(upper)), 200)
    _expect(post(app, "xero", mixed, xero_headers(mixed)), 200)
    assert inbox.count() == 4
    # A delivery whose body was seen within the window is dropped as a whole, even when
    # its events have ids the inbox does not hold (a re-signed copy of the same body).
    digest = hashlib.sha256(body).hexdigest()
    fresh = parse_quickbooks(json.loads(_legacy(entity_id="99")))
    assert inbox.store("quickbooks", fresh, digest) == StoreResult(0, 1)
    # Outside the window only the event id counts.
    later = Inbox(wh, replay_window=dt.timedelta(0))
    assert later.store("quickbooks", fresh, digest) == StoreResult(1, 0)
    assert later.store("quickbooks", fresh, "another-body") == StoreResult(0, 1)
    assert inbox.count() == 5


def _cloudevent(event_id: str, entity_id: str) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": "qbo.invoice.updated.v1",
        "intuitaccountid": "9341455322581846",
        "intuitentityid": entity_id,
        "time": "2026-01-02T03:04:05.000Z",
    }


def _xero(event_type: str) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/abc",
                    "resourceId": "abc",
                    "eventDateUtc": "2026-01-02T03:04:05.123",
                    "eventType": event_type,
                    "eventCategory": "INVOICE",
                    "tenantId": "t-1",
                    "tenantType": "ORGANISATION",
                }
            ],
            "firstEventSequence": 5,
            "lastEventSequence": 5,
            "entropy": "X",
        }
    ).encode()


class FailingWarehouse:
    """A warehouse whose reads work and whose writes raise (a full disk, a lost server)."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.fail = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upsert(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail:
            raise WarehouseError("writing ops.webhook_inbox failed: disk full")
        return self.inner.upsert(*args, **kwargs)


def test_store_failure_answers_503_and_acknowledges_nothing(wh: Warehouse) -> None:
    failing = FailingWarehouse(wh)
    inbox = Inbox(failing)  # type: ignore[arg-type]
    app = create_app(inbox, SECRETS)
    body = _legacy(entity_id="42")
    answer = post(app, "quickbooks", body, qbo_headers(body))
    _expect(answer, 503)
    assert json.loads(answer.body)["error"] == "store_failed"
    assert wh.count(WEBHOOK_INBOX) == 0
    # The provider retries once the warehouse is back: stored then, exactly once.
    failing.fail = False
    _expect(post(app, "quickbooks", body, qbo_headers(body)), 200)
    _expect(post(app, "quickbooks", body, qbo_headers(body)), 200)
    assert wh.count(WEBHOOK_INBOX) == 1


def test_store_failure_on_the_replay_check_is_503(duck_wh: Warehouse) -> None:
    class Unreachable(FailingWarehouse):
        def query(self, *args: Any, **kwargs: Any) -> Any:
            raise WarehouseError("cannot reach the warehouse")

    app = create_app(Inbox(Unreachable(duck_wh)), SECRETS)  # type: ignore[arg-type]
    body = _xero("UPDATE")
    answer = post(app, "xero", body, xero_headers(body))
    assert (answer.status, answer.body) == (503, b"")
    assert duck_wh.count(WEBHOOK_INBOX) == 0


def test_secrets_from_env_and_never_in_repr() -> None:
    secrets = WebhookSecrets.from_env(
        {
            "FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER": "qbo-secret",
            "FINPIPE_XERO_WEBHOOK_KEY": "xero-secret",
            "FINPIPE_AGGREGATOR_CLIENT_ID": "client",
            "FINPIPE_AGGREGATOR_SECRET": "agg-secret",
            "FINPIPE_AGGREGATOR_API_BASE": "http://127.0.0.1:1/aggregator/",
        }
    )
    assert secrets.configured() == ["quickbooks", "xero", "aggregator"]
    assert secrets.aggregator_verification_key_url == (
        "http://127.0.0.1:1/aggregator/webhook_verification_key/get"
    )
    text = repr(secrets)
    assert "secret" not in text.replace("WebhookSecrets", "").replace("aggregator_secret", "")
    assert WebhookSecrets.from_env({"FINPIPE_SANDBOX_URL": "http://h:1"}).aggregator_api_base == (
        "http://h:1/aggregator"
    )
    assert WebhookSecrets.from_env({}).configured() == []
    assert hmac_base64(QBO_TOKEN, b"") != hmac_base64(XERO_KEY, b"")


def test_concurrent_deliveries_group_commit_and_stay_exact(wh: Warehouse) -> None:
    """Deliveries racing in from many threads: each returns after its events are durable,
    duplicates (inside one group or across groups) are stored once, and groups share
    commits."""
    inbox = Inbox(wh)
    bodies = [_xero_change(n % 60) for n in range(120)]  # every change delivered twice
    results: list[StoreResult] = []
    lock = threading.Lock()

    def deliver(body: bytes) -> None:
        result = inbox.store("xero", parse_xero(json.loads(body)), hashlib.sha256(body).hexdigest())
        with lock:
            results.append(result)

    with ThreadPoolExecutor(max_workers=24) as pool:
        list(pool.map(deliver, bodies))
    assert sum(r.stored for r in results) == 60
    assert sum(r.duplicates for r in results) == 60
    assert inbox.count() == 60
    assert inbox.commits < len(bodies)


def _xero_change(n: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "resourceId": f"inv-{n}",
                    "eventDateUtc": "2026-01-02T03:04:05.123",
                    "eventType": "UPDATE",
                    "eventCategory": "INVOICE",
                    "tenantId": "t-1",
                }
            ],
            "firstEventSequence": n,
            "lastEventSequence": n,
            "entropy": "X",
        }
    ).encode()


def test_cli_registers_webhooks_serve() -> None:
    from click.testing import CliRunner

    from finpipe.cli import cli

    result = CliRunner().invoke(cli, ["webhooks", "serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output and "FINPIPE_XERO_WEBHOOK_KEY" in result.output


def test_identical_aggregator_bodies_from_new_notifications_are_both_stored(
    wh: Warehouse,
) -> None:
    """Plaid's SYNC_UPDATES_AVAILABLE is the same bytes for every change of an item: a new
    notification (new JWT, new iat, so a new event id) is not a replay of the last one."""
    from finpipe.webhooks.events import WebhookEvent
    from finpipe.webhooks.inbox import Inbox

    inbox = Inbox(wh)

    def event(iat: int) -> WebhookEvent:
        return WebhookEvent(
            provider="aggregator",
            event_id=f"agg-{'a' * 32}-{iat}",
            tenant_id="item-1",
            entity="transactions",
            entity_id="item-1",
            operation="sync_updates_available",
            occurred_at=dt.datetime.fromtimestamp(iat, dt.UTC),
            payload={"webhook_code": "SYNC_UPDATES_AVAILABLE"},
        )

    assert inbox.store("aggregator", [event(1_800_000_000)], "b" * 64).stored == 1
    assert inbox.store("aggregator", [event(1_800_000_060)], "b" * 64).stored == 1
    # the same JWT again is a replay
    assert inbox.store("aggregator", [event(1_800_000_060)], "b" * 64).stored == 0
    assert inbox.count() == 2
