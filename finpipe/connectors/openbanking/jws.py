"""The authorization request object: a JWT carrying the consent id as the
``openbanking_intent_id`` claim (OBIE security profile).

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


def verify_hs256(token: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """The claims of an HS256 JWS signed with ``secret``; raises :class:`RequestObjectError`."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(payload_b64))
        signature = _unb64(signature_b64)
    except (ValueError, TypeError) as exc:
        raise RequestObjectError(f"the request object is not a compact JWS ({exc})") from None
    if header.get("alg") != "HS256":
        raise RequestObjectError(f"request object alg {header.get('alg')!r}: expected HS256")
    expected = hmac.new(
        secret.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, signature):
        raise RequestObjectError("the request object signature does not verify")
    if not isinstance(claims, dict):
        raise RequestObjectError("the request object payload is not a JSON object")
    exp = claims.get("exp")
    if exp is not None and float(exp) < (time.time() if now is None else now):
        raise RequestObjectError("the request object has expired (exp)")
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
