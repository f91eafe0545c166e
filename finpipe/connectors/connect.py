"""``finpipe connect``: the OAuth2 authorization-code flow with a loopback redirect.

1. A one-shot HTTP listener starts on ``127.0.0.1:<port>`` (``/callback``).
2. The person opens the authorize URL (printed); against the sandbox, ``auto_approve``
   fetches it directly and the sandbox approves for the company at once.
3. The provider redirects to the listener with ``code`` (and QBO's ``realmId``); ``state``
   is checked, the code exchanged, the token set stored encrypted, and the connection(s)
   recorded as ``active`` in ``ops.connections``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import polars as pl
import requests

from finpipe.connectors.errors import ConnectorError
from finpipe.connectors.oauth import OAuthApp, TokenSet, TokenStore, exchange_code
from finpipe.warehouse.tables.ops import CONNECTIONS

UTC = dt.UTC


class LoopbackReceiver:
    """Receives exactly one OAuth redirect on loopback and returns its full URL."""

    def __init__(self, port: int = 0, path: str = "/callback") -> None:
        received: list[str] = []
        done = threading.Event()
        expected_path = path

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != expected_path:
                    self.send_error(404)
                    return
                received.append(self.path)
                body = b"finpipe: authorisation received, you can close this window.\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                done.set()

            def log_message(self, format: str, *args: object) -> None:
                # The query string carries the authorization code: never log it.
                return

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self._received = received
        self._done = done
        self.path = path
        # A short poll: shutdown() waits for it, and every connect ends with one.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        if not self._done.wait(timeout):
            raise ConnectorError(
                f"no authorisation arrived on {self.redirect_uri} within {timeout:.0f}s; "
                "open the printed URL in a browser on this machine and approve access"
            )
        return self.redirect_uri.split(self.path)[0] + self._received[0]


@dataclass(frozen=True)
class ConnectResult:
    provider: str
    company_id: str
    external_ids: list[tuple[str, str]]  # (external id, display name)
    tokens: TokenSet


Discover = Callable[[TokenSet, dict[str, str]], list[tuple[str, str]]]


def connect(
    make_app: Callable[[str], OAuthApp],
    store: TokenStore,
    company_id: str,
    discover: Discover,
    *,
    auto_approve: bool = False,
    port: int = 0,
    timeout: float = 300.0,
    announce: Callable[[str], None] = print,
) -> ConnectResult:
    """Run the flow for one company; ``make_app(redirect_uri)`` builds the provider's app
    and ``discover(tokens, redirect_params)`` names the external ids the grant reaches."""
    state = secrets.token_urlsafe(16)
    with LoopbackReceiver(port) as receiver:
        app = make_app(receiver.redirect_uri)
        url = app.authorization_url(state)
        if auto_approve:
            # Sandbox only: it stands for the person picking this company on the consent page.
            url += "&" + urlencode({"sandbox_company": company_id})
            announce(f"approving {app.provider} access for {company_id} in the sandbox")
            answer = requests.get(url, allow_redirects=True, timeout=30)
            if answer.status_code >= 400:
                raise ConnectorError(
                    f"the {app.provider} sandbox refused the authorisation: {answer.text[:200]}"
                )
        else:
            announce(f"Open this URL to connect {app.provider} for {company_id}:\n  {url}")
        redirect = receiver.wait(timeout)
    params = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    if "error" in params:
        raise ConnectorError(f"{app.provider} denied access: {params['error']}")
    if not secrets.compare_digest(params.get("state", ""), state):
        raise ConnectorError(f"{app.provider} redirect carried the wrong state; start again")
    now = dt.datetime.now(UTC)
    tokens = exchange_code(app, redirect, now)
    # Persist before anything else: the code is spent and these tokens are the only copy.
    store.save(company_id, app.provider, tokens, now)
    external = discover(tokens, params)
    if not external:
        raise ConnectorError(f"{app.provider} granted access to no organisation for {company_id}")
    _record_connections(store, company_id, app.provider, external, now)
    return ConnectResult(app.provider, company_id, external, tokens)


def _record_connections(
    store: TokenStore,
    company_id: str,
    provider: str,
    external: list[tuple[str, str]],
    now: dt.datetime,
) -> None:
    existing = store.warehouse.read(
        CONNECTIONS, where="company_id = %s AND provider = %s", params=[company_id, provider]
    )
    before = {row["external_id"]: row for row in existing.iter_rows(named=True)}
    frame = pl.DataFrame(
        {
            "company_id": [company_id] * len(external),
            "provider": [provider] * len(external),
            "external_id": [e for e, _ in external],
            "display_name": [name for _, name in external],
            "status": ["active"] * len(external),
            "status_reason": [None] * len(external),
            "created_at": [before.get(e, {}).get("created_at") or now for e, _ in external],
            "updated_at": [now] * len(external),
            "last_synced_at": [before.get(e, {}).get("last_synced_at") for e, _ in external],
        },
        schema=CONNECTIONS.polars_schema(),
    )
    store.warehouse.upsert(CONNECTIONS, frame)
