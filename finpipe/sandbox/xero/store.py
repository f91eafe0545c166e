"""One Xero organisation's records in memory, in Xero's order, with Xero's write rules.

Records are kept exactly as the API shows them (dicts with Decimal amounts and
``/Date(ms+0000)/`` strings). Listings are ordered ``UpdatedDateUTC`` then id, which is
what Xero applies to keep pages stable; journals are ordered by ``JournalNumber``.

Write rules the sandbox implements (the connector relies on them):

* Creating (``PUT``, or ``POST`` without an id) gives the record a new UUID and stamps
  ``UpdatedDateUTC`` with the sandbox clock; totals are computed from the line items.
* Updating (``POST /{Endpoint}/{id}`` or an id in the body) merges the given fields and
  stamps a new ``UpdatedDateUTC``. **Stale-version rule**: when the update carries an
  ``UpdatedDateUTC`` and it is not the record's current one (to the millisecond), the
  sandbox answers ``409`` with a ValidationException body and changes nothing. Real Xero
  ignores the field (last write wins); the sandbox adds the check so optimistic
  concurrency can be exercised.
* Status rules (Xero's): invoices may be DELETED only while DRAFT/SUBMITTED and VOIDED only
  while AUTHORISED with nothing paid; contacts are archived, not deleted.
* Authorising or voiding an invoice posts a journal (voiding posts the reversal), as Xero's
  general ledger does.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from finpipe.connectors.xero.endpoints import ENDPOINTS, JOURNALS_PER_CALL
from finpipe.connectors.xero.parse import format_ms_date, parse_amount, parse_date

UTC = dt.UTC
CENT = Decimal("0.01")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


class SandboxClock:
    """The sandbox's own "now": starts at ``start`` and runs with real time, plus whatever
    :meth:`advance` added. Successive stamps are strictly increasing (one millisecond
    apart at least) so every write has its own ``UpdatedDateUTC``."""

    def __init__(self, start: dt.datetime, monotonic: Callable[[], float] = time.monotonic):
        self._start = start
        self._monotonic = monotonic
        self._origin = monotonic()
        self._offset = dt.timedelta(0)
        self._last_ms = 0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        elapsed = dt.timedelta(seconds=self._monotonic() - self._origin)
        return self._start + elapsed + self._offset

    def stamp(self) -> dt.datetime:
        """A fresh instant for a write, later than every earlier stamp."""
        with self._lock:
            ms = max(to_ms(self.now()), self._last_ms + 1)
            self._last_ms = ms
        return from_ms(ms)

    def advance(self, seconds: float) -> None:
        self._offset += dt.timedelta(seconds=seconds)


def to_ms(instant: dt.datetime) -> int:
    return (instant - EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


def ms_date(instant: dt.datetime) -> str:
    return format_ms_date(instant)


def date_fields(day: dt.date | dt.datetime, prefix: str = "") -> dict[str, str]:
    """``{prefix}DateString`` + ``{prefix}Date`` for a calendar date, as Xero writes them."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        f"{prefix}DateString": midnight.strftime("%Y-%m-%dT%H:%M:%S"),
        f"{prefix}Date": ms_date(midnight),
    }


def money(value: Any) -> Decimal:
    """An amount to the cent, halves away from zero (as Xero rounds line amounts)."""
    return parse_amount(value).quantize(CENT, rounding=ROUND_HALF_UP)


class WriteRejected(Exception):
    """A write Xero would refuse: ``status`` and the validation messages."""

    def __init__(self, status: int, messages: list[str], element: dict[str, Any] | None = None):
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages
        self.element = element or {}


@dataclass
class Listing:
    """One answer to a list call."""

    records: list[dict[str, Any]]
    item_count: int


@dataclass
class TenantStore:
    """One organisation's records, per endpoint, plus its general-ledger journals."""

    tenant_id: str
    clock: SandboxClock
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # endpoint -> sorted [(UpdatedDateUTC ms, id)] for ordered, filtered listings
    order: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    journals: list[dict[str, Any]] = field(default_factory=list)
    journals_by_source: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------------ loading

    def put(self, endpoint: str, record: dict[str, Any]) -> None:
        """Insert or replace ``record`` as is (its UpdatedDateUTC decides its place)."""
        spec = ENDPOINTS[endpoint]
        source_id = str(record[spec.id_field])
        with self.lock:
            table = self.records.setdefault(endpoint, {})
            order = self.order.setdefault(endpoint, [])
            old = table.get(source_id)
            if old is not None:
                old_key = (self._updated_ms(old), source_id)
                index = bisect.bisect_left(order, old_key)
                if index < len(order) and order[index] == old_key:
                    del order[index]
            table[source_id] = record
            bisect.insort(order, (self._updated_ms(record), source_id))

    def load(self, endpoint: str, records: list[dict[str, Any]]) -> None:
        """Bulk load (render time): one sort instead of one insort per record."""
        spec = ENDPOINTS[endpoint]
        with self.lock:
            table = self.records.setdefault(endpoint, {})
            for record in records:
                table[str(record[spec.id_field])] = record
            self.order[endpoint] = sorted((self._updated_ms(r), k) for k, r in table.items())

    def add_journal(self, journal: dict[str, Any]) -> dict[str, Any]:
        """Append a journal with the next JournalNumber."""
        with self.lock:
            journal["JournalNumber"] = len(self.journals) + 1
            self.journals.append(journal)
            source = journal.get("SourceID")
            if source:
                self.journals_by_source.setdefault(source, []).append(len(self.journals) - 1)
            return journal

    @staticmethod
    def _updated_ms(record: dict[str, Any]) -> int:
        value = record.get("UpdatedDateUTC")
        parsed = parse_date(value) if value else None
        return to_ms(parsed) if parsed else 0

    # ------------------------------------------------------------------ reading

    def get(self, endpoint: str, source_id: str) -> dict[str, Any] | None:
        with self.lock:
            if ENDPOINTS[endpoint].journal:
                for journal in self.journals:
                    if journal["JournalID"] == source_id or str(journal["JournalNumber"]) == (
                        source_id
                    ):
                        return journal
                return None
            return self.records.get(endpoint, {}).get(source_id)

    def listing(
        self,
        endpoint: str,
        since: dt.datetime | None,
        page: int | None,
        page_size: int,
    ) -> Listing:
        """Records of ``endpoint`` modified strictly after ``since`` (second resolution, as
        the header), in order; one page of them when ``page`` is given."""
        with self.lock:
            order = self.order.get(endpoint, [])
            start = 0
            if since is not None:
                # After the whole second named by the header.
                bound = to_ms(since.replace(microsecond=0)) + 999
                start = bisect.bisect_right(order, (bound, "\uffff"))
            keys = order[start:]
            count = len(keys)
            if page is not None:
                keys = keys[(page - 1) * page_size : page * page_size]
            table = self.records.get(endpoint, {})
            return Listing([table[k] for _, k in keys], count)

    def journal_listing(self, offset: int, since: dt.datetime | None) -> list[dict[str, Any]]:
        """Up to 100 journals with JournalNumber > ``offset`` (created after ``since``)."""
        with self.lock:
            out = []
            for journal in self.journals[max(offset, 0) :]:
                if since is not None:
                    created = parse_date(journal["CreatedDateUTC"])
                    if created is not None and created < since.replace(microsecond=0):
                        continue
                out.append(journal)
                if len(out) == JOURNALS_PER_CALL:
                    break
            return out

    def count(self, endpoint: str) -> int:
        with self.lock:
            if ENDPOINTS[endpoint].journal:
                return len(self.journals)
            return len(self.records.get(endpoint, {}))
