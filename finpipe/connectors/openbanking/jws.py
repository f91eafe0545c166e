"""The authorization request object: a JWT carrying the consent id as the
``openbanking_intent_id`` claim (OBIE security profile / FAPI). It repeats every
authorization parameter (``client_id``, ``response_type``, ``redirect_uri``, ``scope``,
``state``) and carries ``iss`` (the client), ``aud`` (the authorisation server's issuer),
``iat``/``nbf`` and a required ``exp`` at most :data:`MAX_LIFETIME` later.

Real ASPSPs require it signed PS256 with the TPP's registered signing key; finpipe's sandbox
accepts HS256 with the client secret (a documented simplification: no key registration, no
JWKS). Only the standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

# FAPI: a request object lives at most 60 minutes (exp after nbf); the connector's live 10.
MAX_LIFETIME = 3600.0
LIFETIME = 600
LEEWAY = 30.0  # seconds of clock skew tolerated on nbf/iat


class RequestObjectError(ValueError):
    """The request object is malformed, badly signed or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_hs256(claims: dict[str, Any], secret: str) -> str:
    """A compact JWS (HS256) of ``claims``."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


def same(left: Any, right: Any) -> bool:
    """``left == right`` for strings, in constant time (both must be strings)."""
    if not isinstance(left, str) or not isinstance(right, str):
        return False
    return hmac.compare_digest(left.encode(), right.encode())


def _instant(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestObjectError(f"the request object's {name} is not a NumericDate")
    return float(value)


def verify_hs256(
    token: str,
    secret: str,
    now: float | None = None,
    *,
    max_lifetime: float = MAX_LIFETIME,
    leeway: float = LEEWAY,
) -> dict[str, Any]:
    """The claims of an HS256 JWS signed with ``secret`` whose ``exp`` (required) has not
    passed and lies at most ``max_lifetime`` seconds after its start (the earliest of
    ``nbf``, ``iat`` and ``now``); an ``nbf`` or ``iat`` further than ``leeway`` seconds in
    the future is refused too.
    Raises :class:`RequestObjectError`. The signature is compared in constant time."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(payload_b64))
        signature = _unb64(signature_b64)
    except (ValueError, TypeError) as exc:
        raise RequestObjectError(f"the request object is not a compact JWS ({exc})") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        alg = header.get("alg") if isinstance(header, dict) else None
        raise RequestObjectError(f"request object alg {alg!r}: expected HS256")
    expected = hmac.new(
        secret.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, signature):
        raise RequestObjectError("the request object signature does not verify")
    if not isinstance(claims, dict):
        raise RequestObjectError("the request object payload is not a JSON object")
    now = time.time() if now is None else now
    exp = _instant(claims, "exp")
    if exp is None:
        raise RequestObjectError("the request object has no exp (FAPI requires one)")
    if exp <= now:
        raise RequestObjectError("the request object has expired (exp)")
    nbf, iat = _instant(claims, "nbf"), _instant(claims, "iat")
    for name, value in (("nbf", nbf), ("iat", iat)):
        if value is not None and value > now + leeway:
            raise RequestObjectError(f"the request object's {name} lies in the future")
    start = min(v for v in (nbf, iat, now) if v is not None)
    if exp - start > max_lifetime:
        raise RequestObjectError(
            f"the request object lives {int(exp - start)} s (exp): at most "
            f"{int(max_lifetime)} s are accepted"
        )
    return claims


def intent_claims(consent_id: str) -> dict[str, Any]:
    """The ``claims`` member binding the authorization to ``consent_id``."""
    intent = {"value": consent_id, "essential": True}
    return {
        "userinfo": {"openbanking_intent_id": intent},
        "id_token": {
            "openbanking_intent_id": intent,
            "acr": {"essential": True, "values": ["urn:openbanking:psd2:sca"]},
        },
    }


def intent_id(claims: dict[str, Any]) -> str | None:
    """The consent id a request object's claims name, or None."""
    requested = claims.get("claims") or {}
    for member in ("id_token", "userinfo"):
        value = ((requested.get(member) or {}).get("openbanking_intent_id") or {}).get("value")
        if isinstance(value, str) and value:
            return value
    return None
