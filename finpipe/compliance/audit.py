"""The append-only, hash-chained audit trail (``compliance.audit_log``) and its verifier.

Every sync batch, write-back, conflict resolution and manual override is recorded with
:func:`append`. Each company has its own chain: entries are numbered 1, 2, 3, ... with no
gaps, and each entry's hash covers the previous entry's hash and its own content::

    hash = SHA-256(prev_hash || content)          (hex digests, UTF-8 text)
    content = "finpipe.audit.v1" + for each field in FIELDS: "\\n<name>:<byte length>:<value>"

The fields are company id, sequence, timestamp (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), kind,
actor, subject and the canonical JSON of the details. Length-prefixing each field makes the
encoding unambiguous (no value can impersonate a field boundary). The first entry chains from
:data:`GENESIS_HASH`.

:func:`verify` recomputes the chain and names the first broken sequence number and why.
The chain alone cannot reveal that its newest entries were deleted (nothing after them
commits to them); pass the last :class:`ChainTip` you published elsewhere (asset metadata,
a report) as ``anchor`` to catch that too.

Plain Python and Polars; no Dagster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.errors import FinpipeError
from finpipe.warehouse import Warehouse
from finpipe.warehouse.schema import quote
from finpipe.warehouse.tables.compliance import AUDIT_LOG

GENESIS_HASH: str = hashlib.sha256(b"finpipe:compliance.audit_log:genesis:v1").hexdigest()
"""The fixed ``prev_hash`` of every chain's first entry."""

_FORMAT = "finpipe.audit.v1"
# Field order of the hashed content; changing it (or _FORMAT) invalidates every chain.
FIELDS: tuple[str, ...] = (
    "company_id",
    "sequence",
    "recorded_at",
    "kind",
    "actor",
    "subject",
    "details",
)
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"
_TABLE = AUDIT_LOG.qualified_name
_SEQ = quote("sequence")
_CO = quote("company_id")


# ---------------------------------------------------------------------------- errors


class AuditError(FinpipeError):
    """Base of the audit trail's errors."""


class AuditInputError(AuditError):
    """An entry cannot be recorded as given (kind, text field, timestamp or details)."""


class AuditConflictError(AuditError):
    """The chain's tip moved between reading it and inserting: someone appended without the
    lock. Nothing was written by this call; retry it."""


class AuditChainBrokenError(AuditError):
    """:meth:`VerifyResult.raise_if_broken` on a chain that failed verification."""


# ---------------------------------------------------------------------------- values


class AuditKind(StrEnum):
    """What an entry records."""

    SYNC_BATCH = "sync_batch"
    WRITE_BACK = "write_back"
    CONFLICT_RESOLUTION = "conflict_resolution"
    MANUAL_OVERRIDE = "manual_override"


class BreakReason(StrEnum):
    """Why :func:`verify` rejected a chain."""

    EDITED = "edited"  # content, prev_hash or hash changed after the entry was sealed
    DELETED = "deleted"  # a sequence number is missing (gap)
    DUPLICATE = "duplicate_sequence"  # two entries share a sequence number
    REORDERED = "reordered"  # an entry chains from an entry other than its predecessor
    FORGED_HASH = "forged_hash"  # an entry was rewritten and re-hashed; its successor disagrees
    WRONG_GENESIS = "wrong_genesis"  # the first entry does not chain from GENESIS_HASH
    TRUNCATED = "truncated"  # entries up to the anchor are gone, or the anchored one differs


@dataclass(frozen=True)
class ChainTip:
    """The newest entry of a chain: publish it outside the warehouse to anchor :func:`verify`."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class AuditEntry:
    """One sealed entry of a company's chain."""

    company_id: str
    sequence: int
    recorded_at: datetime
    kind: AuditKind
    actor: str
    subject: str
    details_json: str
    prev_hash: str
    hash: str

    @property
    def details(self) -> Any:
        """The details parsed back, numbers with fractions as :class:`~decimal.Decimal`."""
        return payloads.loads(self.details_json)

    @property
    def tip(self) -> ChainTip:
        return ChainTip(self.sequence, self.hash)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify` for one company's chain."""

    company_id: str
    entries: int
    tip: ChainTip | None
    broken_at: int | None = None
    reason: BreakReason | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    def raise_if_broken(self) -> None:
        """Raise :class:`AuditChainBrokenError` with the message when the chain is broken."""
        if not self.ok:
            raise AuditChainBrokenError(self.message)


# ------------------------------------------------------------------ canonical form


def canonical_json(details: Mapping[str, Any]) -> str:
    """Canonical JSON text of ``details``: keys sorted (by code point) at every level, no
    whitespace, Decimals written with exactly their digits, as
    :func:`finpipe.connectors.payloads.dumps` writes them (string values keep non-ASCII
    text as is; keys are ``\\u``-escaped).

    Binary floats are refused (their decimal digits are not the value; pass a Decimal), as
    are non-finite Decimals, non-string keys, strings that are not valid Unicode, and any
    type JSON cannot hold. Raises :class:`AuditInputError` naming the offending path.
    """
    if not isinstance(details, Mapping):
        raise AuditInputError(f"details must be a mapping, got {type(details).__name__}")
    return payloads.dumps(_normalise(details, "details"))


def _normalise(value: Any, path: str) -> Any:
    """``value`` checked for canonical JSON, with every mapping rebuilt in sorted key order."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        _check_text(value, path, allow_nul=True)  # NUL is escaped as \u0000 in JSON
        return value
    if isinstance(value, float):
        raise AuditInputError(
            f"{path}: binary float {value!r} is not exact; pass a Decimal (e.g. Decimal('0.1'))"
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise AuditInputError(f"{path}: {value} is not a finite number; JSON cannot hold it")
        return value
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise AuditInputError(f"{path}: key {key!r} is not a string")
            _check_text(key, f"{path} key", allow_nul=True)
        return {key: _normalise(value[key], f"{path}.{key}") for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise AuditInputError(
        f"{path}: {type(value).__name__} is not a JSON value; convert it (dates to ISO text, "
        "amounts to Decimal) before recording"
    )


def _check_text(value: str, field: str, *, allow_nul: bool = False) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditInputError(f"{field}: not valid Unicode (lone surrogate)") from None
    if not allow_nul and "\x00" in value:
        # PostgreSQL TEXT cannot store NUL; refuse it on both engines alike.
        raise AuditInputError(f"{field}: contains a NUL character")


def _content_expr() -> pl.Expr:
    """The hashed content of each row, built column-wise (one implementation for append and
    verify, so they cannot drift apart)."""
    parts: list[pl.Expr] = [pl.lit(_FORMAT)]
    for name in FIELDS:
        if name == "recorded_at":
            text = pl.col(name).dt.convert_time_zone("UTC").dt.strftime(_TIMESTAMP_FORMAT)
        else:
            text = pl.col(name).cast(pl.String)
        parts += [pl.lit(f"\n{name}:"), text.str.len_bytes().cast(pl.String), pl.lit(":"), text]
    return pl.concat_str(parts)


def _contents(frame: pl.DataFrame) -> list[str]:
    return frame.select(_content_expr().alias("content")).to_series().to_list()


def _digest(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- append


def _lock_name(company_id: str) -> str:
    return f"finpipe.compliance.audit_log:{company_id}"


def tip(warehouse: Warehouse, company_id: str) -> ChainTip | None:
    """The newest entry of ``company_id``'s chain, or ``None`` for an empty chain."""
    rows = warehouse.query(
        f"SELECT {_SEQ} AS seq, {quote('hash')} AS h FROM {_TABLE} "
        f"WHERE {_CO} = %s ORDER BY {_SEQ} DESC LIMIT 1",
        [company_id],
    )
    if rows.is_empty():
        return None
    return ChainTip(int(rows["seq"][0]), str(rows["h"][0]))


def _as_kind(kind: AuditKind | str) -> AuditKind:
    try:
        return AuditKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in AuditKind)
        raise AuditInputError(f"kind {kind!r} is not one of: {known}") from None


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise AuditInputError(f"now={now.isoformat()} has no time zone; pass an aware datetime")
    return now.astimezone(UTC)


def append(
    warehouse: Warehouse,
    company_id: str,
    kind: AuditKind | str,
    subject: str,
    details: Mapping[str, Any],
    actor: str,
    now: datetime | None = None,
    *,
    lock_timeout: float = 60.0,
) -> AuditEntry:
    """Seal and insert the next entry of ``company_id``'s chain and return it.

    Appends to one chain are serialised across threads and processes by the warehouse's
    named lock; under it the tip is read and the entry inserted by one conditional
    ``INSERT ... SELECT ... WHERE <tip unchanged>`` statement (its own transaction), then
    read back. The table is only ever inserted into: no update, no delete.

    ``now`` defaults to the current time and must be time-zone aware; it is stored in UTC
    at microsecond precision. Raises :class:`AuditInputError` for bad input (nothing is
    written) and :class:`AuditConflictError` if the tip moved under a writer that bypassed
    the lock (nothing is written either).
    """
    entry_kind = _as_kind(kind)
    for field, value in (("company_id", company_id), ("actor", actor), ("subject", subject)):
        if not isinstance(value, str) or not value:
            raise AuditInputError(f"{field} must be a non-empty string, got {value!r}")
        _check_text(value, field)
    details_json = canonical_json(details)
    recorded_at = _as_utc(now)

    with warehouse.lock(_lock_name(company_id), timeout=lock_timeout):
        current = tip(warehouse, company_id)
        sequence = 1 if current is None else current.sequence + 1
        prev_hash = GENESIS_HASH if current is None else current.hash
        row = {
            "company_id": company_id,
            "sequence": sequence,
            "recorded_at": recorded_at,
            "kind": entry_kind.value,
            "actor": actor,
            "subject": subject,
            "details": details_json,
            "prev_hash": prev_hash,
        }
        frame = pl.DataFrame([row], schema={k: AUDIT_LOG.column(k).polars_dtype() for k in row})
        entry_hash = _digest(prev_hash, _contents(frame)[0])
        entry = AuditEntry(
            company_id=company_id,
            sequence=sequence,
            recorded_at=frame["recorded_at"][0],
            kind=entry_kind,
            actor=actor,
            subject=subject,
            details_json=details_json,
            prev_hash=prev_hash,
            hash=entry_hash,
        )
        _insert_if_tip(warehouse, entry, expected_tip=sequence - 1)
    return entry


def _insert_if_tip(warehouse: Warehouse, entry: AuditEntry, expected_tip: int) -> None:
    """Insert ``entry`` only if the chain's newest sequence is still ``expected_tip``.

    One statement is one transaction on both engines, so the tip check and the insert are
    atomic; the named lock makes the check a formality, but it keeps a writer that bypasses
    the lock from forking the chain (and PostgreSQL's primary key is a third guard).
    """
    columns = AUDIT_LOG.column_names
    values = {
        "company_id": entry.company_id,
        "sequence": entry.sequence,
        "recorded_at": entry.recorded_at,
        "kind": entry.kind.value,
        "actor": entry.actor,
        "subject": entry.subject,
        "details": entry.details_json,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
    placeholders = ", ".join(
        "CAST(%s AS BIGINT)" if c == "sequence" else "%s" for c in columns
    )  # typed so PostgreSQL does not guess
    sql = (
        f"INSERT INTO {_TABLE} ({', '.join(map(quote, columns))}) SELECT {placeholders} "
        f"WHERE (SELECT coalesce(max({_SEQ}), 0) FROM {_TABLE} WHERE {_CO} = %s) "
        "= CAST(%s AS BIGINT)"
    )
    try:
        warehouse.execute(sql, [*(values[c] for c in columns), entry.company_id, expected_tip])
    except Exception as exc:
        # e.g. PostgreSQL's primary key refusing a duplicate sequence from a lock bypasser.
        raise AuditConflictError(
            f"appending entry {entry.sequence} to the audit chain of {entry.company_id!r} "
            f"failed: {' '.join(str(exc).split())}"
        ) from exc
    landed = warehouse.query(
        f"SELECT {quote('hash')} AS h FROM {_TABLE} WHERE {_CO} = %s AND {_SEQ} = %s",
        [entry.company_id, entry.sequence],
    )
    if landed["h"].to_list() != [entry.hash]:
        raise AuditConflictError(
            f"the audit chain of {entry.company_id!r} moved while entry {entry.sequence} was "
            "being appended (a writer bypassed the lock); nothing was written, retry"
        )


# --------------------------------------------------------------------------- verify


def verify(
    warehouse: Warehouse, company_id: str, *, anchor: ChainTip | None = None
) -> VerifyResult:
    """Recompute ``company_id``'s chain and report the first broken sequence number and why.

    Content, links and sequence numbers are checked column-wise over the whole chain (the
    links only need each stored ``prev_hash`` to equal its predecessor's stored ``hash`` and
    each stored ``hash`` to match its own content, so no sequential pass is needed); only
    the SHA-256 itself runs per row. The first failing row is then classified: a gap is
    ``DELETED``, a link to another entry of the chain ``REORDERED``, a self-consistent entry
    its successor disagrees with ``FORGED_HASH``, a hash that does not match its content
    ``EDITED``, a first entry not chained from :data:`GENESIS_HASH` ``WRONG_GENESIS``.

    ``anchor``, a tip published earlier, additionally catches deleted newest entries and a
    chain rebuilt from scratch (``TRUNCATED``).
    """
    frame = warehouse.read(AUDIT_LOG, company_id=company_id, order_by=["sequence", "hash"])
    n = frame.height
    last = ChainTip(int(frame["sequence"][-1]), str(frame["hash"][-1])) if n else None

    def broken(at: int, reason: BreakReason, why: str) -> VerifyResult:
        message = f"audit chain of {company_id!r} broken at sequence {at} ({reason}): {why}"
        return VerifyResult(company_id, n, last, at, reason, message)

    if n:
        checked = frame.with_columns(
            expected=pl.int_range(1, n + 1, dtype=pl.Int64),
            pred_hash=pl.col("hash").shift(1, fill_value=GENESIS_HASH),
            computed=pl.Series(
                [
                    _digest(p, c)
                    for p, c in zip(frame["prev_hash"].to_list(), _contents(frame), strict=True)
                ],
                dtype=pl.String,
            ),
        ).with_columns(
            self_ok=pl.col("hash") == pl.col("computed"),
            link_ok=pl.col("prev_hash") == pl.col("pred_hash"),
            seq_ok=pl.col("sequence") == pl.col("expected"),
        )
        bad = checked.select(
            (~(pl.col("self_ok") & pl.col("link_ok") & pl.col("seq_ok"))).arg_true()
        ).to_series()
        if bad.len():
            return _classify(checked, int(bad[0]), broken)

    if anchor is not None:
        if last is None or last.sequence < anchor.sequence:
            first_missing = 1 if last is None else last.sequence + 1
            return broken(
                first_missing,
                BreakReason.TRUNCATED,
                f"the chain ends at {last.sequence if last else 0} but the anchor says entry "
                f"{anchor.sequence} existed: entries {first_missing}..{anchor.sequence} "
                "were deleted",
            )
        anchored = frame.filter(pl.col("sequence") == anchor.sequence)["hash"][0]
        if anchored != anchor.hash:
            return broken(
                anchor.sequence,
                BreakReason.TRUNCATED,
                "the chain is consistent but its entry at the anchor differs from the "
                "published hash: the chain was rebuilt from this entry or earlier",
            )
    return VerifyResult(company_id, n, last)


def _classify(
    checked: pl.DataFrame, i: int, broken: Callable[[int, BreakReason, str], VerifyResult]
) -> VerifyResult:
    """Name the break at row ``i``, the first row failing any check."""
    row = checked.row(i, named=True)
    seq, expected = int(row["sequence"]), int(row["expected"])
    if seq > expected:
        missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
        return broken(expected, BreakReason.DELETED, f"entry {missing} is missing")
    if seq < expected:
        if i and int(checked["sequence"][i - 1]) == seq:
            return broken(
                seq, BreakReason.DUPLICATE, f"more than one entry has sequence number {seq}"
            )
        # Only a first entry numbered below 1 gets here; its number was edited.
        return broken(seq, BreakReason.EDITED, f"sequence numbers start at 1, not {seq}")
    if not row["link_ok"]:
        moved = (pl.col("hash") == row["prev_hash"]) & (pl.col("sequence") != seq)
        others = checked.filter(moved)["sequence"]
        if others.len():
            return broken(
                seq,
                BreakReason.REORDERED,
                f"the entry now at {seq} was chained after entry {int(others[0])}, "
                f"not after {seq - 1}: entries were moved",
            )
        if i == 0:
            return broken(
                seq,
                BreakReason.WRONG_GENESIS,
                "the first entry does not chain from finpipe's genesis hash",
            )
        if row["self_ok"]:
            # Entry seq is intact and committed to a different predecessor hash, while the
            # predecessor (which passed) hashes its own content: it was rewritten and re-hashed.
            pred = seq - 1
            return broken(
                pred,
                BreakReason.FORGED_HASH,
                f"entry {pred} hashes consistently but entry {seq} committed to a different "
                f"hash for it: entry {pred} was rewritten and its hash recomputed",
            )
    return broken(
        seq,
        BreakReason.EDITED,
        "the stored hash does not match the entry's content: it was changed after sealing",
    )
