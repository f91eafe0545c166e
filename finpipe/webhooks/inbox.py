"""The durable inbox: verified events committed to ``ops.webhook_inbox`` before the
receiver answers 2xx, and the rejection counters in ``ops.webhook_rejections``.

A delivery is stored once: events whose ``(provider, event_id)`` is already in the inbox are
skipped, and so is a whole QuickBooks or Xero delivery whose body (SHA-256) was stored within
the replay window. Not an aggregator one: Plaid's SYNC_UPDATES_AVAILABLE body is the same
bytes for every change of an item, and what tells a new notification from a replay is the
JWT it came with (its ``iat`` is in the event id).
Deliveries are committed in groups (see :meth:`Inbox.store`); the check and the write of
a group run one at a time per process, and the primary key makes a race between processes
harmless (an upsert replaces the row with the same event).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from finpipe.connectors import payloads
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX, WEBHOOK_REJECTIONS
from finpipe.webhooks.errors import ReceiverUnavailableError
from finpipe.webhooks.events import WebhookEvent

UTC = dt.UTC

# Providers whose delivery bodies differ for every notification (timestamps, sequences,
# entropy), so the same bytes again are a replay.
BODY_REPLAY_PROVIDERS = frozenset({"quickbooks", "xero"})
DEFAULT_REPLAY_WINDOW = dt.timedelta(hours=24)


@dataclass
class _Ticket:
    """One delivery waiting for the group commit that makes it durable."""

    provider: str
    events: list[WebhookEvent]
    body_sha256: str
    done: bool = False
    result: StoreResult | None = None
    error: ReceiverUnavailableError | None = None


@dataclass(frozen=True)
class StoreResult:
    """What :meth:`Inbox.store` did with a delivery."""

    stored: int
    duplicates: int


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


class Inbox:
    """The receiver's store, over any :class:`~finpipe.warehouse.Warehouse`."""

    def __init__(
        self,
        warehouse: Warehouse,
        *,
        replay_window: dt.timedelta = DEFAULT_REPLAY_WINDOW,
        rejection_flush_seconds: float = 5.0,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.warehouse = warehouse
        self.replay_window = replay_window
        self.rejection_flush_seconds = rejection_flush_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: list[_Ticket] = []
        self._committing = False
        # Warehouse commits of events so far (tests and benchmarks read the batching).
        self.commits = 0
        self._pending_lock = threading.Lock()
        self._pending: dict[tuple[str, str, dt.date], int] = {}
        self._last_flush = clock()

    def store(self, provider: str, events: Sequence[WebhookEvent], body_sha256: str) -> StoreResult:
        """Commit the delivery's new events and return once they are durable; raises
        :class:`ReceiverUnavailableError` when the warehouse cannot tell what is new or
        cannot commit (the caller answers 503).

        Group commit: deliveries arriving while a commit runs wait and go together in the
        next one (one replay query, one write), so throughput under concurrent deliveries is
        not bounded by one warehouse round trip per request. Each caller still returns only
        after the commit that holds its events."""
        if not events:
            return StoreResult(0, 0)
        ticket = _Ticket(provider, list(events), body_sha256)
        with self._cond:
            self._queue.append(ticket)
            while not ticket.done:
                if self._committing:
                    self._cond.wait()
                    continue
                self._committing = True
                batch, self._queue = self._queue, []
                self._cond.release()
                try:
                    self._commit_batch(batch)
                finally:
                    self._cond.acquire()
                    self._committing = False
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _commit_batch(self, batch: list[_Ticket]) -> None:
        try:
            results = self._store(batch)
        except Exception as exc:
            # Whatever broke (lock, disk, network), the events are not durable: the
            # providers must retry. The message names the table, never a body.
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            for ticket in batch:
                error = ReceiverUnavailableError(
                    f"cannot commit to {WEBHOOK_INBOX.qualified_name}: {type(exc).__name__}: "
                    f"{first}; the provider will retry, check the warehouse",
                    reason="store_failed",
                )
                error.__cause__ = exc
                ticket.error = error
                ticket.done = True
            return
        for ticket, result in zip(batch, results, strict=True):
            ticket.result = result
            ticket.done = True

    def _store(self, batch: Sequence[_Ticket]) -> list[StoreResult]:
        now = self._clock()
        since = now - self.replay_window
        ids = list(dict.fromkeys(e.event_id for t in batch for e in t.events))
        bodies = list(dict.fromkeys(t.body_sha256 for t in batch))
        seen = self.warehouse.query(
            "SELECT provider, event_id, body_sha256, (received_at >= %s) AS recent "
            f"FROM {WEBHOOK_INBOX.qualified_name} WHERE event_id IN ({_marks(ids)}) "
            f"OR (body_sha256 IN ({_marks(bodies)}) AND received_at >= %s)",
            [since, *ids, *bodies, since],
        )
        known: set[tuple[str, str]] = set()
        recent_bodies: set[tuple[str, str]] = set()
        for row in seen.iter_rows(named=True):
            known.add((row["provider"], row["event_id"]))
            if row["recent"]:
                recent_bodies.add((row["provider"], row["body_sha256"]))
        rows: list[tuple[WebhookEvent, str]] = []
        results = []
        # In arrival order: a body or event repeated inside the batch counts as a replay.
        for ticket in batch:
            body_replay = ticket.provider in BODY_REPLAY_PROVIDERS
            if body_replay and (ticket.provider, ticket.body_sha256) in recent_bodies:
                results.append(StoreResult(0, len(ticket.events)))
                continue
            stored = 0
            for event in ticket.events:
                key = (ticket.provider, event.event_id)
                if key not in known:
                    known.add(key)
                    rows.append((event, ticket.body_sha256))
                    stored += 1
            if stored:
                recent_bodies.add((ticket.provider, ticket.body_sha256))
            results.append(StoreResult(stored, len(ticket.events) - stored))
        if rows:
            self.warehouse.upsert(WEBHOOK_INBOX, _frame(rows, now))
        self.commits += 1
        return results

    def reject(self, provider: str, reason: str) -> None:
        """Count one rejected request (provider, reason, UTC day); nothing else is kept.

        Counts gather in memory and reach ``ops.webhook_rejections`` at most every
        ``rejection_flush_seconds`` (and on :meth:`flush_rejections`), so a flood of forged
        requests costs the warehouse one small write per interval, not one per request."""
        now = self._clock()
        key = (provider, reason, now.date())
        with self._pending_lock:
            self._pending[key] = self._pending.get(key, 0) + 1
            due = (now - self._last_flush).total_seconds() >= self.rejection_flush_seconds
        if due:
            self.flush_rejections()

    def flush_rejections(self) -> None:
        """Add the counts gathered in memory to ``ops.webhook_rejections``. A failed write
        keeps them pending for the next flush."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            self._last_flush = now = self._clock()
        if not pending:
            return
        try:
            with self.warehouse.lock("finpipe.webhooks.rejections", timeout=5.0):
                current = self.warehouse.read(
                    WEBHOOK_REJECTIONS,
                    where='"day" >= %s',
                    params=[min(day for _, _, day in pending)],
                )
                counts = dict(pending)
                for row in current.iter_rows(named=True):
                    key = (row["provider"], row["reason"], row["day"])
                    if key in counts:
                        counts[key] += int(row["count"])
                frame = pl.DataFrame(
                    {
                        "provider": [k[0] for k in counts],
                        "reason": [k[1] for k in counts],
                        "day": [k[2] for k in counts],
                        "count": list(counts.values()),
                        "updated_at": [now] * len(counts),
                    },
                    schema=WEBHOOK_REJECTIONS.polars_schema(),
                )
                self.warehouse.upsert(WEBHOOK_REJECTIONS, frame)
        except Exception:
            with self._pending_lock:
                for key, n in pending.items():
                    self._pending[key] = self._pending.get(key, 0) + n
            raise

    # ------------------------------------------------------------------ reads

    def events(self, provider: str | None = None) -> pl.DataFrame:
        """The stored events (optionally one provider's), oldest first."""
        where, params = ("provider = %s", [provider]) if provider else (None, [])
        return self.warehouse.read(
            WEBHOOK_INBOX, where=where, params=params, order_by=["received_at", "event_id"]
        )

    def count(self) -> int:
        return self.warehouse.count(WEBHOOK_INBOX)

    def rejections(self) -> pl.DataFrame:
        """Rejection counters per provider, reason and day (pending counts flushed first)."""
        self.flush_rejections()
        return self.warehouse.read(WEBHOOK_REJECTIONS)


def _marks(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _frame(rows: Sequence[tuple[WebhookEvent, str]], now: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "provider": [e.provider for e, _ in rows],
            "event_id": [e.event_id for e, _ in rows],
            "tenant_id": [e.tenant_id for e, _ in rows],
            "entity": [e.entity for e, _ in rows],
            "entity_id": [e.entity_id for e, _ in rows],
            "operation": [e.operation for e, _ in rows],
            "occurred_at": [e.occurred_at for e, _ in rows],
            "received_at": [now] * len(rows),
            "body_sha256": [digest for _, digest in rows],
            "payload": [payloads.dumps(dict(e.payload)) for e, _ in rows],
        },
        schema=WEBHOOK_INBOX.polars_schema(),
    )
