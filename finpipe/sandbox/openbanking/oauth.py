"""The ASPSP's authorization server: client credentials (consent set-up) plus the
authorization-code grant bound to an account-access-consent.

The consent id travels as OBIE does: in the request object's ``openbanking_intent_id``
claim (``request=<JWT>`` on the authorize URL). The sandbox verifies an HS256 signature
made with the client secret (real banks: PS256 with the TPP's registered key) and the
object's claims as FAPI/OBIE do (``exp`` required, at most an hour; ``aud``, ``iss``,
``client_id`` and the repeated authorization parameters; see :meth:`authorize`). It approves
at once for ``sandbox_company=<company id>`` (the PSU choosing accounts on the consent
screen). Access tokens are bound to the consent (their subject is the ConsentId); a refresh
is refused with ``invalid_grant`` once the consent has expired or been deleted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from finpipe.connectors.openbanking.codes import AUTHORIZE_PATH
from finpipe.connectors.openbanking.jws import (
    RequestObjectError,
    intent_id,
    same,
    verify_hs256,
)
from finpipe.sandbox.oauth_server import OAuthServer, OAuthServerConfig

CLIENT_SUBJECT = "client:"  # subject prefix of client-credentials tokens
# Authorization parameters the request object must repeat exactly (OIDC Core 6.1, FAPI).
MATCHED = ("response_type", "scope", "state", "redirect_uri")


def issuer(request: Request) -> str:
    """This authorisation server's issuer: the API root the authorize call was made under
    (``.../openbanking``), as the connector's ``aud`` names it."""
    url = str(request.url.replace(query=""))
    return url[: -len(AUTHORIZE_PATH)] if url.endswith(AUTHORIZE_PATH) else url.rstrip("/")


class OpenBankingOAuthServer(OAuthServer):
    """OAuthServer plus client credentials and consent-bound authorization."""

    def __init__(
        self,
        config: OAuthServerConfig,
        authorise: Callable[[str, str], str | None],
        consent_usable: Callable[[str], str | None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        if clock is None:
            super().__init__(config)
        else:
            super().__init__(config, clock)
        # authorise(consent_id, company_id) -> None when authorised, else an error text;
        # consent_usable(consent_id) -> None when tokens may be issued, else why not.
        self._authorise = authorise
        self._consent_usable = consent_usable

    async def authorize(self, request: Request) -> Response:
        """``GET authorize?client_id&redirect_uri&response_type&scope&state&request=<JWT>``.

        The request object must verify (HS256 with the client secret, constant time), carry
        an ``exp`` at most an hour ahead, ``aud`` = this server's issuer, ``iss`` and
        ``client_id`` = the query's ``client_id``, and repeat ``response_type``, ``scope``,
        ``state`` and ``redirect_uri`` exactly as the query sends them. Otherwise the answer
        is ``400 invalid_request_object`` and no code is issued."""
        q = request.query_params
        if not same(q.get("client_id"), self.config.client_id):
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        redirect = q.get("redirect_uri")
        if q.get("response_type") not in ("code", "code id_token") or not redirect:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        try:
            claims = verify_hs256(q.get("request", ""), self.config.client_secret, self.clock())
            consent_id = self._check_request_object(claims, q, issuer(request))
        except RequestObjectError as exc:
            return JSONResponse(
                {"error": "invalid_request_object", "error_description": str(exc)},
                status_code=400,
            )
        return self.approve(
            q,
            redirect,
            subject=lambda company: consent_id,
            authorise=lambda company: self._authorise(consent_id, company),
        )

    @staticmethod
    def _check_request_object(
        claims: dict[str, Any], query: Mapping[str, str], expected_issuer: str
    ) -> str:
        """The consent id the (verified) request object names, once its claims agree with
        the query and this server; raises :class:`RequestObjectError`."""
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(same(a, expected_issuer) for a in audiences):
            raise RequestObjectError(
                f"the request object's aud {audience!r} is not this server's issuer "
                f"{expected_issuer!r}"
            )
        client_id = query.get("client_id")
        for name in ("iss", "client_id"):
            if not same(claims.get(name), client_id):
                raise RequestObjectError(
                    f"the request object's {name} {claims.get(name)!r} is not the client_id "
                    "of the request"
                )
        for name in MATCHED:
            value, sent = claims.get(name), query.get(name)
            if value is None and sent is None and name == "state":
                continue  # no state at all: nothing to match
            if not same(value, sent):
                raise RequestObjectError(
                    f"the request object's {name} does not match the query parameter {name}"
                )
        consent_id = intent_id(claims)
        if consent_id is None:
            raise RequestObjectError("the request object names no openbanking_intent_id")
        return consent_id

    async def token(self, request: Request) -> Response:
        """Adds ``client_credentials`` and the consent check on ``refresh_token``."""
        if not self._client_ok(request.headers.get("authorization", "")):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type")
        if grant == "client_credentials":
            scopes = set(form.get("scope", "").split())
            if scopes - {"accounts", "openid"}:
                return JSONResponse({"error": "invalid_scope"}, status_code=400)
            access = secrets.token_urlsafe(32)
            with self._lock:
                self._access[access] = (
                    CLIENT_SUBJECT + self.config.client_id,
                    self.clock() + self.config.access_ttl,
                )
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": self.config.access_ttl,
                    "scope": "accounts",
                }
            )
        if grant == "refresh_token":
            with self._lock:
                state = self._refresh.get(str(form.get("refresh_token", "")))
            if state is not None:
                why = self._consent_usable(state.subject)
                if why is not None:
                    self.refresh_calls += 1
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": why}, status_code=400
                    )
        return await super().token(request)
