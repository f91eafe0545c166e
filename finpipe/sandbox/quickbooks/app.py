"""The QuickBooks Online sandbox: QBO's paths, payloads, OAuth, errors and throttling.

Served under ``<server>/quickbooks`` (see :mod:`finpipe.sandbox.server`); after that prefix
every path is QBO's own:

    GET  /connect/oauth2                          authorize (``sandbox_company=<company_id>``)
    POST /oauth2/v1/tokens/bearer                 token (code and refresh grants)
    GET  /v3/company/{realmId}/query?query=...    query (also POST with the statement as body)
    GET  /v3/company/{realmId}/cdc?entities=..&changedSince=..
    GET  /v3/company/{realmId}/{entity}/{id}      read (companyinfo/{realmId}, preferences)
    POST /v3/company/{realmId}/{entity}           create; update (Id + SyncToken, ``sparse``)
    POST /v3/company/{realmId}/{entity}?operation=delete|void

Control (tests): ``POST /_sandbox/clock`` ``{"advance": seconds}`` and
``POST /_sandbox/paging`` ``{"realm", "entity", "after_page", "count"}``; the same as Python
methods on :class:`QuickBooksSandbox` (``create``, ``update``, ``delete``, ``void``,
``advance_clock``, ``mutate_while_paging``).

Published limits per realm: 500 requests a minute and 10 a second (429 with QBO's
``ThrottleExceeded`` Fault and ``Retry-After``).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from finpipe.connectors import payloads
from finpipe.connectors.statements.model import currency_exponent
from finpipe.sandbox.oauth_server import OAuthServer, OAuthServerConfig
from finpipe.sandbox.provider import Limit, ProviderSandbox
from finpipe.sandbox.quickbooks import errors, reports
from finpipe.sandbox.quickbooks.errors import QboFault
from finpipe.sandbox.quickbooks.query import parse_instant, parse_query
from finpipe.sandbox.quickbooks.render import collect_realm, realms, render_realm, zone_for
from finpipe.sandbox.quickbooks.store import (
    CDC_LOOKBACK,
    ENTITY_BY_LOWER,
    NAME_LISTS,
    SINGLETONS,
    PagingMutation,
    RealmStore,
    SandboxClock,
    Stored,
    qbo_time,
)
from finpipe.sandbox.webhooks import WebhookSender, notify_quickbooks

ACCESS_TTL = 3600  # seconds (QBO access tokens live one hour)
REFRESH_TTL = 8_726_400  # seconds (100 days, QBO's x_refresh_token_expires_in)
LIMITS = (Limit("second", 10, 1.0), Limit("minute", 500, 60.0))
JSON_OK = "application/json;charset=utf-8"

# Fields QBO refuses a create without (the sandbox checks these; QBO checks many more).
REQUIRED: dict[str, tuple[str, ...]] = {
    "Invoice": ("CustomerRef", "Line"),
    "CreditMemo": ("CustomerRef", "Line"),
    "SalesReceipt": ("Line",),
    "RefundReceipt": ("Line", "DepositToAccountRef"),
    "Payment": ("CustomerRef", "TotalAmt"),
    "Bill": ("VendorRef", "Line"),
    "VendorCredit": ("VendorRef", "Line"),
    "BillPayment": ("VendorRef", "PayType", "TotalAmt"),
    "Purchase": ("AccountRef", "PaymentType", "Line"),
    "Deposit": ("DepositToAccountRef", "Line"),
    "Transfer": ("FromAccountRef", "ToAccountRef", "Amount"),
    "JournalEntry": ("Line",),
    "Account": ("Name", "AccountType"),
    "Item": ("Name", "Type"),
    "Customer": ("DisplayName",),
    "Vendor": ("DisplayName",),
}


def _anchor(world: Any) -> dt.datetime:
    """The sandbox's first "now": an hour after the newest QuickBooks change in the world
    (world timestamps are in the past; syncs and writes happen after them)."""
    newest: list[dt.datetime] = []
    for name in ("documents", "contacts", "accounts", "items"):
        value = (
            world.table(name)
            .filter(pl.col("provider") == "quickbooks")
            .select(pl.col("updated_at").max())
            .collect()
            .item()
        )
        if value is not None:
            newest.append(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    base = max(newest) if newest else dt.datetime.now(dt.UTC)
    return (base + dt.timedelta(hours=1)).replace(microsecond=0)


class QuickBooksSandbox(ProviderSandbox):
    """QBO over a generated world. One :class:`RealmStore` per QuickBooks company, rendered
    on first use."""

    name = "quickbooks"

    def __init__(
        self,
        world: Any,
        client_id: str,
        client_secret: str,
        *,
        clock: SandboxClock | None = None,
        webhooks: WebhookSender | None = None,
        webhook_format: str = "legacy",
    ) -> None:
        self.world = world
        # Where data changes are announced (None: webhooks off); legacy or cloudevents.
        self.webhooks = webhooks
        self.webhook_format = webhook_format
        self.lock = threading.RLock()
        self.companies: dict[str, dict[str, Any]] = {}
        self.realm_by_company: dict[str, str] = {}
        for company in realms(world):
            realm = str(company["qbo_realm_id"])
            self.companies[realm] = company
            self.realm_by_company[str(company["company_id"])] = realm
        self.sandbox_clock = clock or SandboxClock(_anchor(world))
        oauth = OAuthServer(
            OAuthServerConfig(
                provider="quickbooks",
                client_id=client_id,
                client_secret=client_secret,
                access_ttl=ACCESS_TTL,
                refresh_ttl=REFRESH_TTL,
                grace_seconds=0,  # the previous QBO refresh token dies on use
                report_refresh_expiry=True,
                redirect_extra=self._redirect_extra,
            )
        )
        super().__init__(oauth, LIMITS)
        self._stores: dict[str, RealmStore] = {}
        self._expire_after: int | None = None

    # ------------------------------------------------------------ the realms

    def _redirect_extra(self, subject: str) -> dict[str, str]:
        realm = self.realm_by_company.get(subject)
        return {"realmId": realm} if realm else {}

    def realm_of(self, company_id: str) -> str:
        """The realmId of a world company on QuickBooks."""
        try:
            return self.realm_by_company[company_id]
        except KeyError:
            raise KeyError(f"company {company_id} is not on QuickBooks in this world") from None

    def store(self, realm_id: str) -> RealmStore:
        """The realm's data (rendered from the world on first use)."""
        with self.lock:
            store = self._stores.get(realm_id)
            if store is None:
                company = self.companies.get(realm_id)
                if company is None:
                    raise KeyError(f"no QuickBooks realm {realm_id} in this world")
                store = RealmStore(
                    realm_id,
                    str(company["company_id"]),
                    zone_for(company.get("country")),
                    str(company["home_currency"]),
                    self.sandbox_clock,
                    self.lock,
                )
                live, tombstones = render_realm(collect_realm(self.world, company))
                store.load(live)
                for entity, stub in tombstones:
                    lut = dt.datetime.fromisoformat(stub["MetaData"]["LastUpdatedTime"])
                    store.tables[entity].tombstones[stub["Id"]] = Stored(
                        entity, stub["Id"], stub, int(lut.timestamp())
                    )
                self._stores[realm_id] = store
            return store

    def may_access(self, subject: str, tenant: str) -> bool:
        return self.realm_by_company.get(subject) == tenant

    # ------------------------------------------------------- errors / faults

    def _time_text(self, realm_id: str | None = None) -> str:
        company = self.companies.get(realm_id or "")
        tz = zone_for(company.get("country")) if company else dt.UTC
        return qbo_time(self.sandbox_clock.now(), tz)

    def unauthorized(self, request: Request) -> Response:
        bearer = request.headers.get("authorization", "")
        if self.oauth.subject_of(bearer) is not None:
            return errors.authorization_failed().response(self._time_text())
        epoch_ms = int(self.sandbox_clock.now().timestamp() * 1000)
        return errors.authentication_failed(bearer.removeprefix("Bearer "), epoch_ms)

    def rate_limited(self, limit: Limit, retry_after: int) -> Response:
        return errors.throttled().response(
            self._time_text(), headers={"Retry-After": str(retry_after)}
        )

    def server_error(self) -> Response:
        return errors.system_failure().response(self._time_text())

    # ---------------------------------------------------------------- routes

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/connect/oauth2", self.oauth.authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self.oauth.token, methods=["POST"]),
            Route("/v3/company/{realm}/query", self._route_query, methods=["GET", "POST"]),
            Route("/v3/company/{realm}/cdc", self._route_cdc, methods=["GET"]),
            Route(
                "/v3/company/{realm}/preferences", self._route_preferences, methods=["GET", "POST"]
            ),
            Route(
                "/v3/company/{realm}/reports/TrialBalance",
                self._route_trial_balance,
                methods=["GET"],
            ),
            Route("/v3/company/{realm}/{entity}/{record_id}", self._route_read, methods=["GET"]),
            Route("/v3/company/{realm}/{entity}", self._route_write, methods=["POST"]),
            Route("/v3/{rest:path}", self._route_unsupported, methods=["GET", "POST"]),
            Route("/_sandbox/clock", self._route_clock, methods=["GET", "POST"]),
            Route("/_sandbox/paging", self._route_paging, methods=["POST"]),
        ]

    async def _api(
        self, request: Request, handler: Callable[[RealmStore], str], *, body: bool = False
    ) -> Response:
        realm = request.path_params["realm"]
        self._count_down_token_expiry()
        denied = await self.admit(request, realm)
        if denied is not None:
            return denied
        try:
            if body:
                request.state.body = await request.body()
            with self.lock:
                store = self.store(realm)
                text = handler(store)
            return Response(text, media_type=JSON_OK, headers={"intuit_tid": str(uuid.uuid4())})
        except QboFault as fault:
            return fault.response(self._time_text(realm))
        finally:
            self.release(realm)

    async def _route_query(self, request: Request) -> Response:
        def handle(store: RealmStore) -> str:
            statement = request.query_params.get("query")
            if statement is None and request.method == "POST":
                statement = request.state.body.decode("utf-8", "replace")
            if not statement:
                raise errors.query_parse_error('Encountered "<EOF>" at line 1, column 1.')
            return self.answer_query(store, statement)

        return await self._api(request, handle, body=request.method == "POST")

    async def _route_cdc(self, request: Request) -> Response:
        def handle(store: RealmStore) -> str:
            return self.answer_cdc(
                store,
                request.query_params.get("entities", ""),
                request.query_params.get("changedSince", ""),
            )

        return await self._api(request, handle)

    async def _route_preferences(self, request: Request) -> Response:
        def handle(store: RealmStore) -> str:
            if request.method == "POST":
                stored = store.update("Preferences", self._json_body(request, "Preferences"))
            else:
                stored = store.get("Preferences", "1")
            return _envelope("Preferences", stored.text, store.time_text())

        return await self._api(request, handle, body=request.method == "POST")

    async def _route_read(self, request: Request) -> Response:
        def handle(store: RealmStore) -> str:
            entity = self._entity(request.path_params["entity"], request.url.path)
            record_id = request.path_params["record_id"]
            if entity == "CompanyInfo":
                if record_id != store.realm_id:
                    raise errors.object_not_found(entity, record_id)
                record_id = "1"
            elif not record_id.isdigit():
                raise errors.invalid_id(record_id)
            return _envelope(entity, store.get(entity, record_id).text, store.time_text())

        return await self._api(request, handle)

    async def _route_trial_balance(self, request: Request) -> Response:
        def handle(store: RealmStore) -> str:
            body = reports.trial_balance(
                self.world,
                self.companies[store.realm_id],
                now=self.sandbox_clock.now(),
                tz=store.tz,
                params=request.query_params,
                api_lines=reports.api_postings(
                    store.api_transactions(), currency_exponent(store.home_currency)
                ),
            )
            return payloads.dumps(body)

        return await self._api(request, handle)

    async def _route_write(self, request: Request) -> Response:
        def handle(store: RealmStore) -> str:
            entity = self._entity(request.path_params["entity"], request.url.path)
            # A retry with an already answered ``requestid`` gets that answer, unchanged.
            request_id = request.query_params.get("requestid")
            replay = store.replayed(request_id)
            if replay is not None:
                return replay
            body = self._json_body(request, entity)
            operation = (request.query_params.get("operation") or "").lower()
            if request.query_params.get("include", "").lower() == "void":
                operation = "void"
            stored = self.write(store, entity, body, operation)
            return store.remember(request_id, _envelope(entity, stored.text, store.time_text()))

        return await self._api(request, handle, body=True)

    async def _route_unsupported(self, request: Request) -> Response:
        fault = errors.unsupported_operation(
            f"Could not find resource for relative : {request.url.path}"
        )
        return fault.response(self._time_text())

    async def _route_clock(self, request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            if "advance" in data:
                self.advance_clock(float(data["advance"]))
            if data.get("freeze") is True:
                self.sandbox_clock.freeze()
            if data.get("freeze") is False:
                self.sandbox_clock.unfreeze()
        return JSONResponse({"now": self.sandbox_clock.now().isoformat()})

    async def _route_paging(self, request: Request) -> Response:
        data = await request.json()
        mutation = self.mutate_while_paging(
            str(data["realm"]),
            str(data["entity"]),
            int(data["after_page"]),
            count=int(data.get("count", 1)),
            ids=tuple(str(i) for i in data.get("ids", ())),
        )
        return JSONResponse({"entity": mutation.entity, "after_page": mutation.after_page})

    # ------------------------------------------------------------- answers

    def _entity(self, raw: str, path: str) -> str:
        entity = ENTITY_BY_LOWER.get(raw.lower())
        if entity is None:
            raise errors.unsupported_operation(f"Could not find resource for relative : {path}")
        return entity

    def _json_body(self, request: Request, entity: str) -> dict[str, Any]:
        raw = getattr(request.state, "body", b"")
        try:
            body = payloads.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise QboFault(
                "Request has invalid or unsupported property",
                f"Property Name:Can not deserialize the request body as a {entity} object "
                "specified is unsupported or invalid",
                "2010",
            )
        # Some clients wrap the entity ({"Invoice": {...}}); QBO accepts the bare object.
        if len(body) == 1 and entity in body and isinstance(body[entity], dict):
            body = body[entity]
        return body

    def answer_query(self, store: RealmStore, statement: str) -> str:
        query = parse_query(statement, ENTITY_BY_LOWER)
        time = store.time_text()
        if query.count:
            return payloads.dumps(
                {"QueryResponse": {"totalCount": store.count(query)}, "time": time}
            )
        page = store.select(query)
        if not page:
            return payloads.dumps({"QueryResponse": {}, "time": time})
        items = ",".join(s.text for s in page)
        return (
            f'{{"QueryResponse":{{"{query.entity}":[{items}],"startPosition":{query.start},'
            f'"maxResults":{len(page)}}},"time":"{time}"}}'
        )

    def answer_cdc(self, store: RealmStore, entities: str, changed_since: str) -> str:
        if not entities:
            raise errors.required_missing("ChangeDataCapture", "entities")
        if not changed_since:
            raise errors.required_missing("ChangeDataCapture", "changedSince")
        names = []
        for raw in entities.split(","):
            entity = ENTITY_BY_LOWER.get(raw.strip().lower())
            if entity is None:
                raise errors.unsupported_operation(f"cdc for entity {raw.strip()}")
            if entity not in names:
                names.append(entity)
        since = parse_instant(changed_since, store.tz)
        if since < store.clock.now() - CDC_LOOKBACK:
            raise errors.cdc_too_old(changed_since)
        blocks = []
        for entity, items in store.changes(names, since.timestamp()):
            if not items:
                blocks.append("{}")
                continue
            body = ",".join(s.text for s in items)
            blocks.append(f'{{"{entity}":[{body}],"startPosition":1,"maxResults":{len(items)}}}')
        return (
            f'{{"CDCResponse":[{{"QueryResponse":[{",".join(blocks)}]}}],'
            f'"time":"{store.time_text()}"}}'
        )

    def write(
        self, store: RealmStore, entity: str, body: Mapping[str, Any], operation: str
    ) -> Stored:
        """Apply one POST the way QBO does (create, update, delete, void)."""
        if operation == "delete":
            if entity in NAME_LISTS or entity in SINGLETONS:
                raise errors.unsupported_operation(f"delete {entity}")
            tomb = store.delete(entity, body)
            self._notify(store, tomb, "Delete")
            # The answer to a delete carries no MetaData (the CDC tombstone does).
            stub = {"domain": "QBO", "status": "Deleted", "Id": tomb.id}
            return Stored(entity, tomb.id, stub, tomb.lut)
        if operation == "void":
            return self._notify(store, store.void(entity, body), "Void")
        if operation not in ("", "update", "create"):
            raise errors.unsupported_operation(f"{operation} {entity}")
        if body.get("Id") not in (None, ""):
            return self._notify(store, store.update(entity, body), "Update")
        missing = [k for k in REQUIRED.get(entity, ()) if body.get(k) in (None, "", [])]
        if missing:
            raise errors.required_missing(entity, missing[0])
        if entity in NAME_LISTS:
            self._check_unique_name(store, entity, body)
        return self._notify(store, store.create(entity, body), "Create")

    def _notify(self, store: RealmStore, stored: Stored, operation: str) -> Stored:
        """Announce a change with QBO's webhook (when webhooks are configured)."""
        if self.webhooks is not None:
            when = dt.datetime.fromtimestamp(stored.lut, store.tz).isoformat()
            change = (stored.entity, stored.id, operation, when)
            cloudevents = self.webhook_format == "cloudevents"
            notify_quickbooks(self.webhooks, store.realm_id, [change], cloudevents=cloudevents)
        return stored

    def _check_unique_name(self, store: RealmStore, entity: str, body: Mapping[str, Any]) -> None:
        key = "Name" if entity in ("Account", "Item") else "DisplayName"
        wanted = str(body.get(key, "")).strip().lower()
        for stored in store.tables[entity].rows.values():
            if str(stored.payload.get(key, "")).strip().lower() == wanted:
                raise QboFault(
                    "Duplicate Name Exists Error",
                    "The name supplied already exists. : null",
                    "6240",
                )

    # ------------------------------------------------------ mutation API

    def expire_tokens_after_calls(self, calls: int) -> None:
        """Fault knob: every access token expires once ``calls`` more API calls arrived (an
        hour running out in the middle of a sync)."""
        with self.lock:
            self._expire_after = calls

    def _count_down_token_expiry(self) -> None:
        with self.lock:
            if self._expire_after is None:
                return
            self._expire_after -= 1
            if self._expire_after <= 0:
                self._expire_after = None
                self.oauth.expire_access_tokens()

    def now(self) -> dt.datetime:
        """The sandbox clock (UTC)."""
        return self.sandbox_clock.now()

    def advance_clock(self, seconds: float) -> dt.datetime:
        """Move the sandbox clock forward (writes after this get later LastUpdatedTimes)."""
        return self.sandbox_clock.advance(seconds)

    def get(self, realm_id: str, entity: str, record_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.store(realm_id).get(entity, record_id).payload)

    def records(self, realm_id: str, entity: str) -> list[dict[str, Any]]:
        """Every live ``entity`` object of the realm (copies)."""
        with self.lock:
            return self.store(realm_id).records(entity)

    def create(self, realm_id: str, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.write(self.store(realm_id), entity, body, "").payload)

    def update(
        self,
        realm_id: str,
        entity: str,
        record_id: str,
        changes: Mapping[str, Any],
        *,
        sync_token: str | None = None,
        sparse: bool = True,
    ) -> dict[str, Any]:
        """Sparse (default) or full update; ``sync_token`` defaults to the current one."""
        with self.lock:
            store = self.store(realm_id)
            token = sync_token or store.get(entity, record_id).payload["SyncToken"]
            body = {**changes, "Id": record_id, "SyncToken": token}
            stored = self._notify(store, store.update(entity, body, sparse=sparse), "Update")
            return copy.deepcopy(stored.payload)

    def delete(
        self, realm_id: str, entity: str, record_id: str, sync_token: str | None = None
    ) -> dict[str, Any]:
        """Delete a transaction (name lists: made inactive, as QBO does)."""
        with self.lock:
            store = self.store(realm_id)
            token = sync_token or store.get(entity, record_id).payload["SyncToken"]
            stored = store.delete(entity, {"Id": record_id, "SyncToken": token})
            return copy.deepcopy(self._notify(store, stored, "Delete").payload)

    def void(
        self, realm_id: str, entity: str, record_id: str, sync_token: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            store = self.store(realm_id)
            token = sync_token or store.get(entity, record_id).payload["SyncToken"]
            stored = store.void(entity, {"Id": record_id, "SyncToken": token})
            return copy.deepcopy(self._notify(store, stored, "Void").payload)

    def mutate_while_paging(
        self,
        realm_id: str,
        entity: str,
        after_page: int,
        *,
        count: int = 1,
        ids: tuple[str, ...] = (),
    ) -> PagingMutation:
        """After the ``after_page``-th query page of ``entity`` is served, bump the
        LastUpdatedTime of ``ids`` (or of the ``count`` oldest rows): they move behind the
        client's position, as records edited by a user during a sync do."""
        with self.lock:
            store = self.store(realm_id)
            mutation = PagingMutation(entity, after_page, count, ids)
            store.mutations.append(mutation)
            return mutation


def _envelope(entity: str, text: str, time: str) -> str:
    return f'{{"{entity}":{text},"time":"{time}"}}'


def build(world: Any, credentials: Any) -> QuickBooksSandbox:
    """Factory used by :func:`finpipe.sandbox.server.build_sandbox`."""
    return QuickBooksSandbox(world, credentials.client_id, credentials.client_secret)
