"""The sandbox HTTP server: every provider under its own path prefix on one port.

    http://127.0.0.1:PORT/quickbooks/...   QuickBooks Online (OAuth + v3 API)
    http://127.0.0.1:PORT/xero/...         Xero (identity + connections + api.xro/2.0)
    http://127.0.0.1:PORT/openbanking/...  UK Open Banking AIS v3.1 (OAuth + consents + accounts)
    http://127.0.0.1:PORT/berlingroup/...  Berlin Group NextGenPSD2 (consents + /v1/accounts)
    http://127.0.0.1:PORT/aggregator/...   US aggregator in the style of Plaid (/transactions/sync)
    http://127.0.0.1:PORT/_sandbox/...     control: faults, counters, health

A connector is pointed at ``<base>/<provider>`` and then uses the provider's own paths.
:class:`SandboxServer` runs it in a background thread (tests, the demo);
``finpipe sandbox serve`` runs it in the foreground.
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from finpipe.errors import FinpipeError
from finpipe.sandbox.provider import ProviderSandbox
from finpipe.sandbox.webhooks import WebhookSender
from finpipe.sandbox.world import World, load_world

# provider name -> "module:function" building it from (world, SandboxCredentials)
PROVIDER_FACTORIES: dict[str, str] = {
    "quickbooks": "finpipe.sandbox.quickbooks.app:build",
    "xero": "finpipe.sandbox.xero.app:build",
    "openbanking": "finpipe.sandbox.openbanking.app:build",
    "berlingroup": "finpipe.sandbox.berlingroup.app:build",
    "aggregator": "finpipe.sandbox.aggregator.app:build",
}


class SandboxError(FinpipeError):
    """The sandbox cannot start or was asked something it cannot do."""


@dataclass(frozen=True)
class SandboxCredentials:
    """The OAuth client credentials the sandbox accepts, per provider (test values)."""

    client_id: str = "finpipe-sandbox-client"
    client_secret: str = field(default="finpipe-sandbox-secret", repr=False)


@dataclass
class Sandbox:
    """The running sandbox: the world it serves and its providers."""

    world: World
    providers: dict[str, ProviderSandbox]
    credentials: SandboxCredentials

    def provider(self, name: str) -> ProviderSandbox:
        try:
            return self.providers[name]
        except KeyError:
            raise SandboxError(
                f"the sandbox has no provider {name!r}; it serves {sorted(self.providers)}"
            ) from None


def build_sandbox(
    world: World | Path,
    credentials: SandboxCredentials | None = None,
    providers: tuple[str, ...] | None = None,
    webhooks: WebhookSender | None = None,
) -> Sandbox:
    """Build every provider (or those named) over ``world``. Providers announce changes
    through ``webhooks`` or, by default, :meth:`WebhookSender.from_env` (off unless
    ``FINPIPE_SANDBOX_WEBHOOK_URL`` is set)."""
    sender = webhooks or WebhookSender.from_env()
    loaded = load_world(world) if isinstance(world, Path) else world
    creds = credentials or SandboxCredentials()
    built: dict[str, ProviderSandbox] = {}
    for name, target in PROVIDER_FACTORIES.items():
        if providers is not None and name not in providers:
            continue
        module_name, _, func = target.partition(":")
        factory: Callable[[World, SandboxCredentials], ProviderSandbox] = getattr(
            importlib.import_module(module_name), func
        )
        built[name] = factory(loaded, creds)
        if sender is not None and hasattr(built[name], "webhooks"):
            built[name].webhooks = sender  # type: ignore[attr-defined]
    return Sandbox(world=loaded, providers=built, credentials=creds)


def build_app(sandbox: Sandbox) -> Starlette:
    """The ASGI app serving every provider plus the control endpoints."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "providers": sorted(sandbox.providers)})

    async def counters(request: Request) -> JSONResponse:
        provider = sandbox.provider(request.path_params["provider"])
        return JSONResponse(provider.counters_snapshot())

    async def faults(request: Request) -> JSONResponse:
        provider = sandbox.provider(request.path_params["provider"])
        try:
            provider.faults.configure(**(await request.json()))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    routes = [
        Route("/_sandbox/health", health),
        Route("/_sandbox/{provider}/counters", counters),
        Route("/_sandbox/{provider}/faults", faults, methods=["POST"]),
        *(Mount(f"/{name}", routes=p.routes()) for name, p in sandbox.providers.items()),
    ]
    return Starlette(routes=routes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxServer:
    """The sandbox app under uvicorn in a background thread, on loopback."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port or free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(
                build_app(sandbox), host=host, port=self.port, log_level="warning", lifespan="off"
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, provider: str) -> str:
        """Where a connector for ``provider`` points its base URL."""
        return f"{self.base_url}/{provider}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise SandboxError(f"the sandbox did not start on {self.base_url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
