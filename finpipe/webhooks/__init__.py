"""The webhook receiver (no Dagster): signature checks per provider, normalised events and
the durable inbox they are committed to before the provider gets its 2xx."""

from finpipe.webhooks.app import DEFAULT_MAX_BODY_BYTES, Receiver, WebhookSecrets, create_app
from finpipe.webhooks.errors import (
    BodyTooLargeError,
    KeyFetchError,
    PayloadError,
    ReceiverUnavailableError,
    SignatureError,
    WebhookError,
)
from finpipe.webhooks.events import (
    PROVIDERS,
    WebhookEvent,
    parse_aggregator,
    parse_quickbooks,
    parse_xero,
)
from finpipe.webhooks.inbox import Inbox, StoreResult
from finpipe.webhooks.verify import (
    AggregatorVerifier,
    JwtClaims,
    PlaidKeyFetcher,
    hmac_base64,
    verify_quickbooks,
    verify_xero,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "PROVIDERS",
    "AggregatorVerifier",
    "BodyTooLargeError",
    "Inbox",
    "JwtClaims",
    "KeyFetchError",
    "PayloadError",
    "PlaidKeyFetcher",
    "Receiver",
    "ReceiverUnavailableError",
    "SignatureError",
    "StoreResult",
    "WebhookError",
    "WebhookEvent",
    "WebhookSecrets",
    "create_app",
    "hmac_base64",
    "parse_aggregator",
    "parse_quickbooks",
    "parse_xero",
    "verify_quickbooks",
    "verify_xero",
]
