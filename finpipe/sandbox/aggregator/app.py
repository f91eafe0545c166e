"""The aggregator sandbox: a US account aggregator in the style of Plaid over a world.

Served under ``<sandbox>/aggregator`` with Plaid's own paths after it. Every call is a
``POST`` with a JSON body carrying ``client_id`` and ``secret`` (Plaid also accepts the
``PLAID-CLIENT-ID`` / ``PLAID-SECRET`` headers; so does the sandbox):

* ``/sandbox/public_token/create`` (``institution_id``, ``initial_products``, ``options``) ->
  ``public_token``. **Sandbox-only field** ``sandbox_company``: the world company whose bank
  accounts the new Item reaches (it stands for the person logging in through Plaid Link).
* ``/item/public_token/exchange`` -> ``access_token`` (``access-sandbox-...``) + ``item_id``;
  a public token is single-use and lives 30 minutes.
* ``/item/get``, ``/item/remove``, ``/accounts/get``.
* ``/transactions/sync`` (``access_token``, ``cursor``, ``count`` 1..500, default 100):
  ``added`` / ``modified`` / ``removed``, ``next_cursor``, ``has_more``, ``accounts``,
  ``transactions_update_status``, ``request_id``. Updates are the ordered events of
  :meth:`BankView.history` (a pending line is removed when its posted line arrives; the
  posted one names it in ``pending_transaction_id``).
* ``/sandbox/item/reset_login``: the Item needs its user again (``ITEM_LOGIN_REQUIRED``).
* ``/webhook_verification_key/get`` (``key_id``) -> ``key``: the public JWK of a webhook
  signing key (:attr:`AggregatorSandbox.webhook_keys` signs the ``Plaid-Verification`` JWTs).
* ``/sandbox/item/fire_webhook`` (``access_token``, ``webhook_code``): send the Item's
  webhook now, when webhooks are configured (see :mod:`finpipe.sandbox.webhooks`).

Limits per Item, as Plaid publishes them for its Sandbox: ``/transactions/sync`` 50 a
minute, ``/accounts/get`` 100, ``/item/get`` 40, ``/item/remove`` 100; a 429 carries Plaid's
error object (``RATE_LIMIT_EXCEEDED`` / ``TRANSACTIONS_SYNC_LIMIT``...) and no Retry-After.
Errors are Plaid's error object with Plaid's HTTP status (see :mod:`.errors`).

Tests drive it through :attr:`AggregatorSandbox.bank` (advance the bank's clock, remove or
modify lines), :meth:`~AggregatorSandbox.reset_login`, :meth:`mutate_during_pagination`
(the data changes after a client's k-th page; its next page with that pagination's cursor
answers ``TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION``) and the fault knobs of
:class:`~finpipe.sandbox.provider.ProviderSandbox`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from finpipe.connectors import payloads
from finpipe.sandbox.aggregator import errors
from finpipe.sandbox.aggregator.render import (
    Cursor,
    CursorError,
    iso_instant,
    render_account,
    render_transaction,
)
from finpipe.sandbox.aggregator.webhooks import WebhookKeys
from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.oauth_server import OAuthServer, OAuthServerConfig
from finpipe.sandbox.provider import Limit, ProviderSandbox
from finpipe.sandbox.webhooks import WebhookSender, notify_aggregator
from finpipe.sandbox.world import World

if TYPE_CHECKING:
    from finpipe.sandbox.server import SandboxCredentials

UTC = dt.UTC
PROVIDER = "aggregator"
DEFAULT_COUNT = 100
MAX_COUNT = 500
PUBLIC_TOKEN_SECONDS = 1800
PRODUCTS = frozenset(
    {"transactions", "auth", "balance", "identity", "assets", "liabilities", "investments"}
)
INSTITUTION_ID = re.compile(r"^ins_[0-9]+$")
_ID_ALPHABET = string.ascii_letters + string.digits

SYNC = "/transactions/sync"
# Plaid's published Sandbox limits per Item (https://plaid.com/docs/errors/rate-limit-exceeded/)
# and the error_code each answers with.
SANDBOX_LIMITS: dict[str, tuple[tuple[Limit, ...], str]] = {
    SYNC: ((Limit("minute", 50, 60.0),), "TRANSACTIONS_SYNC_LIMIT"),
    "/accounts/get": ((Limit("minute", 100, 60.0),), "ACCOUNTS_LIMIT"),
    "/item/get": ((Limit("minute", 40, 60.0),), "ITEM_GET_LIMIT"),
    "/item/remove": ((Limit("minute", 100, 60.0),), "RATE_LIMIT"),
}


def _plaid_id(length: int = 37) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


@dataclass
class Item:
    """One linked login at one institution for one company."""

    item_id: str
    access_token: str = field(repr=False)
    company_id: str
    institution_id: str
    institution_name: str
    products: list[str]
    account_ids: list[str]
    created_at: dt.datetime
    login_required: bool = False
    removed: bool = False


@dataclass
class _PublicToken:
    company_id: str
    institution_id: str
    products: list[str]
    expires: float


@dataclass
class _PaginationHook:
    item_id: str
    after_pages: int
    action: Callable[[], None]
    pages: int = 0
    fired: bool = False


class _EndpointMeter(ProviderSandbox):
    """Per-Item metering of one endpoint against its own published limit (the base class
    meters every call of a tenant against one set of limits; Plaid's differ by endpoint)."""

    def __init__(self, oauth: OAuthServer, limits: tuple[Limit, ...], code: str, **kw: Any):
        super().__init__(oauth, limits, None, **kw)
        self.code = code

    def rate_limited(self, limit: Limit, retry_after: int) -> Response:
        return errors.rate_limited(self.code)

    def server_error(self) -> Response:
        return errors.internal_server_error()


class AggregatorSandbox(_EndpointMeter):
    """Plaid-style aggregator over the world's companies whose ``bank_provider`` is
    ``aggregator``. The instance itself meters ``/transactions/sync``; other endpoints have
    meters of their own sharing its fault knobs."""

    name = PROVIDER

    def __init__(
        self,
        world: World,
        credentials: SandboxCredentials,
        *,
        limits: dict[str, tuple[Limit, ...]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        start: dt.datetime | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        # Plaid has no OAuth between API client and Plaid (keys go in the body); the base
        # class wants an OAuth server, so it gets one nobody calls.
        oauth = OAuthServer(
            OAuthServerConfig(
                provider=PROVIDER,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                access_ttl=1800,
                refresh_ttl=0,
            )
        )
        chosen = {path: lim for path, (lim, _) in SANDBOX_LIMITS.items()}
        chosen.update(limits or {})
        super().__init__(oauth, chosen[SYNC], SANDBOX_LIMITS[SYNC][1], clock=clock)
        self.credentials = credentials
        self.world = world
        self.bank = BankView(world, PROVIDER, start)
        self.meters: dict[str, _EndpointMeter] = {SYNC: self}
        for path, (_, code) in SANDBOX_LIMITS.items():
            if path != SYNC:
                meter = _EndpointMeter(oauth, chosen[path], code, clock=clock)
                meter.faults = self.faults  # one set of knobs for the whole provider
                self.meters[path] = meter
        self._items: dict[str, Item] = {}
        self._by_token: dict[str, Item] = {}
        self._public: dict[str, _PublicToken] = {}
        self._hooks: list[_PaginationHook] = []
        self._state_lock = threading.Lock()
        # Pages /transactions/sync answered per Item (tests read the pace of a client).
        self.sync_pages: dict[str, int] = {}
        # The EC P-256 keys signing this client's webhooks (Plaid-Verification JWTs).
        self.webhook_keys = WebhookKeys()
        # Where SYNC_UPDATES_AVAILABLE goes when an Item's data changes (None: off).
        self.webhooks = webhooks
        self._announced: dict[str, int] = {}  # updates per Item already announced

    # ------------------------------------------------------------ base overrides

    def routes(self) -> list[BaseRoute]:
        """Plaid's paths, all POST."""
        table: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "/sandbox/public_token/create": self._public_token_create,
            "/item/public_token/exchange": self._public_token_exchange,
            "/sandbox/item/reset_login": self._reset_login,
            "/item/get": self._item_get,
            "/item/remove": self._item_remove,
            "/accounts/get": self._accounts_get,
            SYNC: self._transactions_sync,
            "/webhook_verification_key/get": self._verification_key_get,
            "/sandbox/item/fire_webhook": self._fire_webhook,
        }
        return [Route(path, handler, methods=["POST"]) for path, handler in table.items()]

    async def authenticate(self, request: Request, tenant: str) -> Response | None:
        """Plaid's keys: ``client_id`` and ``secret`` in the body (or PLAID-* headers)."""
        body = getattr(request.state, "plaid_body", {}) or {}
        client_id = body.get("client_id") or request.headers.get("plaid-client-id")
        secret = body.get("secret") or request.headers.get("plaid-secret")
        if not client_id or not secret:
            return errors.missing_fields(
                [n for n, v in (("client_id", client_id), ("secret", secret)) if not v]
            )
        if not (
            secrets.compare_digest(str(client_id), self.credentials.client_id)
            and secrets.compare_digest(str(secret), self.credentials.client_secret)
        ):
            return errors.invalid_api_keys()
        return None

    def counters_snapshot(self) -> dict[str, dict[str, object]]:
        """Counters per Item: ``/transactions/sync`` under the item id (as other providers
        key their tenants), every other endpoint under ``"<item id> <path>"``."""
        snapshot = super().counters_snapshot()
        for path, meter in self.meters.items():
            if meter is not self:
                for item_id, counters in meter.counters_snapshot().items():
                    snapshot[f"{item_id} {path}"] = counters
        return snapshot

    # --------------------------------------------------------------- plumbing

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = payloads.loads(await request.body())
        except ValueError:
            return errors.invalid_body()
        if not isinstance(body, dict):
            return errors.invalid_body()
        request.state.plaid_body = body
        refused = await self.authenticate(request, "")
        return refused if refused is not None else body

    async def _item_call(
        self,
        request: Request,
        path: str,
        handler: Callable[[dict[str, Any], Item], Response],
        *,
        login_ok: bool = False,
    ) -> Response:
        """Parse, authenticate, find the Item of ``access_token``, meter ``path`` for it
        and answer with ``handler`` (or Plaid's error)."""
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            return errors.missing_fields(["access_token"])
        item = self._by_token.get(token)
        if item is None or item.removed:
            return errors.invalid_access_token()
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        meter = self.meters[path]
        refused = meter.meter(item.item_id)
        if refused is not None:
            return refused
        try:
            if item.login_required and not login_ok:
                return errors.item_login_required()
            return handler(body, item)
        finally:
            meter.release(item.item_id)

    def _item_object(self, item: Item) -> dict[str, Any]:
        return {
            "item_id": item.item_id,
            "institution_id": item.institution_id,
            "institution_name": item.institution_name,
            "webhook": "",
            "auth_method": None,
            "error": errors.item_login_required_body() if item.login_required else None,
            "available_products": sorted(PRODUCTS - set(item.products)),
            "billed_products": sorted(item.products),
            "products": sorted(item.products),
            "consented_products": sorted(item.products),
            "consent_expiration_time": None,
            "update_type": "background",
        }

    def _accounts(self, item: Item) -> list[dict[str, Any]]:
        out = []
        at = self.bank.now()
        for account_id in item.account_ids:
            account = self.bank.account(account_id)
            assert account is not None
            lines = self.bank.lines(account_id, at)
            pending = lines.filter(pl.col("status") == "pending").get_column("amount").sum()
            booked = self.bank.booked_balance(account_id, at=at)
            out.append(render_account(account, booked, int(pending or 0)))
        return out

    # ---------------------------------------------------------------- routes

    async def _public_token_create(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        missing = [f for f in ("institution_id", "initial_products") if body.get(f) is None]
        if missing:
            return errors.missing_fields(missing)
        institution_id = body["institution_id"]
        if not isinstance(institution_id, str) or not INSTITUTION_ID.match(institution_id):
            return errors.invalid_institution(str(institution_id))
        products = body["initial_products"]
        if (
            not isinstance(products, list)
            or not products
            or any(p not in PRODUCTS for p in products)
        ):
            return errors.invalid_field(
                f"initial_products must be a non-empty list of products among {sorted(PRODUCTS)}"
            )
        company_id = body.get("sandbox_company")
        if not isinstance(company_id, str) or not company_id:
            return errors.invalid_field(
                "sandbox_company is required by this sandbox: the id of the world company "
                "whose bank accounts the Item reaches (it stands for the Link login)"
            )
        if self.bank.accounts_of(company_id).is_empty():
            return errors.invalid_field(
                f"sandbox_company {company_id!r} has no bank accounts at the aggregator"
            )
        token = f"public-sandbox-{uuid.uuid4()}"
        with self._state_lock:
            self._public[token] = _PublicToken(
                company_id, institution_id, list(products), time.time() + PUBLIC_TOKEN_SECONDS
            )
        return errors.json_response({"public_token": token, "request_id": errors.request_id()})

    async def _public_token_exchange(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        token = body.get("public_token")
        if not isinstance(token, str) or not token:
            return errors.missing_fields(["public_token"])
        with self._state_lock:
            public = self._public.pop(token, None)  # single use
        if public is None or public.expires < time.time():
            return errors.invalid_public_token()
        accounts = self.bank.accounts_of(public.company_id)
        item = Item(
            item_id=_plaid_id(),
            access_token=f"access-sandbox-{uuid.uuid4()}",
            company_id=public.company_id,
            institution_id=public.institution_id,
            institution_name=str(accounts.item(0, "institution_name")),
            products=public.products,
            account_ids=accounts.get_column("bank_account_id").to_list(),
            created_at=dt.datetime.now(UTC),
        )
        seen = self.bank.history(item.account_ids).height if self.webhooks is not None else 0
        with self._state_lock:
            self._items[item.item_id] = item
            self._by_token[item.access_token] = item
            self._announced[item.item_id] = seen  # later changes are announced from here on
        return errors.json_response(
            {
                "access_token": item.access_token,
                "item_id": item.item_id,
                "request_id": errors.request_id(),
            }
        )

    async def _reset_login(self, request: Request) -> Response:
        def handle(body: dict[str, Any], item: Item) -> Response:
            item.login_required = True
            return errors.json_response({"reset_login": True, "request_id": errors.request_id()})

        return await self._item_call(request, "/item/get", handle, login_ok=True)

    async def _item_get(self, request: Request) -> Response:
        def handle(body: dict[str, Any], item: Item) -> Response:
            return errors.json_response(
                {
                    "item": self._item_object(item),
                    "status": {
                        "transactions": {
                            "last_successful_update": iso_instant(self.bank.now()),
                            "last_failed_update": None,
                        },
                        "last_webhook": None,
                    },
                    "request_id": errors.request_id(),
                }
            )

        return await self._item_call(request, "/item/get", handle, login_ok=True)

    async def _item_remove(self, request: Request) -> Response:
        def handle(body: dict[str, Any], item: Item) -> Response:
            item.removed = True
            return errors.json_response({"request_id": errors.request_id()})

        return await self._item_call(request, "/item/remove", handle, login_ok=True)

    async def _accounts_get(self, request: Request) -> Response:
        def handle(body: dict[str, Any], item: Item) -> Response:
            return errors.json_response(
                {
                    "accounts": self._accounts(item),
                    "item": self._item_object(item),
                    "request_id": errors.request_id(),
                }
            )

        return await self._item_call(request, "/accounts/get", handle)

    async def _transactions_sync(self, request: Request) -> Response:
        return await self._item_call(request, SYNC, self._sync_page)

    async def _verification_key_get(self, request: Request) -> Response:
        """The public JWK of ``key_id`` (Plaid's webhook verification key endpoint)."""
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        key_id = body.get("key_id")
        if not isinstance(key_id, str) or not key_id:
            return errors.missing_fields(["key_id"])
        jwk = self.webhook_keys.jwk(key_id)
        if jwk is None:
            return errors.error(
                "INVALID_INPUT",
                "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
                f"invalid key_id provided: {key_id[:64]!r}",
            )
        return errors.json_response({"key": jwk, "request_id": errors.request_id()})

    async def _fire_webhook(self, request: Request) -> Response:
        """Plaid's ``/sandbox/item/fire_webhook``: send the Item's webhook now."""

        def handle(body: dict[str, Any], item: Item) -> Response:
            code = body.get("webhook_code") or "SYNC_UPDATES_AVAILABLE"
            if not isinstance(code, str) or self.webhooks is None:
                return errors.invalid_field("the sandbox has no webhook URL configured")
            fired = notify_aggregator(self.webhooks, item.item_id, self.webhook_keys.sign, code)
            return errors.json_response(
                {"webhook_fired": fired is not None, "request_id": errors.request_id()}
            )

        return await self._item_call(request, "/item/get", handle, login_ok=True)

    # ------------------------------------------------------- /transactions/sync

    def _sync_page(self, body: dict[str, Any], item: Item) -> Response:
        count = body.get("count", DEFAULT_COUNT)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            return errors.invalid_field(
                f"count must be an integer between 1 and {MAX_COUNT}, got {count!r}"
            )
        options = body.get("options")
        if options is not None and not isinstance(options, dict):
            return errors.invalid_field("options must be an object when given")
        raw_cursor = body.get("cursor")
        if raw_cursor is not None and not isinstance(raw_cursor, str):
            return errors.invalid_field("cursor must be a string")
        events = self.bank.history(item.account_ids)
        total = events.height
        if raw_cursor == "now":
            start, cursor = total, None  # fast-forward (migration from /transactions/get)
        elif raw_cursor:
            try:
                cursor = Cursor.decode(raw_cursor, item.item_id)
            except CursorError as exc:
                return errors.invalid_field(f"cursor: {exc}")
            start = cursor.position
        else:
            start, cursor = 0, None
        if start > total:
            return errors.invalid_field("cursor: cursor is ahead of this Item's updates")
        if cursor is not None and cursor.snapshot is not None and cursor.snapshot != total:
            # The data moved since this pagination began: the client restarts from the
            # cursor of its first page (Plaid's documented contract).
            return errors.mutation_during_pagination()
        end = min(start + count, total)
        has_more = end < total
        page = events.slice(start, end - start)
        added, modified, removed = self._render_events(page)
        next_cursor = Cursor(end, item.item_id, total if has_more else None).encode()
        response = errors.json_response(
            {
                "accounts": self._accounts(item),
                "added": added,
                "modified": modified,
                "removed": removed,
                "next_cursor": next_cursor,
                "has_more": has_more,
                "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
                "request_id": errors.request_id(),
            }
        )
        with self._state_lock:
            self.sync_pages[item.item_id] = self.sync_pages.get(item.item_id, 0) + 1
        if has_more:
            self._after_page(item.item_id)
        return response

    def _render_events(
        self, page: pl.DataFrame
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, str]]]:
        """The page's events as Plaid's three lists. Added and modified transactions show
        their current state; one the bank no longer reports (posted since, or withdrawn)
        shows the state it had when the event happened."""
        if page.is_empty():
            return [], [], []
        now = self.bank.now()
        current = {row["line_id"]: row for row in self.bank.lines(at=now).iter_rows(named=True)}
        added: list[dict[str, Any]] = []
        modified: list[dict[str, Any]] = []
        removed: list[dict[str, str]] = []
        for event in page.iter_rows(named=True):
            line_id = event["line_id"]
            if event["kind"] == "removed":
                # The line as it was just before it went, for its account id.
                line = self._line_at(line_id, event["at"] - dt.timedelta(microseconds=1))
                if line is not None:
                    removed.append(
                        {"transaction_id": line_id, "account_id": line["bank_account_id"]}
                    )
                continue
            line = current.get(line_id) or self._line_at(line_id, event["at"])
            if line is None:
                continue  # modified after it was gone: nothing a client could show
            (added if event["kind"] == "added" else modified).append(render_transaction(line))
        return added, modified, removed

    def _line_at(self, line_id: str, at: dt.datetime) -> dict[str, Any] | None:
        rows = self.bank.lines(at=at).filter(pl.col("line_id") == line_id)
        return rows.row(0, named=True) if rows.height else None

    def _after_page(self, item_id: str) -> None:
        for hook in self._hooks:
            if hook.fired or hook.item_id != item_id:
                continue
            hook.pages += 1
            if hook.pages >= hook.after_pages:
                hook.fired = True
                hook.action()

    # ------------------------------------------------------------ test API

    def advance(self, seconds: float) -> list[str]:
        """Move the bank's clock forward and announce the Items with new updates."""
        self.bank.advance(seconds)
        return self.notify_updates()

    def notify_updates(self) -> list[str]:
        """Send SYNC_UPDATES_AVAILABLE for every live Item whose updates grew since the
        last announcement (or since it was linked); returns their ids."""
        if self.webhooks is None:
            return []
        fired = []
        for item in [i for i in self._items.values() if not i.removed]:
            height = self.bank.history(item.account_ids).height
            with self._state_lock:
                before = self._announced.setdefault(item.item_id, height)
                self._announced[item.item_id] = height
            if height > before:
                notify_aggregator(self.webhooks, item.item_id, self.webhook_keys.sign)
                fired.append(item.item_id)
        return fired

    def item(self, item_id: str) -> Item:
        """The Item ``item_id`` (tests)."""
        return self._items[item_id]

    def items_of(self, company_id: str) -> list[Item]:
        """The company's Items not removed (tests)."""
        return [i for i in self._items.values() if i.company_id == company_id and not i.removed]

    def reset_login(self, item_id: str) -> None:
        """The Item's login broke (as ``/sandbox/item/reset_login``)."""
        self._items[item_id].login_required = True

    def mutate_during_pagination(
        self, item_id: str, after_pages: int = 1, action: Callable[[], None] | None = None
    ) -> None:
        """Once, right after the ``after_pages``-th page answered with ``has_more`` for
        ``item_id``, change the Item's data: ``action`` or, by default, a new description on
        its first reported line. The client's next page call with that pagination's cursor
        answers TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION."""
        item = self._items[item_id]

        def default() -> None:
            first = self.bank.lines(item.account_ids[0]).row(0, named=True)
            self.bank.modify(first["line_id"], description=f"{first['description']} (CORRECTED)")

        self._hooks.append(_PaginationHook(item_id, after_pages, action or default))


def build(
    world: World,
    credentials: SandboxCredentials,
    *,
    limits: dict[str, tuple[Limit, ...]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    start: dt.datetime | None = None,
    webhooks: WebhookSender | None = None,
) -> AggregatorSandbox:
    """The aggregator sandbox over ``world`` (``PROVIDER_FACTORIES["aggregator"]``). Tests
    may pass other ``limits`` per path, a metering ``clock`` and the bank clock's ``start``."""
    return AggregatorSandbox(
        world, credentials, limits=limits, clock=clock, start=start, webhooks=webhooks
    )
