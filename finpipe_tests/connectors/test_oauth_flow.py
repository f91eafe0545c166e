"""The OAuth2 flow end to end over HTTP against the sandbox's authorization server."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator

import polars as pl
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from finpipe.config import generate_secret_key
from finpipe.connectors.connect import connect
from finpipe.connectors.errors import NeedsReauth
from finpipe.connectors.oauth import OAuthApp, TokenManager, TokenStore
from finpipe.sandbox.oauth_server import OAuthServer, OAuthServerConfig
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import CONNECTIONS, OAUTH_TOKENS

CLIENT_ID, CLIENT_SECRET = "client-1", "s3cret-client"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def oauth_server() -> Iterator[tuple[OAuthServer, str]]:
    server = OAuthServer(
        OAuthServerConfig(
            provider="quickbooks",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            access_ttl=3600,
            refresh_ttl=8_726_400,
            redirect_extra=lambda subject: {"realmId": f"realm-{subject}"},
        )
    )
    app = Starlette(
        routes=[
            Route("/connect/oauth2", server.authorize),
            Route("/oauth2/v1/tokens/bearer", server.token, methods=["POST"]),
        ]
    )
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        threading.Event().wait(0.02)
    yield server, f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(5)


def make_app(base: str):
    def build(redirect_uri: str) -> OAuthApp:
        return OAuthApp(
            provider="quickbooks",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            authorize_url=f"{base}/connect/oauth2",
            token_url=f"{base}/oauth2/v1/tokens/bearer",
            scopes=("com.intuit.quickbooks.accounting",),
            redirect_uri=redirect_uri,
        )

    return build


@pytest.fixture
def store(warehouse: Warehouse) -> TokenStore:
    return TokenStore(warehouse, SecretBox([generate_secret_key()]))


def connected(oauth_server, store: TokenStore, company: str = "cmp_1"):
    _, base = oauth_server
    return connect(
        make_app(base),
        store,
        company,
        discover=lambda tokens, params: [(params["realmId"], "Sandbox Co")],
        auto_approve=True,
        announce=lambda _: None,
    )


def test_connect_stores_encrypted_tokens_and_an_active_connection(
    oauth_server, store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = connected(oauth_server, store)
    assert result.external_ids == [("realm-cmp_1", "Sandbox Co")]
    row = store.warehouse.read(OAUTH_TOKENS).row(0, named=True)
    assert result.tokens.access_token not in row["ciphertext"]
    assert result.tokens.refresh_token not in row["ciphertext"]
    loaded = store.load("cmp_1", "quickbooks")
    assert loaded is not None and loaded.refresh_token == result.tokens.refresh_token
    conn = store.warehouse.read(CONNECTIONS).row(0, named=True)
    assert (conn["provider"], conn["external_id"], conn["status"]) == (
        "quickbooks",
        "realm-cmp_1",
        "active",
    )
    # No secret in logs or reprs.
    assert result.tokens.access_token not in caplog.text
    assert result.tokens.refresh_token not in caplog.text
    assert "code=" not in caplog.text or "code=***" in caplog.text
    assert result.tokens.refresh_token not in repr(result)
    assert CLIENT_SECRET not in repr(make_app("http://x")("http://cb"))


def test_concurrent_expiry_refreshes_once_and_rotates(oauth_server, store: TokenStore) -> None:
    server, base = oauth_server
    first = connected(oauth_server, store).tokens
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # every access token expired
    managers = [
        TokenManager(
            make_app(base)("http://cb"),
            TokenStore(store.warehouse, store.box),
            "cmp_1",
            clock=lambda: later,
        )
        for _ in range(4)
    ]
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda m=m: tokens.append(m.access_token())) for m in managers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads)
    assert len(tokens) == 4  # every caller got a token (a crashed thread would not)
    assert server.refresh_calls == 1
    assert len(set(tokens)) == 1 and tokens[0] != first.access_token
    stored = store.load("cmp_1", "quickbooks")
    assert stored is not None and stored.version == 1
    assert stored.refresh_token != first.refresh_token
    # QBO: the rotated-out refresh token is dead at once.
    manager = TokenManager(make_app(base)("http://cb"), store, "cmp_1", clock=lambda: later)
    manager._tokens = first  # a process still holding the old set
    store.save("cmp_1", "quickbooks", first, later)  # ...that even wrote it back
    with pytest.raises(NeedsReauth):
        manager.refresh()


def test_revoked_grant_marks_connection_needs_reauth(oauth_server, store: TokenStore) -> None:
    server, base = oauth_server
    connected(oauth_server, store)
    server.revoke("cmp_1")
    manager = TokenManager(make_app(base)("http://cb"), store, "cmp_1")
    with pytest.raises(NeedsReauth, match=r"invalid_grant.*finpipe connect"):
        manager.refresh()
    conn = store.warehouse.read(CONNECTIONS, where="provider = %s", params=["quickbooks"])
    assert conn["status"].to_list() == ["needs_reauth"]
    assert "invalid_grant" in conn["status_reason"][0]
    assert server.refresh_calls == 1  # nothing retried it in a loop


def test_unconnected_company_gets_a_clear_error(store: TokenStore) -> None:
    manager = TokenManager(make_app("http://x")("http://cb"), store, "cmp_9")
    with pytest.raises(NeedsReauth, match="finpipe connect quickbooks --company cmp_9"):
        manager.access_token()
    assert store.warehouse.read(OAUTH_TOKENS).filter(pl.col("company_id") == "cmp_9").is_empty()


def test_library_debug_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    from finpipe.logsafe import redact

    caplog.set_level(logging.DEBUG)
    logging.getLogger("requests_oauthlib.oauth2_session").debug(
        "Obtained token %s", {"access_token": "AAA.bbb", "refresh_token": "RRR", "expires_in": 3600}
    )
    logging.getLogger("urllib3.connectionpool").debug(
        '%s "GET /callback?code=%s&state=s HTTP/1.1"', "http://127.0.0.1:1", "CODE123"
    )
    assert "AAA.bbb" not in caplog.text and "RRR" not in caplog.text
    assert "CODE123" not in caplog.text
    assert "expires_in': 3600" in caplog.text
    assert redact("Authorization: Bearer eyJ.abc") == "Authorization: Bearer ***"


def test_key_rotation_re_encrypts_every_token(oauth_server, warehouse: Warehouse) -> None:
    from finpipe.connectors.oauth import rotate_token_encryption
    from finpipe.secrets import SecretError

    old_key, new_key = generate_secret_key(), generate_secret_key()
    store = TokenStore(warehouse, SecretBox([old_key]))
    tokens = connected(oauth_server, store).tokens
    assert rotate_token_encryption(warehouse, SecretBox([new_key, old_key])) == 1
    loaded = TokenStore(warehouse, SecretBox([new_key])).load("cmp_1", "quickbooks")
    assert loaded is not None and loaded.refresh_token == tokens.refresh_token
    with pytest.raises(SecretError, match="not in FINPIPE_SECRET_KEY"):
        store.load("cmp_1", "quickbooks")  # the old key alone no longer reads it
