"""NextGenPSD2 payloads -> finpipe's canonical bank frames.

Landed rows keep the ASPSP's JSON verbatim (``raw.berlingroup_*``); this module reads them:

* **transactions**: ``source_id`` is the ``transactionId`` (else ``entryReference``, else a
  digest of the entry plus, from the second identical id-less entry of the report on, its
  occurrence number) for booked entries and ``pending:<id>`` for pending ones, so a bank
  that reuses one id for the pending and the booked entry still keeps them apart, and the
  status is known from the landed row alone.
* **amounts** are signed decimal strings, money in positive: read with
  :class:`~decimal.Decimal` into integer minor units of ``transactionAmount.currency``.
* **dates**: ``bookingDate`` (pending entries have none: their ``valueDate`` stands in).
* **counterparty**: the creditor of money going out, the debtor of money coming in; when
  that side is absent the other one is used (the spec's own example 1 lists a creditor on
  a positive amount).
* **reference**: ``endToEndId`` (``NOTPROVIDED`` ignored), else ``checkId``, else the
  structured remittance reference; **description**: the unstructured remittance
  information (string or array), else ``additionalInformation``, else the counterparty.

Bad records (an amount that is not a decimal, a missing currency or date) do not stop the
batch: :func:`parse_lines` returns them as :class:`Rejected` (record and field named),
:func:`to_bank_lines` skips them and :func:`rejected_lines` reports them (for
``ops.quarantine``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.berlingroup.money import AmountError, to_minor
from finpipe.ledger.bank_sources import (
    READ_ERRORS,
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    BankRecordError,
    Reject,
    conform,
    empty_accounts,
    empty_lines,
    reject,
    rejects_frame,
)

SOURCE = "berlingroup"
PENDING_PREFIX = "pending:"
log = logging.getLogger(__name__)

ACCOUNT_TYPES = {
    "CACC": "checking",
    "TRAN": "checking",
    "CASH": "checking",
    "SVGS": "savings",
    "MOMA": "savings",
    "LLSV": "savings",
    "ONDP": "savings",
    "CARD": "credit_card",
}
# Which reported balance stands for "the account's balance", best first.
BALANCE_PREFERENCE = (
    "closingBooked",
    "interimBooked",
    "openingBooked",
    "expected",
    "interimAvailable",
    "forwardAvailable",
)


class BerlinGroupParseError(BankRecordError):
    """A record that cannot be read; the message names the record and the field
    (``field``: the payload field to blame, when one is)."""


# A landed record :func:`parse_lines` could not turn into a line (tenant_id, source_id,
# reason, field).
Rejected = Reject


def entry_digest(entry: Mapping[str, Any]) -> str:
    """The fallback key of an entry without ``transactionId``/``entryReference``: a digest
    of its payload (``sha:<24 hex>``)."""
    digest = hashlib.sha256(payloads.dumps(dict(entry)).encode()).hexdigest()[:24]
    return f"sha:{digest}"


def transaction_source_id(entry: Mapping[str, Any], status: str, occurrence: int = 0) -> str:
    """The landing key of a transaction entry (see the module docstring). ``occurrence``
    numbers identical id-less payloads of one status within one report (0, 1, ...): two
    identical card payments of one day stay two lines (``sha:<digest>``,
    ``sha:<digest>:1``); the first keeps the bare digest."""
    ident = entry.get("transactionId") or entry.get("entryReference")
    if not ident:
        ident = entry_digest(entry)
        if occurrence:
            ident = f"{ident}:{occurrence}"
    return f"{PENDING_PREFIX}{ident}" if status == "pending" else str(ident)


def is_pending(source_id: str) -> bool:
    return source_id.startswith(PENDING_PREFIX)


def entry_date(entry: Mapping[str, Any]) -> dt.date | None:
    """``bookingDate``, else ``valueDate`` (pending entries), as a date."""
    value = entry.get("bookingDate") or entry.get("valueDate")
    return dt.date.fromisoformat(str(value)) if value else None


def _account_text(ref: Any) -> str | None:
    if not isinstance(ref, Mapping):
        return None
    for key in ("iban", "bban", "maskedPan", "pan", "msisdn"):
        if ref.get(key):
            return str(ref[key])
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        joined = " ".join(str(v) for v in value if v)
        return joined or None
    return str(value) if value not in (None, "") else None


def _structured_reference(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, Mapping):
        return _text(value.get("reference"))
    return _text(value)


def report_entries(
    body: Any, account_id: str, occurrences: Counter[str] | None = None
) -> tuple[list[tuple[str, Mapping[str, Any]]], Mapping[str, Any]]:
    """The entries of one page of ``GET .../transactions`` as (source id, entry), booked
    first, and the report's ``_links``. A report offered only as a download (``_links.download``,
    camt/MT940 files) is an error saying what to do.

    Identical entries without ids are numbered in the order the report lists them
    (:func:`transaction_source_id`); ``occurrences`` carries that count across the pages of
    one report (pass one :class:`~collections.Counter` for all its pages). Identical
    payloads share their date, so every report window holds all of them or none and a
    re-read gives the same keys."""
    seen: Counter[str] = Counter() if occurrences is None else occurrences
    report = body.get("transactions") if isinstance(body, Mapping) else None
    if not isinstance(report, Mapping):
        links = body.get("_links") if isinstance(body, Mapping) else None
        if isinstance(links, Mapping) and "download" in links:
            raise BerlinGroupParseError(
                f"berlingroup account {account_id}: the ASPSP offers the transaction report "
                "only as a download, which finpipe does not read; ask the bank for JSON "
                "reports or import its camt.053 statements instead"
            )
        raise BerlinGroupParseError(
            f"berlingroup account {account_id}: the answer has no transactions report"
        )
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for status in ("booked", "pending"):
        listed = report.get(status) or []
        if not isinstance(listed, list):
            raise BerlinGroupParseError(
                f"berlingroup account {account_id}: transactions.{status} is not a list"
            )
        for entry in listed:
            if not isinstance(entry, Mapping):
                raise BerlinGroupParseError(
                    f"berlingroup account {account_id}: an entry of transactions.{status} "
                    "is not an object"
                )
            occurrence = 0
            if not (entry.get("transactionId") or entry.get("entryReference")):
                slot = f"{status}:{entry_digest(entry)}"
                occurrence = seen[slot]
                seen[slot] += 1
            entries.append((transaction_source_id(entry, status, occurrence), entry))
    links = report.get("_links")
    return entries, links if isinstance(links, Mapping) else {}


def _iso_date(entry: Mapping[str, Any], key: str, where: str) -> dt.date | None:
    value = entry.get(key)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BerlinGroupParseError(
            f"{where}: {key} {value!r} is not a YYYY-MM-DD date", field=key
        ) from None


def parse_line(
    entry: Mapping[str, Any], *, company_id: str, tenant_id: str, source_id: str
) -> dict[str, Any]:
    """One canonical line (a dict of SOURCE_LINE_SCHEMA fields but deleted/extracted_at)."""
    where = f"berlingroup transaction {source_id} of account {tenant_id}"
    money = entry.get("transactionAmount")
    if not isinstance(money, Mapping):
        raise BerlinGroupParseError(
            f"{where}: transactionAmount is missing", field="transactionAmount"
        )
    currency = money.get("currency")
    if not currency:
        raise BerlinGroupParseError(
            f"{where}: transactionAmount.currency is missing", field="transactionAmount.currency"
        )
    try:
        amount = to_minor(money.get("amount"), str(currency))
    except AmountError as exc:
        raise BerlinGroupParseError(
            f"{where}: transactionAmount.amount: {exc}", field="transactionAmount.amount"
        ) from None
    # bookingDate, else (pending entries) valueDate: as entry_date, naming the bad one.
    booking = _iso_date(entry, "bookingDate", where)
    value_date = _iso_date(entry, "valueDate", where)
    booked_date = booking or value_date
    if booked_date is None:
        raise BerlinGroupParseError(
            f"{where}: neither bookingDate nor valueDate is given", field="bookingDate"
        )
    sides = ("creditor", "debtor") if amount < 0 else ("debtor", "creditor")
    name = account = None
    for side in sides:
        name = _text(entry.get(f"{side}Name"))
        account = _account_text(entry.get(f"{side}Account"))
        if name or account:
            break
    end_to_end = _text(entry.get("endToEndId"))
    if end_to_end == "NOTPROVIDED":
        end_to_end = None
    reference = (
        end_to_end
        or _text(entry.get("checkId"))
        or _structured_reference(
            entry.get("remittanceInformationStructured")
            or entry.get("remittanceInformationStructuredArray")
        )
    )
    description = (
        _text(entry.get("remittanceInformationUnstructured"))
        or _text(entry.get("remittanceInformationUnstructuredArray"))
        or _text(entry.get("additionalInformation"))
        or name
        or _text(entry.get("bankTransactionCode"))
        or ""
    )
    running = None
    after = entry.get("balanceAfterTransaction")
    if isinstance(after, Mapping) and isinstance(after.get("balanceAmount"), Mapping):
        balance = after["balanceAmount"]
        if balance.get("currency") == currency:
            try:
                running = to_minor(balance.get("amount"), str(currency))
            except AmountError as exc:
                raise BerlinGroupParseError(
                    f"{where}: balanceAfterTransaction.balanceAmount.amount: {exc}",
                    field="balanceAfterTransaction.balanceAmount.amount",
                ) from None
    return {
        "company_id": company_id,
        "bank_account_id": tenant_id,
        "source": SOURCE,
        "source_id": source_id,
        "booked_date": booked_date,
        "value_date": value_date,
        "amount": amount,
        "currency": str(currency),
        "status": "pending" if is_pending(source_id) else "booked",
        "description": description,
        "counterparty_name": name,
        "counterparty_account": account,
        "reference": reference,
        "bank_transaction_code": _text(
            entry.get("bankTransactionCode") or entry.get("proprietaryBankTransactionCode")
        ),
        "running_balance": running,
        "pending_source_id": None,  # NextGenPSD2 does not link a booked entry to its pending one
    }


def parse_lines(transactions: pl.DataFrame) -> tuple[pl.DataFrame, list[Rejected]]:
    """Canonical lines of landed ``raw.berlingroup_transactions`` rows, plus the rows that
    could not be read."""
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for row in transactions.iter_rows(named=True):
        where = f"berlingroup transaction {row['source_id']} of account {row['tenant_id']}"
        try:
            entry = payloads.loads(row["payload"])
            if not isinstance(entry, Mapping):
                raise BerlinGroupParseError(f"{where}: the payload is not a JSON object")
            line = parse_line(
                entry,
                company_id=row["company_id"],
                tenant_id=row["tenant_id"],
                source_id=row["source_id"],
            )
        except READ_ERRORS as exc:
            rejected.append(reject(exc, where, row["tenant_id"], row["source_id"]))
            continue
        line["deleted"] = bool(row["deleted"])
        line["extracted_at"] = row["extracted_at"]
        rows.append(line)
    if not rows:
        return empty_lines(), rejected
    frame = pl.DataFrame(rows, schema=SOURCE_LINE_SCHEMA)
    return conform(frame, SOURCE_LINE_SCHEMA, "berlingroup bank lines"), rejected


def _parsed(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, list[Rejected]]:
    transactions = frames.get("transactions")
    if transactions is None or transactions.is_empty():
        return empty_lines(), []
    return parse_lines(transactions)


def read_lines(frames: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical source lines of the landed ``transactions`` rows, and the records skipped
    as unreadable (REJECT_SCHEMA, for ``ops.quarantine``): one parse for both."""
    lines, rejected = _parsed(frames)
    for item in rejected:
        log.warning("skipped a berlingroup transaction: %s", item.reason)
    return lines, rejects_frame(rejected)


def to_bank_lines(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The lines of :func:`read_lines` (unreadable records skipped)."""
    return read_lines(frames)[0]


def rejected_lines(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The records :func:`read_lines` skipped (REJECT_SCHEMA)."""
    return read_lines(frames)[1]


def _balance(balances: list[Mapping[str, Any]], currency: str) -> tuple[int | None, Any]:
    """The preferred balance of an account (its own currency first; multicurrency
    accounts, currency ``XXX``, take whatever comes first)."""

    def rank(item: Mapping[str, Any]) -> tuple[int, int]:
        kind = item.get("balanceType")
        order = BALANCE_PREFERENCE.index(kind) if kind in BALANCE_PREFERENCE else 99
        own = (item.get("balanceAmount") or {}).get("currency") == currency
        return (0 if own else 1, order)

    for item in sorted(balances, key=rank):
        money = item.get("balanceAmount")
        if not isinstance(money, Mapping) or not money.get("currency"):
            continue
        try:
            minor = to_minor(money.get("amount"), str(money["currency"]))
        except AmountError:
            continue
        day = item.get("referenceDate") or str(item.get("lastChangeDateTime") or "")[:10]
        return minor, (dt.date.fromisoformat(day) if day else None)
    return None, None


def _account_type(account: Mapping[str, Any]) -> str:
    kind = account.get("cashAccountType")
    if kind:
        return ACCOUNT_TYPES.get(str(kind), str(kind).lower())
    # Card accounts (maskedPan, creditLimit) carry no cashAccountType.
    return "credit_card" if account.get("maskedPan") or account.get("creditLimit") else "other"


def to_bank_accounts(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """``raw.berlingroup_accounts`` (+ ``balances``) rows -> SOURCE_ACCOUNT_SCHEMA.
    NextGenPSD2 accounts do not name their bank: ``institution_name`` is left empty (it is
    the ASPSP the deployment connects to)."""
    accounts = frames.get("accounts")
    if accounts is None or accounts.is_empty():
        return empty_accounts()
    by_account: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    balances = frames.get("balances")
    if balances is not None:
        for row in balances.filter(~pl.col("deleted")).iter_rows(named=True):
            item = payloads.loads(row["payload"])
            if isinstance(item, Mapping):
                by_account.setdefault((row["company_id"], row["tenant_id"]), []).append(item)
    rows: list[dict[str, Any]] = []
    for row in accounts.filter(~pl.col("deleted")).iter_rows(named=True):
        account = payloads.loads(row["payload"])
        if isinstance(account, Mapping) and len(account) == 1:
            # An account details body ({"account": ...} / {"cardAccount": ...}) landed whole.
            account = account.get("account") or account.get("cardAccount") or account
        if not isinstance(account, Mapping):
            log.warning(
                "skipped berlingroup account %s: payload is not an object", row["source_id"]
            )
            continue
        currency = str(account.get("currency") or "")
        own = by_account.get((row["company_id"], row["tenant_id"]), [])
        embedded = account.get("balances") if isinstance(account.get("balances"), list) else []
        balance, day = _balance(list(own) or list(embedded), currency)
        rows.append(
            {
                "company_id": row["company_id"],
                "bank_account_id": str(account.get("resourceId") or row["tenant_id"]),
                "source": SOURCE,
                "institution_name": None,
                "account_name": _text(account.get("name")) or _text(account.get("product")),
                "account_type": _account_type(account),
                "iban": _text(account.get("iban")),
                "account_number": _text(account.get("bban"))
                or _text(account.get("maskedPan"))
                or _text(account.get("msisdn")),
                "currency": currency,
                "reported_balance": balance,
                "reported_balance_date": day,
            }
        )
    if not rows:
        return empty_accounts()
    frame = pl.DataFrame(rows, schema=SOURCE_ACCOUNT_SCHEMA)
    return conform(frame, SOURCE_ACCOUNT_SCHEMA, "berlingroup bank accounts")
