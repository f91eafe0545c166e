"""Schema ``ops``: the webhook receiver's durable inbox and its rejection counters.

The receiver commits every verified event to ``ops.webhook_inbox`` before it answers 2xx;
a sensor reads the inbox with a cursor. Rejected requests leave nothing but a counter per
provider, reason and day in ``ops.webhook_rejections`` (no body, header or address).
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col

WEBHOOK_INBOX = Table(
    schema="ops",
    name="webhook_inbox",
    doc="Verified webhook events, one row per event, committed before the provider got its 2xx; replays are stored once.",
    columns=(
        col("provider", Kind.TEXT, "quickbooks | xero | aggregator", nullable=False),
        col(
            "event_id",
            Kind.TEXT,
            "the provider's event id (CloudEvents id) or a digest of the fields that identify the change",
            nullable=False,
        ),
        col(
            "tenant_id",
            Kind.TEXT,
            "QBO realmId / intuitaccountid, Xero tenantId, aggregator item_id",
            nullable=False,
        ),
        col(
            "entity",
            Kind.TEXT,
            "lower-case entity: invoice, customer, contact, creditnote, transactions ...",
            nullable=False,
        ),
        col(
            "entity_id",
            Kind.TEXT,
            "the changed record's id at the provider, when the event names one",
        ),
        col(
            "operation",
            Kind.TEXT,
            "lower-case operation: create, update, delete, merge, void, emptied; the aggregator's webhook_code",
            nullable=False,
        ),
        col(
            "occurred_at", Kind.TIMESTAMP, "when the provider says the change happened, if it says"
        ),
        col("received_at", Kind.TIMESTAMP, "when the receiver committed the event", nullable=False),
        col(
            "body_sha256",
            Kind.TEXT,
            "hex SHA-256 of the delivery's raw body (replays of a body within the window are dropped)",
            nullable=False,
        ),
        col("payload", Kind.JSON, "the event object as received", nullable=False),
    ),
    primary_key=("provider", "event_id"),
    partition_column=None,
)

WEBHOOK_REJECTIONS = Table(
    schema="ops",
    name="webhook_rejections",
    doc="Rejected webhook requests counted per provider, reason and UTC day; nothing else about them is kept.",
    columns=(
        col(
            "provider",
            Kind.TEXT,
            "quickbooks | xero | aggregator | unknown (a path naming no provider)",
            nullable=False,
        ),
        col(
            "reason",
            Kind.TEXT,
            "bad_signature, missing_signature, body_too_large, malformed_json, ... (see finpipe.webhooks.errors)",
            nullable=False,
        ),
        col("day", Kind.DATE, "UTC day of the rejections", nullable=False),
        col("count", Kind.INT, "requests rejected for this reason that day", nullable=False),
        col("updated_at", Kind.TIMESTAMP, "last rejection counted", nullable=False),
    ),
    primary_key=("provider", "reason", "day"),
    partition_column=None,
)

TABLES = (WEBHOOK_INBOX, WEBHOOK_REJECTIONS)
