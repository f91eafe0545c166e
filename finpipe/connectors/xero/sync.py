"""Incremental sync of a company's Xero tenants into ``raw.xero_*``.

For every tenant and endpoint:

* **Paged endpoints** (Invoices, Contacts, Payments...) are read with ``If-Modified-Since``
  and ``page``/``pageSize``. Xero orders them ``UpdatedDateUTC`` then id. Rather than
  walking page numbers over a set that may change while it is read (a record edited
  mid-sync jumps to the end and shifts every later record one place back, so plain page
  numbers skip one), each call re-anchors ``If-Modified-Since`` on the newest record
  already committed: keyset paging. Page numbers only advance when a whole page shares the
  same two seconds and re-anchoring would not move forward.
* **If-Modified-Since has one-second resolution** while ``UpdatedDateUTC`` has
  milliseconds, and whether Xero compares with ``>`` or ``>=`` is undocumented: the header
  is sent one second *before* the committed cursor, so boundary records are always read
  again. Re-read records whose payload is unchanged are not written (upserts are
  idempotent anyway), so a run with no changes makes one call per endpoint and tenant and
  writes nothing.
* **Unpaged endpoints** (Accounts, Items, BankTransfers) answer everything modified since
  the header in one call.
* **Journals** are read by ``offset`` (journals whose ``JournalNumber`` is greater), 100 per
  call; the cursor is the last JournalNumber committed.
* **Organisation, Currencies** have no modification date: read in full, written only when
  their content changed.

Every page is committed with :func:`commit_page`: rows and the cursor that covers them in
one transaction, so a sync killed anywhere resumes from its last committed page and lands
nothing twice. ``Status: DELETED`` (and ``ARCHIVED`` contacts/accounts) land with
``deleted = true``; ``VOIDED`` documents stay ordinary records carrying their status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, SyncAborted
from finpipe.connectors.landing import CursorKey, commit_page, landing_frame
from finpipe.connectors.oauth import TokenManager
from finpipe.connectors.report import EntityReport, SyncReport
from finpipe.connectors.xero.client import PROVIDER, XeroClient
from finpipe.connectors.xero.endpoints import (
    ENDPOINTS,
    JOURNALS_PER_CALL,
    MAX_PAGE_SIZE,
    EndpointSpec,
)
from finpipe.connectors.xero.parse import XeroRecord, parse_endpoint
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import SYNC_CURSORS
from finpipe.warehouse.tables.raw import XERO_ENDPOINTS, XERO_TABLES

UTC = dt.UTC
OVERLAP = dt.timedelta(seconds=1)


class SyncKilled(SyncAborted):
    """Raised by the ``kill_after_pages`` test hook after committing that many pages."""


@dataclass
class _Run:
    """What one sync run shares across tenants and endpoints."""

    warehouse: Warehouse
    client: XeroClient
    company_id: str
    sync_id: str
    now: dt.datetime
    page_size: int
    kill_after_pages: int | None
    pages: int = 0
    # tenant -> endpoint -> committed cursor, read once per tenant at its start
    cursors: dict[str, dict[str, str]] = field(default_factory=dict)
    # (tenant, endpoint) -> source id -> (payload digest, deleted) committed by this run
    seen: dict[tuple[str, str], dict[str, tuple[str, bool]]] = field(default_factory=dict)

    def page_done(self) -> None:
        self.pages += 1
        if self.kill_after_pages is not None and self.pages >= self.kill_after_pages:
            raise SyncKilled(f"xero sync {self.sync_id} killed after {self.pages} page(s)")


def sync_xero(
    warehouse: Warehouse,
    tokens: TokenManager,
    company_id: str,
    tenant_ids: Sequence[str],
    *,
    api_base: str,
    endpoints: Iterable[str] | None = None,
    now: dt.datetime | None = None,
    kill_after_pages: int | None = None,
    page_size: int = MAX_PAGE_SIZE,
    client: XeroClient | None = None,
) -> SyncReport:
    """Sync ``endpoints`` (default: all of :data:`XERO_ENDPOINTS`) of every tenant.

    ``now`` stamps ``extracted_at`` (default: the current instant). ``client`` lets a
    caller share or tune the HTTP client (limits, clocks); by default one is built on
    ``api_base``. ``kill_after_pages`` is a test hook: raise :class:`SyncKilled` right after
    committing that many pages. Raises :class:`~finpipe.connectors.errors.NeedsReauth` when
    the grant is gone (the connection is then marked ``needs_reauth``)."""
    chosen = list(endpoints) if endpoints is not None else list(XERO_ENDPOINTS)
    unknown = [e for e in chosen if e not in ENDPOINTS]
    if unknown:
        raise ConnectorError(f"unknown xero endpoint(s) {unknown}; known: {list(XERO_ENDPOINTS)}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConnectorError(f"xero pageSize must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    client = client or XeroClient(api_base, tokens)
    run = _Run(
        warehouse=warehouse,
        client=client,
        company_id=company_id,
        sync_id=f"xero-{uuid.uuid4().hex[:12]}",
        now=now or dt.datetime.now(UTC),
        page_size=page_size,
        kill_after_pages=kill_after_pages,
    )
    report = SyncReport(provider=PROVIDER, company_id=company_id, sync_id=run.sync_id)
    before = client.counters.as_dict()
    refreshes_before = tokens.refreshes
    try:
        for tenant_id in tenant_ids:
            for endpoint in chosen:
                entity = EntityReport(entity=endpoint, tenant_id=tenant_id)
                report.entities.append(entity)
                _sync_endpoint(run, ENDPOINTS[endpoint], tenant_id, entity)
    finally:
        after = client.counters.as_dict()
        report.calls = after["calls"] - before["calls"]
        report.rate_limited = after["rate_limited"] - before["rate_limited"]
        report.retries = after["retries"] - before["retries"]
        report.token_refreshes = tokens.refreshes - refreshes_before
    return report


# ----------------------------------------------------------------------------- endpoints


def _sync_endpoint(run: _Run, spec: EndpointSpec, tenant_id: str, entity: EntityReport) -> None:
    key = CursorKey(run.company_id, PROVIDER, tenant_id, spec.name)
    entity.cursor_before = _cursors(run, tenant_id).get(spec.name)
    entity.cursor_after = entity.cursor_before
    counters = run.client.http(tenant_id).counters
    calls, limited = counters.calls, counters.rate_limited
    try:
        if spec.journal:
            _sync_journals(run, spec, tenant_id, key, entity)
        elif spec.incremental:
            _sync_incremental(run, spec, tenant_id, key, entity)
        else:
            _sync_whole(run, spec, tenant_id, key, entity)
    finally:
        entity.calls += counters.calls - calls
        entity.rate_limited += counters.rate_limited - limited


def _cursors(run: _Run, tenant_id: str) -> dict[str, str]:
    """Every committed cursor of the tenant, in one read (same as ``read_cursor`` each)."""
    if tenant_id not in run.cursors:
        rows = run.warehouse.read(
            SYNC_CURSORS,
            where="company_id = %s AND provider = %s AND tenant_id = %s",
            params=[run.company_id, PROVIDER, tenant_id],
        )
        run.cursors[tenant_id] = {r["entity"]: r["cursor"] for r in rows.iter_rows(named=True)}
    return run.cursors[tenant_id]


def _fetch(
    run: _Run,
    spec: EndpointSpec,
    tenant_id: str,
    params: dict[str, object] | None = None,
    since: dt.datetime | None = None,
) -> list[XeroRecord]:
    response = run.client.get(tenant_id, spec.name, params=params, if_modified_since=since)
    if response.status_code == 304 or not response.content:
        return []  # Not Modified
    return parse_endpoint(spec.name, payloads.loads(response.content))


def _sync_incremental(
    run: _Run, spec: EndpointSpec, tenant_id: str, key: CursorKey, entity: EntityReport
) -> None:
    cursor = _parse_cursor(entity.cursor_before)
    anchor = _anchor(cursor)
    page = 1
    while True:
        params: dict[str, object] | None = None
        if spec.paged:
            params = {"page": page, "pageSize": run.page_size}
        records = _fetch(run, spec, tenant_id, params, anchor)
        newest = max((r.updated_at for r in records if r.updated_at), default=None)
        if newest is not None and (cursor is None or newest > cursor):
            cursor = newest
        _land(run, spec, tenant_id, key, entity, records, _format_cursor(cursor))
        if not spec.paged or len(records) < run.page_size:
            return
        # Keyset paging: re-anchor on the newest committed record when that moves forward,
        # otherwise (a whole page inside the overlap) step to the next page number.
        next_anchor = _anchor(cursor)
        if next_anchor is not None and (anchor is None or next_anchor > anchor):
            anchor, page = next_anchor, 1
        else:
            page += 1


def _sync_journals(
    run: _Run, spec: EndpointSpec, tenant_id: str, key: CursorKey, entity: EntityReport
) -> None:
    offset = int(entity.cursor_before or 0)
    while True:
        records = _fetch(run, spec, tenant_id, {"offset": offset})
        numbers = [r.journal_number for r in records if r.journal_number is not None]
        if numbers:
            offset = max(offset, *numbers)
        _land(run, spec, tenant_id, key, entity, records, str(offset))
        if len(records) < JOURNALS_PER_CALL:
            return


def _sync_whole(
    run: _Run, spec: EndpointSpec, tenant_id: str, key: CursorKey, entity: EntityReport
) -> None:
    records = _fetch(run, spec, tenant_id)
    # No modification date to keep: the cursor records when the content last changed.
    _land(run, spec, tenant_id, key, entity, records, run.now.isoformat())


# ------------------------------------------------------------------------------- landing


def _land(
    run: _Run,
    spec: EndpointSpec,
    tenant_id: str,
    key: CursorKey,
    entity: EntityReport,
    records: list[XeroRecord],
    cursor: str | None,
) -> None:
    """Commit the records of one page that differ from what is landed, together with
    ``cursor``; write nothing when neither the records nor the cursor changed."""
    table = XERO_TABLES[spec.name]
    latest = {r.source_id: r for r in records}  # a record edited while paging: last wins
    # What this run already committed (keyset pages overlap) is remembered; the warehouse
    # is only asked about the rest, and not at all before the endpoint's first commit.
    seen = run.seen.setdefault((tenant_id, spec.name), {})
    unknown = [source_id for source_id in latest if source_id not in seen]
    stored = (
        _stored(run.warehouse, table, run.company_id, tenant_id, unknown)
        if entity.cursor_before is not None and unknown
        else {}
    )
    changed: list[XeroRecord] = []
    for record in latest.values():
        version = (_digest(record.payload), record.deleted)
        if record.source_id in seen:
            if seen[record.source_id] == version:
                continue
        elif stored.get(record.source_id) == (record.payload, record.deleted):
            seen[record.source_id] = version
            continue
        changed.append(record)
    # Organisation/Currencies carry no position: their "cursor" only says when they changed.
    tracks_position = spec.journal or spec.incremental
    moved = tracks_position and cursor is not None and cursor != entity.cursor_after
    if changed or moved:
        # "" = no position yet (records without UpdatedDateUTC): the next run reads all.
        committed = cursor if cursor is not None else (entity.cursor_after or "")
        by_payload = {id(r.payload): r for r in changed}
        rows = (
            landing_frame(
                table,
                run.company_id,
                tenant_id,
                [r.payload for r in changed],
                source_id=lambda p: by_payload[id(p)].source_id,
                updated_at=lambda p: by_payload[id(p)].updated_at,
                deleted=lambda p: by_payload[id(p)].deleted,
                extracted_at=run.now,
                sync_id=run.sync_id,
            )
            if changed
            else pl.DataFrame(schema=table.polars_schema())
        )
        commit_page(run.warehouse, table, rows, key, committed, run.now)
        entity.cursor_after = committed
        for record in changed:
            if record.source_id in stored or record.source_id in seen:
                entity.updated += 1
            else:
                entity.inserted += 1
            entity.deleted += int(record.deleted)
            seen[record.source_id] = (_digest(record.payload), record.deleted)
    entity.pages += 1
    run.page_done()


def _digest(payload: object) -> str:
    # repr is C-fast and deterministic in-process (Decimals keep their digits), which is all
    # a within-run comparison needs.
    return hashlib.blake2b(repr(payload).encode(), digest_size=16).hexdigest()


def _stored(
    warehouse: Warehouse, table: Table, company_id: str, tenant_id: str, ids: list[str]
) -> dict[str, tuple[object, bool]]:
    """(payload, deleted) of the landed versions of ``ids``."""
    if not ids:
        return {}
    found: dict[str, tuple[object, bool]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = warehouse.read(
            table,
            company_id=company_id,
            where=f"tenant_id = %s AND source_id IN ({', '.join(['%s'] * len(chunk))})",
            params=[tenant_id, *chunk],
        )
        for row in rows.select("source_id", "payload", "deleted").iter_rows():
            found[row[0]] = (payloads.loads(row[1]), bool(row[2]))
    return found


# ------------------------------------------------------------------------------- cursors


def _parse_cursor(cursor: str | None) -> dt.datetime | None:
    if not cursor:
        return None
    try:
        return dt.datetime.fromisoformat(cursor).astimezone(UTC)
    except ValueError:
        raise ConnectorError(f"xero: unreadable sync cursor {cursor!r}") from None


def _format_cursor(cursor: dt.datetime | None) -> str | None:
    return cursor.isoformat(timespec="milliseconds") if cursor is not None else None


def _anchor(cursor: dt.datetime | None) -> dt.datetime | None:
    """The ``If-Modified-Since`` for a cursor: one second earlier, to the second."""
    if cursor is None:
        return None
    return (cursor - OVERLAP).replace(microsecond=0)
