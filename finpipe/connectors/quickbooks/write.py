"""Write primitives against QBO: create, update (SyncToken-checked), delete and void.

Each returns the entity QBO answered with, parsed (:class:`QboRecord`, payload included).
QBO's optimistic locking is the ``SyncToken``: an update, delete or void carrying an old one
is refused with Fault 5010 "Stale Object Error", raised here as
:class:`~finpipe.connectors.errors.StaleVersion` so the caller re-reads and re-applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finpipe.connectors.errors import ProviderError, StaleVersion
from finpipe.connectors.quickbooks.client import PROVIDER, QuickBooksClient
from finpipe.connectors.quickbooks.parse import QboRecord, QboResponse, fault_codes

STALE_OBJECT = "5010"
VOIDABLE = frozenset({"Invoice", "Payment", "SalesReceipt", "BillPayment"})


def _single(response: QboResponse, entity: str) -> QboRecord:
    records = response.of(entity) or response.records
    if len(records) != 1:
        raise ProviderError(PROVIDER, 200, f"expected one {entity} in the answer", entity)
    return records[0]


def _call(
    client: QuickBooksClient,
    entity: str,
    body: Mapping[str, Any],
    operation: str | None = None,
) -> QboRecord:
    try:
        return _single(client.post(entity, body, operation=operation), entity)
    except ProviderError as exc:
        if STALE_OBJECT in fault_codes(exc.provider_message):
            raise StaleVersion(
                PROVIDER,
                entity,
                str(body.get("Id", "?")),
                f"SyncToken {body.get('SyncToken')!r} is out of date: {exc.provider_message}",
            ) from exc
        raise


def create(client: QuickBooksClient, entity: str, body: Mapping[str, Any]) -> QboRecord:
    """Create ``entity`` from ``body`` (no Id / SyncToken); returns the created entity."""
    if "Id" in body:
        raise ValueError(f"create {entity}: the body carries an Id; use update() instead")
    return _call(client, entity, body)


def update(
    client: QuickBooksClient, entity: str, body: Mapping[str, Any], *, sparse: bool = True
) -> QboRecord:
    """Update ``entity``: ``body`` carries ``Id`` and the ``SyncToken`` it was read at.
    ``sparse`` (default) changes only the fields sent; a full update replaces the entity's
    writable fields (omitted ones become empty, as QBO does)."""
    for key in ("Id", "SyncToken"):
        if key not in body:
            raise ValueError(f"update {entity}: the body needs {key}")
    return _call(client, entity, {**body, "sparse": sparse})


def delete(client: QuickBooksClient, entity: str, entity_id: str, sync_token: str) -> QboRecord:
    """Delete a transaction; QBO answers ``{"<Entity>": {"status": "Deleted", "Id": ...}}``
    (name-list entities cannot be deleted: make them inactive with update)."""
    return _call(client, entity, {"Id": entity_id, "SyncToken": sync_token}, "delete")


def void(client: QuickBooksClient, entity: str, entity_id: str, sync_token: str) -> QboRecord:
    """Void an Invoice, Payment, SalesReceipt or BillPayment: QBO keeps it with zero amounts."""
    if entity not in VOIDABLE:
        raise ValueError(f"QuickBooks cannot void a {entity}; voidable: {sorted(VOIDABLE)}")
    return _call(client, entity, {"Id": entity_id, "SyncToken": sync_token}, "void")
