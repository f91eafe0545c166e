"""Connecting an Item and syncing it into ``raw.aggregator_accounts`` / ``_transactions``.

**Connect.** Against the real service a ``public_token`` comes from Plaid Link in a browser;
:func:`connect_public_token` exchanges one given by the caller. In the sandbox
(``auto_approve``) :func:`connect` creates it with ``/sandbox/public_token/create``. The
``access_token`` never expires, so it is stored encrypted in ``ops.oauth_tokens`` as a
:class:`TokenSet` with no refresh token, a far expiry and ``scope = "item:<item_id>"``; the
Item is recorded in ``ops.connections`` (``external_id`` = item id). Linking again replaces
the stored token, removes the previous Item at the aggregator and marks its connection
``removed``.

**Sync.** Per Item: ``/accounts/get`` into ``raw.aggregator_accounts`` (rows written only
when their payload changed), then the ``/transactions/sync`` loop from the committed cursor.
Every page is committed together with its cursor: ``added`` and ``modified`` upserted,
``removed`` soft-deleted (:func:`landing.soft_delete`). Plaid's rule for a failed page is
to restart the whole pagination from the cursor its first page used; the committed cursor
therefore records both where to continue and where the running pagination began
(``{"cursor": ..., "restart": ...}``), so a ``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION``
answer, or a run that died in the middle, starts again from the right place. Re-delivered
records are idempotent upserts, and the final rows equal those of an uninterrupted run.

``ITEM_LOGIN_REQUIRED`` (and an access token the aggregator no longer knows) mark the
connection ``needs_reauth`` and raise :class:`NeedsReauth`; nothing retries them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.aggregator.client import (
    PROVIDER,
    SANDBOX_INSTITUTION,
    AggregatorClient,
    PlaidError,
)
from finpipe.connectors.banks import BankContext
from finpipe.connectors.connect import _record_connections
from finpipe.connectors.errors import ConnectorError, NeedsReauth, SyncAborted
from finpipe.connectors.landing import (
    CursorKey,
    commit_page,
    landing_frame,
    mark_synced,
    read_cursor,
)
from finpipe.connectors.landing import soft_delete as land_soft_delete
from finpipe.connectors.oauth import TokenSet, TokenStore, set_connection_status
from finpipe.connectors.report import EntityReport, SyncReport
from finpipe.secrets import SecretBox
from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS
from finpipe.warehouse.tables.raw import AGGREGATOR_TABLES

UTC = dt.UTC
MAX_COUNT = 500
MUTATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
REAUTH_CODES = frozenset({"ITEM_LOGIN_REQUIRED", "INVALID_ACCESS_TOKEN", "ITEM_NOT_FOUND"})
# A pagination restarted this often in one run is given up (the next run resumes).
MAX_RESTARTS = 5
# The access token does not expire; TokenSet wants an expiry, so it gets a far one.
TOKEN_LIFETIME = dt.timedelta(days=365 * 100)
ACCOUNTS = AGGREGATOR_TABLES["accounts"]
TRANSACTIONS = AGGREGATOR_TABLES["transactions"]


class SyncKilled(SyncAborted):
    """Raised by the ``kill_after_pages`` test hook after committing that many pages."""


# --------------------------------------------------------------------------- tokens


def _store(warehouse: Warehouse, box: SecretBox) -> TokenStore:
    return TokenStore(warehouse, box)


def stored_item(warehouse: Warehouse, box: SecretBox, company_id: str) -> tuple[str, str] | None:
    """(item_id, access_token) stored for ``company_id``, or None before any link."""
    tokens = _store(warehouse, box).load(company_id, PROVIDER)
    if tokens is None or not tokens.scope.startswith("item:"):
        return None
    return tokens.scope.removeprefix("item:"), tokens.access_token


def _save_item(
    warehouse: Warehouse,
    box: SecretBox,
    company_id: str,
    item_id: str,
    access_token: str,
    now: dt.datetime,
) -> None:
    tokens = TokenSet(
        access_token=access_token,
        refresh_token="",  # Plaid access tokens are not refreshed
        access_expires_at=now + TOKEN_LIFETIME,
        refresh_issued_at=now,
        refresh_expires_at=None,
        scope=f"item:{item_id}",
    )
    _store(warehouse, box).save(company_id, PROVIDER, tokens, now)


# -------------------------------------------------------------------------- connect


def connect(
    ctx: BankContext,
    auto_approve: bool,
    announce: Callable[[str], None] = print,
    *,
    client: AggregatorClient | None = None,
) -> list[tuple[str, str]]:
    """Link the company's bank login as an Item (``BankProvider.connect``). Only the
    sandbox can do this unattended; against the real service use Plaid Link, then
    :func:`connect_public_token` with the public token Link returned."""
    if not auto_approve:
        raise ConnectorError(
            f"the aggregator links a bank through Plaid Link in a browser, which finpipe "
            f"cannot open for company {ctx.company_id}: run Link with your Plaid app, then "
            "call finpipe.connectors.aggregator.connect_public_token(ctx, public_token) with "
            "the public_token it returns (against the sandbox, pass --auto-approve instead)"
        )
    client = client or AggregatorClient(ctx.api_base, ctx.credentials)
    announce(f"linking the aggregator Item of {ctx.company_id} in the sandbox")
    public_token = client.create_sandbox_public_token(ctx.company_id, SANDBOX_INSTITUTION)
    return connect_public_token(ctx, public_token, announce, client=client)


def connect_public_token(
    ctx: BankContext,
    public_token: str,
    announce: Callable[[str], None] = print,
    *,
    client: AggregatorClient | None = None,
) -> list[tuple[str, str]]:
    """Exchange a Link ``public_token``, store the access token encrypted and record the
    Item in ``ops.connections``. Returns ``[(item_id, institution name)]``."""
    client = client or AggregatorClient(ctx.api_base, ctx.credentials)
    previous = stored_item(ctx.warehouse, ctx.box, ctx.company_id)
    access_token, item_id = client.exchange_public_token(public_token)
    now = dt.datetime.now(UTC)
    # Persist first: the public token is spent and this is the only copy of the access token.
    _save_item(ctx.warehouse, ctx.box, ctx.company_id, item_id, access_token, now)
    try:
        item = client.item(access_token, item_id).get("item") or {}
        name = str(item.get("institution_name") or item.get("institution_id") or item_id)
    except PlaidError:
        name = item_id
    _record_connections(
        _store(ctx.warehouse, ctx.box), ctx.company_id, PROVIDER, [(item_id, name)], now
    )
    if previous is not None and previous[0] != item_id:
        _retire(ctx, client, previous)
    announce(f"aggregator Item {item_id} ({name}) linked for {ctx.company_id}")
    return [(item_id, name)]


def _retire(ctx: BankContext, client: AggregatorClient, previous: tuple[str, str]) -> None:
    """A re-link replaced ``previous``: remove it at the aggregator (billing stops) and
    mark its connection removed; its landed rows stay (same account ids keep landing)."""
    old_item, old_token = previous
    # Already gone at the aggregator: nothing left to stop.
    with contextlib.suppress(PlaidError):
        client.remove_item(old_token, old_item)
    rows = ctx.warehouse.read(
        CONNECTIONS,
        where="company_id = %s AND provider = %s AND external_id = %s",
        params=[ctx.company_id, PROVIDER, old_item],
    )
    if not rows.is_empty():
        ctx.warehouse.upsert(
            CONNECTIONS,
            rows.with_columns(
                pl.lit("removed").alias("status"),
                pl.lit("replaced by a newer link", dtype=pl.String).alias("status_reason"),
                pl.lit(dt.datetime.now(UTC), dtype=pl.Datetime("us", "UTC")).alias("updated_at"),
            ),
        )


# ----------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SyncState:
    """The committed cursor: where to continue, and where the pagination running when it
    was committed began (equal once a pagination completed)."""

    cursor: str | None
    restart: str | None

    def dumps(self) -> str:
        """The text committed as the cursor."""
        return json.dumps({"cursor": self.cursor, "restart": self.restart})

    @classmethod
    def loads(cls, text: str | None) -> SyncState:
        """The state of a committed cursor text (None before the first sync)."""
        if not text:
            return cls(None, None)
        try:
            raw = json.loads(text)
            return cls(raw.get("cursor"), raw.get("restart"))
        except (ValueError, AttributeError):
            # A plain Plaid cursor (committed by hand or an older version): a finished one.
            return cls(text, text)


@dataclass
class _Run:
    warehouse: Warehouse
    client: AggregatorClient
    company_id: str
    sync_id: str
    now: Callable[[], dt.datetime]
    count: int
    kill_after_pages: int | None
    pages: int = 0
    restarts: int = 0

    def page_done(self) -> None:
        self.pages += 1
        if self.kill_after_pages is not None and self.pages >= self.kill_after_pages:
            raise SyncKilled(f"aggregator sync {self.sync_id} killed after {self.pages} page(s)")


def sync(ctx: BankContext, external_ids: list[str]) -> SyncReport:
    """``BankProvider.sync``: every given Item of the company, incrementally."""
    return sync_items(
        ctx.warehouse,
        ctx.box,
        ctx.company_id,
        external_ids,
        client=AggregatorClient(ctx.api_base, ctx.credentials),
    )


def sync_items(
    warehouse: Warehouse,
    box: SecretBox,
    company_id: str,
    item_ids: Sequence[str],
    *,
    client: AggregatorClient,
    count: int = MAX_COUNT,
    now: Callable[[], dt.datetime] | None = None,
    kill_after_pages: int | None = None,
) -> SyncReport:
    """Sync accounts and transactions of ``item_ids``. ``count`` is the page size (1..500);
    ``kill_after_pages`` is a test hook raising :class:`SyncKilled` after committing that
    many transaction pages. Raises :class:`NeedsReauth` when an Item needs its user."""
    if not 1 <= count <= MAX_COUNT:
        raise ConnectorError(f"aggregator /transactions/sync count must be 1..500, got {count}")
    run = _Run(
        warehouse=warehouse,
        client=client,
        company_id=company_id,
        sync_id=f"aggregator-{uuid.uuid4().hex[:12]}",
        now=now or (lambda: dt.datetime.now(UTC)),
        count=count,
        kill_after_pages=kill_after_pages,
    )
    report = SyncReport(provider=PROVIDER, company_id=company_id, sync_id=run.sync_id)
    before = client.counters().as_dict()
    stored = stored_item(warehouse, box, company_id)
    try:
        for item_id in item_ids:
            if stored is None or stored[0] != item_id:
                raise NeedsReauth(
                    f"no aggregator access token is stored for Item {item_id} of company "
                    f"{company_id}: link it again with `finpipe connect aggregator --company "
                    f"{company_id}`"
                )
            access_token = stored[1]
            try:
                report.entities.append(_sync_accounts(run, item_id, access_token))
                transactions = EntityReport(entity="transactions", tenant_id=item_id)
                report.entities.append(transactions)
                _sync_transactions(run, item_id, access_token, transactions)
            except PlaidError as exc:
                if exc.code not in REAUTH_CODES:
                    raise
                reason = (
                    f"aggregator Item {item_id} of company {company_id} answered {exc.code}: "
                    "the user must log in again through Plaid Link (update mode), then sync"
                )
                set_connection_status(warehouse, company_id, PROVIDER, "needs_reauth", reason)
                raise NeedsReauth(reason) from None
            mark_synced(warehouse, company_id, PROVIDER, item_id, run.now())
    finally:
        after = client.counters().as_dict()
        report.calls = after["calls"] - before["calls"]
        report.rate_limited = after["rate_limited"] - before["rate_limited"]
        report.retries = after["retries"] - before["retries"]
    return report


def _sync_accounts(run: _Run, item_id: str, access_token: str) -> EntityReport:
    entity = EntityReport(entity="accounts", tenant_id=item_id)
    answer = run.client.accounts(access_token, item_id)
    entity.calls, entity.pages = 1, 1
    accounts = [a for a in answer.get("accounts") or [] if isinstance(a, dict)]
    current = {
        (row["tenant_id"], row["source_id"]): (payloads.loads(row["payload"]), row["deleted"])
        for row in run.warehouse.read(ACCOUNTS, company_id=run.company_id).iter_rows(named=True)
    }
    # Only accounts whose content (balances move) changed are written: a re-run is a no-op.
    # Compared parsed, not as text: PostgreSQL's jsonb does not keep the text as sent.
    fresh = [
        a
        for a in accounts
        if current.get((str(a["account_id"]), str(a["account_id"]))) != (a, False)
    ]
    changed = _frame(run, ACCOUNTS, fresh, deleted=False)
    if changed.height:
        result = run.warehouse.upsert(ACCOUNTS, changed)
        entity.inserted, entity.updated = result.inserted, result.rows_replaced
    return entity


def _frame(
    run: _Run, table: Table, records: list[dict[str, Any]], *, deleted: bool
) -> pl.DataFrame:
    return landing_frame(
        table,
        run.company_id,
        "",
        records,
        source_id=lambda r: str(r.get("transaction_id") or r.get("account_id")),
        updated_at=lambda r: None,  # Plaid reports no last-modified instant
        deleted=lambda r: deleted,
        extracted_at=run.now(),
        sync_id=run.sync_id,
    ).with_columns(
        # tenant_id of bank landing rows is the account id (see raw.py).
        pl.Series("tenant_id", [str(r["account_id"]) for r in records], dtype=pl.String)
    )


def _sync_transactions(run: _Run, item_id: str, access_token: str, entity: EntityReport) -> None:
    key = CursorKey(run.company_id, PROVIDER, item_id, "transactions")
    committed = read_cursor(run.warehouse, key)
    state = SyncState.loads(committed)
    entity.cursor_before = entity.cursor_after = committed
    cursor, loop_start = state.cursor, state.restart
    calls_before = run.client.counters()
    while True:
        try:
            page = run.client.transactions_sync(access_token, item_id, cursor, run.count)
        except PlaidError as exc:
            if exc.code != MUTATION or run.restarts >= MAX_RESTARTS:
                raise
            # Plaid: restart the whole pagination from the cursor of its first page. Commit
            # that first, so a run dying now also resumes from there.
            run.restarts += 1
            cursor = loop_start
            restart_state = SyncState(loop_start, loop_start).dumps()
            _commit_cursor(run, key, restart_state)
            entity.cursor_after = restart_state
            continue
        entity.pages += 1
        next_cursor = str(page.get("next_cursor") or "") or cursor
        has_more = bool(page.get("has_more"))
        state = SyncState(next_cursor, loop_start if has_more else next_cursor)
        _commit(run, key, page, state, entity)
        run.page_done()
        cursor = next_cursor
        if not has_more:
            break
    after = run.client.counters()
    entity.calls = after.calls - calls_before.calls
    entity.rate_limited = after.rate_limited - calls_before.rate_limited


def _commit_cursor(run: _Run, key: CursorKey, value: str) -> None:
    """Move the cursor alone (no rows)."""
    empty = _frame(run, TRANSACTIONS, [], deleted=False)
    commit_page(run.warehouse, TRANSACTIONS, empty, key, value, run.now())


def _commit(
    run: _Run,
    key: CursorKey,
    page: dict[str, Any],
    state: SyncState,
    entity: EntityReport,
) -> None:
    """Land one page and move the cursor: added + modified upserted, removed soft-deleted."""
    records = [
        r
        for r in [*(page.get("added") or []), *(page.get("modified") or [])]
        if isinstance(r, dict)
    ]
    removed = [
        (str(r["account_id"]), str(r["transaction_id"]))
        for r in page.get("removed") or []
        if isinstance(r, dict) and r.get("transaction_id") and r.get("account_id")
    ]
    value = state.dumps()
    if not records and not removed and value == entity.cursor_after:
        return  # nothing new: write nothing
    rows = _frame(run, TRANSACTIONS, records, deleted=False)
    if not removed:
        result = commit_page(run.warehouse, TRANSACTIONS, rows, key, value, run.now())
        if result is not None:
            entity.inserted += result.inserted
            entity.updated += result.rows_replaced
    else:
        if rows.height:
            # Upserts are idempotent: should the run die before the removals below commit
            # (with the cursor), the page is read again and lands the same rows.
            rows = rows.unique(subset=["tenant_id", "source_id"], keep="last", maintain_order=True)
            result = run.warehouse.upsert(TRANSACTIONS, rows)
            entity.inserted += result.inserted
            entity.updated += result.rows_replaced
        entity.deleted += land_soft_delete(
            run.warehouse,
            TRANSACTIONS,
            run.company_id,
            removed,
            extracted_at=run.now(),
            sync_id=run.sync_id,
            cursor=(key, value),
        )
    entity.cursor_after = value
