"""The hash-chained audit trail: appends, exact details, concurrency, and tamper detection by
direct SQL on both engines."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from finpipe.compliance import audit
from finpipe.compliance.audit import (
    GENESIS_HASH,
    AuditChainBrokenError,
    AuditConflictError,
    AuditInputError,
    AuditKind,
    BreakReason,
    ChainTip,
    append,
    canonical_json,
    tip,
    verify,
)
from finpipe.connectors import payloads
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.compliance import AUDIT_LOG

CO = "acme"
T0 = datetime(2026, 11, 28, 8, 0, 0, 123456, tzinfo=UTC)
TABLE = AUDIT_LOG.qualified_name


@pytest.fixture
def wh(warehouse: Warehouse) -> Warehouse:
    # The integrator registers compliance.TABLES in ALL_TABLES; until then create it here.
    warehouse.ensure_tables([AUDIT_LOG])
    return warehouse


def _chain(wh: Warehouse, n: int, company_id: str = CO) -> list[audit.AuditEntry]:
    return [
        append(
            wh,
            company_id,
            AuditKind.SYNC_BATCH,
            f"raw.qbo_invoices:batch:{i}",
            {"rows": i, "amount": Decimal(f"{i}.10"), "cursor": f"c{i}"},
            "dagster:run:r1",
            T0 + timedelta(seconds=i),
        )
        for i in range(1, n + 1)
    ]


def _row(wh: Warehouse, seq: int) -> dict:
    return wh.read(AUDIT_LOG, company_id=CO, where='"sequence" = %s', params=[seq]).row(
        0, named=True
    )


def _rehash(row: dict, prev_hash: str | None = None) -> str:
    """What a forger with write access computes: a valid hash for an edited row."""
    row = {**row, "prev_hash": prev_hash or row["prev_hash"]}
    frame = pl.DataFrame([row], schema=AUDIT_LOG.polars_schema())
    return audit._digest(row["prev_hash"], audit._contents(frame)[0])


def _expect(wh: Warehouse, at: int, reason: BreakReason, **kw: object) -> None:
    result = verify(wh, CO, **kw)  # type: ignore[arg-type]
    assert (result.ok, result.broken_at, result.reason) == (False, at, reason), result.message
    assert f"sequence {at}" in result.message
    with pytest.raises(AuditChainBrokenError):
        result.raise_if_broken()


# ------------------------------------------------------------------------ appending


def test_clean_chain_verifies_and_links_from_genesis(wh: Warehouse) -> None:
    entries = _chain(wh, 5)
    assert [e.sequence for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    result = verify(wh, CO)
    assert result.ok and result.entries == 5 and result.broken_at is None
    assert result.tip == entries[-1].tip == tip(wh, CO)
    result.raise_if_broken()
    # Another company's chain is independent and starts again at 1 from genesis.
    other = append(wh, "globex", "write_back", "qbo:Purchase:9", {}, "alice", T0)
    assert (other.sequence, other.prev_hash) == (1, GENESIS_HASH)
    assert verify(wh, "globex").ok and verify(wh, CO).entries == 5


def test_empty_chain_verifies(wh: Warehouse) -> None:
    result = verify(wh, CO)
    assert result.ok and result.entries == 0 and result.tip is None
    assert tip(wh, CO) is None


def test_hash_is_sha256_of_prev_hash_and_length_prefixed_content(wh: Warehouse) -> None:
    """Pins the documented format, independently of the module's own encoder."""
    entry = append(
        wh,
        CO,
        "manual_override",
        "recon:match:42",
        {"b": Decimal("1.50"), "a": "é"},
        "bob",
        datetime(2026, 1, 2, 4, 4, 5, 7, tzinfo=timezone(timedelta(hours=1))),
    )
    fields = [
        ("company_id", CO),
        ("sequence", "1"),
        ("recorded_at", "2026-01-02T03:04:05.000007Z"),
        ("kind", "manual_override"),
        ("actor", "bob"),
        ("subject", "recon:match:42"),
        ("details", '{"a":"é","b":1.50}'),
    ]
    content = "finpipe.audit.v1" + "".join(f"\n{k}:{len(v.encode())}:{v}" for k, v in fields)
    assert entry.hash == hashlib.sha256((GENESIS_HASH + content).encode()).hexdigest()
    assert _row(wh, 1)["hash"] == entry.hash


def test_decimals_and_unicode_round_trip_exactly(wh: Warehouse) -> None:
    details = {
        "zeta": 'Café Zürich — 東京 🍣 "quoted" \\ \n tab\t nul\x00',
        "amount": Decimal("1234.50"),
        "rate": Decimal("0.000001"),
        "tiny": Decimal("1E-7"),
        "big": 12345678901234567890123,
        "nested": {"z": [Decimal("-0.10"), None, True, False], "ä": {"y": 1, "x": "ß"}},
    }
    entry = append(wh, CO, "conflict_resolution", "doc:INV-1 ünïcode", details, "zoë", T0)
    stored = _row(wh, 1)
    assert stored["details"] == entry.details_json == canonical_json(details)
    assert '"amount":1234.50' in stored["details"] and "1E-7" in stored["details"]
    assert "東京 🍣" in stored["details"]  # kept as text, not \u escapes
    back = payloads.loads(stored["details"])
    assert back == details and back["amount"].as_tuple() == Decimal("1234.50").as_tuple()
    assert canonical_json(back) == stored["details"]
    assert stored["subject"] == "doc:INV-1 ünïcode" and stored["actor"] == "zoë"
    assert stored["recorded_at"] == T0
    assert verify(wh, CO).ok


def test_canonical_json_sorts_keys_and_refuses_inexact_values() -> None:
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == canonical_json(
        {"a": {"c": 3, "d": 2}, "b": 1}
    )
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == '{"a":{"c":3,"d":2},"b":1}'
    for bad, where in [
        ({"x": 0.1}, "details.x"),
        ({"x": [Decimal("NaN")]}, "details.x[0]"),
        ({1: "a"}, "key 1"),
        ({"x": {1, 2}}, "details.x"),
        ({"x": datetime(2026, 1, 1)}, "details.x"),
        ({"x": "\ud800"}, "details.x"),
    ]:
        with pytest.raises(AuditInputError, match=re.escape(where)):
            canonical_json(bad)  # type: ignore[arg-type]


def test_append_refuses_bad_input_and_writes_nothing(wh: Warehouse) -> None:
    with pytest.raises(AuditInputError, match="no time zone"):
        append(wh, CO, "sync_batch", "s", {}, "a", datetime(2026, 1, 1))
    with pytest.raises(AuditInputError, match="not one of"):
        append(wh, CO, "delete_everything", "s", {}, "a", T0)
    with pytest.raises(AuditInputError, match="actor"):
        append(wh, CO, "sync_batch", "s", {}, "", T0)
    with pytest.raises(AuditInputError, match="NUL"):
        append(wh, CO, "sync_batch", "s\x00", {}, "a", T0)
    with pytest.raises(AuditInputError, match="float"):
        append(wh, CO, "sync_batch", "s", {"fee": 1.5}, "a", T0)
    assert wh.count(AUDIT_LOG) == 0


def test_concurrent_appends_keep_a_gap_free_valid_chain(wh: Warehouse) -> None:
    per_thread, errors = 10, []
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        try:
            with Warehouse.open(wh.url, create=False) as own:  # its own connections, like a process
                start.wait()
                for i in range(per_thread):
                    append(own, CO, "sync_batch", f"{name}:{i}", {"i": i}, name)
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    log = wh.read(AUDIT_LOG, company_id=CO)
    assert log["sequence"].to_list() == list(range(1, 2 * per_thread + 1))
    assert set(log["actor"]) == {"t0", "t1"}
    assert verify(wh, CO).ok


def test_append_refuses_when_the_tip_moved_under_it(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    _chain(wh, 2)
    # A stale tip, as a writer bypassing the lock would cause: the conditional insert must not land.
    monkeypatch.setattr(audit, "tip", lambda *_: ChainTip(1, _row(wh, 1)["hash"]))
    with pytest.raises(AuditConflictError, match="retry"):
        append(wh, CO, "sync_batch", "late", {}, "x", T0)
    assert wh.count(AUDIT_LOG, CO) == 2
    monkeypatch.undo()
    assert verify(wh, CO).ok


# ------------------------------------------------------------------ tamper detection


def test_edited_content_is_detected(wh: Warehouse) -> None:
    _chain(wh, 5)
    wh.execute(
        f'UPDATE {TABLE} SET details = %s WHERE company_id = %s AND "sequence" = 3',
        ['{"amount":999.10,"cursor":"c3","rows":3}', CO],
    )
    _expect(wh, 3, BreakReason.EDITED)


def test_edited_actor_timestamp_or_hash_is_detected(wh: Warehouse) -> None:
    _chain(wh, 4)
    wh.execute(f"UPDATE {TABLE} SET actor = 'mallory' WHERE \"sequence\" = 4")
    _expect(wh, 4, BreakReason.EDITED)
    wh.execute(f"UPDATE {TABLE} SET actor = 'dagster:run:r1' WHERE \"sequence\" = 4")
    assert verify(wh, CO).ok  # restoring the content restores the chain
    wh.execute(
        f"UPDATE {TABLE} SET recorded_at = recorded_at + INTERVAL '1 second' WHERE \"sequence\" = 2"
    )
    _expect(wh, 2, BreakReason.EDITED)
    wh.execute(f'UPDATE {TABLE} SET hash = %s WHERE "sequence" = 1', ["f" * 64])
    _expect(wh, 1, BreakReason.EDITED)


def test_renumbered_first_entry_is_detected(wh: Warehouse) -> None:
    _chain(wh, 2)
    wh.execute(f'UPDATE {TABLE} SET "sequence" = 0 WHERE "sequence" = 1')
    _expect(wh, 0, BreakReason.EDITED)


def test_deleted_entry_is_detected_as_a_gap(wh: Warehouse) -> None:
    _chain(wh, 6)
    wh.execute(f'DELETE FROM {TABLE} WHERE company_id = %s AND "sequence" IN (3, 4)', [CO])
    result = verify(wh, CO)
    assert (result.broken_at, result.reason) == (3, BreakReason.DELETED)
    assert "entry 3..4 is missing" in result.message


def test_deleted_first_entry_is_detected(wh: Warehouse) -> None:
    _chain(wh, 3)
    wh.execute(f'DELETE FROM {TABLE} WHERE "sequence" = 1')
    _expect(wh, 1, BreakReason.DELETED)


def test_swapped_sequence_numbers_are_detected_as_reordering(wh: Warehouse) -> None:
    _chain(wh, 6)
    # Three statements: PostgreSQL's primary key refuses a swap inside one UPDATE.
    wh.execute(f'UPDATE {TABLE} SET "sequence" = 1000 WHERE "sequence" = 2')
    wh.execute(f'UPDATE {TABLE} SET "sequence" = 2 WHERE "sequence" = 5')
    wh.execute(f'UPDATE {TABLE} SET "sequence" = 5 WHERE "sequence" = 1000')
    _expect(wh, 2, BreakReason.REORDERED)


def test_rehashed_edit_without_fixing_successors_is_detected(wh: Warehouse) -> None:
    _chain(wh, 5)
    row = {**_row(wh, 3), "details": '{"amount":0.00,"cursor":"c3","rows":3}'}
    wh.execute(
        f'UPDATE {TABLE} SET details = %s, hash = %s WHERE "sequence" = 3',
        [row["details"], _rehash(row)],
    )
    _expect(wh, 3, BreakReason.FORGED_HASH)


def test_rehashed_tip_is_caught_only_by_an_anchor(wh: Warehouse) -> None:
    entries = _chain(wh, 3)
    row = {**_row(wh, 3), "actor": "mallory"}
    wh.execute(
        f'UPDATE {TABLE} SET actor = %s, hash = %s WHERE "sequence" = 3',
        [row["actor"], _rehash(row)],
    )
    assert verify(wh, CO).ok  # nothing after the tip commits to it: the known limit
    _expect(wh, 3, BreakReason.TRUNCATED, anchor=entries[-1].tip)


def test_wrong_genesis_is_detected_even_when_the_chain_is_self_consistent(
    wh: Warehouse,
) -> None:
    _chain(wh, 4)
    # Rebuild the whole chain from another genesis, every link and hash made consistent.
    prev = "0" * 64
    for seq in range(1, 5):
        new_hash = _rehash(_row(wh, seq), prev_hash=prev)
        wh.execute(
            f'UPDATE {TABLE} SET prev_hash = %s, hash = %s WHERE "sequence" = %s',
            [prev, new_hash, seq],
        )
        prev = new_hash
    _expect(wh, 1, BreakReason.WRONG_GENESIS)


def test_deleted_newest_entries_are_caught_by_an_anchor(wh: Warehouse) -> None:
    entries = _chain(wh, 5)
    anchor = entries[-1].tip
    assert verify(wh, CO, anchor=anchor).ok
    wh.execute(f'DELETE FROM {TABLE} WHERE "sequence" >= 4')
    assert verify(wh, CO).ok  # a truncated chain is still a valid chain on its own
    result = verify(wh, CO, anchor=anchor)
    assert (result.broken_at, result.reason) == (4, BreakReason.TRUNCATED)
    assert "entries 4..5 were deleted" in result.message


def test_duplicate_sequence_is_detected_on_duckdb(duck: Warehouse) -> None:
    # PostgreSQL's primary key already refuses this; DuckDB tables carry no key constraint.
    duck.ensure_tables([AUDIT_LOG])
    _chain(duck, 3)
    duck.execute(f'INSERT INTO {TABLE} SELECT * FROM {TABLE} WHERE "sequence" = 2')
    _expect(duck, 2, BreakReason.DUPLICATE)


# ---------------------------------------------------------------------------- speed


def _seed(wh: Warehouse, n: int) -> None:
    """``n`` valid entries bulk-loaded (the append API does one round trip per entry)."""
    frame = pl.DataFrame(
        {
            "company_id": [CO] * n,
            "sequence": range(1, n + 1),
            "recorded_at": pl.datetime_range(
                T0, T0 + timedelta(seconds=n - 1), "1s", eager=True, time_zone="UTC"
            ),
            "kind": ["sync_batch"] * n,
            "actor": ["dagster:run:0f3c2a"] * n,
            "subject": [f"raw.xero_bank_transactions:batch:{i}" for i in range(n)],
            "details": [canonical_json({"rows": i, "amount": Decimal(i) / 100}) for i in range(n)],
        },
        schema_overrides={"sequence": pl.Int64},
    )
    prev, prevs, hashes = GENESIS_HASH, [], []
    for content in audit._contents(frame):
        prevs.append(prev)
        prev = audit._digest(prev, content)
        hashes.append(prev)
    seeded = frame.with_columns(prev_hash=pl.Series(prevs), hash=pl.Series(hashes))
    wh.replace_partition(AUDIT_LOG, CO, seeded)


@pytest.mark.slow
def test_verify_100k_entries_is_fast(duck: Warehouse, capsys: pytest.CaptureFixture) -> None:
    duck.ensure_tables([AUDIT_LOG])
    _seed(duck, 100_000)
    started = time.perf_counter()
    result = verify(duck, CO)
    elapsed = time.perf_counter() - started
    assert result.ok and result.entries == 100_000
    with capsys.disabled():
        print(f"\nverify of 100,000 audit entries on DuckDB: {elapsed:.2f} s")
    assert elapsed < 3.0
