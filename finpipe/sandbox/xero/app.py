"""The Xero sandbox provider: identity, ``/connections`` and the Accounting API over a world.

Served under ``<sandbox>/xero`` with Xero's own paths after it:

* ``GET /identity/connect/authorize``, ``POST /identity/connect/token`` (real:
  login.xero.com/identity/connect/authorize, identity.xero.com/connect/token). Access tokens
  live 30 minutes; refresh tokens rotate and the previous one keeps working 30 minutes.
* ``GET /connections``: the organisations the token's grant reaches.
* ``GET /api.xro/2.0/{Endpoint}`` with ``xero-tenant-id``, ``If-Modified-Since``, ``page`` +
  ``pageSize`` (paged endpoints; default 100, at most 1000) and ``offset`` (Journals);
  ``GET /api.xro/2.0/{Endpoint}/{id}``; ``PUT``/``POST`` writes with ``Idempotency-Key``.
* Limits per tenant: 60 calls/minute, 5,000/day, 5 in flight; ``X-MinLimit-Remaining``,
  ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining`` on every answer; 429 with
  ``Retry-After`` and ``X-Rate-Limit-Problem``.

Tests drive it through the mutation API on :class:`XeroSandbox` (``create``, ``update``,
``delete``, ``void``, ``advance``, ``mutate_while_paging``) and the fault knobs of
:class:`~finpipe.sandbox.provider.ProviderSandbox`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import polars as pl
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from finpipe.connectors import payloads
from finpipe.connectors.xero.endpoints import ENDPOINTS, MAX_PAGE_SIZE
from finpipe.connectors.xero.parse import parse_date
from finpipe.sandbox.oauth_server import OAuthServer, OAuthServerConfig
from finpipe.sandbox.provider import Limit, ProviderSandbox
from finpipe.sandbox.webhooks import WebhookSender, notify_xero
from finpipe.sandbox.world import World
from finpipe.sandbox.xero import errors, reports
from finpipe.sandbox.xero.render import render_tenant
from finpipe.sandbox.xero.store import SandboxClock, TenantStore, WriteRejected, ms_date
from finpipe.sandbox.xero.writes import BUILDERS, apply_write, post_journals, stamp

if TYPE_CHECKING:
    from finpipe.sandbox.server import SandboxCredentials

UTC = dt.UTC
ACCOUNTING = "/api.xro/2.0"
DEFAULT_PAGE_SIZE = 100
IDEMPOTENCY_SECONDS = 360  # Xero keeps an Idempotency-Key's answer for six minutes
APP_MINUTE_LIMIT = 10_000

XERO_LIMITS: tuple[Limit, ...] = (Limit("minute", 60, 60.0), Limit("day", 5000, 86_400.0))
XERO_CONCURRENT = 5


def xero_oauth_config(client_id: str, client_secret: str) -> OAuthServerConfig:
    """Xero identity: access 30 min, refresh 60 days, 30 min grace for a rotated-out
    refresh token, no refresh expiry in the token answer."""
    return OAuthServerConfig(
        provider="xero",
        client_id=client_id,
        client_secret=client_secret,
        access_ttl=1800,
        refresh_ttl=5_184_000,
        grace_seconds=1800,
        report_refresh_expiry=False,
    )


@dataclass
class _Replay:
    fingerprint: str
    status: int
    body: bytes
    media_type: str
    at: float


@dataclass
class _PagingHook:
    tenant_id: str
    endpoint: str
    after_calls: int
    action: Callable[[], None]
    calls: int = 0
    fired: bool = False


class XeroSandbox(ProviderSandbox):
    """Xero over a generated world (one organisation per company with a Xero tenant)."""

    name = "xero"

    def __init__(
        self,
        world: World,
        oauth: OAuthServer,
        *,
        limits: tuple[Limit, ...] = XERO_LIMITS,
        max_concurrent: int | None = XERO_CONCURRENT,
        clock: Callable[[], float] = time.monotonic,
        start: dt.datetime | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        super().__init__(oauth, limits, max_concurrent, clock)
        self.world = world
        self.webhooks = webhooks  # where data changes are announced (None: webhooks off)
        companies = world.table("companies").filter(pl.col("xero_tenant_id").is_not_null())
        rows = companies.collect().to_dicts()
        self.companies: dict[str, dict[str, Any]] = {r["xero_tenant_id"]: r for r in rows}
        self.tenants_of: dict[str, list[str]] = {}
        for row in rows:
            self.tenants_of.setdefault(row["company_id"], []).append(row["xero_tenant_id"])
        last_day = max((r["end_date"] for r in rows), default=dt.date(2026, 1, 1))
        self.clock_utc = SandboxClock(
            start
            or dt.datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC)
            + dt.timedelta(days=1, hours=9)
        )
        self._stores: dict[str, TenantStore] = {}
        self._stores_lock = threading.Lock()
        self._idempotency: dict[tuple[str, str], _Replay] = {}
        self._app_calls: deque[float] = deque()
        self._hooks: list[_PagingHook] = []
        # Seconds each admitted call takes to answer (lets tests see calls overlap).
        self.processing_seconds = 0.0
        # When each answered call was admitted, per tenant (benchmarks read the pace).
        self.call_times: dict[str, list[float]] = defaultdict(list)

    # ------------------------------------------------------------ base overrides

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/identity/connect/authorize", self.oauth.authorize, methods=["GET"]),
            Route("/identity/connect/token", self.oauth.token, methods=["POST"]),
            Route("/connections", self._connections, methods=["GET"]),
            # Before the generic routes: {endpoint}/{id} would swallow it.
            Route(f"{ACCOUNTING}/Reports/TrialBalance", self._trial_balance, methods=["GET"]),
            Route(f"{ACCOUNTING}/{{endpoint}}", self._collection, methods=["GET", "PUT", "POST"]),
            Route(
                f"{ACCOUNTING}/{{endpoint}}/{{source_id}}", self._single, methods=["GET", "POST"]
            ),
        ]

    def unauthorized(self, request: Request) -> Response:
        subject = self.oauth.subject_of(request.headers.get("authorization", ""))
        if subject is not None:
            return errors.forbidden()  # a valid token, but not for this tenant
        token = request.headers.get("authorization", "")[7:]
        known = getattr(self.oauth, "_access", {}).get(token)
        if known is not None:
            return errors.token_expired(dt.datetime.fromtimestamp(known[1], UTC))
        return errors.unauthenticated()

    def rate_limited(self, limit: Limit, retry_after: int) -> Response:
        problem = limit.name if limit.name in ("minute", "day", "concurrent") else "minute"
        return errors.rate_limited(problem, retry_after)

    def server_error(self) -> Response:
        return errors.unavailable()

    def may_access(self, subject: str, tenant: str) -> bool:
        return tenant in self.tenants_of.get(subject, [])

    # --------------------------------------------------------------- helpers

    def store(self, tenant_id: str) -> TenantStore:
        """The tenant's records, rendered from the world on first use."""
        with self._stores_lock:
            if tenant_id not in self._stores:
                if tenant_id not in self.companies:
                    raise KeyError(f"no xero tenant {tenant_id}")
                self._stores[tenant_id] = render_tenant(
                    self.world, self.companies[tenant_id], self.clock_utc
                )
            return self._stores[tenant_id]

    def _limit_headers(self, tenant_id: str | None) -> dict[str, str]:
        with self._lock:
            now = self.clock()
            while self._app_calls and self._app_calls[0] <= now - 60:
                self._app_calls.popleft()
            app_left = max(0, APP_MINUTE_LIMIT - len(self._app_calls))
        headers = {"X-AppMinLimit-Remaining": str(app_left)}
        if tenant_id:
            for limit in self.limits:
                header = {"minute": "X-MinLimit-Remaining", "day": "X-DayLimit-Remaining"}.get(
                    limit.name
                )
                if header:
                    headers[header] = str(self.remaining(tenant_id, limit))
        return headers

    def _finish(self, response: Response, tenant_id: str | None) -> Response:
        for key, value in self._limit_headers(tenant_id).items():
            response.headers[key] = value
        return response

    def _envelope(self, key: str, records: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": "finpipe",
            "DateTimeUTC": ms_date(self.clock_utc.now()).replace("+0000", ""),
        }
        body.update(extra)
        body[key] = records
        return body

    async def _guarded(self, request: Request, handler: Callable[[str], Response]) -> Response:
        """Authenticate and meter a tenant call, run ``handler``, add the limit headers."""
        tenant_id = request.headers.get("xero-tenant-id", "")
        accept = request.headers.get("accept", "*/*")
        if "json" not in accept and "*/*" not in accept:
            # Real Xero would answer XML; the sandbox only speaks JSON.
            return errors.problem(406, "Not Acceptable", "The sandbox answers JSON only")
        if not tenant_id:
            return self._finish(errors.forbidden(), None)
        refused = await self.admit(request, tenant_id)
        if refused is not None:
            # 401/403 answers do not reveal the budget of a tenant the caller cannot reach.
            metered = refused.status_code in (429, 503)
            return self._finish(refused, tenant_id if metered else None)
        try:
            with self._lock:
                now = self.clock()
                self._app_calls.append(now)
                self.call_times[tenant_id].append(now)
            if self.processing_seconds:
                # Time spent answering while the call counts as in flight (the base class's
                # latency knob delays calls before they are admitted).
                await asyncio.sleep(self.processing_seconds)
            if tenant_id not in self.companies:
                return self._finish(errors.forbidden(), None)
            return self._finish(handler(tenant_id), tenant_id)
        finally:
            self.release(tenant_id)

    # ---------------------------------------------------------------- routes

    async def _connections(self, request: Request) -> Response:
        subject = self.oauth.subject_of(request.headers.get("authorization", ""))
        if subject is None:
            return self.unauthorized(request)
        out = []
        for tenant_id in self.tenants_of.get(subject, []):
            company = self.companies[tenant_id]
            created = dt.datetime.combine(company["start_date"], dt.time(9), UTC)
            stamp_text = created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
            out.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-connection:{tenant_id}")),
                    "authEventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-auth:{subject}")),
                    "tenantId": tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": company["name"],
                    "createdDateUtc": stamp_text,
                    "updatedDateUtc": stamp_text,
                }
            )
        return errors.json_response(out)

    async def _trial_balance(self, request: Request) -> Response:
        """``GET Reports/TrialBalance?date=YYYY-MM-DD&paymentsOnly=false`` (see
        :mod:`finpipe.sandbox.xero.reports`)."""

        def answer(tenant_id: str) -> Response:
            query = request.query_params
            now = self.clock_utc.now()
            if query.get("paymentsOnly", "false").lower() == "true":
                return errors.validation_error(["The sandbox only reports on an accrual basis"])
            try:
                as_of = reports.parse_report_date(query.get("date"), now.date())
            except reports.ReportRequestError as exc:
                return errors.validation_error([str(exc)])
            report = reports.trial_balance_report(self.world, self.companies[tenant_id], as_of, now)
            return errors.json_response(self._envelope("Reports", [report]))

        return await self._guarded(request, answer)

    async def _collection(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        if endpoint not in ENDPOINTS:
            return errors.not_found()
        if request.method == "GET":
            return await self._guarded(request, lambda t: self._list(t, endpoint, request))
        body = await request.body()
        return await self._guarded(request, lambda t: self._write(t, endpoint, None, request, body))

    async def _single(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        source_id = request.path_params["source_id"]
        if endpoint not in ENDPOINTS:
            return errors.not_found()
        if request.method == "GET":
            return await self._guarded(request, lambda t: self._get_one(t, endpoint, source_id))
        body = await request.body()
        return await self._guarded(
            request, lambda t: self._write(t, endpoint, source_id, request, body)
        )

    # -------------------------------------------------------------- reading

    def _list(self, tenant_id: str, endpoint: str, request: Request) -> Response:
        spec = ENDPOINTS[endpoint]
        store = self.store(tenant_id)
        query = request.query_params
        try:
            since = _if_modified_since(request.headers.get("if-modified-since"))
        except ValueError as exc:
            return errors.validation_error([str(exc)])
        if spec.journal:
            try:
                offset = int(query.get("offset", "0"))
            except ValueError:
                return errors.validation_error(["offset must be an integer"])
            response = errors.json_response(
                self._envelope(spec.envelope_key, store.journal_listing(offset, since))
            )
        else:
            page = size = None
            if spec.paged and "page" in query:
                try:
                    page = max(1, int(query["page"]))
                    size = min(MAX_PAGE_SIZE, max(1, int(query.get("pageSize", DEFAULT_PAGE_SIZE))))
                except ValueError:
                    return errors.validation_error(["page and pageSize must be integers"])
            listing = store.listing(
                endpoint, since if spec.incremental else None, page, size or DEFAULT_PAGE_SIZE
            )
            extra: dict[str, Any] = {}
            if page is not None and size is not None:
                extra["pagination"] = {
                    "page": page,
                    "pageSize": size,
                    "pageCount": -(-listing.item_count // size),
                    "itemCount": listing.item_count,
                }
            response = errors.json_response(
                self._envelope(spec.envelope_key, listing.records, **extra)
            )
        self._after_list(tenant_id, endpoint)
        return response

    def _get_one(self, tenant_id: str, endpoint: str, source_id: str) -> Response:
        record = self.store(tenant_id).get(endpoint, source_id)
        if record is None:
            return errors.not_found()
        return errors.json_response(self._envelope(ENDPOINTS[endpoint].envelope_key, [record]))

    def _after_list(self, tenant_id: str, endpoint: str) -> None:
        for hook in self._hooks:
            if hook.fired or hook.tenant_id != tenant_id or hook.endpoint != endpoint:
                continue
            hook.calls += 1
            if hook.calls >= hook.after_calls:
                hook.fired = True
                hook.action()

    # -------------------------------------------------------------- writing

    def _write(
        self,
        tenant_id: str,
        endpoint: str,
        source_id: str | None,
        request: Request,
        body: bytes,
    ) -> Response:
        key = request.headers.get("idempotency-key")
        fingerprint = hashlib.sha256(
            b"\n".join([request.method.encode(), request.url.path.encode(), body])
        ).hexdigest()
        now = self.clock()
        if key:
            with self._lock:
                replay = self._idempotency.get((tenant_id, key))
                if replay is not None and now - replay.at > IDEMPOTENCY_SECONDS:
                    replay = None
            if replay is not None:
                if replay.fingerprint != fingerprint:
                    return errors.validation_error(
                        [f"Idempotency Key {key} is used with a different request"]
                    )
                return Response(replay.body, replay.status, media_type=replay.media_type)
        response = self._apply(tenant_id, endpoint, source_id, request.method, body)
        if key:
            with self._lock:
                self._idempotency[(tenant_id, key)] = _Replay(
                    fingerprint,
                    response.status_code,
                    bytes(response.body),
                    response.media_type or "application/json",
                    now,
                )
        return response

    def _apply(
        self, tenant_id: str, endpoint: str, source_id: str | None, method: str, body: bytes
    ) -> Response:
        spec = ENDPOINTS[endpoint]
        if endpoint not in BUILDERS:
            return errors.problem(405, "Method Not Allowed", f"the sandbox only reads {endpoint}")
        try:
            parsed = payloads.loads(body) if body else None
        except ValueError:
            return errors.validation_error(["The request body is not valid JSON"])
        items = parsed.get(spec.envelope_key) if isinstance(parsed, dict) else None
        if items is None:
            items = [parsed] if isinstance(parsed, dict) else parsed
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            return errors.validation_error([f"Send {spec.envelope_key} as a list of objects"])
        store = self.store(tenant_id)
        written = []
        changes: list[tuple[str, dict[str, Any], bool]] = []
        for item in items:
            target = source_id or (item.get(spec.id_field) if method == "POST" else None)
            if method == "PUT" and source_id is None:
                item = {k: v for k, v in item.items() if k != spec.id_field}
            try:
                written.append(apply_write(store, endpoint, item, target))
                changes.append((endpoint, written[-1], target is None))
            except WriteRejected as exc:
                if exc.status == 404:
                    return errors.not_found()
                element = {
                    **{k: v for k, v in item.items() if not isinstance(v, list)},
                    **exc.element,
                }
                notify_xero(self.webhooks, tenant_id, changes)  # what was written still was
                return errors.validation_error(exc.messages, element, exc.status)
        notify_xero(self.webhooks, tenant_id, changes)
        return errors.json_response(self._envelope(spec.envelope_key, written))

    # ------------------------------------------------------------ test API

    def tenant_ids(self) -> list[str]:
        return sorted(self.companies)

    def records(self, tenant_id: str, endpoint: str) -> list[dict[str, Any]]:
        """Every record of ``endpoint`` as the API would show it (journals included)."""
        store = self.store(tenant_id)
        with store.lock:
            if ENDPOINTS[endpoint].journal:
                return copy.deepcopy(store.journals)
            return copy.deepcopy(list(store.records.get(endpoint, {}).values()))

    def create(self, tenant_id: str, endpoint: str, record: dict[str, Any]) -> dict[str, Any]:
        """Create a record as a Xero user would (writable endpoints follow Xero's rules;
        others are stored as given, with a new id and UpdatedDateUTC)."""
        store = self.store(tenant_id)
        if endpoint in BUILDERS:
            created = apply_write(store, endpoint, dict(record), None)
            notify_xero(self.webhooks, tenant_id, [(endpoint, created, True)])
            return copy.deepcopy(created)
        spec = ENDPOINTS[endpoint]
        created = {**record, spec.id_field: record.get(spec.id_field) or str(uuid.uuid4())}
        stamp(store, endpoint, created)
        store.put(endpoint, created)
        notify_xero(self.webhooks, tenant_id, [(endpoint, created, True)])
        return copy.deepcopy(created)

    def update(
        self, tenant_id: str, endpoint: str, source_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Change fields of a record; it gets a new UpdatedDateUTC."""
        store = self.store(tenant_id)
        if endpoint in BUILDERS:
            updated = apply_write(store, endpoint, dict(changes), source_id)
            notify_xero(self.webhooks, tenant_id, [(endpoint, updated, False)])
            return copy.deepcopy(updated)
        with store.lock:
            current = store.get(endpoint, source_id)
            if current is None:
                raise KeyError(f"xero {endpoint} {source_id} not found in tenant {tenant_id}")
            updated = {**current, **changes}
            stamp(store, endpoint, updated)
            store.put(endpoint, updated)
            post_journals(store, endpoint, current, updated)
            notify_xero(self.webhooks, tenant_id, [(endpoint, updated, False)])
            return copy.deepcopy(updated)

    def delete(self, tenant_id: str, endpoint: str, source_id: str) -> dict[str, Any]:
        """Delete the way Xero does: Status DELETED, contacts ARCHIVED."""
        if endpoint == "Contacts":
            return self.update(tenant_id, endpoint, source_id, {"ContactStatus": "ARCHIVED"})
        if endpoint == "Accounts":
            return self.update(tenant_id, endpoint, source_id, {"Status": "ARCHIVED"})
        if ENDPOINTS[endpoint].status_field != "Status" or ENDPOINTS[endpoint].journal:
            raise ValueError(f"Xero has no deleted state for {endpoint} the API can show")
        return self.update(tenant_id, endpoint, source_id, {"Status": "DELETED"})

    def void(self, tenant_id: str, endpoint: str, source_id: str) -> dict[str, Any]:
        """Void a posted document (it stays, with Status VOIDED, and its journal is
        reversed)."""
        return self.update(tenant_id, endpoint, source_id, {"Status": "VOIDED"})

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock (UpdatedDateUTC of later writes) forward."""
        self.clock_utc.advance(seconds)

    def mutate_while_paging(
        self, tenant_id: str, endpoint: str, action: Callable[[], None], after_calls: int = 1
    ) -> None:
        """Run ``action`` once, right after the ``after_calls``-th list call of ``endpoint``
        for ``tenant_id`` has been answered (a record changing while a client pages)."""
        self._hooks.append(_PagingHook(tenant_id, endpoint, after_calls, action))


def _if_modified_since(value: str | None) -> dt.datetime | None:
    """Xero takes ``yyyy-mm-ddThh:mm:ss`` (UTC); HTTP dates (RFC 1123) are accepted too."""
    if not value:
        return None
    try:
        parsed = parse_date(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise ValueError(f"If-Modified-Since {value!r} is not a date") from None
    assert parsed is not None
    return parsed.astimezone(UTC)


def build(
    world: World,
    credentials: SandboxCredentials,
    *,
    limits: tuple[Limit, ...] = XERO_LIMITS,
    max_concurrent: int | None = XERO_CONCURRENT,
    clock: Callable[[], float] = time.monotonic,
    oauth_clock: Callable[[], float] = time.time,
    webhooks: WebhookSender | None = None,
) -> XeroSandbox:
    """The Xero sandbox over ``world`` (``PROVIDER_FACTORIES["xero"]``). Tests may pass
    other ``limits`` (a higher budget where limits are not the subject) and clocks."""
    oauth = OAuthServer(
        xero_oauth_config(credentials.client_id, credentials.client_secret), clock=oauth_clock
    )
    return XeroSandbox(
        world, oauth, limits=limits, max_concurrent=max_concurrent, clock=clock, webhooks=webhooks
    )
