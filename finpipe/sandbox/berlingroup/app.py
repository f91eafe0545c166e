"""The Berlin Group NextGenPSD2 (XS2A, AIS) sandbox provider over a world's bank data.

Served under ``<sandbox>/berlingroup`` with the specification's paths after it:

* ``POST /v1/consents`` (``access``, ``recurringIndicator``, ``validUntil``,
  ``frequencyPerDay``, ``combinedServiceIndicator``) -> ``201`` ``consentStatus: received``,
  ``consentId`` and ``_links`` ``scaOAuth`` / ``self`` / ``status``;
  ``GET /v1/consents/{consentId}``, ``GET .../status``, ``DELETE /v1/consents/{consentId}``.
* **OAuth2 SCA approach**: ``scaOAuth`` points at the authorisation server's RFC 8414
  metadata (``GET /.well-known/oauth-authorization-server``); the TPP runs the
  authorization-code flow with ``scope=AIS:<consentId>`` (``GET /oauth/authorize``,
  ``POST /oauth/token``). The sandbox approves at once for ``sandbox_company=<company id>``
  (it stands for the PSU authenticating at the bank) and the consent becomes ``valid``.
  Tokens are bound to the consent; refresh tokens rotate (one hour access tokens).
* AIS calls carry ``Authorization: Bearer``, ``Consent-ID`` and ``X-Request-ID`` (echoed):
  ``GET /v1/accounts[?withBalance]``, ``/v1/accounts/{id}``, ``/v1/accounts/{id}/balances``,
  ``/v1/accounts/{id}/transactions?bookingStatus=booked|pending|both&dateFrom&dateTo``
  (paged: ``_links.next`` carries ``page``) and ``/v1/accounts/{id}/transactions/{txId}``.
* ``frequencyPerDay``: accesses **without** ``PSU-IP-Address`` (PSU not present) are counted
  per consent, per account and per endpoint each (sandbox) day; follow-up pages of one
  report are not counted. Over the limit -> ``429 ACCESS_EXCEEDED`` without
  ``Retry-After`` (it resets at the next day). ASPSPs allow at most 4 (the RTS); more is
  lowered to 4, and a one-off consent (``recurringIndicator: false``) gets 1.
* ``validUntil`` is kept to at most 180 days ahead (``9999-12-31`` asks for the maximum);
  after it passes the consent is ``expired`` and AIS calls answer ``401 CONSENT_EXPIRED``.

Simplifications (documented, deliberate): the TPP identifies itself on the consent
endpoints with HTTP Basic client credentials instead of an eIDAS QWAC (mutual TLS) and no
request signature (``Digest``/``Signature``) is checked; only the OAuth SCA approach is
offered; card accounts are listed under ``/v1/accounts``; bank-offered consents (empty
access lists) are authorised for every account of the company.

Tests drive it through :class:`BerlinGroupSandbox` (``view`` is the
:class:`~finpipe.sandbox.bank_view.BankView`: ``advance``, ``remove``, ``modify``;
``revoke_consent``, ``expire_consent``; ``history_days`` makes an older ``dateFrom`` answer
``400 PERIOD_INVALID``; ``order="desc"`` lists report entries newest first) and the fault knobs of
:class:`~finpipe.sandbox.provider.ProviderSandbox` (5xx answers ``503 SERVICE_UNAVAILABLE``,
429 storms ``429 ACCESS_EXCEEDED`` with ``Retry-After``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import polars as pl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.berlingroup import errors
from finpipe.sandbox.berlingroup.render import (
    account_reference,
    render_account,
    render_balances,
    render_transaction,
)
from finpipe.sandbox.oauth_server import (
    OAuthServer,
    OAuthServerConfig,
    _Refresh,
    basic_auth_matches,
)
from finpipe.sandbox.provider import Limit, ProviderSandbox
from finpipe.sandbox.world import World

if TYPE_CHECKING:
    from finpipe.sandbox.server import SandboxCredentials

UTC = dt.UTC
PROVIDER = "berlingroup"
MAX_VALIDITY_DAYS = 180
MAX_FREQUENCY = 4
DEFAULT_PAGE_SIZE = 100
# A generous gateway limit per consent (NextGenPSD2 publishes none besides frequencyPerDay).
BERLINGROUP_LIMITS: tuple[Limit, ...] = (Limit("second", 50, 1.0),)
SERVICES = ("accounts", "balances", "transactions")
GLOBAL = ("allAccounts", "allAccountsWithOwnerName")
DEAD = {"rejected", "revokedByPsu", "expired", "terminatedByTpp"}


def berlingroup_oauth_config(client_id: str, client_secret: str) -> OAuthServerConfig:
    """The ASPSP's authorisation server: access tokens 1 h, refresh tokens rotate and live
    as long as the longest consent (180 days)."""
    return OAuthServerConfig(
        provider=PROVIDER,
        client_id=client_id,
        client_secret=client_secret,
        access_ttl=3600,
        refresh_ttl=MAX_VALIDITY_DAYS * 86_400,
        grace_seconds=0,
        report_refresh_expiry=False,
    )


@dataclass
class Consent:
    """One AIS consent resource."""

    consent_id: str
    access: dict[str, Any]
    recurring: bool
    valid_until: dt.date
    frequency: int
    combined: bool
    status: str = "received"
    company_id: str | None = None
    # service (accounts | balances | transactions) -> account ids, set when authorised
    grants: dict[str, set[str]] = field(default_factory=dict)
    last_action: dt.date | None = None


class ConsentStore:
    """The consents of the sandbox, their lifecycle and their daily access counts."""

    def __init__(self, view: BankView) -> None:
        self.view = view
        self.consents: dict[str, Consent] = {}
        self.usage: dict[tuple[str, str, str, dt.date], int] = defaultdict(int)
        self.lock = threading.Lock()

    def today(self) -> dt.date:
        return self.view.now().date()

    def get(self, consent_id: str) -> Consent | None:
        """The consent with its status brought up to date (``valid`` -> ``expired``)."""
        with self.lock:
            consent = self.consents.get(consent_id)
            expired = consent is not None and self.today() > consent.valid_until
            if consent is not None and consent.status == "valid" and expired:
                consent.status = "expired"
            return consent

    def authorise(self, consent: Consent, company_id: str) -> str | None:
        """The PSU of ``company_id`` approves; returns why not, or None."""
        accounts = self.view.accounts_of(company_id)
        if consent.status != "received":
            return f"consent {consent.consent_id} is {consent.status}, not awaiting authorisation"
        if accounts.is_empty():
            return f"company {company_id} holds no account at this ASPSP"
        grants = resolve_access(consent.access, accounts.to_dicts())
        if not any(grants.values()):
            consent.status = "rejected"
            return "none of the requested accounts belongs to the PSU"
        with self.lock:
            consent.company_id = company_id
            consent.grants = grants
            consent.status = "valid"
        return None

    def count_access(self, consent: Consent, account: str, endpoint: str) -> int:
        """Record one PSU-not-present access today; returns the count including it."""
        key = (consent.consent_id, account, endpoint, self.today())
        with self.lock:
            self.usage[key] += 1
            return self.usage[key]

    def accesses(self, consent: Consent, account: str, endpoint: str) -> int:
        with self.lock:
            return self.usage.get((consent.consent_id, account, endpoint, self.today()), 0)


def resolve_access(access: dict[str, Any], accounts: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Which services reach which of the PSU's accounts under ``access``."""
    every = {a["bank_account_id"] for a in accounts}
    grants: dict[str, set[str]] = {s: set() for s in SERVICES}
    if access.get("allPsd2") in GLOBAL:
        return {s: set(every) for s in SERVICES}
    if access.get("availableAccounts") in GLOBAL:
        grants["accounts"] = set(every)
    if access.get("availableAccountsWithBalance") in GLOBAL:
        grants["accounts"] = set(every)
        grants["balances"] = set(every)
    for service in SERVICES:
        refs = access.get(service)
        if refs is None:
            continue
        if refs == []:
            chosen = set(every)  # bank-offered consent: the PSU picks every account
        else:
            chosen = {a["bank_account_id"] for a in accounts if _matches(a, refs)}
        grants[service] |= chosen
        grants["accounts"] |= chosen  # balances/transactions imply the account itself
    return grants


def _matches(account: dict[str, Any], refs: list[Any]) -> bool:
    own = account_reference(account)
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        if ref.get("currency") and ref["currency"] != account["currency"]:
            continue
        for kind in ("iban", "bban", "maskedPan", "pan"):
            if ref.get(kind) and ref[kind] in (own.get(kind), own.get("maskedPan")):
                return True
    return False


class BerlinGroupOAuth(OAuthServer):
    """The ASPSP's OAuth2 server in the SCA approach: the grant is one consent
    (``scope=AIS:<consentId>``), the token's subject is the consent id."""

    def __init__(
        self,
        config: OAuthServerConfig,
        consents: ConsentStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, clock)
        self.consents = consents

    async def metadata(self, request: Request) -> Response:
        """RFC 8414 authorisation server metadata (what ``scaOAuth`` points at)."""
        base = api_root(request, "/.well-known/oauth-authorization-server")
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["AIS:<consentId>"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        """``GET oauth/authorize?response_type=code&client_id&redirect_uri&scope=AIS:<id>``.
        ``sandbox_company`` stands for the PSU logging in and approving."""
        q = request.query_params
        if q.get("client_id") != self.config.client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        redirect = q.get("redirect_uri")
        if q.get("response_type") != "code" or not redirect:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        scopes = [s for s in q.get("scope", "").split() if s.startswith("AIS:")]
        consent = self.consents.get(scopes[0][4:]) if scopes else None
        if consent is None:
            return JSONResponse(
                {
                    "error": "invalid_scope",
                    "error_description": "scope must be AIS:<consentId> of a created consent",
                },
                status_code=400,
            )
        return self.approve(
            q,
            redirect,
            subject=lambda company: consent.consent_id,
            authorise=lambda company: self.consents.authorise(consent, company),
        )

    def token_state(self, authorization: str) -> tuple[str, str | None]:
        """(``ok`` | ``expired`` | ``unknown``, consent id) of a ``Bearer`` header."""
        if not authorization.startswith("Bearer "):
            return "unknown", None
        with self._lock:
            entry = self._access.get(authorization[7:])
        if entry is None:
            return "unknown", None
        if entry[1] <= self.clock():
            return "expired", entry[0]
        return "ok", entry[0]

    def _refresh_usable(self, state: _Refresh, now: float) -> bool:
        consent = self.consents.get(state.subject)
        if consent is None or consent.status != "valid":
            return False  # a dead consent cannot be refreshed back to life
        return super()._refresh_usable(state, now)

    def _issue(self, subject: str, now: float) -> dict[str, object]:
        return {**super()._issue(subject, now), "scope": f"AIS:{subject}"}

    def _reissue(self, state: _Refresh, now: float) -> dict[str, object]:
        return {**super()._reissue(state, now), "scope": f"AIS:{state.subject}"}


class BerlinGroupSandbox(ProviderSandbox):
    """NextGenPSD2 AIS over the world's ``berlingroup`` bank data."""

    name = PROVIDER

    def __init__(
        self,
        world: World,
        view: BankView,
        consents: ConsentStore,
        oauth: BerlinGroupOAuth,
        credentials: SandboxCredentials,
        *,
        limits: tuple[Limit, ...] = BERLINGROUP_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = DEFAULT_PAGE_SIZE,
        order: str = "asc",
    ) -> None:
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        super().__init__(oauth, limits, None, clock)
        self.world = world
        self.view = view
        self.consents = consents
        self.bg_oauth = oauth
        self.credentials = credentials
        self.page_size = page_size
        # Knob: the order of report entries. NextGenPSD2 fixes none; many ASPSPs answer
        # newest first ("desc"); the default is statement order ("asc").
        self.order = order
        # Knob: days of history served without the PSU (None: everything); an older
        # dateFrom answers 400 PERIOD_INVALID, as ASPSPs limiting history do.
        self.history_days: int | None = None
        companies = view.companies.select("company_id", "name").rows()
        self.owner_names: dict[str, str] = dict(companies)

    # ------------------------------------------------------------ base overrides

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/.well-known/oauth-authorization-server", self.bg_oauth.metadata),
            Route("/oauth/authorize", self.bg_oauth.authorize, methods=["GET"]),
            Route("/oauth/token", self.bg_oauth.token, methods=["POST"]),
            Route("/v1/consents", self._create_consent, methods=["POST"]),
            Route("/v1/consents/{consent_id}", self._consent, methods=["GET", "DELETE"]),
            Route("/v1/consents/{consent_id}/status", self._consent_status, methods=["GET"]),
            Route("/v1/accounts", self._accounts, methods=["GET"]),
            Route("/v1/accounts/{account_id}", self._account, methods=["GET"]),
            Route("/v1/accounts/{account_id}/balances", self._balances, methods=["GET"]),
            Route("/v1/accounts/{account_id}/transactions", self._transactions, methods=["GET"]),
            Route(
                "/v1/accounts/{account_id}/transactions/{transaction_id}",
                self._transaction,
                methods=["GET"],
            ),
        ]

    def unauthorized(self, request: Request) -> Response:
        return errors.tpp_error(401, "TOKEN_INVALID", "The OAuth token is not valid.")

    def rate_limited(self, limit: Limit, retry_after: int) -> Response:
        return errors.access_exceeded(
            "Too many requests: the ASPSP throttles this consent for now.", retry_after
        )

    def server_error(self) -> Response:
        return errors.service_unavailable()

    async def authenticate(self, request: Request, tenant: str) -> Response | None:
        """``tenant`` is the ``Consent-ID``: the consent must exist and be ``valid`` and the
        bearer token must have been issued for it."""
        consent = self.consents.get(tenant)
        if consent is None:
            return errors.tpp_error(403, "CONSENT_UNKNOWN", f"Consent {tenant} is unknown.")
        if consent.status == "expired":
            return errors.tpp_error(
                401,
                "CONSENT_EXPIRED",
                f"The consent {tenant} expired on {consent.valid_until.isoformat()}.",
            )
        if consent.status != "valid":
            return errors.tpp_error(
                401,
                "CONSENT_INVALID",
                f"The consent {tenant} is {consent.status}; it cannot be used for AIS.",
            )
        state, subject = self.bg_oauth.token_state(request.headers.get("authorization", ""))
        if state == "expired":
            return errors.tpp_error(401, "TOKEN_EXPIRED", "The OAuth token has expired.")
        if state != "ok":
            return errors.tpp_error(401, "TOKEN_INVALID", "The OAuth token is not valid.")
        if subject != tenant:
            return errors.tpp_error(
                401, "CONSENT_INVALID", "The OAuth token was not issued for this consent."
            )
        return None

    # ------------------------------------------------------------------ helpers

    def _tpp_ok(self, request: Request) -> bool:
        """The TPP's identity on the consent endpoints (HTTP Basic stands in for the QWAC)."""
        return basic_auth_matches(
            request.headers.get("authorization", ""),
            self.credentials.client_id,
            self.credentials.client_secret,
        )

    @staticmethod
    def _echo(response: Response, request_id: str | None) -> Response:
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response

    async def _tpp_call(self, request: Request, handler: Callable[[], Any]) -> Response:
        """Consent endpoints: X-Request-ID and the TPP's identity, then ``handler``."""
        request_id = request.headers.get("x-request-id")
        if not request_id:
            return errors.format_error("The header X-Request-ID is missing.")
        if not self._tpp_ok(request):
            response: Response = errors.tpp_error(
                401,
                "CERTIFICATE_MISSING",
                "No TPP identity: the sandbox takes HTTP Basic client credentials in place "
                "of the eIDAS QWAC.",
            )
        else:
            response = await handler()
        return self._echo(response, request_id)

    async def _ais(
        self,
        request: Request,
        endpoint: str,
        account_id: str | None,
        handler: Callable[[Consent], Response],
        counted: bool = True,
    ) -> Response:
        """An AIS call: headers, consent + token (:meth:`authenticate`), faults and limits
        (:meth:`meter`), the consent's coverage, then frequencyPerDay, then ``handler``."""
        request_id = request.headers.get("x-request-id")
        if not request_id:
            return errors.format_error("The header X-Request-ID is missing.")
        consent_id = request.headers.get("consent-id")
        if not consent_id:
            return self._echo(errors.format_error("The header Consent-ID is missing."), request_id)
        refused = await self.admit(request, consent_id)
        if refused is not None:
            return self._echo(refused, request_id)
        try:
            consent = self.consents.get(consent_id)
            assert consent is not None
            service = {"account": "accounts", "transactionDetails": "transactions"}.get(
                endpoint, endpoint
            )
            if account_id is not None:
                if self.view.account(account_id) is None or account_id not in consent.grants.get(
                    "accounts", set()
                ):
                    return self._echo(
                        errors.tpp_error(
                            403, "RESOURCE_UNKNOWN", f"Account {account_id} is unknown."
                        ),
                        request_id,
                    )
                if account_id not in consent.grants.get(service, set()):
                    return self._echo(
                        errors.tpp_error(
                            401,
                            "CONSENT_INVALID",
                            f"The consent does not cover {service} of account {account_id}.",
                        ),
                        request_id,
                    )
            psu_present = bool(request.headers.get("psu-ip-address"))
            if counted and not psu_present:
                target = account_id or "*"
                if self.consents.accesses(consent, target, endpoint) >= consent.frequency:
                    tomorrow = self.consents.today() + dt.timedelta(days=1)
                    return self._echo(
                        errors.access_exceeded(
                            f"frequencyPerDay {consent.frequency} reached for {endpoint} of "
                            f"{account_id or 'the account list'} on "
                            f"{self.consents.today().isoformat()}; accesses without the PSU "
                            f"resume at {tomorrow.isoformat()}T00:00:00Z."
                        ),
                        request_id,
                    )
                self.consents.count_access(consent, target, endpoint)
            consent.last_action = self.consents.today()
            return self._echo(handler(consent), request_id)
        finally:
            self.release(consent_id)

    def _account_row(self, account_id: str) -> dict[str, Any]:
        row = self.view.account(account_id)
        assert row is not None
        return row

    def _render_account(self, consent: Consent, account_id: str, with_balance: bool) -> dict:
        row = self._account_row(account_id)
        services = {s for s, ids in consent.grants.items() if account_id in ids}
        balances = None
        if with_balance and "balances" in services:
            balances = render_balances(row, self.view.lines(account_id), self.consents.today())
        owner = self.owner_names.get(row["company_id"], "")
        return render_account(row, owner, services, balances)

    # ------------------------------------------------------------------ consents

    async def _create_consent(self, request: Request) -> Response:
        async def create() -> Response:
            try:
                body = json.loads(await request.body() or b"null")
            except ValueError:
                return errors.format_error("The request body is not valid JSON.")
            consent = self._parse_consent(body)
            if isinstance(consent, Response):
                return consent
            with self.consents.lock:
                self.consents.consents[consent.consent_id] = consent
            base = api_root(request, "/v1/consents")
            cid = consent.consent_id
            return JSONResponse(
                {
                    "consentStatus": consent.status,
                    "consentId": cid,
                    "_links": {
                        "scaOAuth": {"href": f"{base}/.well-known/oauth-authorization-server"},
                        "self": {"href": f"/v1/consents/{cid}"},
                        "status": {"href": f"/v1/consents/{cid}/status"},
                    },
                },
                status_code=201,
                headers={"Location": f"/v1/consents/{cid}", "ASPSP-SCA-Approach": "OAUTH"},
            )

        return await self._tpp_call(request, create)

    def _parse_consent(self, body: Any) -> Consent | Response:
        if not isinstance(body, dict):
            return errors.format_error("The consent request body must be a JSON object.")
        access = body.get("access")
        if not isinstance(access, dict) or not access:
            return errors.format_error("access is missing or not an object.")
        for service in SERVICES:
            if service in access and not isinstance(access[service], list):
                return errors.format_error(f"access.{service} must be a list of accounts.")
        for key in ("allPsd2", "availableAccounts", "availableAccountsWithBalance"):
            if key in access and access[key] not in GLOBAL:
                return errors.format_error(f"access.{key} must be 'allAccounts'.")
        recurring = _boolean(body.get("recurringIndicator"))
        if recurring is None:
            return errors.format_error("recurringIndicator is missing or not a boolean.")
        combined = _boolean(body.get("combinedServiceIndicator", False))
        if combined is None:
            return errors.format_error("combinedServiceIndicator is not a boolean.")
        try:
            valid_until = dt.date.fromisoformat(str(body.get("validUntil")))
        except ValueError:
            return errors.format_error("validUntil is missing or not an ISO date (YYYY-MM-DD).")
        today = self.consents.today()
        if valid_until < today:
            return errors.format_error(f"validUntil {valid_until} lies in the past.")
        try:
            frequency = int(str(body.get("frequencyPerDay")))
        except ValueError:
            return errors.format_error("frequencyPerDay is missing or not an integer.")
        if frequency < 1:
            return errors.format_error("frequencyPerDay must be at least 1.")
        return Consent(
            consent_id=str(uuid.uuid4()),
            access=access,
            recurring=recurring,
            valid_until=min(valid_until, today + dt.timedelta(days=MAX_VALIDITY_DAYS)),
            frequency=min(frequency, MAX_FREQUENCY) if recurring else 1,
            combined=combined,
        )

    async def _consent(self, request: Request) -> Response:
        consent_id = request.path_params["consent_id"]

        async def handle() -> Response:
            consent = self.consents.get(consent_id)
            if consent is None:
                return errors.tpp_error(403, "CONSENT_UNKNOWN", f"Consent {consent_id} is unknown.")
            if request.method == "DELETE":
                with self.consents.lock:
                    if consent.status not in DEAD:
                        consent.status = "terminatedByTpp"
                self.oauth.revoke(consent_id)
                return Response(status_code=204)
            return JSONResponse(self._consent_body(consent))

        return await self._tpp_call(request, handle)

    def _consent_body(self, consent: Consent) -> dict[str, Any]:
        access = dict(consent.access)
        if consent.grants and any(
            k in access for k in ("allPsd2", "availableAccounts", "availableAccountsWithBalance")
        ):
            # After authorisation the ASPSP names the accounts a global consent reaches.
            for service in SERVICES:
                ids = sorted(consent.grants.get(service, ()))
                if ids:
                    access[service] = [account_reference(self._account_row(i)) for i in ids]
        body: dict[str, Any] = {
            "access": access,
            "recurringIndicator": consent.recurring,
            "validUntil": consent.valid_until.isoformat(),
            "frequencyPerDay": consent.frequency,
            "lastActionDate": (consent.last_action or self.consents.today()).isoformat(),
            "consentStatus": consent.status,
        }
        if consent.status == "valid":
            body["_links"] = {"account": {"href": "/v1/accounts"}}
        return body

    async def _consent_status(self, request: Request) -> Response:
        consent_id = request.path_params["consent_id"]

        async def handle() -> Response:
            consent = self.consents.get(consent_id)
            if consent is None:
                return errors.tpp_error(403, "CONSENT_UNKNOWN", f"Consent {consent_id} is unknown.")
            return JSONResponse({"consentStatus": consent.status})

        return await self._tpp_call(request, handle)

    # ------------------------------------------------------------------ AIS

    async def _accounts(self, request: Request) -> Response:
        with_balance = request.query_params.get("withBalance") == "true"

        def handle(consent: Consent) -> Response:
            ids = sorted(consent.grants.get("accounts", ()))
            return JSONResponse(
                {"accounts": [self._render_account(consent, i, with_balance) for i in ids]}
            )

        return await self._ais(request, "accounts", None, handle)

    async def _account(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        with_balance = request.query_params.get("withBalance") == "true"

        def handle(consent: Consent) -> Response:
            return JSONResponse(
                {"account": self._render_account(consent, account_id, with_balance)}
            )

        return await self._ais(request, "account", account_id, handle)

    async def _balances(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]

        def handle(consent: Consent) -> Response:
            row = self._account_row(account_id)
            lines = self.view.lines(account_id)
            return JSONResponse(
                {
                    "account": account_reference(row),
                    "balances": render_balances(row, lines, self.consents.today()),
                }
            )

        return await self._ais(request, "balances", account_id, handle)

    async def _transactions(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        query = self._report_query(request.query_params)
        if isinstance(query, Response):
            return self._echo(query, request.headers.get("x-request-id"))
        status, date_from, date_to, page = query
        with_balance = request.query_params.get("withBalance") == "true"

        def handle(consent: Consent) -> Response:
            return JSONResponse(
                self._report(account_id, status, date_from, date_to, page, with_balance)
            )

        # Further pages of one report are not separate accesses.
        return await self._ais(request, "transactions", account_id, handle, counted=page == 1)

    def _report_query(self, q: Any) -> tuple[str, dt.date, dt.date | None, int] | Response:
        """bookingStatus, dateFrom, dateTo and page of a transactions call, or the error."""
        status = q.get("bookingStatus")
        if status is None:
            return errors.format_error("The query parameter bookingStatus is missing.")
        if status not in ("booked", "pending", "both"):
            return errors.tpp_error(
                400, "PARAMETER_NOT_SUPPORTED", f"bookingStatus {status!r} is not supported."
            )
        if q.get("deltaList") or q.get("entryReferenceFrom"):
            return errors.tpp_error(
                400, "PARAMETER_NOT_SUPPORTED", "Delta reports are not supported."
            )
        try:
            date_from = dt.date.fromisoformat(q["dateFrom"]) if "dateFrom" in q else None
            date_to = dt.date.fromisoformat(q["dateTo"]) if "dateTo" in q else None
            page = int(q.get("page", "1"))
        except ValueError:
            return errors.format_error("dateFrom/dateTo must be ISO dates, page an integer.")
        if date_from is None:
            return errors.format_error("The query parameter dateFrom is missing.")
        if date_to is not None and date_to < date_from:
            return errors.tpp_error(400, "PERIOD_INVALID", "dateTo lies before dateFrom.")
        if page < 1:
            return errors.format_error("page must be 1 or more.")
        if self.history_days is not None:
            oldest = self.consents.today() - dt.timedelta(days=self.history_days)
            if date_from < oldest:
                return errors.tpp_error(
                    400,
                    "PERIOD_INVALID",
                    f"dateFrom {date_from} lies before {oldest}: this ASPSP reports "
                    f"{self.history_days} days of history.",
                )
        return status, date_from, date_to, page

    def _report(
        self,
        account_id: str,
        status: str,
        date_from: dt.date,
        date_to: dt.date | None,
        page: int,
        with_balance: bool,
    ) -> dict[str, Any]:
        row = self._account_row(account_id)
        lines = self.view.lines(account_id)
        day = pl.coalesce("value_date", "booked_date")
        booked = lines.filter((pl.col("status") == "booked") & (pl.col("booked_date") >= date_from))
        pending = lines.filter((pl.col("status") == "pending") & (day >= date_from))
        if date_to is not None:
            booked = booked.filter(pl.col("booked_date") <= date_to)
            pending = pending.filter(day <= date_to)
        entries: list[dict[str, Any]] = []
        if status in ("booked", "both"):
            entries += booked.to_dicts()
        if status in ("pending", "both"):
            entries += pending.to_dicts()
        if self.order == "desc":
            entries.reverse()  # newest first: pending, then booked from the latest day back
        size = self.page_size
        pages = max(1, -(-len(entries) // size))
        chunk = entries[(page - 1) * size : page * size]
        report: dict[str, Any] = {}
        if status in ("booked", "both"):
            report["booked"] = [
                render_transaction(e, account_id) for e in chunk if e["status"] == "booked"
            ]
        if status in ("pending", "both"):
            report["pending"] = [
                render_transaction(e, account_id) for e in chunk if e["status"] == "pending"
            ]
        params = {"bookingStatus": status, "dateFrom": date_from.isoformat()}
        if date_to is not None:
            params["dateTo"] = date_to.isoformat()
        path = f"/v1/accounts/{account_id}/transactions"

        def href(n: int) -> dict[str, str]:
            return {"href": f"{path}?{urlencode({**params, 'page': n})}"}

        links: dict[str, Any] = {"account": {"href": f"/v1/accounts/{account_id}"}}
        links["first"] = href(1)
        if page > 1:
            links["previous"] = href(page - 1)
        if page < pages:
            links["next"] = href(page + 1)
        links["last"] = href(pages)
        report["_links"] = links
        body: dict[str, Any] = {"account": account_reference(row), "transactions": report}
        if with_balance:
            body["balances"] = render_balances(row, lines, self.consents.today())
        return body

    async def _transaction(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        transaction_id = request.path_params["transaction_id"]

        def handle(consent: Consent) -> Response:
            lines = self.view.lines(account_id).filter(pl.col("line_id") == transaction_id)
            if lines.is_empty():
                return errors.tpp_error(
                    404, "RESOURCE_UNKNOWN", f"Transaction {transaction_id} is unknown."
                )
            body = render_transaction(lines.row(0, named=True), account_id)
            body.pop("_links", None)
            return JSONResponse({"transactionsDetails": body})

        return await self._ais(request, "transactionDetails", account_id, handle)

    # ------------------------------------------------------------------ test API

    def advance(self, seconds: float) -> None:
        """Move the bank's clock (new lines appear, pending lines post, consents expire)."""
        self.view.advance(seconds)

    def revoke_consent(self, consent_id: str) -> None:
        """The PSU withdraws the consent at the bank (``revokedByPsu``)."""
        consent = self.consents.get(consent_id)
        if consent is None:
            raise KeyError(f"no consent {consent_id}")
        with self.consents.lock:
            consent.status = "revokedByPsu"
        self.oauth.revoke(consent_id)

    def expire_consent(self, consent_id: str) -> None:
        """Make ``validUntil`` yesterday: the next access finds the consent expired."""
        consent = self.consents.get(consent_id)
        if consent is None:
            raise KeyError(f"no consent {consent_id}")
        with self.consents.lock:
            consent.valid_until = self.consents.today() - dt.timedelta(days=1)

    def consents_of(self, company_id: str) -> list[Consent]:
        with self.consents.lock:
            return [c for c in self.consents.consents.values() if c.company_id == company_id]


def api_root(request: Request, route: str) -> str:
    """The absolute URL of the API root (``.../berlingroup``) this call was made under."""
    url = str(request.url.replace(query=""))
    return url[: -len(route)] if url.endswith(route) else url.rstrip("/")


def _boolean(value: Any) -> bool | None:
    # The specification's own examples send "true"/"false" as strings.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    return None


def build(
    world: World,
    credentials: SandboxCredentials,
    *,
    start: dt.datetime | None = None,
    limits: tuple[Limit, ...] = BERLINGROUP_LIMITS,
    page_size: int = DEFAULT_PAGE_SIZE,
    clock: Callable[[], float] = time.monotonic,
    oauth_clock: Callable[[], float] = time.time,
    order: str = "asc",
) -> BerlinGroupSandbox:
    """The Berlin Group sandbox over ``world`` (``PROVIDER_FACTORIES["berlingroup"]``).
    ``start`` sets the bank's clock (default: the day after the world's last day, 09:00 UTC);
    tests may pass a smaller ``page_size``, other ``limits``/clocks and ``order="desc"``
    (report entries newest first)."""
    view = BankView(world, PROVIDER, start=start)
    consents = ConsentStore(view)
    oauth = BerlinGroupOAuth(
        berlingroup_oauth_config(credentials.client_id, credentials.client_secret),
        consents,
        clock=oauth_clock,
    )
    return BerlinGroupSandbox(
        world,
        view,
        consents,
        oauth,
        credentials,
        limits=limits,
        clock=clock,
        page_size=page_size,
        order=order,
    )
