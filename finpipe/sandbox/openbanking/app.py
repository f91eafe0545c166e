"""The UK Open Banking sandbox (OBIE Read/Write API, Account Information v3.1).

Served under ``<sandbox>/openbanking`` with OBIE's paths after it:

* ``POST /oauth2/token``: ``client_credentials`` (scope ``accounts``) for consent set-up,
  ``authorization_code`` and rotating ``refresh_token`` for the consent-bound tokens;
  ``GET /oauth2/authorize`` with ``request=<JWT>`` naming the consent
  (``openbanking_intent_id``; see :mod:`.oauth`). Access tokens live one hour.
* ``POST /open-banking/v3.1/aisp/account-access-consents`` (OBReadConsent1 ->
  OBReadConsentResponse1, 201), ``GET`` / ``DELETE .../account-access-consents/{ConsentId}``.
  A consent lives at most 90 days (ExpirationDateTime is capped there); once it has
  expired, resource calls answer 401 without a body and refreshes ``invalid_grant``.
* ``GET .../accounts``, ``.../accounts/{AccountId}``, ``.../accounts/{AccountId}/balances``,
  ``.../accounts/{AccountId}/transactions?fromBookingDateTime&toBookingDateTime``
  (OBReadTransaction6, 100 a page, ``Links`` Self/First/Prev/Next/Last, ``Meta.TotalPages``);
  statement order, or newest first with the ``order="desc"`` knob (OBIE fixes no order).
* Every answer echoes ``x-fapi-interaction-id`` (or makes one); errors are
  ``OBErrorResponse1``; an unknown resource id is 400 ``UK.OBIE.Resource.NotFound``.

**Unattended access.** A call without ``x-fapi-customer-ip-address`` is unattended (the PSU
is not present). One *pull* is the first-page read of one resource of the consent
(``/accounts``, an account, its balances, its transactions); the pages reached by following
``Links.Next`` of that read carry its ``pull`` token and do not count again. Each resource
of a consent may be pulled unattended 4 times in any 24 hours of the bank's clock, so one
full refresh of a consent (accounts, then each account's balances and transactions) is one
of its four daily pulls. The fifth answers 429 with ``Retry-After`` (seconds until a pull
leaves the window). Attended calls are not limited this way.

Data comes from :class:`~finpipe.sandbox.bank_view.BankView` at the bank's clock.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from finpipe.connectors.openbanking.codes import (
    API_PREFIX,
    AUTHORIZE_PATH,
    BICS,
    TOKEN_PATH,
    exponent,
    long_btc,
)
from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.oauth_server import OAuthServerConfig
from finpipe.sandbox.openbanking import errors
from finpipe.sandbox.openbanking.oauth import CLIENT_SUBJECT, OpenBankingOAuthServer
from finpipe.sandbox.provider import Limit, ProviderSandbox
from finpipe.sandbox.world import World

if TYPE_CHECKING:
    from finpipe.sandbox.server import SandboxCredentials

UTC = dt.UTC
PROVIDER = "openbanking"
PAGE_SIZE = 100
CONSENT_DAYS = 90
UNATTENDED_PULLS = 4
PULL_WINDOW = dt.timedelta(hours=24)
# Fair-usage limit per consent on top of the unattended-pull rule.
OPENBANKING_LIMITS: tuple[Limit, ...] = (Limit("minute", 600, 60.0),)

PERMISSIONS = frozenset(
    {
        "ReadAccountsBasic",
        "ReadAccountsDetail",
        "ReadBalances",
        "ReadBeneficiariesBasic",
        "ReadBeneficiariesDetail",
        "ReadDirectDebits",
        "ReadOffers",
        "ReadPAN",
        "ReadParty",
        "ReadPartyPSU",
        "ReadProducts",
        "ReadScheduledPaymentsBasic",
        "ReadScheduledPaymentsDetail",
        "ReadStandingOrdersBasic",
        "ReadStandingOrdersDetail",
        "ReadStatementsBasic",
        "ReadStatementsDetail",
        "ReadTransactionsBasic",
        "ReadTransactionsCredits",
        "ReadTransactionsDebits",
        "ReadTransactionsDetail",
    }
)
SUB_TYPES = {"checking": "CurrentAccount", "savings": "Savings", "credit_card": "CreditCard"}


def iso(instant: dt.datetime) -> str:
    """ISO 8601 with the timezone, as OBIE answers carry it."""
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def day_start(day: dt.date) -> dt.datetime:
    # OBIE: "where time elements do not exist ... defaulted to 00:00:00+00:00".
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)


def money(minor: int, currency: str) -> dict[str, str]:
    """Unsigned amount string with the currency's decimals (OBActiveOrHistoricCurrencyAndAmount)."""
    places = exponent(currency)
    value = Decimal(abs(int(minor))).scaleb(-places)
    return {"Amount": f"{value:.{places}f}", "Currency": currency}


def signed_balance(minor: int, currency: str, kind: str) -> dict[str, Any]:
    return {
        "Amount": money(minor, currency),
        "CreditDebitIndicator": "Credit" if minor >= 0 else "Debit",  # zero is a credit
        "Type": kind,
    }


def parse_filter_datetime(value: str) -> dt.datetime:
    """A query-string ISODateTime; a timezone, if given, is ignored (OBIE filtering rule)."""
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC)


@dataclass
class Consent:
    consent_id: str
    permissions: list[str]
    created: dt.datetime
    expires: dt.datetime
    tx_from: dt.datetime | None
    tx_to: dt.datetime | None
    status: str = "AwaitingAuthorisation"
    status_updated: dt.datetime | None = None
    company_id: str | None = None
    deleted: bool = False
    pulls: dict[str, deque[dt.datetime]] = field(default_factory=lambda: defaultdict(deque))

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ConsentId": self.consent_id,
            "Status": self.status,
            "StatusUpdateDateTime": iso(self.status_updated or self.created),
            "CreationDateTime": iso(self.created),
            "Permissions": list(self.permissions),
            "ExpirationDateTime": iso(self.expires),
        }
        if self.tx_from is not None:
            data["TransactionFromDateTime"] = iso(self.tx_from)
        if self.tx_to is not None:
            data["TransactionToDateTime"] = iso(self.tx_to)
        return data


class OpenBankingSandbox(ProviderSandbox):
    """OBIE AIS over the world's Open Banking companies (one consent per authorisation)."""

    name = PROVIDER

    def __init__(
        self,
        world: World,
        credentials: SandboxCredentials,
        *,
        start: dt.datetime | None = None,
        limits: tuple[Limit, ...] = OPENBANKING_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        access_ttl: int = 3600,
        order: str = "asc",
    ) -> None:
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        self.bank = BankView(world, PROVIDER, start=start)
        # Knob: the transaction order of /transactions. OBIE fixes none; many banks answer
        # newest first ("desc"), the sandbox's default is statement order ("asc").
        self.order = order
        self.client_id = credentials.client_id
        oauth = OpenBankingOAuthServer(
            OAuthServerConfig(
                provider=PROVIDER,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                access_ttl=access_ttl,
                refresh_ttl=CONSENT_DAYS * 86_400,
                report_refresh_expiry=False,
            ),
            authorise=self._authorise,
            consent_usable=self._unusable_reason,
        )
        super().__init__(oauth, limits, None, clock)
        self.consents: dict[str, Consent] = {}
        self._pages: dict[str, tuple[str, str]] = {}  # pull token -> (consent id, resource)
        self._consent_lock = threading.Lock()
        self.pull_rejections = 0

    # ------------------------------------------------------------ base overrides

    def routes(self) -> list[BaseRoute]:
        p = API_PREFIX
        return [
            Route(AUTHORIZE_PATH, self.oauth.authorize, methods=["GET"]),
            Route(TOKEN_PATH, self.oauth.token, methods=["POST"]),
            Route(f"{p}/account-access-consents", self._create_consent, methods=["POST"]),
            Route(
                f"{p}/account-access-consents/{{consent_id}}",
                self._consent,
                methods=["GET", "DELETE"],
            ),
            Route(f"{p}/accounts", self._accounts, methods=["GET"]),
            Route(f"{p}/accounts/{{account_id}}", self._accounts, methods=["GET"]),
            Route(f"{p}/accounts/{{account_id}}/balances", self._balances, methods=["GET"]),
            Route(f"{p}/accounts/{{account_id}}/transactions", self._transactions, methods=["GET"]),
        ]

    def unauthorized(self, request: Request) -> Response:
        return errors.unauthorized()

    def rate_limited(self, limit: Limit, retry_after: int) -> Response:
        return errors.too_many(f"more than {limit.calls} calls per {limit.name}", retry_after)

    def server_error(self) -> Response:
        return errors.unexpected()

    async def authenticate(self, request: Request, tenant: str) -> Response | None:
        """A consent-bound token of an authorised, unexpired consent (``tenant``)."""
        subject = self.oauth.subject_of(request.headers.get("authorization", ""))
        if subject is None:
            return errors.unauthorized()
        if subject.startswith(CLIENT_SUBJECT):
            return errors.forbidden(
                "UK.OBIE.Resource.InvalidConsentStatus",
                "a client-credentials token cannot read account data: authorise a consent",
            )
        if subject != tenant or self._unusable_reason(subject) is not None:
            return errors.unauthorized()  # expired / deleted consent: 401 without a body
        return None

    # ------------------------------------------------------------- consents

    def now(self) -> dt.datetime:
        return self.bank.now()

    def _authorise(self, consent_id: str, company_id: str) -> str | None:
        with self._consent_lock:
            consent = self.consents.get(consent_id)
            if consent is None or consent.deleted:
                return f"unknown consent {consent_id}"
            if consent.status != "AwaitingAuthorisation":
                return f"consent {consent_id} is {consent.status}, not AwaitingAuthorisation"
            if consent.expires <= self.now():
                return f"consent {consent_id} expired before it was authorised"
            consent.status_updated = self.now()
            if self.bank.accounts_of(company_id).is_empty():
                consent.status = "Rejected"
                return f"company {company_id} has no accounts at this bank"
            consent.status = "Authorised"
            consent.company_id = company_id
        return None

    def _unusable_reason(self, consent_id: str) -> str | None:
        consent = self.consents.get(consent_id)
        if consent is None or consent.deleted:
            return f"consent {consent_id} was deleted"
        if consent.status != "Authorised":
            return f"consent {consent_id} is {consent.status}"
        if consent.expires <= self.now():
            return f"consent {consent_id} expired at {iso(consent.expires)}"
        return None

    def expire_consent(self, consent_id: str) -> None:
        """Test knob: the consent's ExpirationDateTime is now."""
        with self._consent_lock:
            self.consents[consent_id].expires = self.now() - dt.timedelta(seconds=1)

    def _client_token(self, request: Request) -> Response | None:
        subject = self.oauth.subject_of(request.headers.get("authorization", ""))
        if subject is None:
            return errors.unauthorized()
        if not subject.startswith(CLIENT_SUBJECT):
            return errors.forbidden(
                "UK.OBIE.Resource.ConsentMismatch",
                "account-access-consents need a client-credentials token",
            )
        return None

    async def _create_consent(self, request: Request) -> Response:
        return self._finish(request, await self._create_consent_inner(request))

    async def _create_consent_inner(self, request: Request) -> Response:
        refused = self._client_token(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return errors.bad_request(
                "UK.OBIE.Resource.InvalidFormat", "the body is not JSON (OBReadConsent1)"
            )
        data = body.get("Data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return errors.bad_request("UK.OBIE.Field.Missing", "Data is missing", "Data")
        if not isinstance(body.get("Risk"), dict):
            return errors.bad_request("UK.OBIE.Field.Missing", "Risk is missing", "Risk")
        permissions = data.get("Permissions")
        if not isinstance(permissions, list) or not permissions:
            return errors.bad_request(
                "UK.OBIE.Field.Missing", "Permissions must list at least one", "Data.Permissions"
            )
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown:
            return errors.bad_request(
                "UK.OBIE.Field.Invalid", f"unknown permission(s) {unknown}", "Data.Permissions"
            )
        reads_tx = {"ReadTransactionsBasic", "ReadTransactionsDetail"} & set(permissions)
        directions = {"ReadTransactionsCredits", "ReadTransactionsDebits"} & set(permissions)
        if bool(reads_tx) != bool(directions):
            return errors.bad_request(
                "UK.OBIE.Field.Invalid",
                "ReadTransactionsBasic/Detail go with ReadTransactionsCredits and/or Debits",
                "Data.Permissions",
            )
        now = self.now()
        dates: dict[str, dt.datetime | None] = {}
        for name in ("ExpirationDateTime", "TransactionFromDateTime", "TransactionToDateTime"):
            raw = data.get(name)
            if raw is None:
                dates[name] = None
                continue
            try:
                dates[name] = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                return errors.bad_request(
                    "UK.OBIE.Field.InvalidDate", f"{name} {raw!r} is not ISO 8601", f"Data.{name}"
                )
            if dates[name].tzinfo is None:  # type: ignore[union-attr]
                dates[name] = dates[name].replace(tzinfo=UTC)  # type: ignore[union-attr]
        longest = now + dt.timedelta(days=CONSENT_DAYS)
        expires = dates["ExpirationDateTime"] or longest
        if expires <= now:
            return errors.bad_request(
                "UK.OBIE.Field.Invalid",
                "ExpirationDateTime must be in the future",
                "Data.ExpirationDateTime",
            )
        consent = Consent(
            consent_id=f"aac-{uuid.uuid4()}",
            permissions=[str(p) for p in permissions],
            created=now,
            expires=min(expires, longest),  # the 90-day re-authentication rule
            tx_from=dates["TransactionFromDateTime"],
            tx_to=dates["TransactionToDateTime"],
        )
        with self._consent_lock:
            self.consents[consent.consent_id] = consent
        self_link = f"{str(request.url).rstrip('/')}/{consent.consent_id}"
        return JSONResponse(
            {"Data": consent.body(), "Risk": {}, "Links": {"Self": self_link}, "Meta": {}},
            status_code=201,
        )

    async def _consent(self, request: Request) -> Response:
        refused = self._client_token(request)
        if refused is not None:
            return self._finish(request, refused)
        consent_id = request.path_params["consent_id"]
        consent = self.consents.get(consent_id)
        if consent is None or consent.deleted:
            return self._finish(
                request,
                errors.bad_request(
                    "UK.OBIE.Resource.NotFound", f"no account-access-consent {consent_id}"
                ),
            )
        if request.method == "DELETE":
            with self._consent_lock:
                consent.deleted = True
            return self._finish(request, Response(status_code=204))
        body = {"Data": consent.body(), "Risk": {}, "Links": {"Self": str(request.url)}, "Meta": {}}
        return self._finish(request, JSONResponse(body))

    # ------------------------------------------------------------- resources

    def _finish(self, request: Request, response: Response) -> Response:
        response.headers["x-fapi-interaction-id"] = request.headers.get(
            "x-fapi-interaction-id"
        ) or str(uuid.uuid4())
        return response

    async def _enter(
        self, request: Request, permission: tuple[str, ...], resource: str
    ) -> tuple[Consent | None, str | None, Response | None]:
        """Authenticate, meter, check permission / account and count the pull. Returns the
        consent, the pull token for paging links, or the answer to give instead."""
        subject = self.oauth.subject_of(request.headers.get("authorization", "")) or ""
        refused = await self.admit(request, subject)
        if refused is not None:
            return None, None, refused
        consent = self.consents[subject]
        token, refusal = self._check(request, consent, permission, resource)
        if refusal is not None:
            self.release(subject)
            return None, None, refusal
        return consent, token, None

    def _check(
        self, request: Request, consent: Consent, permission: tuple[str, ...], resource: str
    ) -> tuple[str | None, Response | None]:
        if not set(permission) & set(consent.permissions):
            return None, errors.forbidden(
                "UK.OBIE.Resource.InvalidConsentStatus",
                f"the consent does not grant {' or '.join(permission)}",
            )
        account_id = request.path_params.get("account_id")
        if account_id is not None and not self._owns(consent, account_id):
            if self.bank.account(account_id) is None:
                return None, errors.bad_request(
                    "UK.OBIE.Resource.NotFound", f"no account {account_id}", None
                )
            return None, errors.forbidden(
                "UK.OBIE.Resource.ConsentMismatch",
                f"account {account_id} is not part of consent {consent.consent_id}",
            )
        return self._pull(request, consent, resource)

    def _owns(self, consent: Consent, account_id: str) -> bool:
        account = self.bank.account(account_id)
        return account is not None and account["company_id"] == consent.company_id

    def _pull(
        self, request: Request, consent: Consent, resource: str
    ) -> tuple[str | None, Response | None]:
        """Count an unattended first-page read (see the module docstring)."""
        token = request.query_params.get("pull")
        if token is not None:
            if self._pages.get(token) != (consent.consent_id, resource):
                return None, errors.bad_request(
                    "UK.OBIE.Field.Invalid", "unknown or foreign pull token", "pull"
                )
            return token, None
        token = secrets.token_urlsafe(12)
        if request.headers.get("x-fapi-customer-ip-address"):
            with self._consent_lock:
                self._pages[token] = (consent.consent_id, resource)
            return token, None  # the PSU is present: not an unattended pull
        now = self.now()
        with self._consent_lock:
            stamps = consent.pulls[resource]
            while stamps and stamps[0] <= now - PULL_WINDOW:
                stamps.popleft()
            if len(stamps) >= UNATTENDED_PULLS:
                self.pull_rejections += 1
                wait = (stamps[0] + PULL_WINDOW - now).total_seconds()
                return None, errors.too_many(
                    f"{resource} was read {UNATTENDED_PULLS} times without the customer in the "
                    "last 24 hours; send x-fapi-customer-ip-address when the PSU is present",
                    max(1, math.ceil(wait)),
                )
            stamps.append(now)
            self._pages[token] = (consent.consent_id, resource)
        return token, None

    async def _answer(
        self,
        request: Request,
        permission: tuple[str, ...],
        resource: str,
        render: Callable[[Consent, str], Response],
    ) -> Response:
        consent, token, refused = await self._enter(request, permission, resource)
        if refused is not None:
            return self._finish(request, refused)
        assert consent is not None and token is not None
        try:
            return self._finish(request, render(consent, token))
        finally:
            self.release(consent.consent_id)

    async def _accounts(self, request: Request) -> Response:
        account_id = request.path_params.get("account_id")
        resource = f"accounts/{account_id}" if account_id else "accounts"

        def render(consent: Consent, token: str) -> Response:
            detail = "ReadAccountsDetail" in consent.permissions
            accounts = self.bank.accounts_of(consent.company_id or "")
            if account_id is not None:
                accounts = accounts.filter(pl.col("bank_account_id") == account_id)
            company = self.bank.companies.filter(pl.col("company_id") == consent.company_id)
            holder = company.item(0, "name") if company.height else None
            rows = [_account(a, holder, detail) for a in accounts.iter_rows(named=True)]
            return _page(request, {"Account": rows}, 1, 1, token)

        return await self._answer(
            request, ("ReadAccountsBasic", "ReadAccountsDetail"), resource, render
        )

    async def _balances(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]

        def render(consent: Consent, token: str) -> Response:
            return _page(request, {"Balance": self._balance_rows(account_id)}, 1, 1, token)

        return await self._answer(
            request, ("ReadBalances",), f"accounts/{account_id}/balances", render
        )

    def _balance_rows(self, account_id: str) -> list[dict[str, Any]]:
        account = self.bank.account(account_id)
        assert account is not None
        lines = self.bank.lines(account_id)
        booked = lines.filter(pl.col("status") == "booked")
        currency = str(account["currency"])
        booked_total = int(account["opening_balance"]) + int(booked.get_column("amount").sum())
        available = booked_total + int(
            lines.filter(pl.col("status") == "pending").get_column("amount").sum()
        )
        opened = day_start(account["opening_date"])
        # The balance's DateTime is when it last changed, so an unchanged balance answers
        # the same record on every read.
        booked_at = booked.get_column("created_at").max() if booked.height else opened
        any_at = lines.get_column("created_at").max() if lines.height else opened
        rows = []
        for kind, amount, at in (
            ("InterimBooked", booked_total, booked_at),
            ("InterimAvailable", available, any_at),
        ):
            rows.append(
                {
                    "AccountId": account_id,
                    **signed_balance(amount, currency, kind),
                    "DateTime": iso(at),  # type: ignore[arg-type]
                }
            )
        return rows

    async def _transactions(self, request: Request) -> Response:
        account_id = request.path_params["account_id"]
        q = request.query_params
        bounds: dict[str, dt.datetime | None] = {}
        for name in ("fromBookingDateTime", "toBookingDateTime"):
            raw = q.get(name)
            try:
                bounds[name] = parse_filter_datetime(raw) if raw else None
            except ValueError:
                return self._finish(
                    request,
                    errors.bad_request(
                        "UK.OBIE.Field.InvalidDate", f"{name} {raw!r} is not ISO 8601", name
                    ),
                )
        try:
            page = int(q.get("page", "1"))
            if page < 1:
                raise ValueError
        except ValueError:
            return self._finish(
                request, errors.bad_request("UK.OBIE.Field.Invalid", "page must be >= 1", "page")
            )

        def render(consent: Consent, token: str) -> Response:
            rows = self._transaction_rows(consent, account_id, bounds)
            pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
            chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            data = {"Transaction": chunk}
            return _page(request, data, page, pages, token, self._available(account_id))

        return await self._answer(
            request,
            ("ReadTransactionsBasic", "ReadTransactionsDetail"),
            f"accounts/{account_id}/transactions",
            render,
        )

    def _available(self, account_id: str) -> dict[str, str]:
        lines = self.bank.lines(account_id)
        if lines.is_empty():
            return {}
        return {
            "FirstAvailableDateTime": iso(day_start(lines.get_column("booked_date").min())),  # type: ignore[arg-type]
            "LastAvailableDateTime": iso(day_start(lines.get_column("booked_date").max())),  # type: ignore[arg-type]
        }

    def _transaction_rows(
        self, consent: Consent, account_id: str, bounds: dict[str, dt.datetime | None]
    ) -> list[dict[str, Any]]:
        account = self.bank.account(account_id)
        assert account is not None
        lines = self.bank.lines(account_id)
        lower = [b for b in (bounds["fromBookingDateTime"], consent.tx_from) if b is not None]
        upper = [b for b in (bounds["toBookingDateTime"], consent.tx_to) if b is not None]
        booking = pl.col("booked_date").cast(pl.Datetime("us", "UTC"))
        if lower:
            lines = lines.filter(booking >= max(lower))
        if upper:
            lines = lines.filter(booking <= min(upper))
        credits = "ReadTransactionsCredits" in consent.permissions
        debits = "ReadTransactionsDebits" in consent.permissions
        if not (credits and debits):
            lines = lines.filter(pl.col("amount") >= 0 if credits else pl.col("amount") < 0)
        detail = "ReadTransactionsDetail" in consent.permissions
        issuer = str(account["institution_name"])
        if self.order == "desc":
            lines = lines.reverse()
        return [_transaction(line, detail, issuer) for line in lines.iter_rows(named=True)]

    # ------------------------------------------------------------- test knobs

    def advance(self, seconds: float) -> None:
        """Move the bank's clock (lines get reported, pending lines post, consents age)."""
        self.bank.advance(seconds)

    def consent_of(self, company_id: str) -> list[Consent]:
        return [c for c in self.consents.values() if c.company_id == company_id]


def _account(row: dict[str, Any], holder: str | None, detail: bool) -> dict[str, Any]:
    opened = day_start(row["opening_date"])
    account: dict[str, Any] = {
        "AccountId": row["bank_account_id"],
        "Status": "Enabled",
        "StatusUpdateDateTime": iso(opened),
        "Currency": row["currency"],
        "AccountType": "Business",
        "AccountSubType": SUB_TYPES.get(str(row["account_type"]), "CurrentAccount"),
        "Nickname": row["account_name"],
        "OpeningDate": iso(opened),
    }
    if not detail:
        return account
    ids: list[dict[str, Any]] = []
    if row["sort_code"] and row["account_number"]:
        ids.append(
            {
                "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                "Identification": f"{row['sort_code']}{row['account_number']}",
                "Name": holder,
            }
        )
    if row["iban"]:
        ids.append({"SchemeName": "UK.OBIE.IBAN", "Identification": row["iban"], "Name": holder})
    if not ids and row["account_number"]:
        # Cards: the (masked) PAN.
        ids.append(
            {"SchemeName": "UK.OBIE.PAN", "Identification": row["account_number"], "Name": holder}
        )
    account["Account"] = ids
    bic = BICS.get(str(row["institution_name"]))
    if bic:
        account["Servicer"] = {"SchemeName": "UK.OBIE.BICFI", "Identification": bic}
    return account


def _party_account(identification: str | None, name: str | None) -> dict[str, Any]:
    party: dict[str, Any] = {}
    if identification:
        compact = identification.replace(" ", "")
        if compact[:2].isalpha() and compact[2:4].isdigit():
            party["SchemeName"] = "UK.OBIE.IBAN"
        elif compact.isdigit() and len(compact) == 14:
            party["SchemeName"] = "UK.OBIE.SortCodeAccountNumber"
        else:
            party["SchemeName"] = "UK.OBIE.PAN"
        party["Identification"] = identification
    if name:
        party["Name"] = name
    return party


def _transaction(line: dict[str, Any], detail: bool, issuer: str) -> dict[str, Any]:
    amount = int(line["amount"])
    currency = str(line["currency"])
    tx: dict[str, Any] = {"AccountId": line["bank_account_id"], "TransactionId": line["line_id"]}
    if line["reference"]:
        tx["TransactionReference"] = line["reference"]
    tx.update(
        {
            "Amount": money(amount, currency),
            "CreditDebitIndicator": "Credit" if amount >= 0 else "Debit",
            "Status": "Booked" if line["status"] == "booked" else "Pending",
            # For a pending line this is the expected booking date (OBIE usage note).
            "BookingDateTime": iso(day_start(line["booked_date"])),
        }
    )
    if line["value_date"] is not None:
        tx["ValueDateTime"] = iso(day_start(line["value_date"]))
    code = line["bank_transaction_code"]
    btc = long_btc(code)
    if btc is not None:
        tx["BankTransactionCode"] = btc
    if code:
        # The bank's own code is the full ISO domain-family-subfamily triple.
        tx["ProprietaryBankTransactionCode"] = {"Code": code, "Issuer": issuer}
    if not detail:
        return tx
    if line["description"]:
        tx["TransactionInformation"] = line["description"]
    if line["running_balance"] is not None:
        tx["Balance"] = signed_balance(int(line["running_balance"]), currency, "InterimBooked")
    name, ident = line["counterparty_name"], line["counterparty_account"]
    if code and "-CCRD-" in code and not ident:
        if name:
            tx["MerchantDetails"] = {"MerchantName": name}
    elif name or ident:
        # Money out: the counterparty is the creditor; money in: the debtor.
        side = "Creditor" if amount < 0 else "Debtor"
        tx[f"{side}Account"] = _party_account(ident, name)
        if ident and ident[:2].isalpha():
            agent_code = ident.replace(" ", "")[4:8]
            tx[f"{side}Agent"] = {
                "SchemeName": "UK.OBIE.BICFI",
                "Identification": f"{agent_code}GB2L",
            }
    return tx


def _page(
    request: Request,
    data: dict[str, Any],
    page: int,
    pages: int,
    token: str,
    meta: dict[str, str] | None = None,
) -> JSONResponse:
    url = URL(str(request.url))
    links: dict[str, str] = {"Self": str(url)}
    if pages > 1:
        links["First"] = str(url.include_query_params(page=1, pull=token))
        links["Last"] = str(url.include_query_params(page=pages, pull=token))
        if page > 1:
            links["Prev"] = str(url.include_query_params(page=page - 1, pull=token))
        if page < pages:
            links["Next"] = str(url.include_query_params(page=page + 1, pull=token))
    return JSONResponse(
        {"Data": data, "Links": links, "Meta": {"TotalPages": pages, **(meta or {})}}
    )


def build(
    world: World,
    credentials: SandboxCredentials,
    **kwargs: Any,
) -> OpenBankingSandbox:
    """The Open Banking provider over ``world`` (keyword arguments: ``start`` of the bank's
    clock, ``limits``, ``clock``, ``access_ttl``, ``order`` of transactions: ``"asc"``
    statement order or ``"desc"`` newest first)."""
    return OpenBankingSandbox(world, credentials, **kwargs)
