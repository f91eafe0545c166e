"""Xero's error answers, as the real API writes them.

* 400 validation: ``{"ErrorNumber": 10, "Type": "ValidationException", "Message": "A
  validation exception occurred", "Elements": [{...record..., "ValidationErrors":
  [{"Message": ...}]}]}`` (XeroAPI/Xero-OpenAPI examples, e.g. ``PUT /Contacts`` 400).
* 401 / 403: a problem document ``{"Type": null, "Title": "Unauthorized", "Status": 401,
  "Detail": "TokenExpired: token expired at 04/09/2023 05:16:59", "Instance": ...,
  "Extensions": {}}``; 403 ``"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"``
  for a tenant the token was not granted (as reported in pyxero/xeroizer issues).
* 404 for an unknown id: the plain text "The resource you're looking for cannot be found"
  (not JSON: XeroAPI/Xero-OpenAPI issue #163, Xero-NetStandard #490).
* 429: ``Retry-After`` (seconds) and ``X-Rate-Limit-Problem`` (``minute``, ``day``,
  ``concurrent``) headers.
* 409 for a stale update is the sandbox's own rule (see :mod:`finpipe.sandbox.xero.store`):
  Xero has no version check, the sandbox adds one so the connector's StaleVersion path is
  exercised; the body is Xero's ValidationException envelope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from starlette.responses import PlainTextResponse, Response

from finpipe.connectors import payloads

NOT_FOUND_TEXT = "The resource you're looking for cannot be found"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON with exact numbers (Decimals keep their digits: ``46.00`` stays ``46.00``)."""
    return Response(
        payloads.dumps(body),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def validation_error(
    messages: list[str], element: dict[str, Any] | None = None, status: int = 400
) -> Response:
    """Xero's ValidationException envelope (status 400, or the sandbox's 409)."""
    item = dict(element or {})
    item["ValidationErrors"] = [{"Message": message} for message in messages]
    return json_response(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [item],
        },
        status,
    )


def problem(status: int, title: str, detail: str) -> Response:
    """Xero's problem document (401, 403, 503...)."""
    return json_response(
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        },
        status,
    )


def token_expired(now: dt.datetime) -> Response:
    return problem(401, "Unauthorized", f"TokenExpired: token expired at {now:%m/%d/%Y %H:%M:%S}")


def unauthenticated() -> Response:
    return problem(401, "Unauthorized", "AuthenticationUnsuccessful")


def forbidden() -> Response:
    return problem(403, "Forbidden", "AuthenticationUnsuccessful")


def not_found() -> Response:
    return PlainTextResponse(NOT_FOUND_TEXT, status_code=404)


def rate_limited(problem_name: str, retry_after: int) -> Response:
    return PlainTextResponse(
        "",
        status_code=429,
        headers={"Retry-After": str(retry_after), "X-Rate-Limit-Problem": problem_name},
    )


def unavailable() -> Response:
    return problem(503, "Service Unavailable", "The Xero API is temporarily unavailable")
