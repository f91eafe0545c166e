"""One realm's QBO data in memory: entities by type, ordered by ``LastUpdatedTime``, plus
tombstones of deleted objects for CDC, the sandbox clock, and QBO's write semantics.

Writes behave like QBO's: every create/update/delete/void stamps ``MetaData.LastUpdatedTime``
with the sandbox clock (second resolution, so several writes may share an instant) and
bumps ``SyncToken``; an update, delete or void must carry the current ``SyncToken`` or gets
the 5010 stale-object Fault. Name-list entities (Account, Customer, Vendor, Item) are never
deleted: "deleting" one makes it inactive and appends " (deleted)" to its name, as QBO does.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from finpipe.connectors import payloads
from finpipe.sandbox.quickbooks import errors
from finpipe.sandbox.quickbooks.query import Condition, Query, parse_instant, predicate, sort_key
from finpipe.sandbox.quickbooks.render import finish_totals, void_payload
from finpipe.warehouse.tables.raw import QUICKBOOKS_ENTITIES

ENTITIES: tuple[str, ...] = QUICKBOOKS_ENTITIES
ENTITY_BY_LOWER: dict[str, str] = {e.lower(): e for e in ENTITIES}
NAME_LISTS = frozenset({"Account", "Customer", "Vendor", "Item"})
SINGLETONS = frozenset({"CompanyInfo", "Preferences"})
VOIDABLE = frozenset({"Invoice", "Payment", "SalesReceipt", "BillPayment"})
CDC_MAX_OBJECTS = 1000
CDC_LOOKBACK = dt.timedelta(days=30)
READ_ONLY = ("Id", "SyncToken", "MetaData", "domain")


class SandboxClock:
    """The sandbox's own "now": starts at ``anchor`` and runs with real time (``ticking``)
    or stands still; tests move it with :meth:`advance`."""

    def __init__(self, anchor: dt.datetime, ticking: bool = True) -> None:
        if anchor.tzinfo is None:
            raise ValueError("the sandbox clock needs a tz-aware anchor")
        self._anchor = anchor.astimezone(dt.UTC)
        self._started = time.monotonic()
        self._ticking = ticking
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            elapsed = time.monotonic() - self._started if self._ticking else 0.0
            return self._anchor + dt.timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> dt.datetime:
        with self._lock:
            self._anchor += dt.timedelta(seconds=seconds)
        return self.now()

    def set(self, instant: dt.datetime) -> None:
        current = self.now()
        self.advance((instant - current).total_seconds())

    def freeze(self) -> None:
        with self._lock:
            if self._ticking:
                self._anchor += dt.timedelta(seconds=time.monotonic() - self._started)
                self._ticking = False

    def unfreeze(self) -> None:
        with self._lock:
            if not self._ticking:
                self._started = time.monotonic()
                self._ticking = True


def qbo_instant(epoch: float, tz: dt.tzinfo) -> str:
    """QBO's ``MetaData`` spelling: local time with the realm's offset, whole seconds."""
    return dt.datetime.fromtimestamp(int(epoch), tz).isoformat(timespec="seconds")


def qbo_time(instant: dt.datetime, tz: dt.tzinfo) -> str:
    """QBO's envelope ``time``: local time with milliseconds and offset."""
    return instant.astimezone(tz).isoformat(timespec="milliseconds")


def _id_key(record_id: str) -> tuple[int, int, str]:
    return (0, int(record_id), record_id) if record_id.isdigit() else (1, 0, record_id)


@dataclass
class Stored:
    """One entity version as the sandbox serves it."""

    entity: str
    id: str
    payload: dict[str, Any]
    lut: int  # MetaData.LastUpdatedTime, epoch seconds
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The entity's JSON (cached: serving pages of 1000 should not re-serialise)."""
        if self._text is None:
            self._text = payloads.dumps(self.payload)
        return self._text

    def key(self) -> tuple[int, tuple[int, int, str]]:
        return (self.lut, _id_key(self.id))


class EntityTable:
    """The live objects of one entity type, ordered by (LastUpdatedTime, Id)."""

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.rows: dict[str, Stored] = {}
        self.tombstones: dict[str, Stored] = {}
        self._order: list[tuple[int, tuple[int, int, str]]] = []
        self._dirty = False

    def put(self, stored: Stored) -> None:
        old = self.rows.get(stored.id)
        if old is not None and not self._dirty:
            index = bisect.bisect_left(self._order, old.key())
            if index < len(self._order) and self._order[index] == old.key():
                del self._order[index]
            else:  # pragma: no cover - defensive
                self._dirty = True
        self.rows[stored.id] = stored
        if not self._dirty:
            bisect.insort(self._order, stored.key())

    def load(self, items: Iterable[Stored]) -> None:
        for stored in items:
            self.rows[stored.id] = stored
        self._dirty = True

    def remove(self, record_id: str) -> Stored | None:
        old = self.rows.pop(record_id, None)
        if old is not None and not self._dirty:
            index = bisect.bisect_left(self._order, old.key())
            if index < len(self._order) and self._order[index] == old.key():
                del self._order[index]
        return old

    def ordered(self, after: float | None = None, inclusive: bool = False) -> Iterable[Stored]:
        """Live rows by (LastUpdatedTime, Id), optionally only those after an instant."""
        if self._dirty:
            self._order = sorted(s.key() for s in self.rows.values())
            self._dirty = False
        start = 0
        if after is not None:
            # LastUpdatedTime has whole seconds: "> x" starts at floor(x)+1, ">= x" at ceil(x).
            first = math.ceil(after) if inclusive else math.floor(after) + 1
            start = bisect.bisect_left(self._order, (first,))
        order, rows = self._order, self.rows
        for index in range(start, len(order)):
            yield rows[order[index][1][2]]


@dataclass
class PagingMutation:
    """Test knob: after the ``after_page``-th query page of ``entity`` is computed, bump
    ``LastUpdatedTime`` (and ``SyncToken``) of ``ids`` or of the ``count`` oldest rows, as a
    user editing records while a client pages would."""

    entity: str
    after_page: int
    count: int = 1
    ids: tuple[str, ...] = ()
    served: int = 0
    fired: list[str] = field(default_factory=list)


class RealmStore:
    """Everything one realm (QBO company file) holds."""

    def __init__(
        self,
        realm_id: str,
        company_id: str,
        tz: dt.tzinfo,
        home_currency: str,
        clock: SandboxClock,
        lock: threading.RLock,
    ) -> None:
        self.realm_id = realm_id
        self.company_id = company_id
        self.tz = tz
        self.home_currency = home_currency
        self.clock = clock
        self.lock = lock
        self.tables: dict[str, EntityTable] = {e: EntityTable(e) for e in ENTITIES}
        self.mutations: list[PagingMutation] = []
        self._next_id = 1
        # requestid -> the answer given to the write that carried it (QBO replays it)
        self.request_answers: dict[str, str] = {}
        # (entity, id) of the transactions created through the API: the world's books do
        # not know them, so the reports post them from their current payloads.
        self.api_created: set[tuple[str, str]] = set()

    # ----------------------------------------------------------------- loading

    def load(self, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Bulk-load rendered ``(entity, payload)`` pairs (payloads carry MetaData)."""
        by_entity: dict[str, list[Stored]] = {}
        top = 0
        for entity, payload in records:
            lut = dt.datetime.fromisoformat(payload["MetaData"]["LastUpdatedTime"]).timestamp()
            stored = Stored(entity, str(payload["Id"]), payload, int(lut))
            by_entity.setdefault(entity, []).append(stored)
            if stored.id.isdigit() and entity not in SINGLETONS:
                top = max(top, int(stored.id))
        for entity, items in by_entity.items():
            self.tables[entity].load(items)
        self._next_id = max(self._next_id, top + 1)

    # ------------------------------------------------------------------- reads

    def now_epoch(self) -> int:
        return int(self.clock.now().timestamp())

    def time_text(self) -> str:
        return qbo_time(self.clock.now(), self.tz)

    def get(self, entity: str, record_id: str) -> Stored:
        stored = self.tables[entity].rows.get(record_id)
        if stored is None:
            raise errors.object_not_found(entity, record_id)
        return stored

    def select(self, query: Query) -> list[Stored]:
        """The page a query answers (after STARTPOSITION / MAXRESULTS)."""
        matches = self._matches(query, limit=query.start - 1 + query.max_results)
        page = matches[query.start - 1 : query.start - 1 + query.max_results]
        self._after_page(query.entity, page)
        return page

    def count(self, query: Query) -> int:
        return len(self._matches(query, limit=None))

    def _conditions(self, query: Query) -> list[Condition]:
        conditions = list(query.conditions)
        if query.entity in NAME_LISTS and not query.mentions("active"):
            # QBO answers only active name-list objects unless the query asks for Active.
            conditions.append(Condition(("active",), "=", (True,)))
        return conditions

    def _matches(self, query: Query, limit: int | None) -> list[Stored]:
        table = self.tables[query.entity]
        conditions = self._conditions(query)
        tests = [predicate(c, self.tz) for c in conditions]
        by_lut = not query.order or (
            len(query.order) == 1
            and query.order[0][0][-1] == "lastupdatedtime"
            and not query.order[0][1]
        )
        if by_lut and query.order:
            # Fast path for sync clients: walk the LastUpdatedTime index from the lower bound.
            lower, inclusive = None, False
            for c in conditions:
                if c.is_last_updated and c.op in (">", ">=") and isinstance(c.values[0], str):
                    bound = parse_instant(c.values[0], self.tz).timestamp()
                    if lower is None or bound > lower or (bound == lower and c.op == ">"):
                        lower, inclusive = bound, c.op == ">="
            out = []
            for stored in table.ordered(lower, inclusive):
                if all(test(stored.payload) for test in tests):
                    out.append(stored)
                    if limit is not None and len(out) >= limit:
                        break
            return out
        rows = [s for s in table.rows.values() if all(t(s.payload) for t in tests)]
        if query.order:
            for path, desc in reversed(query.order):
                rows.sort(key=lambda s, p=path: sort_key(s.payload, p), reverse=desc)
        elif query.entity in NAME_LISTS:
            rows.sort(
                key=lambda s: (
                    str(
                        s.payload.get("FullyQualifiedName")
                        or s.payload.get("DisplayName")
                        or s.payload.get("Name")
                        or ""
                    ).lower(),
                    _id_key(s.id),
                )
            )
        else:
            rows.sort(key=lambda s: _id_key(s.id))
        return rows

    def changes(self, entities: Iterable[str], since: float) -> list[tuple[str, list[Stored]]]:
        """CDC: per entity, live objects changed at or after ``since`` (oldest first), then
        tombstones of objects deleted since; at most 1000 objects in all."""
        out: list[tuple[str, list[Stored]]] = []
        left = CDC_MAX_OBJECTS
        for entity in entities:
            table = self.tables[entity]
            items = list(table.ordered(since, inclusive=True))
            items += sorted(
                (s for s in table.tombstones.values() if s.lut >= since), key=Stored.key
            )
            out.append((entity, items[: max(left, 0)]))
            left -= len(items)
        return out

    def _after_page(self, entity: str, page: list[Stored]) -> None:
        for mutation in list(self.mutations):
            if mutation.entity != entity:
                continue
            mutation.served += 1
            if mutation.served < mutation.after_page:
                continue
            self.mutations.remove(mutation)
            ids = list(mutation.ids)
            if not ids:
                ids = [s.id for s in list(self.tables[entity].ordered())[: mutation.count]]
            for record_id in ids:
                self.touch(entity, record_id)
                mutation.fired.append(record_id)

    # ------------------------------------------------------------------ writes

    def _stamp(self, payload: dict[str, Any], created: bool) -> int:
        now = self.now_epoch()
        meta = dict(payload.get("MetaData") or {})
        stamp = qbo_instant(now, self.tz)
        if created:
            meta["CreateTime"] = stamp
        meta["LastUpdatedTime"] = stamp
        payload["MetaData"] = meta
        return now

    def _save(self, entity: str, payload: dict[str, Any], created: bool) -> Stored:
        lut = self._stamp(payload, created)
        stored = Stored(entity, str(payload["Id"]), payload, lut)
        self.tables[entity].put(stored)
        return stored

    def _check_token(self, entity: str, body: Mapping[str, Any]) -> Stored:
        record_id = body.get("Id")
        if record_id is None or record_id == "":
            raise errors.required_missing(entity, "Id")
        record_id = str(record_id)
        if not record_id.isdigit():
            raise errors.invalid_id(record_id)
        current = self.get(entity, record_id)
        token = body.get("SyncToken")
        if token is None:
            raise errors.required_missing(entity, "SyncToken")
        if str(token) != str(current.payload.get("SyncToken")):
            raise errors.stale_object()
        return current

    def create(self, entity: str, body: Mapping[str, Any]) -> Stored:
        if entity in SINGLETONS:
            raise errors.unsupported_operation(f"create {entity}")
        payload: dict[str, Any] = copy.deepcopy(dict(body))
        for key in ("Id", "SyncToken", "MetaData", "sparse"):
            payload.pop(key, None)
        payload = {
            "domain": "QBO",
            "sparse": False,
            "Id": str(self._next_id),
            "SyncToken": "0",
            **payload,
        }
        self._next_id += 1
        if entity not in ("Account", "Item", "Preferences") and "CurrencyRef" not in payload:
            payload["CurrencyRef"] = {"value": self.home_currency}
        if entity in NAME_LISTS:
            payload.setdefault("Active", True)
            name = payload.get("DisplayName") or payload.get("Name")
            if name is None:
                raise errors.required_missing(
                    entity, "Name" if entity in ("Account", "Item") else "DisplayName"
                )
            payload.setdefault("FullyQualifiedName", name)
        finish_totals(entity, payload, created=True)
        stored = self._save(entity, payload, created=True)
        if entity not in NAME_LISTS:
            self.api_created.add((entity, stored.id))
        return stored

    def api_transactions(self) -> list[Stored]:
        """The current version of every transaction created through the API and not
        deleted since (updates and voids included), oldest id first."""
        out = []
        for entity, record_id in sorted(self.api_created, key=lambda k: (k[0], int(k[1]))):
            stored = self.tables[entity].rows.get(record_id)
            if stored is not None:  # a deleted one is in no report
                out.append(stored)
        return out

    def update(self, entity: str, body: Mapping[str, Any], sparse: bool | None = None) -> Stored:
        current = self._check_token(entity, body)
        sparse = bool(body.get("sparse")) if sparse is None else sparse
        incoming = {k: copy.deepcopy(v) for k, v in body.items() if k not in (*READ_ONLY, "sparse")}
        if sparse:
            payload = {**copy.deepcopy(current.payload), **incoming}
        else:
            kept = {k: current.payload[k] for k in READ_ONLY if k in current.payload}
            payload = {**kept, **incoming}
        payload["sparse"] = False
        payload["SyncToken"] = str(int(current.payload.get("SyncToken", "0")) + 1)
        if "Line" in incoming or "TxnTaxDetail" in incoming:
            # QBO recomputes totals on save; untouched documents keep theirs exactly.
            finish_totals(entity, payload, created=False, previous=current.payload)
        return self._save(entity, payload, created=False)

    def touch(self, entity: str, record_id: str) -> Stored:
        """An edit that changes nothing but the version (a user re-saving the record)."""
        current = self.get(entity, record_id)
        return self.update(
            entity, {"Id": record_id, "SyncToken": current.payload["SyncToken"]}, sparse=True
        )

    def delete(self, entity: str, body: Mapping[str, Any]) -> Stored:
        current = self._check_token(entity, body)
        if entity in NAME_LISTS:
            return self.deactivate(entity, current.id)
        if entity in SINGLETONS:
            raise errors.unsupported_operation(f"delete {entity}")
        self.tables[entity].remove(current.id)
        now = self.now_epoch()
        stub = {
            "domain": "QBO",
            "status": "Deleted",
            "Id": current.id,
            "MetaData": {"LastUpdatedTime": qbo_instant(now, self.tz)},
        }
        tomb = Stored(entity, current.id, stub, now)
        self.tables[entity].tombstones[current.id] = tomb
        return tomb

    def deactivate(self, entity: str, record_id: str) -> Stored:
        """Name lists: QBO's delete is "make inactive", with " (deleted)" on the name."""
        current = self.get(entity, record_id)
        changes: dict[str, Any] = {"Active": False}
        for key in ("Name", "DisplayName", "FullyQualifiedName"):
            value = current.payload.get(key)
            if isinstance(value, str) and not value.endswith(" (deleted)"):
                changes[key] = f"{value} (deleted)"
        body = {"Id": record_id, "SyncToken": current.payload["SyncToken"], **changes}
        return self.update(entity, body, sparse=True)

    def void(self, entity: str, body: Mapping[str, Any]) -> Stored:
        if entity not in VOIDABLE:
            raise errors.unsupported_operation(f"void {entity}")
        current = self._check_token(entity, body)
        payload = void_payload(entity, copy.deepcopy(current.payload))
        payload["SyncToken"] = str(int(current.payload.get("SyncToken", "0")) + 1)
        return self._save(entity, payload, created=False)

    def replayed(self, request_id: str | None) -> str | None:
        """The answer already given to a write that carried ``request_id``, if any.

        QBO's idempotent retries: a write repeated with the same ``requestid`` query
        parameter (unique per company, at most 50 characters) gets the first answer again
        and changes nothing. Only successful writes are remembered: a refused one changed
        nothing, so its retry is simply tried again."""
        if not request_id:
            return None
        return self.request_answers.get(request_id)

    def remember(self, request_id: str | None, answer: str) -> str:
        """Keep ``answer`` for retries carrying ``request_id``; returns ``answer``."""
        if request_id:
            self.request_answers[request_id] = answer
        return answer

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Live payloads of ``entity`` (copies), for tests."""
        return [copy.deepcopy(s.payload) for s in self.tables[entity].rows.values()]
