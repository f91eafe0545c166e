"""Incremental sync of a company's Berlin Group consents into ``raw.berlingroup_*``.

Per consent (one per company; ``external_id`` in ``ops.connections``):

1. ``GET /v1/accounts``: every account the consent reaches lands in ``accounts``
   (``tenant_id`` = ``source_id`` = ``resourceId``).
2. Per account with a ``balances`` link: ``GET .../balances`` lands each reported balance
   (``source_id`` = ``<balanceType>:<currency>``).
3. Per account with a ``transactions`` link:
   ``GET .../transactions?bookingStatus=both&dateFrom=D``, following ``_links.next``. ``D``
   is the committed cursor (the latest ``bookingDate`` landed) minus an overlap (banks book
   late and back-date), moved earlier still to the oldest pending entry landed and not yet
   gone, so every pending entry finpipe holds is asked about again. Each page is committed
   (once the next one has been read) with the cursor the pull started from
   (:func:`commit_page`); the cursor moves to the latest ``bookingDate`` only in the pull's
   final commit, with the last page: the specification fixes no order of entries (many
   ASPSPs send newest first), so a run killed mid-report asks for every page again.
   Pending entries are a snapshot: after the last page, landed entries inside the window
   that the bank no longer reports (a pending entry that posted under another id, or was
   withdrawn) are soft-deleted (:func:`soft_delete`) with the cursor, in one transaction.

Only records whose payload changed are written, so a sync with nothing new makes one call
per endpoint and writes nothing. A sync is an access without the PSU: it counts against
the consent's ``frequencyPerDay``; running out stops the sync cleanly (what was read is
committed; ``SyncReport.stopped`` / ``resume_at`` say why and until when). An expired or
revoked consent raises :class:`~finpipe.connectors.errors.NeedsReauth` and marks the
connection ``needs_reauth``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.banks import BankContext
from finpipe.connectors.berlingroup.client import (
    PROVIDER,
    AccessExceeded,
    AisClient,
    TppClient,
    oauth_app,
)
from finpipe.connectors.berlingroup.parse import (
    BerlinGroupParseError,
    entry_date,
    is_pending,
    report_entries,
)
from finpipe.connectors.errors import ConnectorError, NeedsReauth, ProviderError
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.landing import CursorKey, commit_page, landing_frame, soft_delete
from finpipe.connectors.oauth import TokenManager, TokenStore
from finpipe.connectors.report import EntityReport, SyncReport
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, SYNC_CURSORS
from finpipe.warehouse.tables.raw import BERLINGROUP_TABLES

UTC = dt.UTC
OVERLAP = dt.timedelta(days=7)
# First sync: how far back to ask (ASPSPs answer what they keep; many keep 2+ years).
INITIAL_LOOKBACK = dt.timedelta(days=3 * 366)
# When an ASPSP refuses that (400 PERIOD_INVALID): what it must offer without the PSU.
FALLBACK_HISTORY = dt.timedelta(days=89)


@dataclass
class _Run:
    warehouse: Warehouse
    company_id: str
    sync_id: str
    now: dt.datetime
    overlap: dt.timedelta
    lookback: dt.timedelta


def sync_berlingroup(
    ctx: BankContext,
    external_ids: Sequence[str],
    *,
    now: dt.datetime | None = None,
    overlap: dt.timedelta = OVERLAP,
    lookback: dt.timedelta = INITIAL_LOOKBACK,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncReport:
    """Sync every consent in ``external_ids`` (consent ids) of ``ctx.company_id``.

    Raises :class:`NeedsReauth` (connection marked ``needs_reauth``) when a consent expired
    or was revoked. When the consent's daily accesses are used up (``429 ACCESS_EXCEEDED``)
    the sync stops cleanly: everything read is committed and the report's ``stopped`` says
    why and ``resume_at`` when the next sync can get further."""
    run = _Run(
        warehouse=ctx.warehouse,
        company_id=ctx.company_id,
        sync_id=f"berlingroup-{uuid.uuid4().hex[:12]}",
        now=now or dt.datetime.now(UTC),
        overlap=overlap,
        lookback=lookback,
    )
    report = SyncReport(provider=PROVIDER, company_id=ctx.company_id, sync_id=run.sync_id)
    if not external_ids:
        return report
    store = TokenStore(ctx.warehouse, ctx.box)
    tpp = TppClient(ctx.api_base, ctx.credentials, policy=policy, sleep=sleep)
    metadata = tpp.authorisation_server()
    for consent_id in external_ids:
        # The token manager refreshes through the authorisation server's token endpoint.
        app = oauth_app(metadata, ctx.credentials, consent_id, redirect_uri="")
        tokens = TokenManager(app, store, ctx.company_id)
        client = AisClient(
            ctx.api_base, tokens, ctx.company_id, consent_id, policy=policy, sleep=sleep
        )
        try:
            _sync_consent(run, client, report)
        except AccessExceeded as exc:
            # Not a failure: what was read is committed; the next run resumes from the cursors.
            report.stopped = str(exc)
            report.resume_at = exc.resume_at
            return report
        except NeedsReauth as exc:
            _needs_reauth(ctx.warehouse, ctx.company_id, consent_id, str(exc))
            raise
        finally:
            counters = client.counters
            report.calls += counters.calls
            report.rate_limited += counters.rate_limited
            report.retries += counters.retries
            report.token_refreshes += tokens.refreshes
    return report


def _needs_reauth(warehouse: Warehouse, company_id: str, consent_id: str, reason: str) -> None:
    """Mark this consent's connection ``needs_reauth`` (a replaced, ``removed`` consent of
    the same company keeps its status)."""
    rows = warehouse.read(
        CONNECTIONS,
        where="company_id = %s AND provider = %s AND external_id = %s",
        params=[company_id, PROVIDER, consent_id],
    )
    if rows.is_empty():
        return
    warehouse.upsert(
        CONNECTIONS,
        rows.with_columns(
            pl.lit("needs_reauth").alias("status"),
            pl.lit(reason).alias("status_reason"),
            pl.lit(dt.datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("updated_at"),
        ),
    )


def _counted(report: SyncReport, client: AisClient, entity: EntityReport) -> Callable[[], None]:
    before = client.counters.calls, client.counters.rate_limited

    def done() -> None:
        entity.calls += client.counters.calls - before[0]
        entity.rate_limited += client.counters.rate_limited - before[1]

    report.entities.append(entity)
    return done


def _sync_consent(run: _Run, client: AisClient, report: SyncReport) -> None:
    entity = EntityReport(entity="accounts", tenant_id=client.consent_id)
    done = _counted(report, client, entity)
    try:
        body = client.get("/v1/accounts")
        accounts = body.get("accounts") if isinstance(body, Mapping) else None
        if not isinstance(accounts, list):
            raise ConnectorError(
                f"berlingroup GET /v1/accounts of consent {client.consent_id} answered "
                "without an accounts list"
            )
        records = []
        for account in accounts:
            if not isinstance(account, Mapping) or not account.get("resourceId"):
                raise ConnectorError(
                    f"berlingroup consent {client.consent_id}: an account has no resourceId"
                )
            records.append((str(account["resourceId"]), str(account["resourceId"]), account))
        _land_snapshot(run, BERLINGROUP_TABLES["accounts"], records, {"*": entity})
        entity.pages += 1
    finally:
        done()
    balances: list[tuple[str, str, Mapping[str, Any]]] = []
    balance_entities: dict[str, EntityReport] = {}
    for account in accounts:
        links = account.get("_links") or {}
        if "balances" in links:
            resource_id = str(account["resourceId"])
            entity = EntityReport(entity="balances", tenant_id=resource_id)
            balance_entities[resource_id] = entity
            done = _counted(report, client, entity)
            try:
                balances += _read_balances(client, resource_id, links["balances"]["href"])
                entity.pages += 1
            finally:
                done()
    # One read and at most one write for every account's balances.
    _land_snapshot(run, BERLINGROUP_TABLES["balances"], balances, balance_entities)
    table = BERLINGROUP_TABLES["transactions"]
    landed = _landed(run, table)
    cursors = _cursors(run)
    for account in accounts:
        links = account.get("_links") or {}
        if "transactions" in links:
            resource_id = str(account["resourceId"])
            _sync_transactions(
                run,
                client,
                report,
                resource_id,
                links["transactions"]["href"],
                landed.get(resource_id, {}),
                cursors.get(resource_id),
            )


def _read_balances(
    client: AisClient, account_id: str, href: str
) -> list[tuple[str, str, Mapping[str, Any]]]:
    body = client.get(href)
    balances = body.get("balances") if isinstance(body, Mapping) else None
    if not isinstance(balances, list):
        raise ConnectorError(
            f"berlingroup balances of account {account_id} answered without a balances list"
        )
    records = []
    for item in balances:
        money = item.get("balanceAmount") if isinstance(item, Mapping) else None
        if not isinstance(money, Mapping):
            raise ConnectorError(
                f"berlingroup balances of account {account_id}: a balance has no balanceAmount"
            )
        records.append((account_id, f"{item.get('balanceType')}:{money.get('currency')}", item))
    return records


def _landed(run: _Run, table: Table) -> dict[str, dict[str, tuple[Any, bool]]]:
    """tenant -> source id -> (payload, deleted) of the company's landed rows (one read)."""
    rows = run.warehouse.read(table, company_id=run.company_id)
    out: dict[str, dict[str, tuple[Any, bool]]] = {}
    for tenant, source_id, payload, deleted in rows.select(
        "tenant_id", "source_id", "payload", "deleted"
    ).iter_rows():
        out.setdefault(tenant, {})[source_id] = (payloads.loads(payload), bool(deleted))
    return out


def _cursors(run: _Run) -> dict[str, str]:
    """Every committed transactions cursor of the company (same as ``read_cursor`` each)."""
    rows = run.warehouse.read(
        SYNC_CURSORS,
        where="company_id = %s AND provider = %s AND entity = %s",
        params=[run.company_id, PROVIDER, "transactions"],
    )
    return {r["tenant_id"]: r["cursor"] for r in rows.iter_rows(named=True)}


def _frame(
    run: _Run, table: Table, tenant_id: str, records: list[tuple[str, Mapping[str, Any]]]
) -> pl.DataFrame:
    """Landing rows of (source id, payload) records of one account."""
    frame = landing_frame(
        table,
        run.company_id,
        tenant_id,
        [dict(payload) for _, payload in records],
        source_id=lambda payload: "",  # set below: the key is not inside the payload
        updated_at=lambda payload: None,  # NextGenPSD2 reports no last-modified instant
        deleted=lambda payload: False,
        extracted_at=run.now,
        sync_id=run.sync_id,
    )
    return frame.with_columns(pl.Series("source_id", [s for s, _ in records], dtype=pl.String))


def _land_snapshot(
    run: _Run,
    table: Table,
    records: list[tuple[str, str, Mapping[str, Any]]],
    entities: dict[str, EntityReport],
) -> None:
    """Upsert the (tenant, source id, payload) records whose payload changed; counts go to
    the tenant's entity report (or ``"*"``'s)."""
    if not records:
        return
    # A resource listed twice (the spec's own accountListExample3 does) lands once: last wins.
    records = list({(t, sid): (t, sid, p) for t, sid, p in records}.values())
    landed = _landed(run, table)
    changed: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for tenant, source_id, payload in records:
        before = landed.get(tenant, {})
        if before.get(source_id) == (payload, False):
            continue
        changed.setdefault(tenant, []).append((source_id, payload))
        entity = entities.get(tenant) or entities["*"]
        if source_id in before:
            entity.updated += 1
        else:
            entity.inserted += 1
    if changed:
        frames = [_frame(run, table, tenant, rows) for tenant, rows in changed.items()]
        run.warehouse.upsert(table, pl.concat(frames))


def _sync_transactions(
    run: _Run,
    client: AisClient,
    report: SyncReport,
    account_id: str,
    href: str,
    landed: dict[str, tuple[Any, bool]],
    cursor_text: str | None,
) -> None:
    table = BERLINGROUP_TABLES["transactions"]
    key = CursorKey(run.company_id, PROVIDER, account_id, "transactions")
    entity = EntityReport(entity="transactions", tenant_id=account_id)
    done = _counted(report, client, entity)
    try:
        entity.cursor_before = entity.cursor_after = cursor_text
        cursor = _parse_cursor(cursor_text, account_id)
        # Booked entries are re-read from the cursor minus the overlap (banks book late and
        # back-date); pending ones from the oldest one still open, so all are asked about.
        booked_from = (cursor - run.overlap) if cursor else (run.now.date() - run.lookback)
        open_pending = [
            _date_or_none(payload)
            for source_id, (payload, deleted) in landed.items()
            if is_pending(source_id) and not deleted
        ]
        start = min([booked_from, *(d for d in open_pending if d is not None)])
        url: str | None = _report_url(href, start)
        seen: set[str] = set()
        occurrences: Counter[str] = Counter()  # id-less entries, across the report's pages
        fell_back = False
        latest = cursor
        # The specification fixes no order of entries (many ASPSPs send newest first), so
        # the cursor moves only in the pull's final commit: a run killed mid-report asks for
        # every page again. A page is committed, with the cursor the pull started from, once
        # the next one has been read; the last page goes into the final commit.
        held: list[tuple[str, Mapping[str, Any]]] = []

        def land(rows: list[tuple[str, Mapping[str, Any]]], committed: str) -> None:
            if not rows and committed == (entity.cursor_after or ""):
                return
            frame = _frame(run, table, account_id, rows)
            commit_page(run.warehouse, table, frame, key, committed, run.now)
            entity.cursor_after = committed
            for sid, entry in rows:
                if sid in landed:
                    entity.updated += 1
                else:
                    entity.inserted += 1
                landed[sid] = (entry, False)

        while url:
            try:
                records, links = report_entries(client.get(url), account_id, occurrences)
            except BerlinGroupParseError as exc:
                raise ConnectorError(str(exc)) from None
            except ProviderError as exc:
                if fell_back or cursor is not None or "PERIOD_INVALID" not in exc.provider_message:
                    raise
                fell_back = True
                # First sync and the ASPSP keeps less history than asked for: take what it
                # offers without the PSU (the RTS's 90 days).
                start = booked_from = run.now.date() - FALLBACK_HISTORY
                url = _report_url(href, start)
                continue
            land(held, cursor_text or "")  # not the last page: the cursor stays
            for sid, entry in records:
                day = _date_or_none(entry) if not is_pending(sid) else None
                if day is not None and (latest is None or day > latest):
                    latest = day
            seen.update(sid for sid, _ in records)
            held = [
                (sid, entry)
                for sid, entry in {sid: e for sid, e in records}.items()
                if landed.get(sid) != (entry, False)
            ]
            entity.pages += 1
            nxt = links.get("next")
            url = nxt.get("href") if isinstance(nxt, Mapping) else None
        # Everything landed inside the window the bank no longer reports is gone.
        gone = [
            (account_id, sid)
            for sid, (payload, deleted) in landed.items()
            if not deleted
            and sid not in seen
            and (is_pending(sid) or (_date_or_none(payload) or booked_from) >= booked_from)
        ]
        # The pull is complete: its final commit moves the cursor to the latest booking date
        # (with the last page, or with the soft-deletes when there are any).
        committed = latest.isoformat() if latest else ""
        if gone:
            land(held, cursor_text or "")
            entity.deleted += soft_delete(
                run.warehouse,
                table,
                run.company_id,
                gone,
                extracted_at=run.now,
                sync_id=run.sync_id,
                cursor=(key, committed),
            )
            entity.cursor_after = committed
        else:
            land(held, committed)
    finally:
        done()


def _report_url(href: str, start: dt.date) -> str:
    query = urlencode({"bookingStatus": "both", "dateFrom": start.isoformat()})
    return f"{href.split('?')[0]}?{query}"


def _date_or_none(entry: Any) -> dt.date | None:
    """The entry's date, or None when it has none or an unreadable one (the record still
    lands; :func:`~finpipe.connectors.berlingroup.parse.parse_lines` names the problem)."""
    if not isinstance(entry, Mapping):
        return None
    try:
        return entry_date(entry)
    except ValueError:
        return None


def _parse_cursor(cursor: str | None, account_id: str) -> dt.date | None:
    if not cursor:
        return None
    try:
        return dt.date.fromisoformat(cursor)
    except ValueError:
        raise ConnectorError(
            f"berlingroup account {account_id}: unreadable transactions cursor {cursor!r} in "
            "ops.sync_cursors; delete that row to re-read the account from the start"
        ) from None
