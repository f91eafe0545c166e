"""The aggregator sandbox's webhook signing keys, in the style of Plaid.

The sandbox holds EC P-256 key pairs for its API client. :meth:`WebhookKeys.sign` produces
the ``Plaid-Verification`` JWT of a webhook body (header ``{"alg": "ES256", "kid", "typ":
"JWT"}``, claims ``{"iat", "request_body_sha256"}``, signature raw ``r || s``) and
``POST /webhook_verification_key/get`` serves the public half as a JWK
``{alg, crv, kid, kty, use, x, y, created_at, expired_at}``. Tests rotate and expire keys
to exercise a receiver's cache.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HEADER = "Plaid-Verification"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    """One key pair: the private half never leaves the sandbox."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: int
    expired_at: int | None = None

    def jwk(self) -> dict[str, Any]:
        """The public half as Plaid's ``/webhook_verification_key/get`` answers it."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "alg": "ES256",
            "created_at": self.created_at,
            "crv": "P-256",
            "expired_at": self.expired_at,
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }


class WebhookKeys:
    """The signing keys of one API client: one current key, older ones kept (expired or
    not) so the verification endpoint can still describe them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self.current = self._new_key()
        # Calls answered by /webhook_verification_key/get (tests check receivers cache).
        self.lookups = 0

    def _new_key(self) -> SigningKey:
        key = SigningKey(
            kid=str(uuid.uuid4()),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            created_at=int(self._clock()),
        )
        self._keys[key.kid] = key
        return key

    def rotate(self, *, expire_previous: bool = True) -> SigningKey:
        """A new current key; the previous one is expired unless told otherwise."""
        with self._lock:
            previous = self.current
            self.current = self._new_key()
            if expire_previous:
                previous.expired_at = int(self._clock())
            return self.current

    def expire(self, kid: str) -> None:
        """Mark key ``kid`` expired (it still signs if asked to, as a stale sender would)."""
        with self._lock:
            self._keys[kid].expired_at = int(self._clock())

    def jwk(self, kid: str) -> dict[str, Any] | None:
        """The public JWK of ``kid``, or ``None`` for an id the sandbox never issued."""
        with self._lock:
            self.lookups += 1
            key = self._keys.get(kid)
            return key.jwk() if key is not None else None

    def sign(
        self,
        body: bytes,
        *,
        iat: int | None = None,
        kid: str | None = None,
        body_sha256: str | None = None,
        alg: str = "ES256",
    ) -> str:
        """The ``Plaid-Verification`` JWT for ``body``. Tests may override ``iat``, the key
        (``kid``), the claimed ``body_sha256`` or the header's ``alg`` to forge bad ones."""
        key = self._keys[kid] if kid is not None else self.current
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        claims = {
            "iat": int(self._clock()) if iat is None else iat,
            "request_body_sha256": body_sha256 or hashlib.sha256(body).hexdigest(),
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = key.private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def webhook_body(item_id: str, webhook_code: str = "SYNC_UPDATES_AVAILABLE", **extra: Any) -> bytes:
    """A TRANSACTIONS webhook body as Plaid sends it (pretty-printed, two-space indent:
    the signature covers these exact bytes, so receivers must hash the raw body)."""
    body: dict[str, Any] = {
        "environment": "sandbox",
        "item_id": item_id,
        "webhook_code": webhook_code,
        "webhook_type": "TRANSACTIONS",
    }
    if webhook_code == "SYNC_UPDATES_AVAILABLE":
        body.update(initial_update_complete=True, historical_update_complete=True)
    body.update(extra)
    return json.dumps(body, indent=2).encode()
