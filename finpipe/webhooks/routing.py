"""From the inbox to syncs (no Dagster): which stored events are new, which company and
provider each belongs to, and one entry per (company, provider) for a burst of them.

The sensor reads ``ops.webhook_inbox`` after a cursor with :func:`pending_events`, maps the
events to companies through ``ops.connections`` with :func:`route` (the event's tenant is
the connection's ``external_id``: QBO realm id, Xero tenant id, aggregator item id) and
turns the routed events into :class:`Burst` entries with :func:`coalesce`: however many
events a company's file received, it gets one sync per provider.

The cursor is the last event handled, ``(received_at, provider, event_id)``: the receiver
stamps a whole group commit with one ``received_at``, so the provider and event id break
the ties and an event is never read twice nor skipped because it shares an instant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.webhooks import WEBHOOK_INBOX

UTC = dt.UTC
# The inbox columns the routing needs (the payload stays in the table).
EVENT_COLUMNS = (
    "provider",
    "event_id",
    "tenant_id",
    "entity",
    "entity_id",
    "operation",
    "occurred_at",
    "received_at",
)
# The landing assets sync active and degraded connections (finpipe.defs.landing): a
# degraded one keeps being tried so that a successful sync can restore it.
ROUTABLE_CONNECTION_STATUSES = ("active", "degraded")
# Companies that own a ``company`` partition (finpipe.companies.partitions) and are synced.
ROUTABLE_COMPANY_STATUSES = ("active",)
DEFAULT_LIMIT = 10_000


class CursorError(ValueError):
    """A stored cursor that cannot be read back."""


@dataclass(frozen=True, order=True)
class InboxCursor:
    """The last inbox event handled; events sort by ``(received_at, provider, event_id)``."""

    received_at: dt.datetime
    provider: str
    event_id: str

    def serialize(self) -> str:
        """A JSON string (what a Dagster sensor stores as its cursor)."""
        return json.dumps(
            {
                "received_at": self.received_at.astimezone(UTC).isoformat(),
                "provider": self.provider,
                "event_id": self.event_id,
            },
            sort_keys=True,
        )

    @classmethod
    def parse(cls, text: str | None) -> InboxCursor | None:
        """The cursor :meth:`serialize` wrote; ``None`` for no cursor (the first tick).
        Raises :class:`CursorError` naming the problem for anything else."""
        if not text:
            return None
        try:
            data = json.loads(text)
            received = dt.datetime.fromisoformat(data["received_at"])
            provider, event_id = data["provider"], data["event_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CursorError(
                f"inbox cursor {text[:120]!r} is not the JSON this sensor writes "
                f"({type(exc).__name__}: {exc}); reset the sensor's cursor"
            ) from None
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        return cls(received.astimezone(UTC), str(provider), str(event_id))

    @classmethod
    def of_row(cls, row: dict[str, object]) -> InboxCursor:
        """The cursor just past one event row (with received_at, provider, event_id)."""
        received = row["received_at"]
        assert isinstance(received, dt.datetime)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        return cls(received.astimezone(UTC), str(row["provider"]), str(row["event_id"]))


def _events_schema() -> dict[str, pl.DataType]:
    schema = WEBHOOK_INBOX.polars_schema()
    return {name: schema[name] for name in EVENT_COLUMNS}


def empty_events() -> pl.DataFrame:
    """An empty frame with the columns :func:`pending_events` returns."""
    return pl.DataFrame(schema=_events_schema())


def pending_events(
    warehouse: Warehouse,
    after: InboxCursor | None,
    *,
    received_before: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> pl.DataFrame:
    """Inbox events after ``after`` (all of them for ``None``), oldest first, at most
    ``limit`` (the next call continues from the last one returned).

    ``received_before`` leaves out events stamped at or after that instant: the receiver
    stamps ``received_at`` when its commit starts, so a commit still in flight may become
    visible with an instant older than rows already read; reading only events a few
    seconds old lets such commits land first.
    """
    clauses: list[str] = []
    params: list[object] = []
    if after is not None:
        clauses.append(
            "(received_at > %s OR (received_at = %s AND "
            "(provider > %s OR (provider = %s AND event_id > %s))))"
        )
        params += [after.received_at, after.received_at]
        params += [after.provider, after.provider, after.event_id]
    if received_before is not None:
        clauses.append("received_at < %s")
        params.append(received_before)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    sql = (
        f"SELECT {columns} FROM {WEBHOOK_INBOX.qualified_name} {where} "
        f"ORDER BY received_at, provider, event_id LIMIT {int(limit)}"
    )
    frame = warehouse.query(sql, params)
    if frame.is_empty():
        return empty_events()
    return frame.select(EVENT_COLUMNS).cast(dict(_events_schema()))


@dataclass(frozen=True)
class Routing:
    """Events mapped to companies (``routed``: the event columns plus ``company_id``) and
    those that cannot be synced (``unrouted``: plus ``company_id`` when known and a
    ``reason``). An event whose tenant is linked to two companies is routed to both."""

    routed: pl.DataFrame
    unrouted: pl.DataFrame

    def unrouted_summary(self, limit: int = 5) -> list[str]:
        """One line per (provider, tenant, reason) that was not routed, most events first."""
        if self.unrouted.is_empty():
            return []
        groups = (
            self.unrouted.group_by("provider", "tenant_id", "reason")
            .agg(pl.len().alias("events"))
            .sort(["events", "provider", "tenant_id"], descending=[True, False, False])
        )
        lines = [
            f"{r['events']} {r['provider']} event(s) of tenant {r['tenant_id']}: {r['reason']}"
            for r in groups.head(limit).iter_rows(named=True)
        ]
        if groups.height > limit:
            lines.append(f"... and {groups.height - limit} more tenant(s)")
        return lines


def route(
    events: pl.DataFrame,
    connections: pl.DataFrame,
    companies: pl.DataFrame | None = None,
    *,
    providers: Sequence[str] | None = None,
) -> Routing:
    """Map each event to the companies whose connection to the event's provider has the
    event's tenant as ``external_id``.

    Not routed, with the reason: tenants no connection knows; connections that are not
    active (the landing sync only syncs active ones: paused, removed, or waiting for a
    person to reconnect); when ``companies`` (``ops.companies``) is given, companies missing
    from it or not active; when ``providers`` is given, providers not in it.
    """
    links = connections.select(
        "provider",
        pl.col("external_id").alias("tenant_id"),
        "company_id",
        pl.col("status").alias("_connection_status"),
    )
    joined = events.join(links, on=["provider", "tenant_id"], how="left")
    reason = (
        pl.when(pl.col("company_id").is_null())
        .then(
            pl.lit("unknown tenant: no ")
            + pl.col("provider")
            + pl.lit(" connection in ops.connections has this external_id")
        )
        .when(~pl.col("_connection_status").is_in(ROUTABLE_CONNECTION_STATUSES))
        .then(
            pl.lit("connection of ")
            + pl.col("company_id")
            + pl.lit(" is ")
            + pl.col("_connection_status")
        )
    )
    if companies is not None:
        known = companies.select("company_id", pl.col("status").alias("_company_status"))
        joined = joined.join(known, on="company_id", how="left")
        reason = (
            reason.when(pl.col("_company_status").is_null())
            .then(pl.lit("company ") + pl.col("company_id") + pl.lit(" is not in ops.companies"))
            .when(~pl.col("_company_status").is_in(ROUTABLE_COMPANY_STATUSES))
            .then(
                pl.lit("company ")
                + pl.col("company_id")
                + pl.lit(" is ")
                + pl.col("_company_status")
            )
        )
    if providers is not None:
        reason = reason.when(~pl.col("provider").is_in(list(providers))).then(
            pl.lit("no landing assets for provider ") + pl.col("provider")
        )
    joined = joined.with_columns(reason.otherwise(None).alias("reason"))
    columns = [*events.columns, "company_id"]
    routed = joined.filter(pl.col("reason").is_null()).select(columns)
    unrouted = joined.filter(pl.col("reason").is_not_null()).select([*columns, "reason"])
    return Routing(routed=routed, unrouted=unrouted)


@dataclass(frozen=True)
class Burst:
    """The routed events of one company at one provider: one sync covers them all."""

    company_id: str
    provider: str
    events: int
    newest: InboxCursor
    event_ids_sha256: str
    entities: tuple[str, ...]

    @property
    def key(self) -> str:
        """Stable for the same company, provider and newest event: evaluating the same
        inbox twice gives the same key (a Dagster run key), a newer event a new one."""
        digest = hashlib.sha256(self.newest.serialize().encode()).hexdigest()[:16]
        return f"webhook:{self.provider}:{self.company_id}:{digest}"


def coalesce(routed: pl.DataFrame) -> list[Burst]:
    """One :class:`Burst` per (company, provider) of ``routed`` (the frame
    :func:`route` returns), sorted by company then provider."""
    bursts: list[Burst] = []
    if routed.is_empty():
        return bursts
    ordered = routed.sort(["company_id", "provider", "received_at", "event_id"])
    for (company_id, provider), group in ordered.group_by(
        ["company_id", "provider"], maintain_order=True
    ):
        ids = sorted(group.get_column("event_id").to_list())
        bursts.append(
            Burst(
                company_id=str(company_id),
                provider=str(provider),
                events=group.height,
                newest=InboxCursor.of_row(group.row(group.height - 1, named=True)),
                event_ids_sha256=hashlib.sha256("\n".join(ids).encode()).hexdigest(),
                entities=tuple(sorted(set(group.get_column("entity").to_list()))),
            )
        )
    return bursts
