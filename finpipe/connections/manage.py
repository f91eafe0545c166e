"""Managing connections by hand (no Dagster): look one up, pause, resume, remove.

Every change is a new version of the ``ops.connections`` row (status, reason, ``updated_at``)
and is recorded in the company's audit chain as a ``manual_override`` entry through
:func:`finpipe.compliance.overrides.record_overrides`, like every other operator override.
``remove`` also deletes the connection's stored OAuth tokens (once no other connection of
the company uses that provider's token set) and keeps every row of history: landed data,
the sync log, the connection row itself with status ``removed``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from finpipe.compliance.overrides import record_overrides
from finpipe.errors import FinpipeError
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS

UTC = dt.UTC
# From which statuses each command may move a connection, and to what.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": (("active", "degraded", "needs_reauth", "pending"), "paused"),
    "resume": (("paused",), "active"),
    "remove": (("active", "degraded", "needs_reauth", "pending", "paused"), "removed"),
}


class ConnectionsError(FinpipeError):
    """A connection command cannot do what was asked."""


class UnknownConnectionError(ConnectionsError):
    """No connection matches the company / provider / external id given."""


@dataclass(frozen=True)
class Change:
    """What a status command did: the rows after the change, and the audit entries added."""

    rows: pl.DataFrame
    audit_entries: int
    tokens_deleted: int = 0


def find(
    wh: Warehouse, company_id: str, provider: str, external_id: str | None = None
) -> pl.DataFrame:
    """The connections of ``company_id`` to ``provider`` (one, with ``external_id``).

    Raises :class:`UnknownConnectionError` naming what exists when nothing matches."""
    everything = wh.read(CONNECTIONS)
    company = everything.filter(pl.col("company_id") == company_id)
    if company.is_empty():
        known = sorted(set(everything.get_column("company_id").to_list()))
        listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise UnknownConnectionError(
            f"company {company_id!r} has no connection; companies with connections: "
            f"{listed or 'none (run `finpipe connect` first)'}"
        )
    rows = company.filter(pl.col("provider") == provider)
    if rows.is_empty():
        have = ", ".join(sorted(set(company.get_column("provider").to_list())))
        raise UnknownConnectionError(
            f"company {company_id!r} has no {provider!r} connection; it has: {have}"
        )
    if external_id is not None:
        one = rows.filter(pl.col("external_id") == external_id)
        if one.is_empty():
            have = ", ".join(rows.get_column("external_id").to_list())
            raise UnknownConnectionError(
                f"company {company_id!r} has no {provider} connection {external_id!r}; "
                f"its {provider} connections: {have}"
            )
        rows = one
    return rows


def change_status(
    wh: Warehouse,
    command: str,
    company_id: str,
    provider: str,
    *,
    external_id: str | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Change:
    """Apply ``command`` (pause | resume | remove) to the matching connections and record
    it in the audit chain. Raises :class:`ConnectionsError` when a connection's status does
    not allow it (resuming an active one, say)."""
    if command not in TRANSITIONS:
        raise ConnectionsError(f"unknown command {command!r}; use one of {sorted(TRANSITIONS)}")
    allowed, target = TRANSITIONS[command]
    now = now or dt.datetime.now(UTC)
    rows = find(wh, company_id, provider, external_id)
    blocked = rows.filter(~pl.col("status").is_in(allowed))
    if blocked.height:
        row = blocked.row(0, named=True)
        hint = (
            " (a connection that needs reauthorisation is resumed by "
            f"`finpipe connections reauth {company_id} {provider}`)"
            if command == "resume" and row["status"] in ("needs_reauth", "degraded")
            else ""
        )
        raise ConnectionsError(
            f"{provider} connection {row['external_id']} of {company_id} is {row['status']}: "
            f"cannot {command} it (allowed from: {', '.join(allowed)}){hint}"
        )
    text = reason or f"{command}d by the operator"
    updated = rows.with_columns(
        pl.lit(target).alias("status"),
        pl.lit(text).alias("status_reason"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
    )
    deleted = 0
    if command == "remove":
        deleted = _delete_tokens_if_unused(wh, company_id, provider, updated)
    wh.upsert(CONNECTIONS, updated)
    entries = record_overrides(
        wh, company_id, CONNECTIONS.qualified_name, updated, key=("provider", "external_id")
    )
    return Change(updated, entries, deleted)


def _delete_tokens_if_unused(
    wh: Warehouse, company_id: str, provider: str, removing: pl.DataFrame
) -> int:
    """Delete the company's ``provider`` token set unless a connection not being removed
    still relies on it (one Xero grant covers several tenants)."""
    others = (
        wh.read(
            CONNECTIONS, where="company_id = %s AND provider = %s", params=[company_id, provider]
        )
        .join(removing.select("external_id"), on="external_id", how="anti")
        .filter(pl.col("status") != "removed")
    )
    if others.height:
        return 0
    where = "company_id = %s AND provider = %s"
    count = wh.read(OAUTH_TOKENS, where=where, params=[company_id, provider]).height
    if count:
        wh.execute(
            f"DELETE FROM {OAUTH_TOKENS.qualified_name} WHERE {where}", [company_id, provider]
        )
    return count
