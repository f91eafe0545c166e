"""Running an ASGI app under uvicorn the way ``finpipe webhooks serve`` does.

One function, so the throughput benchmark measures the receiver and its bare-ASGI baseline
under exactly the server settings an operator gets. uvicorn's access log is off: the
receiver logs one line per request itself (provider, outcome, counts), and a second,
less informative line per request would only halve what a flood costs to log.
"""

from __future__ import annotations

from typing import Any


def run(app: Any, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``host:port`` until interrupted (SIGINT/SIGTERM stop it cleanly,
    running the app's shutdown, which flushes the rejection counters)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        # Providers retry after a few seconds; a connection held longer serves nobody.
        timeout_keep_alive=5,
    )


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI endpoint that reads a request body and answers 200 with nothing:
    the benchmark's baseline for what the server and the loopback cost without
    verification or storage."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})
