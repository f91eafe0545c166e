"""Plaid's error object, as the aggregator sandbox answers it.

Every error is JSON ``{error_type, error_code, error_code_reason, error_message,
display_message, request_id, causes, status, documentation_url, suggested_action}`` with the
HTTP status Plaid documents for it (https://plaid.com/docs/errors/): ``INVALID_REQUEST``,
``INVALID_INPUT``, ``ITEM_ERROR`` and ``TRANSACTIONS_ERROR`` answer 400,
``RATE_LIMIT_EXCEEDED`` 429 (with no ``Retry-After`` header) and ``API_ERROR`` 500.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from starlette.responses import Response

from finpipe.connectors import payloads

DOCS = "https://plaid.com/docs/errors/"
_ALPHABET = string.ascii_letters + string.digits

# error_type -> (HTTP status, documentation page)
_TYPES: dict[str, tuple[int, str]] = {
    "INVALID_REQUEST": (400, "invalid-request"),
    "INVALID_INPUT": (400, "invalid-input"),
    "ITEM_ERROR": (400, "item"),
    "TRANSACTIONS_ERROR": (400, "transactions"),
    "RATE_LIMIT_EXCEEDED": (429, "rate-limit-exceeded"),
    "API_ERROR": (500, "api"),
}


def request_id() -> str:
    """A Plaid-style request id (15 case-sensitive alphanumerics)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(15))


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """JSON with exact numbers (Decimal amounts keep their digits)."""
    return Response(payloads.dumps(body), status_code=status, media_type="application/json")


def error_body(error_type: str, error_code: str, message: str, display: str | None = None) -> dict:
    """The error object of ``error_type`` / ``error_code`` (with its HTTP status)."""
    status, page = _TYPES[error_type]
    return {
        "error_type": error_type,
        "error_code": error_code,
        "error_code_reason": None,
        "error_message": message,
        "display_message": display,
        "request_id": request_id(),
        "causes": [],
        "status": status,
        "documentation_url": f"{DOCS}{page}/#{error_code.lower()}",
        "suggested_action": None,
    }


def error(error_type: str, error_code: str, message: str, display: str | None = None) -> Response:
    """A Plaid error answer with the documented HTTP status of ``error_type``."""
    body = error_body(error_type, error_code, message, display)
    return json_response(body, body["status"])


def invalid_body() -> Response:
    """400 INVALID_BODY: the body is not a JSON object."""
    return error(
        "INVALID_REQUEST",
        "INVALID_BODY",
        "body could not be parsed as JSON",
    )


def missing_fields(fields: list[str]) -> Response:
    """400 MISSING_FIELDS naming the fields."""
    return error(
        "INVALID_REQUEST",
        "MISSING_FIELDS",
        f"the following required fields are missing: {', '.join(fields)}",
    )


def invalid_field(message: str) -> Response:
    """400 INVALID_FIELD with what is wrong and what is allowed."""
    return error("INVALID_REQUEST", "INVALID_FIELD", message)


def invalid_api_keys() -> Response:
    """400 INVALID_API_KEYS: wrong client_id or secret."""
    return error("INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided")


def invalid_access_token() -> Response:
    """400 INVALID_ACCESS_TOKEN: unknown or removed Item."""
    return error(
        "INVALID_INPUT",
        "INVALID_ACCESS_TOKEN",
        "provided access token is in an invalid format. expected format: "
        "access-<environment>-<identifier>",
    )


def invalid_public_token() -> Response:
    """400 INVALID_PUBLIC_TOKEN: unknown, spent or expired public token."""
    return error(
        "INVALID_INPUT",
        "INVALID_PUBLIC_TOKEN",
        "provided public token is expired. Public tokens expire 30 minutes after creation at "
        "which point they can no longer be exchanged",
    )


def invalid_institution(institution_id: str) -> Response:
    """400 INVALID_INSTITUTION."""
    return error(
        "INVALID_INPUT",
        "INVALID_INSTITUTION",
        f"invalid institution_id provided: {institution_id!r}",
    )


_LOGIN_MESSAGE = (
    "the login details of this item have changed (credentials, MFA, or required user action) "
    "and a user login is required to update this information. use Link's update mode to "
    "restore the item to a good state"
)
_LOGIN_DISPLAY = (
    "The login details of this item have changed (credentials, MFA, or required user action) "
    "and a user login is required to update this information."
)


def item_login_required_body() -> dict[str, Any]:
    """The ITEM_LOGIN_REQUIRED error object (also shown as ``item.error`` by /item/get)."""
    return error_body("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", _LOGIN_MESSAGE, _LOGIN_DISPLAY)


def item_login_required() -> Response:
    """400 ITEM_LOGIN_REQUIRED: the user must go through Link update mode."""
    return error("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", _LOGIN_MESSAGE, _LOGIN_DISPLAY)


def mutation_during_pagination() -> Response:
    """400 TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION."""
    return error(
        "TRANSACTIONS_ERROR",
        "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
        "Underlying transaction data changed since last page was fetched. Please restart "
        "pagination from last update.",
    )


def rate_limited(error_code: str) -> Response:
    """429 RATE_LIMIT_EXCEEDED with the endpoint's ``error_code``."""
    # Plaid's 429 carries no Retry-After: clients back off on their own.
    return error(
        "RATE_LIMIT_EXCEEDED",
        error_code,
        "rate limit exceeded for attempts to access this item. please try again later",
    )


def internal_server_error() -> Response:
    """500 INTERNAL_SERVER_ERROR (the 5xx fault knob)."""
    return error(
        "API_ERROR",
        "INTERNAL_SERVER_ERROR",
        "an unexpected error occurred",
        "Something went wrong. Please try again later.",
    )
