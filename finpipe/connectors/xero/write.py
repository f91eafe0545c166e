"""Writing to Xero: create or update Invoices, Contacts and BankTransactions safely.

* Every write carries an ``Idempotency-Key`` derived from the change itself (tenant,
  method, endpoint, record id and the exact body), so a retry after a timeout or a 5xx
  replays Xero's first answer instead of creating a duplicate. Xero keeps a key for six
  minutes; the same key with a different request is refused (400).
* An update names the version it was based on (the ``UpdatedDateUTC`` it read). The
  sandbox refuses an update whose ``UpdatedDateUTC`` is not the record's current one with
  ``409`` and a ValidationException body; that answer becomes :class:`StaleVersion`, and
  the caller re-reads and re-applies its change. (Xero itself has no version check: against
  the real API the field is ignored and the last write wins.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, ProviderError, StaleVersion
from finpipe.connectors.xero.client import PROVIDER, XeroClient
from finpipe.connectors.xero.endpoints import ENDPOINTS, WRITABLE
from finpipe.connectors.xero.parse import XeroRecord, format_ms_date, parse_endpoint

STALE_STATUS = 409


def idempotency_key(
    tenant_id: str, method: str, endpoint: str, source_id: str | None, body: Any
) -> str:
    """A key that is the same for the same change and different for any other (64 hex
    characters, under Xero's 128)."""
    material = "\n".join(
        [PROVIDER, tenant_id, method.upper(), endpoint, source_id or "", payloads.dumps(body)]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _check(endpoint: str) -> None:
    if endpoint not in WRITABLE:
        raise ConnectorError(f"finpipe does not write xero {endpoint}; it writes {WRITABLE}")


def _one(endpoint: str, response_body: bytes) -> XeroRecord:
    records = parse_endpoint(endpoint, payloads.loads(response_body))
    if len(records) != 1:
        raise ConnectorError(f"xero {endpoint} write answered {len(records)} records, not 1")
    return records[0]


def create_record(
    client: XeroClient,
    tenant_id: str,
    endpoint: str,
    record: Mapping[str, Any],
    *,
    key: str | None = None,
) -> XeroRecord:
    """Create one ``endpoint`` record (``PUT /{endpoint}``) and return it as Xero stored it.

    ``key`` overrides the derived Idempotency-Key (e.g. an outbox id)."""
    _check(endpoint)
    body = {ENDPOINTS[endpoint].envelope_key: [dict(record)]}
    key = key or idempotency_key(tenant_id, "PUT", endpoint, None, body)
    response = client.send(tenant_id, "PUT", endpoint, body, idempotency_key=key)
    return _one(endpoint, response.content)


def update_record(
    client: XeroClient,
    tenant_id: str,
    endpoint: str,
    source_id: str,
    changes: Mapping[str, Any],
    *,
    updated_at: dt.datetime | str,
    key: str | None = None,
) -> XeroRecord:
    """Apply ``changes`` to record ``source_id`` (``POST /{endpoint}/{id}``), based on the
    version last modified at ``updated_at`` (a datetime or Xero's ``/Date(...)/`` text).

    Raises :class:`StaleVersion` when someone changed the record since that version."""
    _check(endpoint)
    spec = ENDPOINTS[endpoint]
    version = updated_at if isinstance(updated_at, str) else format_ms_date(updated_at)
    record = {**dict(changes), spec.id_field: source_id, "UpdatedDateUTC": version}
    body = {spec.envelope_key: [record]}
    key = key or idempotency_key(tenant_id, "POST", endpoint, source_id, body)
    try:
        response = client.send(
            tenant_id, "POST", endpoint, body, source_id=source_id, idempotency_key=key
        )
    except ProviderError as exc:
        if exc.status == STALE_STATUS:
            raise StaleVersion(PROVIDER, endpoint, source_id, exc.provider_message) from None
        raise
    return _one(endpoint, response.content)
