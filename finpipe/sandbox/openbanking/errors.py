"""OBIE error answers: ``OBErrorResponse1`` bodies (Code, Id, Message, Errors[ErrorCode,
Message, Path]); 401 carries no body, as the Read/Write API profile requires."""

from __future__ import annotations

import uuid

from starlette.responses import JSONResponse, Response

REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    429: "TooManyRequests",
    500: "InternalServerError",
}


def error(
    status: int,
    message: str,
    errors: list[tuple[str, str, str | None]],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An ``OBErrorResponse1`` answer; ``errors`` are (ErrorCode, Message, Path)."""
    body = {
        "Code": f"{status} {REASONS.get(status, 'Error')}",
        "Id": str(uuid.uuid4()),
        "Message": message,
        "Errors": [
            {"ErrorCode": code, "Message": text, **({"Path": path} if path else {})}
            for code, text, path in errors
        ],
    }
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized() -> Response:
    """Missing, expired or revoked access token (also: the consent expired)."""
    return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def bad_request(code: str, message: str, path: str | None = None) -> JSONResponse:
    return error(400, "Invalid request parameters.", [(code, message, path)])


def forbidden(code: str, message: str, path: str | None = None) -> JSONResponse:
    return error(403, "The request was refused.", [(code, message, path)])


def too_many(message: str, retry_after: int) -> JSONResponse:
    # No OBIE code exists for throttling; the sandbox bank uses its own namespace.
    return error(
        429,
        "Too many requests.",
        [("UK.SANDBOX.Rules.TooManyRequests", message, None)],
        headers={"Retry-After": str(retry_after)},
    )


def unexpected() -> JSONResponse:
    return error(
        500,
        "Something went wrong at the bank.",
        [("UK.OBIE.UnexpectedError", "sandbox fault injection: try again", None)],
    )
