"""Incremental sync of one QBO realm into ``raw.quickbooks_*``.

How an entity is brought up to date
-----------------------------------
Each entity has one cursor row in ``ops.sync_cursors`` (JSON):

* ``last_updated`` — the ``MetaData.LastUpdatedTime`` (as QBO spelled it) up to which every
  record is landed;
* ``complete_at`` — the server time (a response's ``time``) at which the entity was last
  known to be completely landed, changes and deletions included.

A run first asks CDC, in **one call for every entity** that has a ``complete_at``, what
changed since the oldest of them (minus a minute of overlap). CDC answers full payloads
and ``status: Deleted`` tombstones:

* an entity whose CDC objects are all already landed as they are is not queried at all, so
  a run with nothing new makes a single call;
* an entity with changes is pulled with the LastUpdatedTime query (below); its tombstones
  land as rows with ``deleted = true``;
* no ``complete_at`` (first run), a CDC window older than QBO's 30 days (QBO refuses it) or
  a saturated CDC answer (1000 objects: deletions may be cut off) → the entity is pulled by
  query and then *reconciled*: ``SELECT COUNT(*)`` against the landed live rows, and on a
  mismatch a full re-read that marks landed records QBO no longer has as deleted.

The pull is keyset paging on LastUpdatedTime::

    SELECT * FROM <E> WHERE Metadata.LastUpdatedTime > '<cursor>'
        ORDERBY Metadata.LastUpdatedTime STARTPOSITION 1 MAXRESULTS <page>

Each page is landed and the cursor moved **in one transaction** (``commit_page``). The
cursor only moves to an instant strictly before the page's last one (the last instant may
continue on the next page: ties at a boundary are re-read, never skipped), and never to the
second the server is still in (a record written later in that second would carry it). A
page of exactly ``page`` records is followed by one more query (which comes back empty).
Records edited while the client pages move behind it and are met again further on.

A page whose records all share one instant (a tie group larger than a page) cannot move
the keyset; the pull then continues with ``STARTPOSITION`` offsets. Offsets shift when a
record read earlier is edited meanwhile, which could skip one; that record shows up again
later in the same pull (with its new time), which is how the pull notices and re-reads
the group.

Records already landed with an identical payload are not written again (a re-run writes
nothing). A record that cannot be read (:class:`QuickBooksParseError`) goes to
``ops.quarantine`` naming its field; the rest of the page lands.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.errors import ProviderError, SyncAborted
from finpipe.connectors.landing import (
    CursorKey,
    commit_page,
    landing_frame,
    mark_synced,
    read_cursor,
)
from finpipe.connectors.oauth import TokenManager
from finpipe.connectors.quickbooks.client import MAX_PAGE, PROVIDER, QuickBooksClient
from finpipe.connectors.quickbooks.parse import (
    NAME_LIST_ENTITIES,
    QboRecord,
    QboResponse,
    Rejected,
)
from finpipe.connectors.ratelimit import RateLimiter
from finpipe.connectors.report import EntityReport, SyncReport
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import QUARANTINE
from finpipe.warehouse.tables.raw import QUICKBOOKS_ENTITIES, QUICKBOOKS_TABLES

UTC = dt.UTC
CDC_OVERLAP = dt.timedelta(seconds=60)
SINGLETONS = frozenset({"CompanyInfo", "Preferences"})
MAX_REPAIR_PASSES = 2
_LOOKUP_CHUNK = 500


class SyncInterrupted(SyncAborted):
    """Raised by the ``kill_after_pages`` test hook after the k-th committed page."""


@dataclass
class QuickBooksSyncReport(SyncReport):
    """A QBO sync: the shared report plus what the company file says about itself."""

    home_currency: str | None = None
    multi_currency: bool | None = None
    quarantined: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EntityCursor:
    """The cursor of one entity (stored as JSON text in ``ops.sync_cursors.cursor``)."""

    last_updated: str | None = None
    complete_at: str | None = None

    def text(self) -> str:
        return json.dumps(
            {"last_updated": self.last_updated, "complete_at": self.complete_at},
            sort_keys=True,
        )

    @classmethod
    def from_text(cls, text: str | None) -> EntityCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return cls(last_updated=text)  # a bare instant
        if not isinstance(data, dict):
            return cls()
        return cls(data.get("last_updated"), data.get("complete_at"))


@dataclass
class _Row:
    source_id: str
    updated_at: dt.datetime | None
    payload: dict[str, Any]
    deleted: bool


@dataclass
class _Plan:
    query: bool = True
    reconcile: bool = False
    deletions: list[QboRecord] = field(default_factory=list)


def _instant(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _lut_text(payload: Any) -> str | None:
    meta = payload.get("MetaData") if isinstance(payload, dict) else None
    value = meta.get("LastUpdatedTime") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


class _Sync:
    """One run of :func:`sync_quickbooks`."""

    def __init__(
        self,
        warehouse: Warehouse,
        client: QuickBooksClient,
        company_id: str,
        realm_id: str,
        page_size: int,
        clock: Callable[[], dt.datetime],
        kill_after_pages: int | None,
        report: QuickBooksSyncReport,
    ) -> None:
        self.warehouse = warehouse
        self.client = client
        self.company_id = company_id
        self.realm_id = realm_id
        self.page_size = page_size
        self.clock = clock
        self.kill_after_pages = kill_after_pages
        self.report = report
        self.pages_committed = 0
        self.run_start: dt.datetime | None = None
        self.committed: dict[str, EntityCursor] = {}

    # ------------------------------------------------------------ plumbing

    def key(self, entity: str) -> CursorKey:
        return CursorKey(self.company_id, PROVIDER, self.realm_id, entity)

    def _saw(self, response: QboResponse) -> None:
        if self.run_start is None:
            self.run_start = response.time or self.clock()

    def _landed(self, table: Table, ids: Sequence[str]) -> dict[str, tuple[Any, bool]]:
        out: dict[str, tuple[Any, bool]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            rows = self.warehouse.read(
                table,
                where=f"company_id = %s AND tenant_id = %s AND source_id IN ({marks})",
                params=[self.company_id, self.realm_id, *chunk],
            )
            for sid, text, deleted in zip(
                rows["source_id"], rows["payload"], rows["deleted"], strict=True
            ):
                out[sid] = (payloads.loads(text), bool(deleted))
        return out

    def _commit(
        self,
        entity: str,
        rows: list[_Row],
        cursor: EntityCursor,
        *,
        force: bool = False,
    ) -> None:
        """Land ``rows`` and move the cursor in one transaction (skipped when there is
        nothing to land and the cursor does not move, unless ``force``)."""
        previous = self.committed.get(entity)
        if not rows and previous == cursor and not force:
            return
        table = QUICKBOOKS_TABLES[entity]
        now = self.clock()
        by_id = {r.source_id: r for r in rows}
        frame = landing_frame(
            table,
            self.company_id,
            self.realm_id,
            [r.payload for r in rows],
            source_id=lambda p: str(p["Id"]),
            updated_at=lambda p: _utc(by_id[str(p["Id"])].updated_at),
            deleted=lambda p: by_id[str(p["Id"])].deleted,
            extracted_at=now,
            sync_id=self.report.sync_id,
        )
        commit_page(self.warehouse, table, frame, self.key(entity), cursor.text(), now)
        self.committed[entity] = cursor

    def _quarantine(self, rejected: Iterable[Rejected]) -> None:
        items = list(rejected)
        if not items:
            return
        now = self.clock()
        frame = pl.DataFrame(
            {
                "company_id": [self.company_id] * len(items),
                "source": [f"{PROVIDER}/{r.entity}" for r in items],
                "record_id": [f"{self.realm_id}/{r.record_id}" for r in items],
                "field": [r.error.field for r in items],
                "reason": [str(r.error) for r in items],
                "payload": [payloads.dumps(r.payload) for r in items],
                "quarantined_at": [now] * len(items),
            },
            schema=QUARANTINE.polars_schema(),
        )
        self.warehouse.upsert(QUARANTINE, frame.unique(["source", "record_id"], keep="last"))
        self.report.quarantined += len(items)

    def _changed_rows(
        self, entity: str, records: Sequence[QboRecord], er: EntityReport
    ) -> list[_Row]:
        """The records that differ from what is landed (counted as inserted / updated)."""
        landed = self._landed(QUICKBOOKS_TABLES[entity], [r.id for r in records])
        rows: list[_Row] = []
        for record in records:
            before = landed.get(record.id)
            if before is not None and before[0] == record.payload and before[1] == record.deleted:
                continue
            if record.deleted:
                er.deleted += 1
            elif before is None:
                er.inserted += 1
            else:
                er.updated += 1
            rows.append(_Row(record.id, record.updated_at, dict(record.payload), record.deleted))
        return rows

    def _page_done(self) -> None:
        self.pages_committed += 1
        if self.kill_after_pages is not None and self.pages_committed >= self.kill_after_pages:
            raise SyncInterrupted(
                f"sync {self.report.sync_id} of QuickBooks realm {self.realm_id} stopped after "
                f"page {self.pages_committed} (kill_after_pages test hook)"
            )

    # ---------------------------------------------------------------- pull

    def _statement(self, entity: str, lut: str | None, offset: int) -> str:
        where = []
        if entity in NAME_LIST_ENTITIES:
            where.append("Active IN (true, false)")  # inactive ("deleted") ones too
        if lut:
            where.append(f"Metadata.LastUpdatedTime > '{lut}'")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return (
            f"SELECT * FROM {entity}{clause} ORDERBY Metadata.LastUpdatedTime "
            f"STARTPOSITION {offset + 1} MAXRESULTS {self.page_size}"
        )

    def _advance(self, entity: str, candidate: str | None, base: EntityCursor) -> EntityCursor:
        """The cursor to commit: never behind what is already committed."""
        current = self.committed.get(entity, base)
        ours, theirs = _instant(candidate), _instant(current.last_updated)
        if ours is None or (theirs is not None and ours <= theirs):
            return current
        return EntityCursor(candidate, current.complete_at)

    def pull(
        self, entity: str, start: EntityCursor, er: EntityReport, seen: set[str] | None = None
    ) -> EntityCursor:
        """Land every record changed after ``start.last_updated``; returns the cursor."""
        self.committed.setdefault(entity, start)
        begin = start.last_updated
        for _ in range(1 + MAX_REPAIR_PASSES):
            redo = self._pull_pass(entity, begin, start, er, seen)
            if redo is None:
                break
            # An offset-paged tie group shifted under us: read it again from its start.
            self.report.notes.append(f"{entity}: re-read a tie group from {redo[0] or 'start'}")
            begin = redo[0]
        return self.committed[entity]

    def _pull_pass(
        self,
        entity: str,
        begin: str | None,
        base: EntityCursor,
        er: EntityReport,
        seen: set[str] | None,
    ) -> tuple[str | None] | None:
        lut, lut_at = begin, _instant(begin)
        offset = 0
        page_no = 0
        # ids read while offset paging: id -> (segment start, page number, LastUpdatedTime)
        offset_reads: dict[str, tuple[str | None, int, str | None]] = {}
        redo: list[str | None] = []
        while True:
            statement = self._statement(entity, lut, offset)
            response = self.client.query(statement, entity=entity, strict=False)
            self._saw(response)
            page_no += 1
            er.pages += 1
            records = [r for r in response.records if r.entity == entity]
            rejected = [r for r in response.rejected if r.entity == entity]
            if seen is not None:
                seen.update(r.id for r in records)
                seen.update(r.record_id for r in rejected)
            for record in records:
                earlier = offset_reads.get(record.id)
                if earlier and earlier[1] < page_no and earlier[2] != _lut_text(record.payload):
                    redo.append(earlier[0])
            stamps: list[tuple[dt.datetime, str]] = []
            for payload in [*(r.payload for r in records), *(x.payload for x in rejected)]:
                text = _lut_text(payload)
                at = _instant(text)
                if at is not None and text is not None:
                    stamps.append((at, text))
            guard = response.time.replace(microsecond=0) if response.time else None
            closed = [(at, t) for at, t in stamps if guard is None or at < guard]
            full = response.returned >= self.page_size
            if full and stamps:
                last_at = max(at for at, _ in stamps)
                closed = [(at, t) for at, t in closed if at < last_at]
            best = max(closed, default=None, key=lambda s: s[0])
            moved = best is not None and (lut_at is None or best[0] > lut_at)
            if full and not moved:
                # The whole page is one instant (or still-open seconds): continue by offset.
                for record in records:
                    offset_reads[record.id] = (lut, page_no, _lut_text(record.payload))
                offset += response.returned
                cursor = self.committed.get(entity, base)
            else:
                cursor = self._advance(entity, best[1] if moved and best else None, base)
                if moved and best:
                    lut, lut_at = best[1], best[0]
                offset = 0
            self._quarantine(rejected)
            rows = self._changed_rows(entity, records, er)
            self._commit(entity, rows, cursor)
            self._page_done()
            if not full:
                break
        if redo:
            starts = [s for s in redo if s is None] or sorted(redo, key=lambda s: _instant(s))
            return (starts[0],)
        return None

    # ------------------------------------------------------------ deletions

    def reconcile(self, entity: str, er: EntityReport) -> None:
        """COUNT(*) against the landed live rows; on a mismatch re-read everything and mark
        the records QBO no longer has as deleted."""
        where = " WHERE Active IN (true, false)" if entity in NAME_LIST_ENTITIES else ""
        response = self.client.query(f"SELECT COUNT(*) FROM {entity}{where}", entity=entity)
        self._saw(response)
        table = QUICKBOOKS_TABLES[entity]
        live = self.warehouse.read(
            table,
            where="company_id = %s AND tenant_id = %s AND deleted = false",
            params=[self.company_id, self.realm_id],
        )
        if response.count == live.height:
            return
        self.report.notes.append(
            f"{entity}: QuickBooks counts {response.count}, {live.height} landed; re-reading"
        )
        seen: set[str] = set()
        base = self.committed.get(entity, EntityCursor())
        self.pull(entity, EntityCursor(None, base.complete_at), er, seen)
        gone = [
            _Row(sid, at, payloads.loads(text), True)
            for sid, at, text in zip(
                live["source_id"], live["source_updated_at"], live["payload"], strict=True
            )
            if sid not in seen
        ]
        if gone:
            er.deleted += len(gone)
            self._commit(entity, gone, self.committed[entity], force=True)

    def plan(self, entities: Sequence[str], cursors: dict[str, EntityCursor]) -> dict[str, _Plan]:
        plans = {
            e: _Plan(query=True, reconcile=cursors[e].last_updated is not None) for e in entities
        }
        for e in entities:
            if e in SINGLETONS:
                plans[e].reconcile = False
        watched = [e for e in entities if cursors[e].complete_at]
        if not watched:
            return plans
        since = min(_instant(cursors[e].complete_at) for e in watched)  # type: ignore[type-var]
        assert since is not None
        changed_since = (since - CDC_OVERLAP).isoformat(timespec="seconds")
        try:
            response = self.client.cdc(watched, changed_since, strict=False)
        except ProviderError as exc:
            if exc.status != 400:
                raise
            # QBO refuses changedSince older than 30 days: query and reconcile instead.
            self.report.notes.append(f"CDC refused ({exc.provider_message}); reconciling")
            return plans
        self._saw(response)
        self._quarantine(response.rejected)
        if response.returned >= MAX_PAGE:
            self.report.notes.append("CDC answer saturated (1000 objects); reconciling")
            return plans
        for entity in watched:
            found = [r for r in response.by_entity.get(entity, ()) if r.entity == entity]
            live = [r for r in found if not r.deleted]
            landed = self._landed(QUICKBOOKS_TABLES[entity], [r.id for r in live])
            changed = [
                r
                for r in live
                if r.id not in landed or landed[r.id][0] != r.payload or landed[r.id][1]
            ]
            plans[entity] = _Plan(
                query=bool(changed), reconcile=False, deletions=[r for r in found if r.deleted]
            )
        return plans

    def run(self, entities: Sequence[str]) -> None:
        cursors = {
            e: EntityCursor.from_text(read_cursor(self.warehouse, self.key(e))) for e in entities
        }
        self.committed.update(cursors)
        plans = self.plan(entities, cursors)
        counters = self.client.http.counters
        for entity in entities:
            cursor = cursors[entity]
            plan = plans[entity]
            calls, limited = counters.calls, counters.rate_limited
            er = EntityReport(
                entity=entity,
                tenant_id=self.realm_id,
                cursor_before=cursor.text() if cursor != EntityCursor() else None,
            )
            self.report.entities.append(er)
            if plan.query:
                self.pull(entity, cursor, er)
            if plan.reconcile:
                self.reconcile(entity, er)
            deletions = self._changed_rows(entity, plan.deletions, er)
            start = self.run_start or self.clock()
            final = EntityCursor(
                self.committed[entity].last_updated, start.isoformat(timespec="milliseconds")
            )
            self._commit(entity, deletions, final)
            er.cursor_after = final.text()
            er.calls = counters.calls - calls
            er.rate_limited = counters.rate_limited - limited


def sync_company(
    warehouse: Warehouse,
    tokens: TokenManager,
    company_id: str,
    realm_ids: Sequence[str],
    api_base: str | None,
) -> QuickBooksSyncReport:
    """Sync every realm of a company (the :class:`AccountingProvider` entry point): one
    report, one sync id, the entity reports of every realm (``tenant_id`` tells them apart)."""
    report = QuickBooksSyncReport(
        provider=PROVIDER, company_id=company_id, sync_id=uuid.uuid4().hex
    )
    for realm_id in realm_ids:
        part = sync_quickbooks(
            warehouse, tokens, company_id, realm_id, api_base=api_base, sync_id=report.sync_id
        )
        report.entities.extend(part.entities)
        report.calls += part.calls
        report.rate_limited += part.rate_limited
        report.retries += part.retries
        report.token_refreshes += part.token_refreshes
        report.quarantined += part.quarantined
        report.notes.extend(f"{realm_id}: {note}" for note in part.notes)
        report.home_currency = report.home_currency or part.home_currency
        report.multi_currency = report.multi_currency or part.multi_currency
    return report


def home_currency(
    warehouse: Warehouse, company_id: str, realm_id: str
) -> tuple[str | None, bool | None]:
    """``(HomeCurrency, MultiCurrencyEnabled)`` from the landed Preferences of the realm."""
    rows = warehouse.read(
        QUICKBOOKS_TABLES["Preferences"],
        where="company_id = %s AND tenant_id = %s AND deleted = false",
        params=[company_id, realm_id],
    )
    if rows.is_empty():
        return None, None
    prefs = payloads.loads(rows.item(0, "payload")).get("CurrencyPrefs") or {}
    home = (prefs.get("HomeCurrency") or {}).get("value")
    multi = prefs.get("MultiCurrencyEnabled")
    return (str(home) if home else None), (bool(multi) if multi is not None else None)


def sync_quickbooks(
    warehouse: Warehouse,
    tokens: TokenManager,
    company_id: str,
    realm_id: str,
    *,
    api_base: str | None,
    entities: Sequence[str] | None = None,
    page_size: int = MAX_PAGE,
    now: dt.datetime | Callable[[], dt.datetime] | None = None,
    kill_after_pages: int | None = None,
    limiter: RateLimiter | None = None,
    client: QuickBooksClient | None = None,
    sync_id: str | None = None,
) -> QuickBooksSyncReport:
    """Bring ``raw.quickbooks_*`` of ``company_id`` / ``realm_id`` up to date (see the module
    docstring). ``api_base``: ``https://quickbooks.api.intuit.com`` (None means the same) or
    the sandbox's ``<server>/quickbooks``. ``now`` stamps ``extracted_at`` (a datetime or a
    clock; default: the wall clock). ``limiter`` lets several syncs of one realm in a process
    share QBO's budget. ``sync_id`` tags the landed rows (default: a new one).
    ``kill_after_pages`` is a test hook: raise :class:`SyncInterrupted` after committing
    that many pages."""
    chosen = list(entities) if entities is not None else list(QUICKBOOKS_ENTITIES)
    unknown = [e for e in chosen if e not in QUICKBOOKS_TABLES]
    if unknown:
        raise ValueError(
            f"unknown QuickBooks entities {unknown}; known: {', '.join(QUICKBOOKS_ENTITIES)}"
        )
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE} (QBO's MAXRESULTS), got {page_size}")
    if callable(now):
        clock = now
    elif now is not None:
        fixed = now if now.tzinfo else now.replace(tzinfo=UTC)
        clock = lambda: fixed  # noqa: E731
    else:
        clock = lambda: dt.datetime.now(UTC)  # noqa: E731
    qbo = client or QuickBooksClient.connect(tokens, realm_id, api_base=api_base, limiter=limiter)
    report = QuickBooksSyncReport(
        provider=PROVIDER, company_id=company_id, sync_id=sync_id or uuid.uuid4().hex
    )
    counters = qbo.http.counters
    start = counters.as_dict()
    try:
        _Sync(warehouse, qbo, company_id, realm_id, page_size, clock, kill_after_pages, report).run(
            chosen
        )
    finally:
        done = counters.as_dict()
        report.calls = done["calls"] - start["calls"]
        report.rate_limited = done["rate_limited"] - start["rate_limited"]
        report.retries = done["retries"] - start["retries"]
        report.token_refreshes = done["refreshes"] - start["refreshes"]
    report.home_currency, report.multi_currency = home_currency(warehouse, company_id, realm_id)
    mark_synced(warehouse, company_id, PROVIDER, realm_id, clock())
    return report
