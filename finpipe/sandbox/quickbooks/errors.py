"""QBO's error answers, with the bodies QBO sends.

Shapes come from recorded QBO responses (the conformance corpus, ``quickbooks/http``):
400s carry ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type":
"ValidationFault"}, "time": ...}`` with a *string* code; a 401 carries the lower-case
envelope (``fault.error[]``, ``intuitObject``, ``cdcresponse``...) with an epoch-millisecond
``time``. Throttling is Fault type ``SERVICE`` code ``3001`` ("ThrottleExceeded") with 429.
Codes used: 610 object not found, 2030 invalid id, 4000 query parse error, 4001 invalid
query, 5010 stale object, 500 unsupported operation, 10000 system failure.
"""

from __future__ import annotations

import hashlib

from starlette.responses import Response

from finpipe.connectors import payloads

JSON_ERROR = "application/json"


class QboFault(Exception):
    """Raised inside the sandbox; turned into a Fault answer by the route."""

    def __init__(
        self,
        message: str,
        detail: str,
        code: str,
        *,
        element: str | None = None,
        fault_type: str = "ValidationFault",
        status: int = 400,
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.message = message
        self.detail = detail
        self.code = code
        self.element = element
        self.fault_type = fault_type
        self.status = status

    def body(self, time: str | None) -> dict[str, object]:
        error: dict[str, object] = {"Message": self.message, "Detail": self.detail}
        error["code"] = self.code
        if self.element is not None:
            error["element"] = self.element
        out: dict[str, object] = {"Fault": {"Error": [error], "type": self.fault_type}}
        if time is not None:
            out["time"] = time
        return out

    def response(self, time: str | None, headers: dict[str, str] | None = None) -> Response:
        return Response(
            payloads.dumps(self.body(time)),
            status_code=self.status,
            media_type=JSON_ERROR,
            headers=headers,
        )


def object_not_found(entity: str, entity_id: str) -> QboFault:
    return QboFault(
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. Check the "
        "fields with accounts, customers, items, vendors or employees.",
        "610",
        element="",
    )


def invalid_id(value: str) -> QboFault:
    return QboFault(
        "Invalid ID", f"Id should be a valid number. Supplied value:{value}", "2030", element="Id"
    )


def stale_object() -> QboFault:
    return QboFault(
        "Stale Object Error",
        "Stale Object Error : You and Sandbox User were working on this at the same time. "
        "Sandbox User finished before you did, so your work was not saved.",
        "5010",
        element="",
    )


def query_parse_error(detail: str) -> QboFault:
    return QboFault("Error parsing query", f"QueryParserError: {detail}", "4000")


def invalid_query(detail: str) -> QboFault:
    return QboFault("Invalid query", f"QueryValidationError: {detail}", "4001")


def unsupported_operation(detail: str) -> QboFault:
    return QboFault("Unsupported Operation", f"Operation {detail} is not supported.", "500")


def cdc_too_old(changed_since: str) -> QboFault:
    # The Detail is QBO's text for this case; it arrives like the other "Operation ... is not
    # supported." answers (Message "Unsupported Operation", code 500).
    return QboFault(
        "Unsupported Operation",
        f"Operation cdc with changedSince date {changed_since} which is older than fixed days "
        "is not supported.",
        "500",
    )


def required_missing(entity: str, element: str) -> QboFault:
    return QboFault(
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        "2020",
        element=element,
    )


def throttled() -> QboFault:
    return QboFault(
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        "3001",
        fault_type="SERVICE",
        status=429,
    )


def system_failure() -> QboFault:
    return QboFault(
        "An application error has occurred while processing your request",
        "System Failure Error: An application error has occurred. Please try again later.",
        "10000",
        fault_type="SystemFault",
        status=500,
    )


def authentication_failed(bearer: str, epoch_ms: int) -> Response:
    """The 401 QBO sends for a missing, expired or revoked access token (lower-case
    envelope). QBO echoes a token fragment in ``detail``; the sandbox sends a digest of it."""
    fragment = hashlib.sha256(bearer.encode()).hexdigest()[:50] if bearer else "missing"
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": f"Token expired: {fragment}",
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": epoch_ms,
        "status": None,
        "cdcresponse": [],
    }
    return Response(payloads.dumps(body), status_code=401, media_type=JSON_ERROR)


def authorization_failed() -> QboFault:
    """A valid token used on a realm it was not granted for."""
    return QboFault(
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        "",
        "3100",
        fault_type="SECURITY",
        status=403,
    )
