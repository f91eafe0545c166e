"""Connect and incremental sync of a company's Open Banking consent into ``raw.openbanking_*``.

Per consent: ``/accounts`` (landed per account), each account's ``/balances`` and its
``/transactions`` from the committed cursor. The transactions cursor is the latest
BookingDateTime of a *booked* line landed; the next read asks ``fromBookingDateTime`` =
cursor - :data:`OVERLAP` (banks book late), widened to the earliest pending line still
landed, so that pull returns every pending line the bank still knows. Pending lines are a
snapshot: one landed earlier that the finished pull no longer returns (it posted or was
withdrawn) is soft-deleted together with the final cursor. Each page is committed (once the
next one has been read) with the cursor the pull started from, and the cursor moves to the
latest booked line only in the pull's final commit (with the last page): neither OBIE nor
the banks fix the order of transactions (many send newest first), so a run killed mid-pull
must read every page again. Records whose payload did not change are not written again,
so a re-sync with nothing new writes nothing.

A 429 for the day's unattended reads stops the sync cleanly: what was read is committed,
and the report says when the next pull is allowed (:attr:`OpenBankingSyncReport.resume_at`).
An expired or revoked consent raises :class:`~finpipe.connectors.errors.NeedsReauth` and
marks the connection ``needs_reauth`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.banks import BankContext
from finpipe.connectors.connect import connect as oauth_connect
from finpipe.connectors.errors import ConnectorError, NeedsReauth, ProviderError
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.landing import CursorKey, commit_page, landing_frame, mark_synced
from finpipe.connectors.landing import soft_delete as land_soft_delete
from finpipe.connectors.oauth import TokenManager, TokenSet, TokenStore, set_connection_status
from finpipe.connectors.openbanking.client import (
    PROVIDER,
    AccountsClient,
    ConsentClient,
    PullLimitReached,
    openbanking_app,
)
from finpipe.connectors.openbanking.parse import parse_consent, parse_instant
from finpipe.connectors.report import EntityReport, SyncReport
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import SYNC_CURSORS
from finpipe.warehouse.tables.raw import OPENBANKING_TABLES

log = logging.getLogger(__name__)
UTC = dt.UTC
OVERLAP = dt.timedelta(days=7)
LOOPBACK_IP = "127.0.0.1"


@dataclass
class OpenBankingSyncReport(SyncReport):
    """A SyncReport that can say it stopped early and when the next pull is allowed."""

    resume_at: dt.datetime | None = None
    stopped: str | None = None


# ------------------------------------------------------------------------ connect


def connect_openbanking(
    ctx: BankContext,
    auto_approve: bool = False,
    announce: Callable[[str], None] = print,
    *,
    port: int | None = None,
    timeout: float | None = None,
) -> list[tuple[str, str]]:
    """Create an account-access-consent, have the PSU authorise it (auto-approved in the
    sandbox), store the consent-bound tokens encrypted and record the connection
    (external id = ConsentId). Returns [(ConsentId, display name)]."""
    creds = ctx.credentials
    consents = ConsentClient(ctx.api_base, creds.client_id, creds.client_secret)
    consent = parse_consent({"Data": consents.create()})
    consent_id = consent["consent_id"]
    announce(f"openbanking consent {consent_id} created for {ctx.company_id}")

    def discover(tokens: TokenSet, params: dict[str, str]) -> list[tuple[str, str]]:
        store = TokenStore(ctx.warehouse, ctx.box)
        app = openbanking_app(ctx.api_base, creds.client_id, creds.client_secret, "")
        # The PSU is present during connect: this read is attended, not one of the 4 a day.
        client = AccountsClient(
            ctx.api_base, TokenManager(app, store, ctx.company_id), customer_ip=LOOPBACK_IP
        )
        accounts = client.accounts()
        expires = consent["expires"].date().isoformat() if consent["expires"] else "open-ended"
        return [(consent_id, f"Open Banking: {len(accounts)} account(s), expires {expires}")]

    result = oauth_connect(
        lambda redirect: openbanking_app(
            ctx.api_base, creds.client_id, creds.client_secret, redirect, consent_id
        ),
        TokenStore(ctx.warehouse, ctx.box),
        ctx.company_id,
        discover,
        auto_approve=auto_approve,
        # The context says where the redirect is received and how long to wait.
        port=getattr(ctx, "redirect_port", 0) if port is None else port,
        timeout=getattr(ctx, "approval_timeout", 300.0) if timeout is None else timeout,
        announce=announce,
    )
    return result.external_ids


# --------------------------------------------------------------------------- sync


@dataclass
class _Run:
    ctx: BankContext
    client: AccountsClient
    report: OpenBankingSyncReport
    now: dt.datetime
    # Read once per sync (each warehouse round trip costs a connection):
    cursors: dict[tuple[str, str], str] = field(default_factory=dict)  # (tenant, entity)
    stored: dict[str, dict[str, dict[str, tuple[Any, bool]]]] = field(default_factory=dict)

    @property
    def warehouse(self) -> Warehouse:
        return self.ctx.warehouse

    @property
    def company_id(self) -> str:
        return self.ctx.company_id

    def load(self) -> None:
        """Committed cursors and landed (payload, deleted) of every row, per entity/tenant."""
        rows = self.warehouse.read(
            SYNC_CURSORS,
            where="company_id = %s AND provider = %s",
            params=[self.company_id, PROVIDER],
        )
        self.cursors = {
            (tenant, entity): cursor
            for tenant, entity, cursor in rows.select("tenant_id", "entity", "cursor").iter_rows()
        }
        for entity, table in OPENBANKING_TABLES.items():
            landed = self.warehouse.read(table, company_id=self.company_id)
            by_tenant: dict[str, dict[str, tuple[Any, bool]]] = {}
            for tenant, sid, payload, deleted in landed.select(
                "tenant_id", "source_id", "payload", "deleted"
            ).iter_rows():
                by_tenant.setdefault(tenant, {})[sid] = (payloads.loads(payload), bool(deleted))
            self.stored[entity] = by_tenant

    def landed(self, entity: str, tenant_id: str) -> dict[str, tuple[Any, bool]]:
        return self.stored.setdefault(entity, {}).setdefault(tenant_id, {})


def sync_openbanking(
    ctx: BankContext,
    external_ids: list[str],
    *,
    overlap: dt.timedelta = OVERLAP,
    policy: RetryPolicy | None = None,
) -> OpenBankingSyncReport:
    """Incremental sync of the given consents (see the module docstring); ``policy``
    overrides the retry timings (tests)."""
    app = openbanking_app(
        ctx.api_base, ctx.credentials.client_id, ctx.credentials.client_secret, ""
    )
    tokens = TokenManager(app, TokenStore(ctx.warehouse, ctx.box), ctx.company_id)
    client = AccountsClient(ctx.api_base, tokens, policy=policy)
    report = OpenBankingSyncReport(PROVIDER, ctx.company_id, uuid.uuid4().hex)
    run = _Run(ctx, client, report, dt.datetime.now(UTC))
    consent_id = ""
    try:
        run.load()
        for consent_id in external_ids:
            _sync_consent(run, consent_id, overlap)
    except PullLimitReached as exc:
        report.resume_at = exc.resume_at
        report.stopped = str(exc)
        report.rate_limited += 1
        log.warning("%s", exc)
    except NeedsReauth as exc:
        reason = _why_reauth(ctx, consent_id, str(exc))
        set_connection_status(ctx.warehouse, ctx.company_id, PROVIDER, "needs_reauth", reason)
        raise NeedsReauth(reason) from None
    finally:
        counters = client.http.counters
        report.calls = counters.calls
        report.retries = counters.retries
        report.rate_limited += counters.rate_limited
        report.token_refreshes = tokens.refreshes
    return report


def _why_reauth(ctx: BankContext, consent_id: str, detail: str) -> str:
    """A reason an operator can act on: ask the bank about the consent itself."""
    fix = f"reconnect with `finpipe connect openbanking --company {ctx.company_id}`"
    try:
        consent = parse_consent(
            {
                "Data": ConsentClient(
                    ctx.api_base, ctx.credentials.client_id, ctx.credentials.client_secret
                ).get(consent_id)
            }
        )
    except (ProviderError, ConnectorError) as exc:
        return (
            f"openbanking consent {consent_id} of {ctx.company_id} is no longer known to the "
            f"bank (deleted or revoked: {exc}); {fix}"
        )
    expires = consent["expires"].isoformat() if consent["expires"] else "none"
    return (
        f"openbanking consent {consent_id} of {ctx.company_id} is no longer accepted "
        f"(Status {consent['status']}, ExpirationDateTime {expires}: it expired or the customer "
        f"revoked it at the bank); {fix}. Detail: {detail}"
    )


def _entity(run: _Run, name: str, tenant_id: str, cursor: str | None) -> EntityReport:
    entity = EntityReport(entity=name, tenant_id=tenant_id, cursor_before=cursor)
    entity.cursor_after = cursor
    run.report.entities.append(entity)
    return entity


def _land(
    run: _Run,
    entity: EntityReport,
    table: Table,
    tenant_id: str,
    records: Iterable[tuple[str, dict[str, Any], dt.datetime | None]],
    stored: dict[str, tuple[Any, bool]],
    key: CursorKey,
    cursor: str | None,
) -> None:
    """Commit the changed ``(source_id, payload, updated_at)`` records with ``cursor``;
    nothing at all when neither records nor cursor changed."""
    latest = {sid: (payload, at) for sid, payload, at in records}
    changed = {sid: value for sid, value in latest.items() if stored.get(sid) != (value[0], False)}
    moved = cursor is not None and cursor != entity.cursor_after
    if not changed and not moved:
        return
    frame = _frame(run, table, tenant_id, changed)
    commit_page(run.warehouse, table, frame, key, cursor or entity.cursor_after or "", run.now)
    for sid, value in changed.items():
        if sid in stored:
            entity.updated += 1
        else:
            entity.inserted += 1
        stored[sid] = (value[0], False)
    if cursor is not None:
        entity.cursor_after = cursor


def _frame(
    run: _Run,
    table: Table,
    tenant_id: str,
    changed: dict[str, tuple[dict[str, Any], dt.datetime | None]],
) -> pl.DataFrame:
    ids = list(changed)
    by_id = {id(changed[sid][0]): sid for sid in ids}
    return landing_frame(
        table,
        run.company_id,
        tenant_id,
        [changed[sid][0] for sid in ids],
        source_id=lambda p: by_id[id(p)],
        updated_at=lambda p: changed[by_id[id(p)]][1],
        deleted=lambda p: False,
        extracted_at=run.now,
        sync_id=run.report.sync_id,
    )


def _sync_consent(run: _Run, consent_id: str, overlap: dt.timedelta) -> None:
    table = OPENBANKING_TABLES["accounts"]
    accounts = run.client.accounts()
    # Accounts land in one commit; their "cursor" (per consent) only records the consent.
    key = CursorKey(run.company_id, PROVIDER, consent_id, "accounts")
    entity = _entity(run, "accounts", consent_id, run.cursors.get((consent_id, "accounts")))
    entity.pages = 1
    changed: list[tuple[str, dict[str, Any]]] = []
    for account in accounts:
        account_id = str(account["AccountId"])
        if run.landed("accounts", account_id).get(account_id) != (account, False):
            changed.append((account_id, account))
    if changed or entity.cursor_after != consent_id:
        frames = [_frame(run, table, aid, {aid: (acc, None)}) for aid, acc in changed]
        rows = pl.concat(frames) if frames else pl.DataFrame(schema=table.polars_schema())
        commit_page(run.warehouse, table, rows, key, consent_id, run.now)
        for account_id, account in changed:
            landed = run.landed("accounts", account_id)
            if account_id in landed:
                entity.updated += 1
            else:
                entity.inserted += 1
            landed[account_id] = (account, False)
        entity.cursor_after = consent_id
    for account in accounts:
        account_id = str(account["AccountId"])
        _sync_balances(run, account_id)
        _sync_transactions(run, account_id, overlap)
    mark_synced(run.warehouse, run.company_id, PROVIDER, consent_id, run.now)


def _sync_balances(run: _Run, account_id: str) -> None:
    table = OPENBANKING_TABLES["balances"]
    key = CursorKey(run.company_id, PROVIDER, account_id, "balances")
    entity = _entity(run, "balances", account_id, run.cursors.get((account_id, "balances")))
    entity.pages = 1
    records = []
    for balance in run.client.balances(account_id):
        kind = balance.get("Type")
        at = parse_instant(balance.get("DateTime"), f"balance {kind} of account {account_id}")
        records.append((f"{account_id}:{kind}", balance, at))
    cursor = max((r[2] for r in records), default=None)
    _land(
        run,
        entity,
        table,
        account_id,
        records,
        run.landed("balances", account_id),
        key,
        cursor.isoformat() if cursor else None,
    )


def _filter_time(instant: dt.datetime) -> str:
    # OBIE query-string dates carry no timezone.
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _sync_transactions(run: _Run, account_id: str, overlap: dt.timedelta) -> None:
    table = OPENBANKING_TABLES["transactions"]
    key = CursorKey(run.company_id, PROVIDER, account_id, "transactions")
    cursor = run.cursors.get((account_id, "transactions")) or None
    entity = _entity(run, "transactions", account_id, cursor)
    stored = run.landed("transactions", account_id)
    pending = {
        sid: parse_instant(payload.get("BookingDateTime"), f"landed transaction {sid}")
        for sid, (payload, deleted) in stored.items()
        if not deleted and payload.get("Status") == "Pending"
    }
    # No cursor yet (a first pull, or one killed before its final commit): all history.
    # Pending lines landed by a killed pull must not narrow that window.
    params = None
    if cursor:
        starts = [parse_instant(cursor, f"cursor of {account_id}") - overlap]
        starts += list(pending.values())
        params = {"fromBookingDateTime": _filter_time(min(starts))}
    seen: set[str] = set()
    booked_through = cursor
    # The bank fixes no order (many send newest first), so the cursor moves only in the
    # pull's final commit: a run killed mid-pull reads every page again. A page is committed,
    # with the cursor the pull started from, once the next page has been read; the last page
    # goes into the final commit together with the new cursor.
    held: list[tuple[str, dict[str, Any], dt.datetime | None]] = []
    for page in run.client.pages(f"/accounts/{account_id}/transactions", params):
        _land(run, entity, table, account_id, held, stored, key, None)
        entity.pages += 1
        records = []
        for tx in page["Data"].get("Transaction") or []:
            sid = tx.get("TransactionId")
            if not sid:
                raise ConnectorError(
                    f"openbanking transaction without TransactionId on account {account_id} "
                    f"(BookingDateTime {tx.get('BookingDateTime')}): finpipe needs the bank's "
                    "transaction ids to land lines idempotently"
                )
            booking = parse_instant(tx.get("BookingDateTime"), f"transaction {sid}.BookingDateTime")
            records.append((str(sid), tx, booking))
            seen.add(str(sid))
            if tx.get("Status") == "Booked":
                stamp = booking.isoformat()
                if booked_through is None or booking > parse_instant(booked_through, "cursor"):
                    booked_through = stamp
        held = records
    gone = [(account_id, sid) for sid in pending if sid not in seen]
    if gone:
        _land(run, entity, table, account_id, held, stored, key, None)
        # Pending lines are a snapshot: the ones this full pull no longer returns posted or
        # were withdrawn. Marked deleted together with the final cursor.
        entity.deleted += land_soft_delete(
            run.warehouse,
            table,
            run.company_id,
            gone,
            extracted_at=run.now,
            sync_id=run.report.sync_id,
            cursor=(key, booked_through or ""),
        )
        entity.cursor_after = booked_through or ""
    else:
        # The pull is complete: only now does the cursor move to the latest booked line.
        _land(run, entity, table, account_id, held, stored, key, booked_through)
