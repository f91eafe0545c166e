"""QuickBooks Online payloads into typed records, and QBO response envelopes into results.

Two entry points:

* :func:`parse_entity` turns one bare QBO entity (what sits in ``QueryResponse.<Entity>[]``)
  into a :class:`QboRecord`: amounts as :class:`~decimal.Decimal`, ``MetaData`` instants as
  tz-aware datetimes, ``TxnDate``/``DueDate`` as dates, references as :class:`Ref`, lines as
  :class:`QboLine`. A value that cannot be read raises :class:`QuickBooksParseError`
  naming the entity, the record id and the field.
* :func:`parse_response` reads a whole HTTP body: ``QueryResponse`` (records or
  ``totalCount``), ``CDCResponse``, ``BatchItemResponse``, report bodies
  (``Header``/``Columns``/``Rows``), single-entity answers (``{"Invoice": {...}}``,
  including the ``status: Deleted`` answer of a delete). Error bodies raise
  :class:`QuickBooksFault`: ``Fault.Error[]`` (400s), the lower-case ``fault.error[]``
  envelope of a 401, and the ``AttachableResponse[].Fault`` that QBO sends with HTTP 200.

Records keep their payload (``QboRecord.payload``): the landing tables store the payload
verbatim, the typed fields are for checks, tests and later stages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError

# Keys of a QueryResponse / envelope that are not entity lists.
_ENVELOPE_KEYS = frozenset({"startPosition", "maxResults", "totalCount", "time", "warnings"})

# Entities whose queries return only active rows unless asked (QBO "name list" entities).
NAME_LIST_ENTITIES = frozenset(
    {
        "Account",
        "Customer",
        "Vendor",
        "Item",
        "Employee",
        "PaymentMethod",
        "Term",
        "TaxCode",
        "TaxRate",
        "Class",
        "Department",
    }
)

# Where each transaction keeps its counterparty and its header (cash / control) account.
_PARTY_KEYS = ("CustomerRef", "VendorRef", "EntityRef", "EmployeeRef")
_HEADER_ACCOUNT_KEYS = (
    "DepositToAccountRef",
    "AccountRef",
    "APAccountRef",
    "ARAccountRef",
)
_LINE_ACCOUNT_KEYS = ("AccountRef", "ItemAccountRef", "DiscountAccountRef")

_TOKEN_RE = re.compile(r"(Token (?:expired|invalid|revoked)?:?\s*)([A-Za-z0-9._\-]{8,})")


class QuickBooksParseError(ConnectorError):
    """A QBO payload has a value that cannot be read; names the entity, record and field."""

    def __init__(self, entity: str, record_id: str | None, field_name: str, reason: str) -> None:
        self.entity = entity
        self.record_id = record_id
        self.field = field_name
        self.reason = reason
        where = f"{entity} {record_id}" if record_id else entity
        super().__init__(f"QuickBooks {where}: field {field_name}: {reason}")


@dataclass(frozen=True)
class FaultDetail:
    """One ``Fault.Error[]`` entry (``code`` is a string in QBO's JSON)."""

    code: str
    message: str
    detail: str
    element: str | None
    type: str | None

    def text(self) -> str:
        element = f" (field {self.element})" if self.element else ""
        detail = f": {self.detail}" if self.detail and self.detail != self.message else ""
        return f"{self.code} {self.message}{detail}{element}"


class QuickBooksFault(ConnectorError):
    """QBO answered with a Fault. ``faults`` holds every error entry; ``entity`` is the
    entity involved when known (the request's or the envelope's)."""

    def __init__(
        self,
        faults: Sequence[FaultDetail],
        *,
        entity: str | None = None,
        status: int | None = None,
    ) -> None:
        self.faults = tuple(faults)
        self.entity = entity
        self.status = status
        kind = self.faults[0].type if self.faults else None
        head = "QuickBooks" + (f" {entity}" if entity else "")
        status_text = f" (HTTP {status})" if status else ""
        body = "; ".join(f.text() for f in self.faults) or "no error detail"
        super().__init__(f"{head}: {kind or 'Fault'}{status_text}: {body}")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.faults)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f.element for f in self.faults if f.element)


@dataclass(frozen=True)
class Ref:
    """A QBO ReferenceType: ``{"value": id, "name": display, "type": entity}``."""

    value: str
    name: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class LinkedTxn:
    txn_id: str
    txn_type: str | None
    txn_line_id: str | None = None


@dataclass(frozen=True)
class QboLine:
    """One transaction line, whatever its ``DetailType``."""

    line_id: str | None
    line_num: int | None
    detail_type: str | None
    amount: Decimal | None
    description: str | None = None
    account: Ref | None = None
    item: Ref | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_code: str | None = None
    posting_type: str | None = None  # JournalEntry: Debit | Credit
    entity: Ref | None = None  # JournalEntry / Deposit line name (customer, vendor, ...)
    linked: tuple[LinkedTxn, ...] = ()
    children: tuple[QboLine, ...] = ()  # GroupLineDetail lines

    @property
    def signed_amount(self) -> Decimal | None:
        """Journal lines: debit positive, credit negative; other lines: the amount."""
        if self.amount is None or self.posting_type is None:
            return self.amount
        return self.amount if self.posting_type == "Debit" else -self.amount


@dataclass(frozen=True, kw_only=True)
class QboRecord:
    """One QBO entity, typed. Fields an entity does not have stay None / empty."""

    entity: str
    id: str
    sync_token: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    deleted: bool = False
    # name lists (Account, Customer, Vendor, Item, Employee, ...)
    name: str | None = None
    active: bool | None = None
    email: str | None = None
    # transactions
    doc_number: str | None = None
    txn_date: dt.date | None = None
    due_date: dt.date | None = None
    currency: str | None = None
    exchange_rate: Decimal | None = None
    total: Decimal | None = None
    balance: Decimal | None = None
    home_total: Decimal | None = None
    tax_total: Decimal | None = None
    unapplied: Decimal | None = None
    party: Ref | None = None
    account: Ref | None = None
    from_account: Ref | None = None
    to_account: Ref | None = None
    payment_type: str | None = None
    private_note: str | None = None
    lines: tuple[QboLine, ...] = ()
    linked: tuple[LinkedTxn, ...] = ()
    # Account
    account_type: str | None = None
    account_subtype: str | None = None
    classification: str | None = None
    acct_num: str | None = None
    # Item
    item_type: str | None = None
    unit_price: Decimal | None = None
    purchase_cost: Decimal | None = None
    income_account: Ref | None = None
    expense_account: Ref | None = None
    # CompanyInfo / Preferences
    home_currency: str | None = None
    multi_currency: bool | None = None
    country: str | None = None
    payload: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def voided(self) -> bool:
        """QBO keeps a voided transaction with zero amounts and the note ``Voided``."""
        return self.private_note is not None and self.private_note.startswith("Voided")


@dataclass(frozen=True)
class ReportRow:
    kind: str  # header | data | summary
    group: str | None
    depth: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class QboReport:
    name: str | None
    basis: str | None
    start: dt.date | None
    end: dt.date | None
    currency: str | None
    columns: tuple[str, ...]
    rows: tuple[ReportRow, ...]


@dataclass(frozen=True)
class BatchItem:
    bid: str | None
    records: tuple[QboRecord, ...] = ()
    fault: QuickBooksFault | None = None


@dataclass(frozen=True)
class Rejected:
    """A record of a response that :func:`parse_entity` refused."""

    entity: str
    payload: Any
    error: QuickBooksParseError

    @property
    def record_id(self) -> str:
        raw = self.payload.get("Id") if isinstance(self.payload, Mapping) else None
        return str(raw) if raw is not None else "?"


@dataclass(frozen=True)
class QboResponse:
    """A parsed QBO body. ``kind``: query | count | cdc | entity | batch | report | attachable."""

    kind: str
    time: dt.datetime | None
    records: tuple[QboRecord, ...] = ()
    count: int | None = None
    start_position: int | None = None
    max_results: int | None = None
    batch: tuple[BatchItem, ...] = ()
    report: QboReport | None = None
    # CDC: the objects returned per entity (deleted ones included), in answer order.
    by_entity: Mapping[str, tuple[QboRecord, ...]] = field(default_factory=dict)
    # strict=False: records that could not be read, with the error naming the field.
    rejected: tuple[Rejected, ...] = ()
    # how many entity objects the body held (read or rejected): decides whether a page is full
    returned: int = 0

    def of(self, entity: str) -> tuple[QboRecord, ...]:
        return tuple(r for r in self.records if r.entity == entity)


# --------------------------------------------------------------------------- values


class _Reader:
    """Typed access to one payload, raising :class:`QuickBooksParseError` with context."""

    def __init__(self, entity: str, payload: Mapping[str, Any]) -> None:
        self.entity = entity
        self.payload = payload
        raw_id = payload.get("Id")
        self.record_id = None if raw_id is None else str(raw_id)

    def fail(self, field_name: str, reason: str) -> QuickBooksParseError:
        return QuickBooksParseError(self.entity, self.record_id, field_name, reason)

    def text(self, value: Any, field_name: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
            raise self.fail(field_name, f"expected text, got {type(value).__name__}")
        return str(value)

    def decimal(self, value: Any, field_name: str) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise self.fail(field_name, f"expected a number, got {value!r}")
        if isinstance(value, Decimal):
            return value
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, float):
            # A payload parsed with the stdlib json module: repr() is the shortest exact
            # spelling of what was written (100.0, 337.5), so no binary noise gets in.
            return Decimal(repr(value))
        if isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise self.fail(field_name, f"not a number: {value!r}") from None
            if not number.is_finite():
                raise self.fail(field_name, f"not a finite number: {value!r}")
            return number
        raise self.fail(field_name, f"expected a number, got {type(value).__name__}")

    def integer(self, value: Any, field_name: str) -> int | None:
        number = self.decimal(value, field_name)
        if number is None:
            return None
        if number != number.to_integral_value():
            raise self.fail(field_name, f"expected a whole number, got {value!r}")
        return int(number)

    def boolean(self, value: Any, field_name: str) -> bool | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(field_name, f"expected true/false, got {value!r}")

    def date(self, value: Any, field_name: str) -> dt.date | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(field_name, f"expected a YYYY-MM-DD date, got {value!r}")
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            raise self.fail(field_name, f"not a YYYY-MM-DD date: {value!r}") from None

    def instant(self, value: Any, field_name: str) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field_name, f"expected an ISO-8601 instant, got {value!r}")
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(field_name, f"not an ISO-8601 instant: {value!r}") from None
        if parsed.tzinfo is None:
            raise self.fail(field_name, f"instant without a UTC offset: {value!r}")
        return parsed

    def ref(self, value: Any, field_name: str) -> Ref | None:
        if value is None:
            return None
        if isinstance(value, str):  # some older minor versions answer a bare id
            return Ref(value)
        if not isinstance(value, Mapping):
            raise self.fail(field_name, f"expected a reference object, got {value!r}")
        raw = value.get("value")
        if raw is None or raw == "":
            # QBO sends {"value": ""} for "no reference" on some fields
            return None
        return Ref(
            value=str(self.text(raw, f"{field_name}.value")),
            name=self.text(value.get("name"), f"{field_name}.name"),
            type=self.text(value.get("type"), f"{field_name}.type"),
        )

    def mapping(self, value: Any, field_name: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field_name, f"expected an object, got {type(value).__name__}")
        return value

    def sequence(self, value: Any, field_name: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise self.fail(field_name, f"expected a list, got {type(value).__name__}")
        return value


def _linked(reader: _Reader, value: Any, field_name: str) -> tuple[LinkedTxn, ...]:
    out = []
    for i, entry in enumerate(reader.sequence(value, field_name)):
        item = reader.mapping(entry, f"{field_name}[{i}]")
        txn_id = reader.text(item.get("TxnId"), f"{field_name}[{i}].TxnId")
        if txn_id is None:
            raise reader.fail(f"{field_name}[{i}].TxnId", "missing")
        out.append(
            LinkedTxn(
                txn_id=txn_id,
                txn_type=reader.text(item.get("TxnType"), f"{field_name}[{i}].TxnType"),
                txn_line_id=reader.text(item.get("TxnLineId"), f"{field_name}[{i}].TxnLineId"),
            )
        )
    return tuple(out)


def _line(reader: _Reader, raw: Any, where: str) -> QboLine:
    line = reader.mapping(raw, where)
    detail_type = reader.text(line.get("DetailType"), f"{where}.DetailType")
    raw_detail = line.get(detail_type) if detail_type else None
    detail = reader.mapping(raw_detail, f"{where}.{detail_type}")
    if detail_type == "DepositLineDetail" or (detail_type is None and "DepositLineDetail" in line):
        detail = reader.mapping(line.get("DepositLineDetail"), f"{where}.DepositLineDetail")
    dpath = f"{where}.{detail_type}" if detail_type else where
    account = None
    for key in _LINE_ACCOUNT_KEYS:
        account = reader.ref(detail.get(key), f"{dpath}.{key}")
        if account is not None:
            break
    entity = None
    raw_entity = detail.get("Entity")
    if isinstance(raw_entity, Mapping) and "EntityRef" in raw_entity:
        entity = reader.ref(raw_entity.get("EntityRef"), f"{dpath}.Entity.EntityRef")
        if entity is not None and entity.type is None and raw_entity.get("Type"):
            entity = Ref(entity.value, entity.name, str(raw_entity["Type"]))
    elif raw_entity is not None:
        entity = reader.ref(raw_entity, f"{dpath}.Entity")
    tax = reader.ref(detail.get("TaxCodeRef"), f"{dpath}.TaxCodeRef")
    children = tuple(
        _line(reader, child, f"{where}.GroupLineDetail.Line[{j}]")
        for j, child in enumerate(reader.sequence(detail.get("Line"), f"{dpath}.Line"))
    )
    return QboLine(
        line_id=reader.text(line.get("Id"), f"{where}.Id"),
        line_num=reader.integer(line.get("LineNum"), f"{where}.LineNum"),
        detail_type=detail_type,
        amount=reader.decimal(line.get("Amount"), f"{where}.Amount"),
        description=reader.text(line.get("Description"), f"{where}.Description"),
        account=account,
        item=reader.ref(detail.get("ItemRef"), f"{dpath}.ItemRef"),
        quantity=reader.decimal(detail.get("Qty"), f"{dpath}.Qty"),
        unit_price=reader.decimal(detail.get("UnitPrice"), f"{dpath}.UnitPrice"),
        tax_code=tax.value if tax else None,
        posting_type=reader.text(detail.get("PostingType"), f"{dpath}.PostingType"),
        entity=entity,
        linked=_linked(reader, line.get("LinkedTxn"), f"{where}.LinkedTxn"),
        children=children,
    )


def _first_ref(reader: _Reader, payload: Mapping[str, Any], keys: Sequence[str]) -> Ref | None:
    for key in keys:
        ref = reader.ref(payload.get(key), key)
        if ref is not None:
            return ref
    return None


def parse_entity(entity_name: str, payload: Mapping[str, Any]) -> QboRecord:
    """One bare QBO entity as a :class:`QboRecord` (raises :class:`QuickBooksParseError`)."""
    if not isinstance(payload, Mapping):
        raise QuickBooksParseError(entity_name, None, "(record)", "expected a JSON object")
    r = _Reader(entity_name, payload)
    if r.record_id is None:
        raise r.fail("Id", "missing")
    meta = r.mapping(payload.get("MetaData"), "MetaData")
    deleted = payload.get("status") == "Deleted"
    tax_detail = r.mapping(payload.get("TxnTaxDetail"), "TxnTaxDetail")
    party = _first_ref(r, payload, _PARTY_KEYS)
    if party is not None and party.type is None:
        for key in _PARTY_KEYS:
            if payload.get(key):
                party = Ref(party.value, party.name, key[:-3])
                break
    # BillPayment keeps its bank/card account inside CheckPayment / CreditCardPayment.
    check = r.mapping(payload.get("CheckPayment"), "CheckPayment")
    card = r.mapping(payload.get("CreditCardPayment"), "CreditCardPayment")
    account = (
        r.ref(check.get("BankAccountRef"), "CheckPayment.BankAccountRef")
        or r.ref(card.get("CCAccountRef"), "CreditCardPayment.CCAccountRef")
        or _first_ref(r, payload, _HEADER_ACCOUNT_KEYS)
    )
    total_key = "Amount" if entity_name == "Transfer" else "TotalAmt"
    email = r.mapping(payload.get("PrimaryEmailAddr"), "PrimaryEmailAddr").get("Address")
    currency_prefs = r.mapping(payload.get("CurrencyPrefs"), "CurrencyPrefs")
    home = r.ref(currency_prefs.get("HomeCurrency"), "CurrencyPrefs.HomeCurrency")
    country = payload.get("Country")
    if country is None:
        country = r.mapping(payload.get("CompanyAddr"), "CompanyAddr").get("Country")
    name = None
    for key in ("DisplayName", "Name", "CompanyName"):
        name = r.text(payload.get(key), key)
        if name is not None:
            break
    return QboRecord(
        entity=entity_name,
        id=r.record_id,
        sync_token=r.text(payload.get("SyncToken"), "SyncToken"),
        created_at=r.instant(meta.get("CreateTime"), "MetaData.CreateTime"),
        updated_at=r.instant(meta.get("LastUpdatedTime"), "MetaData.LastUpdatedTime"),
        deleted=deleted,
        name=name,
        active=r.boolean(payload.get("Active"), "Active"),
        email=r.text(email, "PrimaryEmailAddr.Address"),
        doc_number=r.text(payload.get("DocNumber"), "DocNumber"),
        txn_date=r.date(payload.get("TxnDate"), "TxnDate"),
        due_date=r.date(payload.get("DueDate"), "DueDate"),
        currency=(r.ref(payload.get("CurrencyRef"), "CurrencyRef") or Ref("")).value or None,
        exchange_rate=r.decimal(payload.get("ExchangeRate"), "ExchangeRate"),
        total=r.decimal(payload.get(total_key), total_key),
        balance=r.decimal(payload.get("Balance"), "Balance"),
        home_total=r.decimal(payload.get("HomeTotalAmt"), "HomeTotalAmt"),
        tax_total=r.decimal(tax_detail.get("TotalTax"), "TxnTaxDetail.TotalTax"),
        unapplied=r.decimal(
            payload.get("UnappliedAmt", payload.get("RemainingCredit")),
            "UnappliedAmt" if "UnappliedAmt" in payload else "RemainingCredit",
        ),
        party=party,
        account=account,
        from_account=r.ref(payload.get("FromAccountRef"), "FromAccountRef"),
        to_account=r.ref(payload.get("ToAccountRef"), "ToAccountRef"),
        payment_type=r.text(payload.get("PaymentType", payload.get("PayType")), "PaymentType"),
        private_note=r.text(payload.get("PrivateNote"), "PrivateNote"),
        lines=tuple(
            _line(r, raw, f"Line[{i}]")
            for i, raw in enumerate(r.sequence(payload.get("Line"), "Line"))
        ),
        linked=_linked(r, payload.get("LinkedTxn"), "LinkedTxn"),
        account_type=r.text(payload.get("AccountType"), "AccountType"),
        account_subtype=r.text(payload.get("AccountSubType"), "AccountSubType"),
        classification=r.text(payload.get("Classification"), "Classification"),
        acct_num=r.text(payload.get("AcctNum"), "AcctNum"),
        item_type=r.text(payload.get("Type"), "Type"),
        unit_price=r.decimal(payload.get("UnitPrice"), "UnitPrice"),
        purchase_cost=r.decimal(payload.get("PurchaseCost"), "PurchaseCost"),
        income_account=r.ref(payload.get("IncomeAccountRef"), "IncomeAccountRef"),
        expense_account=r.ref(payload.get("ExpenseAccountRef"), "ExpenseAccountRef"),
        home_currency=home.value if home else None,
        multi_currency=r.boolean(
            currency_prefs.get("MultiCurrencyEnabled"), "CurrencyPrefs.MultiCurrencyEnabled"
        ),
        country=r.text(country, "Country"),
        payload=payload,
    )


# ------------------------------------------------------------------------ envelopes


def _fault_details(raw: Any, lower: bool = False) -> list[FaultDetail]:
    """``Fault`` (or the 401's lower-case ``fault``) into details."""
    if not isinstance(raw, Mapping):
        return [FaultDetail("", "malformed Fault", repr(raw)[:200], None, None)]
    kind = raw.get("type")
    errors = raw.get("error" if lower else "Error") or []
    out = []
    for err in errors if isinstance(errors, list) else [errors]:
        if not isinstance(err, Mapping):
            continue
        get = (lambda k, e=err: e.get(k.lower())) if lower else err.get
        element = get("element")
        out.append(
            FaultDetail(
                code=str(get("code") or ""),
                message=redact(str(get("Message") or "")),
                detail=redact(str(get("Detail") or "")),
                element=str(element) if element not in (None, "") else None,
                type=str(kind) if kind is not None else None,
            )
        )
    return out or [FaultDetail("", "Fault without errors", "", None, str(kind) if kind else None)]


def redact(text: str) -> str:
    """QBO echoes the access token in some 401 details; never keep it."""
    return _TOKEN_RE.sub(lambda m: m.group(1) + "<redacted>", text)


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        # the 401 envelope's "time" is epoch milliseconds
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    return None


def _entity_lists(query_response: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    return [
        (key, value)
        for key, value in query_response.items()
        if key not in _ENVELOPE_KEYS and isinstance(value, list)
    ]


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_many(
    entity: str, items: Sequence[Any], strict: bool, rejected: list[Rejected]
) -> list[QboRecord]:
    out = []
    for item in items:
        try:
            out.append(parse_entity(entity, item))
        except QuickBooksParseError as exc:
            if strict:
                raise
            rejected.append(Rejected(entity, item, exc))
    return out


def _query_response(
    raw: Mapping[str, Any], time: dt.datetime | None, strict: bool = True
) -> QboResponse:
    if "totalCount" in raw and not _entity_lists(raw):
        return QboResponse(kind="count", time=time, count=_int(raw["totalCount"]))
    records: list[QboRecord] = []
    rejected: list[Rejected] = []
    returned = 0
    for entity, items in _entity_lists(raw):
        records.extend(_parse_many(entity, items, strict, rejected))
        returned += len(items)
    return QboResponse(
        rejected=tuple(rejected),
        returned=returned,
        kind="query",
        time=time,
        records=tuple(records),
        start_position=_int(raw.get("startPosition")),
        max_results=_int(raw.get("maxResults")),
        count=_int(raw.get("totalCount")),
    )


def _report(body: Mapping[str, Any]) -> QboReport:
    header = body.get("Header") or {}
    columns = tuple(
        str(c.get("ColTitle", "")) for c in (body.get("Columns") or {}).get("Column", []) or []
    )
    rows: list[ReportRow] = []

    def cells(block: Any) -> tuple[str, ...]:
        return tuple(str(c.get("value", "")) for c in (block or {}).get("ColData", []) or [])

    def walk(container: Any, depth: int) -> None:
        for row in (container or {}).get("Row", []) or []:
            group = row.get("group")
            if "Header" in row:
                rows.append(ReportRow("header", group, depth, cells(row["Header"])))
            if "ColData" in row:
                rows.append(ReportRow("data", group, depth, cells(row)))
            if "Rows" in row:
                walk(row["Rows"], depth + 1)
            if "Summary" in row:
                rows.append(ReportRow("summary", group, depth, cells(row["Summary"])))

    walk(body.get("Rows"), 0)

    def day(value: Any) -> dt.date | None:
        try:
            return dt.date.fromisoformat(str(value)) if value else None
        except ValueError:
            return None

    return QboReport(
        name=header.get("ReportName"),
        basis=header.get("ReportBasis"),
        start=day(header.get("StartPeriod")),
        end=day(header.get("EndPeriod")),
        currency=header.get("Currency"),
        columns=columns,
        rows=tuple(rows),
    )


def parse_response(
    body: str | bytes | Mapping[str, Any],
    *,
    entity: str | None = None,
    status: int | None = None,
    strict: bool = True,
) -> QboResponse:
    """Parse a QBO HTTP body. ``entity``/``status`` (of the request) only enrich errors.

    Raises :class:`QuickBooksFault` for error bodies and :class:`QuickBooksParseError` for
    unreadable bodies, and for unreadable records unless ``strict`` is false: then query
    and CDC records that cannot be read are returned in ``rejected`` (the rest of the page
    goes on)."""
    if isinstance(body, str | bytes):
        try:
            parsed = payloads.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "msg", str(exc))
            raise QuickBooksParseError(
                entity or "response", None, "(body)", f"not JSON ({reason})"
            ) from None
    else:
        parsed = body
    if not isinstance(parsed, Mapping):
        raise QuickBooksParseError(entity or "response", None, "(body)", "expected a JSON object")
    time = _time(parsed.get("time"))
    if "Fault" in parsed:
        raise QuickBooksFault(_fault_details(parsed["Fault"]), entity=entity, status=status)
    if isinstance(parsed.get("fault"), Mapping):
        raise QuickBooksFault(
            _fault_details(parsed["fault"], lower=True), entity=entity, status=status or 401
        )
    if "QueryResponse" in parsed:
        raw = parsed["QueryResponse"]
        if not isinstance(raw, Mapping):
            raise QuickBooksParseError(entity or "query", None, "QueryResponse", "not an object")
        return _query_response(raw, time, strict)
    if "CDCResponse" in parsed:
        return _cdc(parsed["CDCResponse"], time, strict)
    if "BatchItemResponse" in parsed:
        return _batch(parsed["BatchItemResponse"], time)
    if "AttachableResponse" in parsed:
        return _attachable(parsed["AttachableResponse"], time, status)
    if "Header" in parsed and "Rows" in parsed:
        return QboResponse(kind="report", time=time, report=_report(parsed))
    singles = [
        (k, v) for k, v in parsed.items() if k not in _ENVELOPE_KEYS and isinstance(v, Mapping)
    ]
    if len(singles) == 1:
        name, payload = singles[0]
        return QboResponse(kind="entity", time=time, records=(parse_entity(name, payload),))
    raise QuickBooksParseError(
        entity or "response", None, "(body)", f"unknown envelope with keys {sorted(parsed)}"
    )


def _cdc(raw: Any, time: dt.datetime | None, strict: bool = True) -> QboResponse:
    if not isinstance(raw, list):
        raise QuickBooksParseError("CDC", None, "CDCResponse", "expected a list")
    by_entity: dict[str, list[QboRecord]] = {}
    rejected: list[Rejected] = []
    returned = 0
    for block in raw:
        for qr in (block or {}).get("QueryResponse", []) or []:
            if not isinstance(qr, Mapping):
                raise QuickBooksParseError(
                    "CDC", None, "CDCResponse.QueryResponse", "not an object"
                )
            for entity, items in _entity_lists(qr):
                bucket = by_entity.setdefault(entity, [])
                bucket.extend(_parse_many(entity, items, strict, rejected))
                returned += len(items)
    records = tuple(r for rs in by_entity.values() for r in rs)
    return QboResponse(
        kind="cdc",
        time=time,
        records=records,
        by_entity={k: tuple(v) for k, v in by_entity.items()},
        rejected=tuple(rejected),
        returned=returned,
    )


def _batch(raw: Any, time: dt.datetime | None) -> QboResponse:
    items = []
    for entry in raw if isinstance(raw, list) else []:
        bid = entry.get("bId")
        if "Fault" in entry:
            items.append(BatchItem(bid, fault=QuickBooksFault(_fault_details(entry["Fault"]))))
            continue
        if "QueryResponse" in entry:
            sub = _query_response(entry["QueryResponse"], time)
            items.append(BatchItem(bid, records=sub.records))
            continue
        records = tuple(
            parse_entity(k, v) for k, v in entry.items() if k != "bId" and isinstance(v, Mapping)
        )
        items.append(BatchItem(bid, records=records))
    return QboResponse(
        kind="batch",
        time=time,
        batch=tuple(items),
        records=tuple(r for item in items for r in item.records),
    )


def _attachable(raw: Any, time: dt.datetime | None, status: int | None) -> QboResponse:
    records: list[QboRecord] = []
    faults: list[FaultDetail] = []
    for entry in raw if isinstance(raw, list) else []:
        if "Fault" in entry:
            faults.extend(_fault_details(entry["Fault"]))
        elif isinstance(entry.get("Attachable"), Mapping):
            records.append(parse_entity("Attachable", entry["Attachable"]))
    if faults and not records:
        # QBO reports this business-validation error with HTTP 200: still an error.
        raise QuickBooksFault(faults, entity="Attachable", status=status)
    return QboResponse(kind="attachable", time=time, records=tuple(records))


def error_text(response: Any) -> str:
    """QBO's own error text from an HTTP response (for :class:`ProviderError`): the Fault's
    codes, messages, details and fields; tokens are redacted; non-JSON bodies are cut short."""
    text = getattr(response, "text", response)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text or "")
    try:
        parse_response(text, status=getattr(response, "status_code", None))
    except QuickBooksFault as fault:
        return "; ".join(f.text() for f in fault.faults) + (
            f" [{fault.faults[0].type}]" if fault.faults and fault.faults[0].type else ""
        )
    except ConnectorError:
        pass
    snippet = " ".join(redact(text).split())
    return snippet[:300] if snippet else "(empty body)"


def fault_codes(provider_message: str) -> tuple[str, ...]:
    """The QBO error codes in a :func:`error_text` string (``"5010 Stale Object Error: ..."``)."""
    return tuple(m.group(1) for m in re.finditer(r"(?:^|; )(\d+) ", provider_message))
