"""Signature checks, one per provider. Each raises :class:`SignatureError` (401) when the
request cannot be proven to come from the provider, and compares secrets in constant time.

* QuickBooks Online: ``intuit-signature`` = base64(HMAC-SHA256(verifier token, raw body)).
* Xero: ``x-xero-signature`` = base64(HMAC-SHA256(webhook key, raw body)).
* Aggregator (Plaid): ``Plaid-Verification`` is an ES256 JWT whose ``kid`` names a key
  served by ``POST /webhook_verification_key/get``; its claims carry ``iat`` (at most five
  minutes old) and ``request_body_sha256`` (hex SHA-256 of the raw body).

No JWT library is needed: the JWT is split and checked here with ``cryptography`` (the
signature is JOSE's raw ``r || s``, converted to DER for ``cryptography``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from finpipe.webhooks.errors import KeyFetchError, SignatureError

log = logging.getLogger(__name__)

QUICKBOOKS_HEADER = "intuit-signature"
XERO_HEADER = "x-xero-signature"
AGGREGATOR_HEADER = "plaid-verification"
JWT_MAX_AGE_SECONDS = 5 * 60
# A JWT header far larger than Plaid's (~600 bytes) is not worth parsing.
_MAX_JWT_CHARS = 8192


def hmac_base64(key: str | bytes, body: bytes) -> str:
    """base64 of HMAC-SHA256(key, body): what QuickBooks and Xero put in their header."""
    raw_key = key.encode() if isinstance(key, str) else key
    return base64.b64encode(hmac.new(raw_key, body, hashlib.sha256).digest()).decode("ascii")


def _verify_hmac(body: bytes, signature: str | None, key: str, header: str) -> None:
    if not signature:
        raise SignatureError(
            f"header {header} is missing: the provider signs every webhook; check that the "
            "request came from it",
            reason="missing_signature",
        )
    expected = hmac_base64(key, body).encode("ascii")
    # Starlette decodes headers as latin-1, so this round-trips any byte the client sent;
    # comparing bytes keeps compare_digest constant-time and free of non-ASCII TypeErrors.
    given = signature.strip().encode("latin-1", errors="replace")
    if not hmac.compare_digest(expected, given):
        raise SignatureError(
            f"header {header} does not match the body: the body was altered or signed with "
            "another key; check the webhook key configured for this provider"
        )


def verify_quickbooks(body: bytes, signature: str | None, verifier_token: str) -> None:
    """Check ``intuit-signature`` against the raw ``body`` and the app's verifier token."""
    _verify_hmac(body, signature, verifier_token, QUICKBOOKS_HEADER)


def verify_xero(body: bytes, signature: str | None, webhook_key: str) -> None:
    """Check ``x-xero-signature`` against the raw ``body`` and the app's webhook key."""
    _verify_hmac(body, signature, webhook_key, XERO_HEADER)


# ------------------------------------------------------------------ aggregator JWT


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url (JOSE); raises ValueError on anything else."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    if b"=" in raw or b"+" in raw or b"/" in raw:
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (JOSE)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VerificationKey:
    """A webhook verification key as the aggregator serves it (public part only)."""

    kid: str
    public_key: ec.EllipticCurvePublicKey
    created_at: int | None
    expired_at: int | None
    fetched_at: float

    @property
    def expired(self) -> bool:
        # Plaid's guidance: a key with any expired_at is no longer used to sign.
        return self.expired_at is not None


def key_from_jwk(jwk: Mapping[str, Any], fetched_at: float) -> VerificationKey:
    """The P-256 public key of a JWK ``{alg, crv, kid, kty, use, x, y, created_at,
    expired_at}``; raises :class:`KeyFetchError` when the key is not an ES256 key."""
    kid = jwk.get("kid")
    problems = []
    if jwk.get("kty") != "EC":
        problems.append(f"kty {jwk.get('kty')!r} (expected 'EC')")
    if jwk.get("crv") != "P-256":
        problems.append(f"crv {jwk.get('crv')!r} (expected 'P-256')")
    if jwk.get("alg", "ES256") != "ES256":
        problems.append(f"alg {jwk.get('alg')!r} (expected 'ES256')")
    if not isinstance(kid, str) or not kid:
        problems.append("kid missing")
    try:
        x = b64url_decode(str(jwk.get("x", "")))
        y = b64url_decode(str(jwk.get("y", "")))
        if len(x) != 32 or len(y) != 32:
            raise ValueError("coordinates must be 32 bytes")
        public_key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    except ValueError as exc:
        problems.append(f"x/y: {exc}")
    if problems:
        raise KeyFetchError(
            f"the verification key {kid!r} is not an ES256 JWK: {'; '.join(problems)}; check "
            "FINPIPE_AGGREGATOR_API_BASE points at the aggregator"
        )
    created, expired = jwk.get("created_at"), jwk.get("expired_at")
    return VerificationKey(
        kid=str(kid),
        public_key=public_key,
        created_at=created if isinstance(created, int) else None,
        expired_at=expired if isinstance(expired, int) and not isinstance(expired, bool) else None,
        fetched_at=fetched_at,
    )


KeyFetcher = Callable[[str], Mapping[str, Any] | None]
"""Fetches the JWK of a key id; ``None`` when the aggregator does not know the id; raises
:class:`KeyFetchError` when it cannot tell."""


class PlaidKeyFetcher:
    """``POST <api base>/webhook_verification_key/get`` with the client's keys."""

    def __init__(self, api_base: str, client_id: str, secret: str, timeout: float = 5.0) -> None:
        self.url = api_base.rstrip("/") + "/webhook_verification_key/get"
        self.client_id = client_id
        self._secret = secret
        self.timeout = timeout
        self.calls = 0

    def __repr__(self) -> str:  # never show the secret
        return f"PlaidKeyFetcher(url={self.url!r}, client_id={self.client_id!r})"

    def __call__(self, kid: str) -> Mapping[str, Any] | None:
        import requests

        self.calls += 1
        body = {"client_id": self.client_id, "secret": self._secret, "key_id": kid}
        try:
            answer = requests.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise KeyFetchError(
                f"cannot reach the aggregator's verification-key endpoint {self.url}: "
                f"{type(exc).__name__}; check FINPIPE_AGGREGATOR_API_BASE and the network"
            ) from None
        if answer.status_code == 200:
            try:
                key = answer.json().get("key")
            except (ValueError, AttributeError):
                key = None
            if not isinstance(key, dict):
                raise KeyFetchError(f"{self.url} answered 200 without a `key` object")
            return key
        if 400 <= answer.status_code < 500 and answer.status_code != 429:
            error_code = _error_code(answer)
            if error_code == "INVALID_API_KEYS":
                raise KeyFetchError(
                    f"{self.url} refused the client id/secret (INVALID_API_KEYS); check "
                    "FINPIPE_AGGREGATOR_CLIENT_ID and FINPIPE_AGGREGATOR_SECRET"
                )
            return None  # the aggregator does not know this key id
        raise KeyFetchError(
            f"{self.url} answered HTTP {answer.status_code}; the webhook will be retried"
        )


def _error_code(answer: Any) -> str | None:
    try:
        code = answer.json().get("error_code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


@dataclass(frozen=True)
class JwtClaims:
    """The verified claims of a ``Plaid-Verification`` JWT."""

    kid: str
    iat: int
    request_body_sha256: str


class AggregatorVerifier:
    """Verifies ``Plaid-Verification`` JWTs, caching keys by ``kid``.

    A key is fetched once and kept; an unknown ``kid`` (a rotation) also re-fetches the
    cached keys not yet expired, so a retired key is refused from then on (Plaid's own
    example does the same). Cached keys are re-fetched after ``refresh_after`` seconds, and
    ids the aggregator does not know are remembered for ``unknown_ttl`` seconds so a flood
    of made-up ids cannot turn into a flood of key fetches.
    """

    def __init__(
        self,
        fetch_key: KeyFetcher,
        *,
        max_age: float = JWT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
        refresh_after: float = 3600.0,
        unknown_ttl: float = 60.0,
    ) -> None:
        self._fetch_key = fetch_key
        self.max_age = max_age
        self._clock = clock
        self.refresh_after = refresh_after
        self.unknown_ttl = unknown_ttl
        self._keys: dict[str, VerificationKey] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def _fetch(self, kid: str, now: float) -> VerificationKey | None:
        self.fetches += 1
        jwk = self._fetch_key(kid)
        if jwk is None:
            return None
        key = key_from_jwk(jwk, now)
        if key.kid != kid:
            raise KeyFetchError(
                f"the verification-key endpoint answered key {key.kid!r} when asked for {kid!r}"
            )
        return key

    def key(self, kid: str) -> VerificationKey:
        """The cached (or freshly fetched) key ``kid``; raises :class:`SignatureError` when
        the aggregator does not know it or it has expired."""
        now = self._clock()
        # One lock: concurrent deliveries signed by a new key cause one fetch, not many.
        with self._lock:
            key = self._keys.get(kid)
            if key is None or (not key.expired and now - key.fetched_at > self.refresh_after):
                if key is None and now - self._unknown.get(kid, -1e18) < self.unknown_ttl:
                    raise SignatureError(
                        "Plaid-Verification names a key id the aggregator does not know",
                        reason="unknown_key",
                    )
                fetched = self._fetch(kid, now)
                if fetched is None:
                    self._unknown[kid] = now
                    self._keys.pop(kid, None)
                    raise SignatureError(
                        "Plaid-Verification names a key id the aggregator does not know",
                        reason="unknown_key",
                    )
                if key is None:
                    # A new kid means the aggregator may have rotated: learn which of the
                    # keys we hold have expired since.
                    for other in [k for k in self._keys.values() if not k.expired]:
                        try:
                            again = self._fetch(other.kid, now)
                        except KeyFetchError:
                            continue
                        if again is None:
                            self._keys.pop(other.kid, None)
                        else:
                            self._keys[other.kid] = again
                self._keys[kid] = key = fetched
                self._unknown.pop(kid, None)
        if key.expired:
            raise SignatureError(
                "Plaid-Verification is signed with a key the aggregator has expired",
                reason="expired_key",
            )
        return key

    def verify(self, body: bytes, token: str | None) -> JwtClaims:
        """Verify the ``Plaid-Verification`` header ``token`` for the raw ``body``."""
        if not token:
            raise SignatureError(
                "header Plaid-Verification is missing: the aggregator signs every webhook",
                reason="missing_signature",
            )
        token = token.strip()
        parts = token.split(".")
        if len(token) > _MAX_JWT_CHARS or len(parts) != 3:
            raise SignatureError(
                "header Plaid-Verification is not a JWT (three base64url parts joined by dots)",
                reason="malformed_jwt",
            )
        header = _json_part(parts[0], "header")
        alg = header.get("alg")
        if alg != "ES256":
            raise SignatureError(
                f"Plaid-Verification JWT header alg must be ES256, got {str(alg)[:20]!r}",
                reason="bad_algorithm",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise SignatureError(
                "Plaid-Verification JWT header has no usable kid (the verification key id)",
                reason="malformed_jwt",
            )
        key = self.key(kid)
        try:
            raw_signature = b64url_decode(parts[2])
        except ValueError:
            raw_signature = b""
        if len(raw_signature) != 64:
            raise SignatureError(
                "Plaid-Verification JWT signature is not an ES256 signature (64 bytes r||s)"
            )
        der = encode_dss_signature(
            int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
        )
        try:
            key.public_key.verify(
                der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            raise SignatureError(
                "Plaid-Verification JWT signature does not verify with the aggregator's key"
            ) from None
        claims = _json_part(parts[1], "payload")
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise SignatureError(
                "Plaid-Verification JWT has no numeric iat claim", reason="malformed_jwt"
            )
        now = self._clock()
        if now - iat > self.max_age:
            raise SignatureError(
                f"Plaid-Verification JWT was issued {int(now - iat)} s ago, more than "
                f"{int(self.max_age)} s: a stale or replayed webhook",
                reason="expired_jwt",
            )
        if iat - now > self.max_age:
            raise SignatureError(
                "Plaid-Verification JWT iat lies in the future; check this machine's clock",
                reason="expired_jwt",
            )
        claimed = claims.get("request_body_sha256")
        if not isinstance(claimed, str):
            raise SignatureError(
                "Plaid-Verification JWT has no request_body_sha256 claim", reason="malformed_jwt"
            )
        actual = hashlib.sha256(body).hexdigest().encode("ascii")
        if not hmac.compare_digest(actual, claimed.encode("utf-8", errors="replace")):
            raise SignatureError(
                "request_body_sha256 of the Plaid-Verification JWT does not match the body: "
                "the body was altered in transit",
                reason="body_hash_mismatch",
            )
        return JwtClaims(kid=kid, iat=int(iat), request_body_sha256=claimed)


def _json_part(part: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(part))
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise SignatureError(
            f"Plaid-Verification JWT {name} is not base64url JSON", reason="malformed_jwt"
        )
    return value
