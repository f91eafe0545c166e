"""The US aggregator connector (Plaid-style Items, ``/transactions/sync``).

:data:`PROVIDER` is what the CLI and the Dagster layer use (:class:`BankProvider`).
"""

from finpipe.connectors.aggregator.client import (
    REAL_API_BASE,
    AggregatorClient,
    PlaidError,
    PlaidErrorBody,
)
from finpipe.connectors.aggregator.parse import (
    AggregatorRecordError,
    parse_lines,
    read_lines,
    rejected_lines,
    to_bank_accounts,
    to_bank_lines,
)
from finpipe.connectors.aggregator.sync import (
    SyncKilled,
    SyncState,
    connect,
    connect_public_token,
    stored_item,
    sync,
    sync_items,
)
from finpipe.connectors.banks import BankProvider
from finpipe.warehouse.tables.raw import AGGREGATOR_TABLES

PROVIDER = BankProvider(
    name="aggregator",
    tables=AGGREGATOR_TABLES,
    real_api_base=REAL_API_BASE,
    connect=connect,
    sync=sync,
    read_lines=read_lines,
    to_bank_accounts=to_bank_accounts,
)

__all__ = [
    "PROVIDER",
    "AggregatorClient",
    "AggregatorRecordError",
    "PlaidError",
    "PlaidErrorBody",
    "SyncKilled",
    "SyncState",
    "connect",
    "connect_public_token",
    "parse_lines",
    "read_lines",
    "rejected_lines",
    "stored_item",
    "sync",
    "sync_items",
    "to_bank_accounts",
    "to_bank_lines",
]
