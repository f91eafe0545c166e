"""The contract between bank connectors and the canonical bank tables.

Every bank source (Open Banking, Berlin Group, the aggregator, statement files) turns its
landed raw rows into frames of exactly these schemas (its ``to_bank_lines`` /
``to_bank_accounts`` functions); :mod:`finpipe.ledger.bank_lines` then merges the sources
into ``ledger.bank_lines`` / ``ledger.bank_accounts``. No Dagster here.

Conventions every source follows:

* ``amount``: signed integer minor units of ``currency``, **money in positive** (Plaid's
  positive-is-money-out and OBIE's unsigned amount + ``CreditDebitIndicator`` are converted);
* ``status``: ``booked`` or ``pending``; ``pending_source_id`` on a booked line names the
  pending line it replaces when the source says so (aggregator ``pending_transaction_id``);
* ``deleted``: the raw row's soft-delete flag (aggregator ``removed``, a pending line that a
  later pull no longer returned); deleted lines never reach the canonical table;
* ``bank_account_id``: the account's id at its source; statement files use the file's
  account identification (IBAN or account number), and the merge maps it onto an API
  account with the same IBAN / number when there is one.

Bad records do not stop a source: each source's ``read_lines`` returns, with its lines, the
landed transaction records it skipped, as rows of :data:`REJECT_SCHEMA`
(one shared parse computes both, so they agree); the build puts them in ``ops.quarantine``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

SOURCES: tuple[str, ...] = ("openbanking", "berlingroup", "aggregator", "statement")

SOURCE_LINE_SCHEMA = pl.Schema(
    {
        "company_id": pl.String(),
        "bank_account_id": pl.String(),
        "source": pl.String(),
        "source_id": pl.String(),
        "booked_date": pl.Date(),
        "value_date": pl.Date(),
        "amount": pl.Int64(),
        "currency": pl.String(),
        "status": pl.String(),
        "description": pl.String(),
        "counterparty_name": pl.String(),
        "counterparty_account": pl.String(),
        "reference": pl.String(),
        "bank_transaction_code": pl.String(),
        "running_balance": pl.Int64(),
        "pending_source_id": pl.String(),
        "deleted": pl.Boolean(),
        "extracted_at": pl.Datetime("us", "UTC"),
    }
)

SOURCE_ACCOUNT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String(),
        "bank_account_id": pl.String(),
        "source": pl.String(),
        "institution_name": pl.String(),
        "account_name": pl.String(),
        "account_type": pl.String(),
        "iban": pl.String(),
        "account_number": pl.String(),
        "currency": pl.String(),
        "reported_balance": pl.Int64(),
        "reported_balance_date": pl.Date(),
    }
)


# The landed transaction records a source could not turn into canonical lines, one row per
# record (the second frame a source's ``read_lines`` returns):
#   tenant_id  the record's ``tenant_id`` in its landing table (the bank account at the source)
#   source_id  the record's ``source_id`` in its landing table
#   field      the payload field to blame (dotted path, e.g. ``Amount.Amount``), or null when
#              the record as a whole is unreadable (not JSON, not an object)
#   reason     what is wrong, naming the record (source, tenant and source id) and the field
REJECT_SCHEMA = pl.Schema(
    {
        "tenant_id": pl.String(),
        "source_id": pl.String(),
        "field": pl.String(),
        "reason": pl.String(),
    }
)

# What else, besides a source's own record error, a malformed payload can raise while it is
# read (a list where an object is due, a missing key): still that record's fault.
READ_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, AttributeError, KeyError)


class BankSourceError(ValueError):
    """A source frame does not follow the contract (named columns, wrong types)."""


class BankRecordError(ValueError):
    """One landed record cannot be read; the message names the record and the field,
    ``field`` is the payload field to blame (None when no single field is)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Reject:
    """A landed record a source's parse could not turn into a canonical line."""

    tenant_id: str
    source_id: str
    reason: str
    field: str | None = None


def reject(exc: Exception, where: str, tenant_id: str, source_id: str) -> Reject:
    """The :class:`Reject` of a record whose parse raised ``exc``; ``where`` names the record
    (e.g. ``openbanking transaction T1 of account A1``)."""
    if isinstance(exc, BankRecordError):
        return Reject(tenant_id, source_id, str(exc), exc.field)
    return Reject(
        tenant_id,
        source_id,
        f"{where}: the payload cannot be read ({type(exc).__name__}: {exc}); re-sync the record",
    )


def rejects_frame(rejects: Iterable[Reject]) -> pl.DataFrame:
    """Rows of :data:`REJECT_SCHEMA`."""
    rows = [(r.tenant_id, r.source_id, r.field, r.reason) for r in rejects]
    return pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row")


def conform(frame: pl.DataFrame, schema: pl.Schema, what: str) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in order and cast; missing or extra
    columns are an error naming ``what`` (a connector bug, not bad input)."""
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        raise BankSourceError(f"{what}: missing columns {missing}, unexpected columns {extra}")
    return frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])


def empty_lines() -> pl.DataFrame:
    return pl.DataFrame(schema=SOURCE_LINE_SCHEMA)


def empty_accounts() -> pl.DataFrame:
    return pl.DataFrame(schema=SOURCE_ACCOUNT_SCHEMA)


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def validated(
    to_lines: Callable[[dict[str, pl.DataFrame]], pl.DataFrame],
) -> Callable[[dict[str, pl.DataFrame]], tuple[pl.DataFrame, pl.DataFrame]]:
    """``read_lines`` of a source whose records were all validated before they landed
    (statement files are checked at import; a bad file is quarantined there): its lines,
    and no rejects."""
    return lambda frames: (to_lines(frames), empty_rejects())
