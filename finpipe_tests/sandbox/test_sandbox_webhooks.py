"""The sandbox providers announce data changes with signed webhooks: a QBO invoice write, a
Xero invoice write and aggregator transactions appearing reach the real receiver (under
uvicorn) and land in ``ops.webhook_inbox``; a receiver answering 5xx is retried until 2xx;
with nothing configured nothing is sent."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
import uvicorn

from finpipe.connectors import payloads
from finpipe.sandbox.aggregator import app as aggregator_app
from finpipe.sandbox.quickbooks import app as quickbooks_app
from finpipe.sandbox.server import Sandbox, SandboxCredentials, SandboxServer, build_sandbox
from finpipe.sandbox.webhooks import HEADERS, WebhookSender, hmac_signature
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.sandbox.xero import app as xero_app
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables import webhooks as webhook_tables
from finpipe.webhooks import Inbox, WebhookSecrets, create_app, verify_quickbooks, verify_xero

QBO_TOKEN = "sandbox-qbo-verifier"
XERO_KEY = "sandbox-xero-webhook-key"
UTC = dt.UTC


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Uvicorn:
    """An ASGI app under uvicorn on loopback in a thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """4 companies x 1 month: QuickBooks, Xero and one aggregator company."""
    out = tmp_path_factory.mktemp("webhook_world")
    generate_world(WorldSpec(companies=4, months=1, seed=4), out)
    return load_world(Path(out))


def _sender(base: str, **options: Any) -> WebhookSender:
    urls = {p: f"{base}/webhooks/{p}" for p in HEADERS}
    return WebhookSender(urls, {"quickbooks": QBO_TOKEN, "xero": XERO_KEY}, **options)


def _bank_start(world: World) -> dt.datetime:
    """A bank clock a day before the aggregator's newest line, so advancing shows lines."""
    newest = (
        world.table("bank_lines")
        .join(world.table("bank_accounts"), on="bank_account_id")
        .filter(pl.col("bank_provider") == "aggregator")
        .select(pl.col("created_at").max())
        .collect()
        .item()
    )
    return newest - dt.timedelta(days=1)


class Loop:
    """Sandbox (QBO, Xero, aggregator) -> sender -> receiver -> DuckDB inbox."""

    def __init__(self, world: World, wh: Warehouse) -> None:
        self.receiver_port = _free_port()
        self.sender = _sender(f"http://127.0.0.1:{self.receiver_port}", backoff=0.05)
        creds = SandboxCredentials()
        self.qbo = quickbooks_app.build(world, creds)
        self.qbo.webhooks = self.sender
        self.xero = xero_app.build(world, creds, webhooks=self.sender)
        self.agg = aggregator_app.build(
            world, creds, start=_bank_start(world), webhooks=self.sender
        )
        providers = {p.name: p for p in (self.qbo, self.xero, self.agg)}
        self.server = SandboxServer(Sandbox(world, providers, creds))  # type: ignore[arg-type]
        self.creds = creds
        self.inbox = Inbox(wh)
        secrets = WebhookSecrets(
            quickbooks_verifier_token=QBO_TOKEN,
            xero_webhook_key=XERO_KEY,
            aggregator_client_id=creds.client_id,
            aggregator_secret=creds.client_secret,
            aggregator_api_base=self.server.url("aggregator"),
        )
        self.receiver = _Uvicorn(create_app(self.inbox, secrets), self.receiver_port)

    def bearer(self, provider: Any, subject: str) -> str:
        return "Bearer " + str(provider.oauth._issue(subject, time.time())["access_token"])

    def events(self, provider: str) -> list[dict[str, Any]]:
        return self.inbox.events(provider).to_dicts()


@pytest.fixture
def loop(world: World, duck: Warehouse) -> Iterator[Loop]:
    duck.ensure_tables(webhook_tables.TABLES)
    running = Loop(world, duck)
    with running.server, running.receiver:
        yield running
        running.sender.close()


def test_qbo_invoice_write_reaches_the_inbox(loop: Loop) -> None:
    company, realm = sorted(loop.qbo.realm_by_company.items())[0]
    customer = loop.qbo.records(realm, "Customer")[0]
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [
            {
                "Amount": Decimal("100.00"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"Qty": 1, "UnitPrice": Decimal("100.00")},
            }
        ],
    }
    answer = requests.post(
        f"{loop.server.url('quickbooks')}/v3/company/{realm}/invoice",
        data=payloads.dumps(body),
        headers={
            "Authorization": loop.bearer(loop.qbo, company),
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    invoice_id = answer.json()["Invoice"]["Id"]
    loop.qbo.void(realm, "Invoice", invoice_id)  # the mutation API announces too
    assert loop.sender.wait(10)
    deliveries = loop.sender.deliveries
    assert [d.state for d in deliveries] == ["delivered", "delivered"]
    assert [a.status for a in deliveries[0].attempts] == [200]
    document = deliveries[0].document
    (notification,) = document["eventNotifications"]
    assert notification["realmId"] == realm
    (entity,) = notification["dataChangeEvent"]["entities"]
    assert entity["name"] == "Invoice" and entity["id"] == invoice_id
    assert entity["operation"] == "Create" and entity["lastUpdated"]
    events = loop.events("quickbooks")
    assert [(e["tenant_id"], e["entity"], e["entity_id"], e["operation"]) for e in events] == [
        (realm, "invoice", invoice_id, "create"),
        (realm, "invoice", invoice_id, "void"),
    ]


def test_xero_invoice_write_reaches_the_inbox(loop: Loop) -> None:
    tenant_id = loop.xero.tenant_ids()[0]
    company = loop.xero.companies[tenant_id]["company_id"]
    contact = loop.xero.records(tenant_id, "Contacts")[0]
    invoice = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact["ContactID"]},
        "LineItems": [{"Description": "Work", "Quantity": "2", "UnitAmount": "50.00"}],
    }
    answer = requests.put(
        f"{loop.server.url('xero')}/api.xro/2.0/Invoices",
        data=payloads.dumps({"Invoices": [invoice]}),
        headers={
            "Authorization": loop.bearer(loop.xero, company),
            "xero-tenant-id": tenant_id,
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    invoice_id = answer.json()["Invoices"][0]["InvoiceID"]
    loop.xero.update(tenant_id, "Invoices", invoice_id, {"Reference": "PO-7"})
    assert loop.sender.wait(10)
    first, second = (d.document for d in loop.sender.deliveries)
    (event,) = first["events"]
    assert event["eventType"] == "CREATE" and event["eventCategory"] == "INVOICE"
    assert event["tenantType"] == "ORGANISATION" and event["resourceUrl"].endswith(invoice_id)
    assert (first["firstEventSequence"], first["lastEventSequence"]) == (1, 1)
    assert (second["firstEventSequence"], second["events"][0]["eventType"]) == (2, "UPDATE")
    assert len(first["entropy"]) == 20
    events = loop.events("xero")
    assert sorted(
        (e["tenant_id"], e["entity"], e["entity_id"], e["operation"]) for e in events
    ) == [
        (tenant_id, "invoice", invoice_id, "create"),
        (tenant_id, "invoice", invoice_id, "update"),
    ]


def test_aggregator_transactions_appearing_reach_the_inbox(loop: Loop) -> None:
    company = str(loop.agg.bank.companies.item(0, "company_id"))
    keys = {"client_id": loop.creds.client_id, "secret": loop.creds.client_secret}
    base = loop.server.url("aggregator")
    public = requests.post(
        f"{base}/sandbox/public_token/create",
        json={
            **keys,
            "institution_id": "ins_109508",
            "initial_products": ["transactions"],
            "sandbox_company": company,
        },
        timeout=10,
    ).json()["public_token"]
    linked = requests.post(
        f"{base}/item/public_token/exchange", json={**keys, "public_token": public}, timeout=10
    ).json()
    item_id = linked["item_id"]
    assert loop.agg.notify_updates() == []  # nothing new since the link
    assert loop.agg.advance(2 * 86_400) == [item_id]  # new lines became visible
    assert loop.sender.wait(10)
    (delivery,) = loop.sender.deliveries
    assert delivery.delivered
    assert delivery.document == {
        "environment": "sandbox",
        "item_id": item_id,
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "webhook_type": "TRANSACTIONS",
        "initial_update_complete": True,
        "historical_update_complete": True,
    }
    (event,) = loop.events("aggregator")
    assert (event["tenant_id"], event["entity"], event["operation"]) == (
        item_id,
        "transactions",
        "sync_updates_available",
    )
    # Plaid's sandbox endpoint fires one on demand (a different code: a different body).
    fired = requests.post(
        f"{base}/sandbox/item/fire_webhook",
        json={**keys, "access_token": linked["access_token"], "webhook_code": "DEFAULT_UPDATE"},
        timeout=10,
    )
    assert fired.status_code == 200 and fired.json()["webhook_fired"] is True
    assert loop.sender.wait(10)
    assert [e["operation"] for e in loop.events("aggregator")] == [
        "sync_updates_available",
        "default_update",
    ]


class _Flaky:
    """A receiver answering the given statuses in turn (then 200), keeping what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.received.append((body, {k.decode(): v.decode() for k, v in scope["headers"]}))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_5xx_answers_are_retried_until_2xx(world: World) -> None:
    stub = _Flaky([500, 503])
    with _Uvicorn(stub) as receiver:
        sender = _sender(receiver.url, backoff=0.05)
        xero = xero_app.build(world, SandboxCredentials(), webhooks=sender)
        tenant_id = xero.tenant_ids()[0]
        contact = xero.records(tenant_id, "Contacts")[0]
        started = time.monotonic()
        xero.update(tenant_id, "Contacts", contact["ContactID"], {"EmailAddress": "a@b.example"})
        assert time.monotonic() - started < 0.5  # the write did not wait for the receiver
        assert sender.wait(10)
        sender.close()
    (delivery,) = sender.deliveries
    assert [a.status for a in delivery.attempts] == [500, 503, 200]
    assert delivery.delivered
    assert len(stub.received) == 3
    for body, headers in stub.received:
        assert body == delivery.body
        verify_xero(body, headers["x-xero-signature"], XERO_KEY)
    assert delivery.document["events"][0]["eventCategory"] == "CONTACT"
    # Backoff grows: 0.05 s then 0.1 s between the attempts.
    gaps = [b.at - a.at for a, b in zip(delivery.attempts, delivery.attempts[1:], strict=False)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09


def test_unreachable_receiver_gives_up_after_the_retries() -> None:
    sender = _sender(f"http://127.0.0.1:{_free_port()}", retries=2, backoff=0.01, timeout=1)
    body = b'{"eventNotifications":[]}'
    delivery = sender.send("quickbooks", body)
    assert delivery is not None
    assert sender.wait(10)
    sender.close()
    assert delivery.state == "failed" and len(delivery.attempts) == 3
    assert all(a.status is None and a.error for a in delivery.attempts)
    verify_quickbooks(body, hmac_signature(QBO_TOKEN, body), QBO_TOKEN)


def test_nothing_is_sent_unless_configured(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FINPIPE_SANDBOX_WEBHOOK_URL", raising=False)
    assert WebhookSender.from_env() is None
    stub = _Flaky([])
    with _Uvicorn(stub) as receiver:
        sandbox = build_sandbox(world, providers=("quickbooks", "xero", "aggregator"))
        assert all(getattr(p, "webhooks", None) is None for p in sandbox.providers.values())
        qbo = sandbox.providers["quickbooks"]
        assert isinstance(qbo, quickbooks_app.QuickBooksSandbox)
        realm = sorted(qbo.companies)[0]
        invoice = qbo.records(realm, "Invoice")[0]
        qbo.update(realm, "Invoice", invoice["Id"], {"PrivateNote": "edited"})
        xero = sandbox.providers["xero"]
        assert isinstance(xero, xero_app.XeroSandbox)
        tenant_id = xero.tenant_ids()[0]
        contact = xero.records(tenant_id, "Contacts")[0]
        xero.update(tenant_id, "Contacts", contact["ContactID"], {"EmailAddress": "x@y.example"})
        agg = sandbox.providers["aggregator"]
        assert isinstance(agg, aggregator_app.AggregatorSandbox)
        assert agg.advance(86_400) == []
        # Configured through the environment, the sandbox shares one sender.
        monkeypatch.setenv("FINPIPE_SANDBOX_WEBHOOK_URL", receiver.url + "/")
        monkeypatch.setenv("FINPIPE_QUICKBOOKS_WEBHOOK_VERIFIER", QBO_TOKEN)
        monkeypatch.delenv("FINPIPE_XERO_WEBHOOK_KEY", raising=False)
        configured = build_sandbox(world, providers=("quickbooks", "xero"))
        senders = {id(getattr(p, "webhooks", None)) for p in configured.providers.values()}
        assert len(senders) == 1
        sender = configured.providers["quickbooks"].webhooks  # type: ignore[attr-defined]
        assert isinstance(sender, WebhookSender)
        assert sender.url_by_provider["xero"] == f"{receiver.url}/webhooks/xero"
        assert sender.enabled("quickbooks") and sender.enabled("aggregator")
        assert not sender.enabled("xero")  # no key: Xero's webhooks stay off
        time.sleep(0.2)
    assert stub.received == []
