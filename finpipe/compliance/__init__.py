"""Compliance (no Dagster): the append-only, hash-chained audit trail and its verifier."""

from finpipe.compliance.audit import (
    GENESIS_HASH,
    AuditChainBrokenError,
    AuditConflictError,
    AuditEntry,
    AuditError,
    AuditInputError,
    AuditKind,
    BreakReason,
    ChainTip,
    VerifyResult,
    append,
    canonical_json,
    tip,
    verify,
)

__all__ = [
    "GENESIS_HASH",
    "AuditChainBrokenError",
    "AuditConflictError",
    "AuditEntry",
    "AuditError",
    "AuditInputError",
    "AuditKind",
    "BreakReason",
    "ChainTip",
    "VerifyResult",
    "append",
    "canonical_json",
    "tip",
    "verify",
]
