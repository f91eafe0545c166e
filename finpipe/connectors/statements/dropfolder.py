"""The statement drop folder: files people (or scripts) drop are imported once, all or nothing.

Layout under ``$FINPIPE_HOME/statements/`` (:func:`statements_root`)::

    inbox/<company_id>/<file>              dropped here
    inbox/<company_id>/<account>/<file>    files that do not name their account (many CSV
                                           exports): the folder name is the account id
    imported/<company_id>/[<account>/]<file>
    rejected/<company_id>/[<account>/]<file>  + <file>.reason.txt saying what is wrong

**What is pending** (:func:`pending_files`): regular files directly in a company's inbox or
in one account sub-folder, except files still being written: dotfiles (``.~lock``, rsync's
``.name.XXXX``), names ending ``.part`` / ``.partial`` / ``.tmp`` / ``.crdownload`` /
``.download`` (browsers and copy tools rename on completion), and files modified less than
``settle_seconds`` (1 s) ago. Writers should write to such a name and rename when done.

**Half-written files** (:func:`check_complete`): a file that is complete by name and age may
still have been cut short (a failed download, a copy that stopped). A cut camt.053 document
is not well-formed XML and is rejected by its parser; a camt statement with entries but no
closing balance (``CLBD`` / ``CLAV``) is rejected too. OFX must reach ``</OFX>``, and an
MT940 statement that opened (``:60F:``) must close (``:62F:``). **CSV completeness cannot
be checked from the content**: a CSV has no end marker or closing balance, a cut at a line
break leaves a valid shorter file, and many exports do not end with a newline (so a missing
one proves nothing). CSVs must therefore be dropped by rename only: write ``x.csv.part``
(or ``.tmp``, or outside the inbox) and rename to ``x.csv`` when the file is complete; the
settle time only guards against a writer that is still busy, not one that stopped.

**Import** (:func:`import_file`): a file is identified by the SHA-256 of its bytes. Content
already imported for the company is a no-op ("already imported") and the file moves to
``imported/``. Otherwise the file is parsed completely first, every statement is checked
(it is complete, names its account and currency, and its balances add up, see below);
only then the
``raw.statement_files`` row, the lines and the balances land in ONE warehouse transaction;
the file moves to ``imported/`` after the commit (a crash in between leaves it in the inbox,
and the next run finds its content imported and just moves it). A file that fails any check
is rejected: a ``raw.statement_files`` row with status ``rejected`` and the reason, an
``ops.quarantine`` row (source ``statement``), the file moved to ``rejected/`` with a
``.reason.txt``; none of its lines land. Content rejected before is tried again when dropped
again (a new CSV profile or a relaxed policy may accept it now); its quarantine row stays
as the record of the earlier rejection. Run one importer per company at a time:
:func:`import_inbox` holds a warehouse lock for that.

**Balance policy** (``strict_balances``, default True): where a statement gives an opening
and a closing balance, opening + booked lines must equal closing. A mismatch means lines are
missing or the file was edited, so by default the file is rejected with a reason naming the
statement and the difference. Real exports that do not add up (the conformance corpus has
several) can be accepted deliberately with ``strict_balances=False``: they land as printed,
``ImportResult.warnings`` names each difference, and each balance row's payload keeps its
``balance_difference``. Statements with only one balance (or none: OFX has no opening
balance, MT942 none at all) have nothing to check and are accepted in both modes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finpipe.config import Settings, load_settings
from finpipe.connectors import payloads
from finpipe.connectors.statements.detect import detect_format, parse_as, parse_file
from finpipe.connectors.statements.landing import statement_frames
from finpipe.connectors.statements.model import (
    Statement,
    StatementParseError,
    currency_exponent,
)
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import QUARANTINE
from finpipe.warehouse.tables.raw import STATEMENT_BALANCES, STATEMENT_FILES, STATEMENT_LINES

__all__ = [
    "ImportResult",
    "PendingFile",
    "check_complete",
    "check_statements",
    "detect_format",
    "import_file",
    "import_inbox",
    "inbox_dir",
    "parse_file",
    "pending_files",
    "statements_root",
]

INBOX, IMPORTED, REJECTED = "inbox", "imported", "rejected"
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download")
SETTLE_SECONDS = 1.0
QUARANTINE_SOURCE = "statement"

# Where each format keeps what a check may find missing, for errors people can act on.
_ACCOUNT_FIELD = {"camt053": "Acct/Id", "ofx": "BANKACCTFROM/ACCTID", "mt940": ":25:"}
_CURRENCY_FIELD = {"camt053": "Acct/Ccy", "ofx": "CURDEF", "mt940": ":60F:"}
_CLOSING_FIELD = {"camt053": "Bal/CLBD", "ofx": "LEDGERBAL", "mt940": ":62F:"}


def statements_root(settings: Settings | None = None) -> Path:
    """``$FINPIPE_HOME/statements``: the drop folder's root."""
    return (settings or load_settings()).home / "statements"


def inbox_dir(home: Path, company_id: str) -> Path:
    """``<home>/statements/inbox/<company_id>``: where a company's files are dropped
    (``home`` is FINPIPE_HOME, ``load_settings().home``)."""
    return home / "statements" / INBOX / company_id


@dataclass(frozen=True)
class PendingFile:
    """A dropped file ready to import."""

    company_id: str
    path: Path
    sha256: str
    size: int
    account_hint: str | None = None  # the account sub-folder it was dropped in, if any


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_file` did with one file."""

    company_id: str
    file_name: str
    sha256: str
    status: str  # imported | already_imported | rejected
    format: str | None = None
    statements: int = 0
    lines: int = 0
    lines_new: int = 0  # lines no earlier file had landed (overlapping files share lines)
    balances: int = 0
    reason: str | None = None
    moved_to: Path | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True unless the file was rejected."""
        return self.status != "rejected"


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _is_partial(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES)


def pending_files(
    root: Path, company_id: str | None = None, *, settle_seconds: float = SETTLE_SECONDS
) -> list[PendingFile]:
    """Files waiting in ``root/inbox/<company>/`` (one company or all), in name order;
    skips files still being written (see the module doc)."""
    inbox = root / INBOX
    if not inbox.is_dir():
        return []
    companies = [inbox / company_id] if company_id else sorted(inbox.iterdir())
    cutoff = time.time() - settle_seconds
    found: list[PendingFile] = []
    for folder in companies:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        candidates: list[tuple[Path, str | None]] = []
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and not entry.name.startswith("."):
                candidates.extend((f, entry.name) for f in sorted(entry.iterdir()))
            else:
                candidates.append((entry, None))
        for path, hint in candidates:
            try:
                if not path.is_file() or _is_partial(path) or path.stat().st_mtime > cutoff:
                    continue
                sha, size = _sha256(path)
            except FileNotFoundError:  # taken by another importer meanwhile
                continue
            found.append(PendingFile(folder.name, path, sha, size, hint))
    return found


def _money(minor: int, currency: str) -> str:
    return f"{Decimal(minor).scaleb(-currency_exponent(currency or 'XXX')):f} {currency}".strip()


def check_statements(
    name: str,
    fmt: str,
    statements: Sequence[Statement],
    *,
    strict_balances: bool = True,
    account_hint: str | None = None,
) -> tuple[list[Statement], list[str]]:
    """The statements ready to land (an account-less statement takes ``account_hint``) and
    warnings; raises StatementParseError for what keeps the file out (see the module doc)."""
    if not statements:
        raise StatementParseError(
            name,
            "file",
            "STMTRS" if fmt == "ofx" else "statement",
            "the file holds no account statement (an account listing or an empty response): "
            "download the statement itself from the bank",
        )
    checked: list[Statement] = []
    unbalanced: list[tuple[str, str]] = []  # (statement label, what does not add up)
    for index, statement in enumerate(statements, start=1):
        where = f"statement {index}"
        # A CSV without an account column names its statement after the file: not an
        # account id (the next month's export would land on another "account").
        unnamed = not statement.account_id.strip() or (
            fmt.startswith("csv:") and statement.account_id == name
        )
        if unnamed:
            if not account_hint:
                raise StatementParseError(
                    name,
                    where,
                    _ACCOUNT_FIELD.get(fmt, "account"),
                    "the file does not say which account it belongs to: drop it into "
                    "inbox/<company>/<IBAN or account number>/ so finpipe knows",
                )
            statement = replace(statement, account_id=account_hint)
        if not statement.currency:
            raise StatementParseError(
                name,
                f"{where} ({statement.account_id})",
                _CURRENCY_FIELD.get(fmt, "currency"),
                "the statement gives no currency (no balance or currency field): export a "
                "complete statement, not a fragment",
            )
        for position, line in enumerate(statement.lines, start=1):
            if not line.currency:  # its amount was read without knowing the decimals
                raise StatementParseError(
                    name,
                    f"{where} line {position}",
                    _CURRENCY_FIELD.get(fmt, "currency"),
                    "the line's currency is unknown (the file gives it only later or not at "
                    "all): export a complete statement",
                )
        difference = statement.balance_difference()
        if difference:
            assert statement.opening_balance and statement.closing_balance
            ccy = statement.currency
            booked = sum(line.amount for line in statement.lines if line.status == "booked")
            unbalanced.append(
                (
                    f"{where} ({statement.statement_id or statement.account_id})",
                    f"opening {_money(statement.opening_balance.amount, ccy)} + booked lines "
                    f"{_money(booked, ccy)} != closing "
                    f"{_money(statement.closing_balance.amount, ccy)}, "
                    f"off by {_money(difference, ccy)}",
                )
            )
        checked.append(statement)
    if unbalanced and strict_balances:
        label, detail = unbalanced[0]
        more = f" (and {len(unbalanced) - 1} more statement(s))" if len(unbalanced) > 1 else ""
        raise StatementParseError(
            name,
            label,
            _CLOSING_FIELD.get(fmt, "closing balance"),
            f"balances do not add up: {detail}{more}; lines may be missing or the file "
            "edited: download the statement again, or import it with strict_balances=False "
            "to accept it as printed",
        )
    warnings = [
        f"{name}: {label}: balances do not add up: {detail}" for label, detail in unbalanced
    ]
    return checked, warnings


def _camt_balance_codes(data: bytes) -> list[set[str]]:
    """The balance type codes (``Bal/Tp/CdOrPrtry/Cd``) of every ``Stmt``, in order."""

    def children(el: ET.Element, name: str) -> list[ET.Element]:
        return [c for c in el if c.tag.rsplit("}", 1)[-1] == name]

    codes: list[set[str]] = []
    for body in children(ET.fromstring(data), "BkToCstmrStmt"):
        for stmt in children(body, "Stmt"):
            found: set[str] = set()
            for bal in children(stmt, "Bal"):
                for tp in children(bal, "Tp"):
                    for choice in children(tp, "CdOrPrtry"):
                        found.update((c.text or "").strip() for c in children(choice, "Cd"))
            codes.append(found)
    return codes


def check_complete(name: str, fmt: str, data: bytes, statements: Sequence[Statement]) -> None:
    """Raise StatementParseError when the file was cut short in a way its parser tolerates:
    the OFX reader is lenient about unclosed tags and the MT940 reader about a missing end,
    so a half-downloaded file would otherwise land half of its lines. A cut camt.053 is not
    well-formed XML (its parser rejects it); a camt statement with entries but without a
    closing balance (CLBD / CLAV, which every camt.053 must carry) is rejected here. CSV
    completeness cannot be told from the content (see the module doc)."""
    if fmt == "ofx" and b"</OFX>" not in data.upper():
        raise StatementParseError(
            name, "file", "</OFX>", "the file ends before </OFX> (cut short?): download it again"
        )
    if fmt == "mt940":
        for index, statement in enumerate(statements, start=1):
            if statement.opening_balance is not None and statement.closing_balance is None:
                raise StatementParseError(
                    name,
                    f"statement {index} ({statement.statement_id or statement.account_id})",
                    ":62F:",
                    "the statement has an opening balance but ends without its closing "
                    "balance (cut short?): download the file again",
                )
    if fmt == "camt053" and any(s.lines and s.closing_balance is None for s in statements):
        codes = _camt_balance_codes(data)  # parsed once already: well-formed
        for index, statement in enumerate(statements, start=1):
            closed = index <= len(codes) and bool(codes[index - 1] & {"CLBD", "CLAV"})
            if statement.lines and statement.closing_balance is None and not closed:
                raise StatementParseError(
                    name,
                    f"statement {index} ({statement.statement_id or statement.account_id})",
                    "Bal/CLBD",
                    "the statement has entries but no closing balance (CLBD or CLAV): it is "
                    "incomplete (cut short?): download the file again",
                )


def _locate(path: Path, company_id: str, root: Path | None) -> tuple[Path, Path]:
    """(drop-folder root, sub-folder of the file below its company's inbox)."""
    if root is None:
        for parent in path.parents:
            if parent.name == company_id and parent.parent.name == INBOX:
                return parent.parent.parent, path.parent.relative_to(parent)
        return statements_root(), Path()
    company_inbox = root / INBOX / company_id
    try:
        return root, path.parent.relative_to(company_inbox)
    except ValueError:
        return root, Path()


def _move(path: Path, folder: Path, sha: str) -> Path:
    """Move ``path`` into ``folder``; a different file of the same name already there
    keeps its place and this one gets the content hash in its name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists() and _sha256(target)[0] != sha:
        target = folder / f"{path.stem}.{sha[:12]}{path.suffix}"
    if target.exists():  # same content already filed: the drop is a duplicate
        path.unlink()
        return target
    try:
        os.replace(path, target)  # atomic on one filesystem
    except OSError:
        shutil.move(str(path), str(target))
    return target


def _utc(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC) if now.tzinfo else now.replace(tzinfo=dt.UTC)


def _file_row(
    company_id: str,
    sha: str,
    name: str,
    fmt: str | None,
    status: str,
    reason: str | None,
    statements: int,
    lines: int,
    size: int,
    now: dt.datetime,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "company_id": [company_id],
            "content_sha256": [sha],
            "file_name": [name],
            "format": [fmt or "unknown"],
            "status": [status],
            "reason": [reason],
            "statements": [statements],
            "lines": [lines],
            "size_bytes": [size],
            "imported_at": [now],
        },
        schema=STATEMENT_FILES.polars_schema(),
    )


def _known_files(
    warehouse: Warehouse, company_id: str, sha: str | None = None
) -> dict[str, dict[str, Any]]:
    """``raw.statement_files`` rows of the company (or of one content hash), by hash."""
    rows = warehouse.read(
        STATEMENT_FILES,
        company_id=company_id,
        where="content_sha256 = %s" if sha else None,
        params=[sha] if sha else [],
    )
    return {row["content_sha256"]: row for row in rows.iter_rows(named=True)}


def import_file(
    warehouse: Warehouse,
    company_id: str,
    path: Path,
    *,
    now: dt.datetime,
    sync_id: str,
    strict_balances: bool = True,
    account_hint: str | None = None,
    root: Path | None = None,
    known_files: dict[str, dict[str, Any]] | None = None,
) -> ImportResult:
    """Import one dropped file for ``company_id`` (see the module doc): land it all, or
    reject it with a reason; either way the file leaves the inbox.

    ``root`` is the drop folder (default: found from ``path`` when it lies in
    ``.../inbox/<company_id>/``, else :func:`statements_root`). ``account_hint`` names the
    account of statements that do not name it (default: the file's account sub-folder)."""
    now = _utc(now)
    root, sub = _locate(path, company_id, root)
    if account_hint is None and sub.parts:
        account_hint = sub.parts[0]
    name = path.name
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if known_files is None:
        known_files = _known_files(warehouse, company_id, sha)
    known = known_files.get(sha)
    if known is not None and known["status"] == "imported":
        moved = _move(path, root / IMPORTED / company_id / sub, sha)
        return ImportResult(
            company_id,
            name,
            sha,
            "already_imported",
            format=known["format"],
            statements=int(known["statements"]),
            lines=int(known["lines"]),
            reason=f"already imported as {known['file_name']}",
            moved_to=moved,
        )

    fmt: str | None = None
    parsed: list[Statement] = []
    try:
        fmt = detect_format(name, data)
        parsed = parse_as(fmt, name, data)
        check_complete(name, fmt, data, parsed)
        statements, warnings = check_statements(
            name, fmt, parsed, strict_balances=strict_balances, account_hint=account_hint
        )
        frames = statement_frames(
            statements,
            company_id=company_id,
            file_name=name,
            content_sha256=sha,
            fmt=fmt,
            extracted_at=now,
            sync_id=sync_id,
        )
    except StatementParseError as error:
        return _reject(
            warehouse, company_id, path, root, sub, sha, len(data), fmt, parsed, error, now
        )

    line_count = sum(len(s.lines) for s in statements)
    file_row = _file_row(
        company_id, sha, name, fmt, "imported", None, len(statements), line_count, len(data), now
    )
    with warehouse.batch() as batch:
        batch.upsert(STATEMENT_FILES, file_row)
        batch.upsert(STATEMENT_LINES, frames.lines)
        batch.upsert(STATEMENT_BALANCES, frames.balances)
    new = next((r.inserted for r in batch.results if r.table == STATEMENT_LINES.qualified_name), 0)
    # Only after the commit: a crash before this line leaves the file in the inbox, and the
    # next run finds its content imported and just files it.
    moved = _move(path, root / IMPORTED / company_id / sub, sha)
    return ImportResult(
        company_id,
        name,
        sha,
        "imported",
        format=fmt,
        statements=len(statements),
        lines=line_count,
        lines_new=new,
        balances=frames.balances.height,
        moved_to=moved,
        warnings=tuple(warnings),
    )


def _reject(
    warehouse: Warehouse,
    company_id: str,
    path: Path,
    root: Path,
    sub: Path,
    sha: str,
    size: int,
    fmt: str | None,
    parsed: list[Statement],
    error: StatementParseError,
    now: dt.datetime,
) -> ImportResult:
    name = path.name
    reason = (
        f"{error}. Fix or re-export the file and drop it into inbox/{company_id}/ again "
        "(the rejected copy stays in rejected/)."
    )
    lines = sum(len(s.lines) for s in parsed)
    quarantine = pl.DataFrame(
        {
            "company_id": [company_id],
            "source": [QUARANTINE_SOURCE],
            "record_id": [f"{name}#{sha}"],
            "field": [error.field],
            "reason": [reason],
            "payload": [
                payloads.dumps(
                    {
                        "file_name": name,
                        "content_sha256": sha,
                        "format": fmt,
                        "where": error.where,
                        "size_bytes": size,
                    }
                )
            ],
            "quarantined_at": [now],
        },
        schema=QUARANTINE.polars_schema(),
    )
    with warehouse.batch() as batch:
        batch.upsert(
            STATEMENT_FILES,
            _file_row(
                company_id, sha, name, fmt, "rejected", reason, len(parsed), lines, size, now
            ),
        )
        batch.upsert(QUARANTINE, quarantine)
    moved = _move(path, root / REJECTED / company_id / sub, sha)
    moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return ImportResult(
        company_id,
        name,
        sha,
        "rejected",
        format=fmt,
        statements=len(parsed),
        lines=lines,
        reason=reason,
        moved_to=moved,
    )


def import_inbox(
    warehouse: Warehouse,
    root: Path,
    company_id: str,
    now: dt.datetime,
    *,
    sync_id: str | None = None,
    strict_balances: bool = True,
    settle_seconds: float = SETTLE_SECONDS,
) -> list[ImportResult]:
    """Import every pending file of ``company_id``'s inbox, in name order. One importer per
    company at a time (a warehouse lock), so two runs never import the same file twice."""
    sync_id = sync_id or f"statements-{_utc(now):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    results: list[ImportResult] = []
    with warehouse.lock(f"statement-inbox:{company_id}"):
        pending = pending_files(root, company_id, settle_seconds=settle_seconds)
        # One look-up for the whole inbox (a DuckDB connection per read is not free).
        known = _known_files(warehouse, company_id) if pending else {}
        for item in pending:
            if not item.path.exists():  # filed by another importer meanwhile
                continue
            result = import_file(
                warehouse,
                company_id,
                item.path,
                now=now,
                sync_id=sync_id,
                strict_balances=strict_balances,
                account_hint=item.account_hint,
                root=root,
                known_files=known,
            )
            if result.status != "already_imported":
                known[result.sha256] = {
                    "status": result.status,
                    "format": result.format,
                    "statements": result.statements,
                    "lines": result.lines,
                    "file_name": result.file_name,
                }
            results.append(result)
    return results
