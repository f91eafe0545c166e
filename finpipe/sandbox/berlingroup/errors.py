"""Berlin Group NextGenPSD2 error answers.

The sandbox uses the NextGenPSD2 error form of v1.3.x (``Error4xx_NG_AIS``):
``{"tppMessages": [{"category": "ERROR", "code": "...", "text": "..."}]}`` (the RFC 7807
``type``/``title``/``code`` alternative of the same version is not served). Codes and their
statuses follow the AIS tables of the specification:

* 400 ``FORMAT_ERROR``, ``PARAMETER_NOT_SUPPORTED``, ``PERIOD_INVALID``
* 401 ``CERTIFICATE_MISSING`` (no TPP identity), ``TOKEN_INVALID``, ``TOKEN_EXPIRED``,
  ``CONSENT_INVALID`` (revoked, terminated, not authorised, or not covering the resource),
  ``CONSENT_EXPIRED`` (``validUntil`` passed)
* 403 ``CONSENT_UNKNOWN``, ``RESOURCE_UNKNOWN``; 404 ``RESOURCE_UNKNOWN``
* 429 ``ACCESS_EXCEEDED`` (``frequencyPerDay`` used up, or a transient throttle that then
  carries ``Retry-After``)
* 500 ``INTERNAL_SERVER_ERROR``, 503 ``SERVICE_UNAVAILABLE``
"""

from __future__ import annotations

from starlette.responses import JSONResponse


def tpp_error(
    status: int, code: str, text: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """One error answer in the ``tppMessages`` form."""
    return JSONResponse(
        {"tppMessages": [{"category": "ERROR", "code": code, "text": text}]},
        status_code=status,
        headers=headers,
    )


def format_error(text: str) -> JSONResponse:
    return tpp_error(400, "FORMAT_ERROR", text)


def access_exceeded(text: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return tpp_error(429, "ACCESS_EXCEEDED", text, headers)


def service_unavailable() -> JSONResponse:
    return tpp_error(503, "SERVICE_UNAVAILABLE", "The ASPSP server is currently unavailable.")
