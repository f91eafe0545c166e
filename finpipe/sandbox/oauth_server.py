"""The sandbox's OAuth2 authorization server, parameterised per provider.

It behaves like the providers' identity services: authorization codes are single use and
short lived; access tokens expire (QBO 1 h, Xero 30 min); every refresh rotates the refresh
token, and the previous one dies at once (QBO) or after a grace period (Xero: 30 minutes).
Refused grants answer ``400 {"error": "invalid_grant"}``. Client credentials arrive by HTTP
Basic auth. Tokens are random and opaque.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response


def basic_auth_matches(header: str, client_id: str, client_secret: str) -> bool:
    """Whether an ``Authorization: Basic`` header carries exactly these client credentials
    (compared in constant time)."""
    if not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except ValueError:
        return False
    return secrets.compare_digest(decoded, f"{client_id}:{client_secret}")


@dataclass(frozen=True)
class OAuthServerConfig:
    provider: str
    client_id: str
    client_secret: str
    access_ttl: int  # seconds
    refresh_ttl: int  # seconds a refresh token lives (unused)
    grace_seconds: int = 0  # how long a rotated-out refresh token still works
    # QBO's token answer carries x_refresh_token_expires_in; Xero's does not.
    report_refresh_expiry: bool = True
    redirect_extra: Callable[[str], dict[str, str]] = field(default=lambda subject: {})


@dataclass
class _Refresh:
    subject: str
    issued_at: float
    superseded_at: float | None = None
    successor: str | None = None


class OAuthServer:
    """Grants, access tokens and rotating refresh tokens for one provider."""

    def __init__(self, config: OAuthServerConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, str, float]] = {}  # code -> (subject, redirect, expiry)
        self._access: dict[str, tuple[str, float]] = {}  # token -> (subject, expiry)
        self._refresh: dict[str, _Refresh] = {}
        self.revoked_subjects: set[str] = set()
        self.refresh_calls = 0

    # ------------------------------------------------------------- endpoints

    async def authorize(self, request: Request) -> Response:
        """``GET authorize?client_id&redirect_uri&response_type=code&scope&state``.

        The sandbox approves at once for the company named by ``sandbox_company`` (the only
        non-standard parameter: it stands for the person choosing a company on the consent
        screen)."""
        q = request.query_params
        if q.get("client_id") != self.config.client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        return self.approve(q, q["redirect_uri"])

    def approve(
        self,
        query: Mapping[str, str],
        redirect: str,
        *,
        subject: Callable[[str], str] = lambda company: company,
        authorise: Callable[[str], str | None] = lambda company: None,
    ) -> Response:
        """The consent screen's answer, once the request itself is valid: the company named
        by ``sandbox_company`` approves, ``authorise(company)`` may refuse (a reason, sent
        back as ``access_denied``), and a single-use code for ``subject(company)`` (the
        company, or the consent the grant is bound to) goes to ``redirect``."""
        company = query.get("sandbox_company")
        if not company:
            return JSONResponse(
                {
                    "error": "access_denied",
                    "error_description": "sandbox: add sandbox_company=<company_id> to approve",
                },
                status_code=400,
            )
        state = query.get("state", "")
        refused = authorise(company)
        if refused is not None:
            params = {"error": "access_denied", "error_description": refused, "state": state}
            return RedirectResponse(f"{redirect}?{urlencode(params)}", status_code=302)
        granted = subject(company)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = (granted, redirect, self.clock() + 300)
        params = {"code": code, "state": state}
        params.update(self.config.redirect_extra(granted))
        return RedirectResponse(f"{redirect}?{urlencode(params)}", status_code=302)

    async def token(self, request: Request) -> Response:
        """``POST token`` with ``grant_type=authorization_code`` or ``refresh_token``."""
        if not self._client_ok(request.headers.get("authorization", "")):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        # application/x-www-form-urlencoded, parsed here rather than adding python-multipart.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type")
        now = self.clock()
        with self._lock:
            if grant == "authorization_code":
                entry = self._codes.pop(str(form.get("code", "")), None)
                if entry is None or entry[2] < now or entry[1] != form.get("redirect_uri"):
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                return JSONResponse(self._issue(entry[0], now))
            if grant == "refresh_token":
                self.refresh_calls += 1
                token = str(form.get("refresh_token", ""))
                state = self._refresh.get(token)
                if state is None or not self._refresh_usable(state, now):
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                if state.successor is not None:
                    # Within the grace period the same successor is handed out again.
                    return JSONResponse(self._reissue(state, now))
                body = self._issue(state.subject, now)
                state.superseded_at = now
                state.successor = body["refresh_token"]
                return JSONResponse(body)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    # --------------------------------------------------------------- helpers

    def subject_of(self, authorization: str) -> str | None:
        """The subject a ``Bearer`` header is valid for, or None (expired/unknown/revoked)."""
        if not authorization.startswith("Bearer "):
            return None
        with self._lock:
            entry = self._access.get(authorization[7:])
        if entry is None or entry[1] <= self.clock() or entry[0] in self.revoked_subjects:
            return None
        return entry[0]

    def revoke(self, subject: str) -> None:
        """Fault knob: every token of ``subject`` stops working (the user disconnected)."""
        with self._lock:
            self.revoked_subjects.add(subject)

    def expire_access_tokens(self, subject: str | None = None) -> None:
        """Fault knob: access tokens expire now (a token running out mid-sync)."""
        with self._lock:
            for token, (owner, _) in list(self._access.items()):
                if subject is None or owner == subject:
                    self._access[token] = (owner, self.clock() - 1)

    def _client_ok(self, header: str) -> bool:
        return basic_auth_matches(header, self.config.client_id, self.config.client_secret)

    def _refresh_usable(self, state: _Refresh, now: float) -> bool:
        if state.subject in self.revoked_subjects:
            return False
        if now - state.issued_at > self.config.refresh_ttl:
            return False
        if state.superseded_at is None:
            return True
        return now - state.superseded_at <= self.config.grace_seconds

    def _issue(self, subject: str, now: float) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = (subject, now + self.config.access_ttl)
        self._refresh[refresh] = _Refresh(subject=subject, issued_at=now)
        return self._body(access, refresh)

    def _reissue(self, state: _Refresh, now: float) -> dict[str, object]:
        assert state.successor is not None
        access = secrets.token_urlsafe(32)
        self._access[access] = (state.subject, now + self.config.access_ttl)
        return self._body(access, state.successor)

    def _body(self, access: str, refresh: str) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.config.access_ttl,
        }
        if self.config.report_refresh_expiry:
            body["x_refresh_token_expires_in"] = self.config.refresh_ttl
        return body
