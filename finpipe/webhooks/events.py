"""Each provider's webhook body as normalised events.

One delivery may carry many events (QuickBooks' legacy format nests entities under realms;
Xero batches events; CloudEvents is an array). Every event becomes a :class:`WebhookEvent`
with the provider, an event id, the tenant (QBO realm, Xero tenant, aggregator Item), the
entity, the entity id, the operation and when it happened.

Where the provider gives no event id (legacy QBO, Xero, the aggregator) the id is a digest
of the fields that identify the change, so a redelivery of the same change has the same id
and is stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finpipe.connectors import payloads
from finpipe.webhooks.errors import PayloadError

UTC = dt.UTC
PROVIDERS = ("quickbooks", "xero", "aggregator")
# CloudEvents types say qbo.invoice.updated.v1 where the legacy format and Xero say Update:
# one vocabulary (the legacy verb, lower-case) lets the sensor treat both formats alike.
_CLOUDEVENT_VERBS = {
    "created": "create",
    "updated": "update",
    "deleted": "delete",
    "merged": "merge",
    "voided": "void",
}


@dataclass(frozen=True)
class WebhookEvent:
    """One change a provider told us about."""

    provider: str
    event_id: str
    tenant_id: str
    entity: str
    entity_id: str | None
    operation: str
    occurred_at: dt.datetime | None
    payload: Mapping[str, Any]


def parse_json(body: bytes) -> Any:
    """The body as JSON (numbers exact); :class:`PayloadError` (400) when it is not JSON."""
    try:
        return payloads.loads(body)
    except (ValueError, RecursionError):
        raise PayloadError(
            "the request body is not valid UTF-8 JSON; the provider sends JSON, so check what "
            "is posting to this URL",
            reason="malformed_json",
        ) from None


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 instant as aware UTC; a zone-less one (Xero's ``eventDateUtc``) is UTC.
    Unparseable or absent: ``None`` (the time is informative, the event still counts)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(record: Mapping[str, Any], field: str, where: str, *, required: bool = True) -> str:
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        if not required and value is None:
            return ""
        raise PayloadError(
            f"{where}: field {field!r} must be a non-empty string, got {type(value).__name__}; "
            "the provider's documented payload always has it"
        )
    return str(value)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PayloadError(f"{where} must be a JSON array, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------- QBO


def parse_quickbooks(document: Any) -> list[WebhookEvent]:
    """Legacy ``{"eventNotifications": [...]}`` or a CloudEvents array."""
    if isinstance(document, list):
        return [_cloudevent(e, i) for i, e in enumerate(document)]
    body = _object(document, "QuickBooks webhook body")
    if "eventNotifications" not in body:
        raise PayloadError(
            "QuickBooks webhook body has neither eventNotifications (legacy format) nor is it "
            "a CloudEvents array"
        )
    events: list[WebhookEvent] = []
    for n, raw in enumerate(_array(body["eventNotifications"], "eventNotifications")):
        where = f"eventNotifications[{n}]"
        notification = _object(raw, where)
        realm = _text(notification, "realmId", where)
        change = _object(notification.get("dataChangeEvent"), f"{where}.dataChangeEvent")
        entities = _array(change.get("entities"), f"{where}.dataChangeEvent.entities")
        for k, raw_entity in enumerate(entities):
            at = f"{where}.dataChangeEvent.entities[{k}]"
            entity = _object(raw_entity, at)
            name = _text(entity, "name", at)
            entity_id = _text(entity, "id", at)
            operation = _text(entity, "operation", at)
            updated = entity.get("lastUpdated")
            events.append(
                WebhookEvent(
                    provider="quickbooks",
                    event_id="legacy-" + _digest(realm, name, entity_id, operation, updated),
                    tenant_id=realm,
                    entity=name.lower(),
                    entity_id=entity_id,
                    operation=operation.lower(),
                    occurred_at=parse_time(updated),
                    payload={"realmId": realm, **entity},
                )
            )
    return events


def _cloudevent(raw: Any, index: int) -> WebhookEvent:
    where = f"CloudEvents[{index}]"
    event = _object(raw, where)
    event_id = _text(event, "id", where)
    kind = _text(event, "type", where)
    parts = kind.split(".")
    # qbo.<entity>.<operation>.v<N>
    if len(parts) != 4 or parts[0] != "qbo" or not parts[1] or not parts[2]:
        raise PayloadError(
            f"{where}: field 'type' is {kind[:80]!r}, expected qbo.<entity>.<operation>.v1"
        )
    return WebhookEvent(
        provider="quickbooks",
        event_id=event_id,
        tenant_id=_text(event, "intuitaccountid", where),
        entity=parts[1].lower(),
        entity_id=_text(event, "intuitentityid", where),
        operation=_CLOUDEVENT_VERBS.get(parts[2].lower(), parts[2].lower()),
        occurred_at=parse_time(event.get("time")),
        payload=event,
    )


# ---------------------------------------------------------------------------- Xero


def parse_xero(document: Any) -> list[WebhookEvent]:
    """``{"events": [...], "firstEventSequence", "lastEventSequence", "entropy"}``; an
    Intent-to-Receive delivery has no events (and sequence 0) and yields none."""
    body = _object(document, "Xero webhook body")
    raw_events = body.get("events")
    if raw_events is None:
        raise PayloadError("Xero webhook body has no events array")
    events = []
    for n, raw in enumerate(_array(raw_events, "events")):
        where = f"events[{n}]"
        event = _object(raw, where)
        tenant = _text(event, "tenantId", where)
        category = _text(event, "eventCategory", where)
        resource = _text(event, "resourceId", where)
        # Xero documents UPDATE but has sent Update: compare and store lower-case.
        operation = _text(event, "eventType", where).lower()
        when = event.get("eventDateUtc")
        events.append(
            WebhookEvent(
                provider="xero",
                event_id="xero-" + _digest(tenant, category.lower(), resource, operation, when),
                tenant_id=tenant,
                entity=category.lower(),
                entity_id=resource,
                operation=operation,
                occurred_at=parse_time(when),
                payload=event,
            )
        )
    return events


# ---------------------------------------------------------------------- aggregator


def parse_aggregator(document: Any, *, iat: int, body_sha256: str) -> list[WebhookEvent]:
    """A Plaid-style webhook ``{webhook_type, webhook_code, item_id, ...}``: one event per
    delivery, about the Item. Its id is the body digest plus the JWT's ``iat``, so the same
    signed delivery replayed is one event (a re-signed copy is caught by the body window)."""
    body = _object(document, "aggregator webhook body")
    item_id = _text(body, "item_id", "aggregator webhook")
    webhook_type = _text(body, "webhook_type", "aggregator webhook")
    webhook_code = _text(body, "webhook_code", "aggregator webhook")
    account_id = body.get("account_id")
    return [
        WebhookEvent(
            provider="aggregator",
            event_id=f"agg-{body_sha256[:32]}-{iat}",
            tenant_id=item_id,
            entity=webhook_type.lower(),
            entity_id=account_id if isinstance(account_id, str) and account_id else item_id,
            operation=webhook_code.lower(),
            occurred_at=dt.datetime.fromtimestamp(iat, UTC),
            payload=body,
        )
    ]
