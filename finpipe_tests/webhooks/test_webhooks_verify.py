"""Signature checks and payload parsing, on the conformance vectors and forged requests."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from webhook_helpers import XERO_KEY

from finpipe.sandbox.aggregator.webhooks import WebhookKeys, webhook_body
from finpipe.webhooks import (
    AggregatorVerifier,
    KeyFetchError,
    PayloadError,
    SignatureError,
    hmac_base64,
    parse_quickbooks,
    parse_xero,
    verify_quickbooks,
    verify_xero,
)
from finpipe.webhooks.events import parse_json

UTC = dt.UTC
pytestmark = pytest.mark.conformance


def _vector(conformance_dir: Path, name: str) -> dict:
    return json.loads((conformance_dir / "webhooks" / name).read_text())


@pytest.mark.parametrize(
    "name", ["quickbooks_signature_vector.json", "quickbooks_legacy_signature_vector.json"]
)
def test_quickbooks_vectors(conformance_dir: Path, name: str) -> None:
    vector = _vector(conformance_dir, name)
    assert vector["header"] == "intuit-signature"
    body = vector["body"].encode()
    if "body_file" in vector:
        # The signature covers the exact bytes of the published body file.
        assert (conformance_dir / "webhooks" / vector["body_file"]).read_bytes() == body
    verify_quickbooks(body, vector["signature"], vector["verifier_token"])
    for case in vector["negative_cases"]:
        assert case["expect_valid"] is False
        with pytest.raises(SignatureError) as caught:
            verify_quickbooks(
                case.get("body", vector["body"]).encode(),
                case["signature"],
                case.get("verifier_token", vector["verifier_token"]),
            )
        assert caught.value.status == 401


def test_quickbooks_signature_refuses_wrong_key_missing_header_and_odd_bytes(
    conformance_dir: Path,
) -> None:
    vector = _vector(conformance_dir, "quickbooks_legacy_signature_vector.json")
    body = vector["body"].encode()
    with pytest.raises(SignatureError):
        verify_quickbooks(body, vector["signature"], "another-token")
    with pytest.raises(SignatureError) as caught:
        verify_quickbooks(body, None, vector["verifier_token"])
    assert caught.value.reason == "missing_signature"
    # Non-ASCII header text must be a clean refusal, not a TypeError from compare_digest.
    with pytest.raises(SignatureError):
        verify_quickbooks(body, "é" * 44, vector["verifier_token"])
    with pytest.raises(SignatureError):
        verify_quickbooks(body + b" ", vector["signature"], vector["verifier_token"])


def test_quickbooks_payloads_parse(conformance_dir: Path) -> None:
    folder = conformance_dir / "webhooks"
    [legacy] = parse_quickbooks(
        parse_json((folder / "quickbooks_legacy_eventnotifications.json").read_bytes())
    )
    assert (legacy.tenant_id, legacy.entity, legacy.entity_id, legacy.operation) == (
        "1185883450",
        "customer",
        "1",
        "create",
    )
    # "-0700" without a colon is QBO's legacy offset form.
    assert legacy.occurred_at == dt.datetime(2015, 10, 5, 21, 42, 19, tzinfo=UTC)
    assert legacy.event_id.startswith("legacy-")
    [created] = parse_quickbooks(
        parse_json((folder / "quickbooks_cloudevents_customer_created.json").read_bytes())
    )
    assert (created.event_id, created.tenant_id, created.entity, created.entity_id) == (
        "88cd52aa-33b6-4351-9aa4-47572edbd068",
        "310687",
        "customer",
        "1234",
    )
    assert created.operation == "create"  # qbo.customer.created.v1
    assert created.occurred_at == dt.datetime(2025, 9, 10, 21, 31, 25, 179000, tzinfo=UTC)
    [deleted] = parse_quickbooks(
        parse_json((folder / "quickbooks_cloudevents_invoice_deleted.json").read_bytes())
    )
    # The minimal event has no time, source or data: tolerated.
    assert (deleted.entity, deleted.operation, deleted.occurred_at) == ("invoice", "delete", None)
    assert deleted.tenant_id == "9341455322581846"


@pytest.mark.parametrize("name", ["xero_contact_update.json", "xero_creditnote_create.json"])
def test_xero_payloads_verify_and_parse(conformance_dir: Path, name: str) -> None:
    body = (conformance_dir / "webhooks" / name).read_bytes()
    verify_xero(body, hmac_base64(XERO_KEY, body), XERO_KEY)
    with pytest.raises(SignatureError):
        verify_xero(body, hmac_base64("other-key", body), XERO_KEY)
    with pytest.raises(SignatureError):
        verify_xero(
            body.replace(b"ORGANISATION", b"ORGANIZATION"), hmac_base64(XERO_KEY, body), XERO_KEY
        )
    [event] = parse_xero(parse_json(body))
    raw = json.loads(body)["events"][0]
    assert event.tenant_id == raw["tenantId"]
    assert event.entity == raw["eventCategory"].lower()
    assert event.entity_id == raw["resourceId"]
    assert event.operation == raw["eventType"].lower()
    # eventDateUtc has milliseconds and no zone: it is UTC.
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None
    assert event.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] == raw["eventDateUtc"]


def test_xero_quirks_intent_to_receive_and_casing(conformance_dir: Path) -> None:
    assert parse_xero({"events": [], "firstEventSequence": 0, "lastEventSequence": 0}) == []
    document = json.loads((conformance_dir / "webhooks" / "xero_contact_update.json").read_text())
    upper = parse_xero(document)
    document["events"][0]["eventType"] = "Update"
    mixed = parse_xero(document)
    # The same change announced as Update or UPDATE is one event.
    assert upper[0].event_id == mixed[0].event_id
    assert mixed[0].operation == "update"


@pytest.mark.parametrize(
    "document",
    [
        {"eventNotifications": "nope"},
        {"eventNotifications": [{"dataChangeEvent": {"entities": []}}]},
        [{"id": "x", "type": "invoice.updated", "intuitaccountid": "1", "intuitentityid": "2"}],
        [{"type": "qbo.invoice.updated.v1", "intuitaccountid": "1", "intuitentityid": "2"}],
        {"stuff": "5"},
        "text",
    ],
)
def test_quickbooks_shapes_refused_with_the_field(document: object) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_quickbooks(document)
    assert caught.value.status == 400


def test_malformed_json_is_a_payload_error() -> None:
    for body in (b"{", b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(PayloadError) as caught:
            parse_json(body)
        assert caught.value.reason == "malformed_json"


# ------------------------------------------------------------------ aggregator JWT


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys() -> tuple[WebhookKeys, Clock]:
    clock = Clock()
    return WebhookKeys(clock=clock), clock


def _verifier(keys: WebhookKeys, clock: Clock) -> AggregatorVerifier:
    return AggregatorVerifier(keys.jwk, clock=clock)


def test_jwt_valid_and_keys_cached(keys: tuple[WebhookKeys, Clock]) -> None:
    signer, clock = keys
    verifier = _verifier(signer, clock)
    for n in range(20):
        body = webhook_body(f"item-{n}")
        claims = verifier.verify(body, signer.sign(body))
        assert claims.iat == int(clock.now)
    assert verifier.fetches == 1 and signer.lookups == 1


def test_jwt_forgeries_refused(keys: tuple[WebhookKeys, Clock]) -> None:
    signer, clock = keys
    verifier = _verifier(signer, clock)
    body = webhook_body("item-1")
    good = signer.sign(body)

    def reason(token: str | None, payload: bytes = body) -> str:
        with pytest.raises(SignatureError) as caught:
            verifier.verify(payload, token)
        assert caught.value.status == 401
        return caught.value.reason

    assert reason(None) == "missing_signature"
    assert reason("not-a-jwt") == "malformed_jwt"
    assert reason(good, body.replace(b"item-1", b"item-2")) == "body_hash_mismatch"
    assert reason(signer.sign(body, alg="HS256")) == "bad_algorithm"
    header, claims, _ = good.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"x"}').rstrip(b"=").decode()
    assert reason(f"{none_header}.{claims}.") == "bad_algorithm"
    assert reason(f"{header}.{claims}.{'A' * 86}") == "bad_signature"
    # Claims swapped from another token: the signature no longer covers them.
    other = signer.sign(b"{}")
    assert reason(f"{header}.{other.split('.')[1]}.{good.split('.')[2]}") == "bad_signature"
    assert reason(signer.sign(body, iat=int(clock.now) - 301)) == "expired_jwt"
    assert reason(signer.sign(body, iat=int(clock.now) + 3600)) == "expired_jwt"
    assert reason(signer.sign(body, body_sha256="0" * 64)) == "body_hash_mismatch"
    # A key the aggregator never issued, then the same kid again: one fetch, not two.
    stranger = WebhookKeys(clock=clock)
    assert reason(stranger.sign(body)) == "unknown_key"
    before = verifier.fetches
    assert reason(stranger.sign(body)) == "unknown_key"
    assert verifier.fetches == before
    # Within the five minutes: still fine.
    assert verifier.verify(body, signer.sign(body, iat=int(clock.now) - 299)).iat


def test_jwt_rotation_retires_the_old_key(keys: tuple[WebhookKeys, Clock]) -> None:
    signer, clock = keys
    verifier = _verifier(signer, clock)
    body = webhook_body("item-1")
    old = signer.current.kid
    verifier.verify(body, signer.sign(body))
    signer.rotate()
    # The new kid triggers a fetch of it and a re-check of the cached one.
    verifier.verify(body, signer.sign(body))
    assert verifier.fetches == 3
    with pytest.raises(SignatureError) as caught:
        verifier.verify(body, signer.sign(body, kid=old))
    assert caught.value.reason == "expired_key"


def test_key_fetch_failure_is_retryable(keys: tuple[WebhookKeys, Clock]) -> None:
    signer, clock = keys

    def broken(kid: str) -> None:
        raise KeyFetchError("aggregator down")

    verifier = AggregatorVerifier(broken, clock=clock)
    body = webhook_body("item-1")
    with pytest.raises(KeyFetchError) as caught:
        verifier.verify(body, signer.sign(body))
    assert caught.value.status == 503
