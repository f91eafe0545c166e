"""Connections as an operator sees them (no Dagster): the sync run log and the status it
drives (:mod:`.sync_log`), which failures are worth a retry (:mod:`.retry`), integration
health (:mod:`.health`) and the management commands (:mod:`.manage`)."""

from finpipe.connections.health import Thresholds, compute_health, lagging, stale_tokens
from finpipe.connections.manage import (
    ConnectionsError,
    UnknownConnectionError,
    change_status,
    find,
)
from finpipe.connections.retry import failure_kind, is_transient
from finpipe.connections.sync_log import (
    DEFAULT_DEGRADE_AFTER,
    RunInfo,
    consecutive_failures,
    record_failure,
    record_success,
    trigger_of,
)

__all__ = [
    "DEFAULT_DEGRADE_AFTER",
    "ConnectionsError",
    "RunInfo",
    "Thresholds",
    "UnknownConnectionError",
    "change_status",
    "compute_health",
    "consecutive_failures",
    "failure_kind",
    "find",
    "is_transient",
    "lagging",
    "record_failure",
    "record_success",
    "stale_tokens",
    "trigger_of",
]
