"""Property: whatever bytes and headers reach any endpoint, the receiver never answers 500
and never stores an event (none of them carries a valid signature)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_helpers import SECRETS, call, qbo_headers

from finpipe.sandbox.aggregator.webhooks import WebhookKeys
from finpipe.warehouse import Warehouse
from finpipe.webhooks import AggregatorVerifier, create_app

SIGNATURE_HEADERS = [b"intuit-signature", b"x-xero-signature", b"plaid-verification"]
PATHS = [
    "/webhooks/quickbooks",
    "/webhooks/xero",
    "/webhooks/aggregator",
    "/webhooks/unknown",
    "/webhooks/%00",
]
METHODS = ["POST", "POST", "POST", "GET", "PUT", "DELETE"]

# JSON-ish bodies reach the parser more often than random bytes would.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=600),
    st.integers(min_value=200, max_value=3000).map(lambda n: b"x" * n),  # around the limit
    json_values.map(lambda v: repr(v).replace("'", '"').encode()),
    st.sampled_from(
        [
            b'{"eventNotifications":[]}',
            b'{"events":[],"firstEventSequence":0,"lastEventSequence":0}',
            b'[{"id":"1","type":"qbo.invoice.updated.v1"}]',
            b'{"item_id":"i","webhook_type":"TRANSACTIONS","webhook_code":"X"}',
        ]
    ),
)
header_values = st.one_of(
    st.binary(max_size=120),
    st.sampled_from(
        [
            b"",
            b"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJpYXQiOjF9.AAAA",
            b"a.b.c",
            b"nfPLN16u3vMvv08ghDs+dOkLuirEVDy5wAeG/lmM2OA=",
        ]
    ),
)
headers = st.lists(
    st.tuples(
        st.sampled_from([*SIGNATURE_HEADERS, b"content-type", b"content-length", b"x-other"]),
        header_values,
    ),
    max_size=5,
)


def test_random_requests_never_500_never_stored(duck_wh: Warehouse) -> None:
    signer = WebhookKeys()
    verifier = AggregatorVerifier(signer.jwk)
    app = create_app(duck_wh, SECRETS, max_body_bytes=256, aggregator_verifier=verifier)
    inbox = app.state.receiver.inbox
    statuses: set[int] = set()

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        method=st.sampled_from(METHODS),
        path=st.sampled_from(PATHS),
        body=bodies,
        raw_headers=headers,
        chunk=st.none() | st.integers(min_value=1, max_value=64),
    )
    def run(
        method: str,
        path: str,
        body: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        chunk: int | None,
    ) -> None:
        answer = call(app, method, path, body, raw_headers, chunk=chunk)
        assert answer.status < 500, (method, path, answer.status, answer.body[:200])
        statuses.add(answer.status)

    run()
    assert inbox.count() == 0
    # The run reached every kind of refusal, and the counters saw them.
    assert {400, 401, 404, 405, 413} <= statuses, statuses
    assert inbox.rejections().get_column("count").sum() > 0
    # A correctly signed body still goes through afterwards.
    body = b'{"eventNotifications":[]}'
    assert call(app, "POST", "/webhooks/quickbooks", body, qbo_headers(body)).status == 200
