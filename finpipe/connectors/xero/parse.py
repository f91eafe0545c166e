"""Parsing Xero payloads: dates, amounts and endpoint bodies.

Xero's JSON carries dates as Microsoft JSON dates (``/Date(1539993600000+0000)/``, sometimes
without the offset), next to ISO strings without a zone (``DateString``,
``UpdatedDateUTCString``); tools that re-emit Xero data (Airbyte) write ISO with ``+00:00``;
webhooks write ``eventDateUtc`` with milliseconds and no zone. Every one of these becomes a
timezone-aware UTC ``datetime`` here.

Amounts arrive as ``0.00``, ``0.0``, ``46`` or (BatchPayment.TotalAmount) the string
``"50.00"``; they become :class:`~decimal.Decimal` with the digits as written, never floats.

:func:`parse_endpoint` accepts a whole response body (envelope), a list of records, or one
record, validates the fields finpipe relies on and returns :class:`XeroRecord` values. A bad
field raises :class:`XeroParseError` naming the endpoint, the record and the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError
from finpipe.connectors.xero.endpoints import DELETED_STATUSES, ENDPOINTS, OTHER_ENDPOINTS

UTC = dt.UTC
_MS_DATE = re.compile(r"^/?Date\((-?\d+)(?:([+-])(\d{2})(\d{2}))?\)/?$")

# Keys holding instants or dates (their *String twins included). ReportDate is free text
# ("24 April 2019") and stays a string.
_DATE_KEY = re.compile(r"(Date|DateUTC|DateUtc|DateTimeUTC)(String)?$")
_NOT_DATES = frozenset({"ReportDate"})

# Keys holding money, rates or quantities: exact decimals.
AMOUNT_KEYS = frozenset(
    {
        "Amount",
        "AmountCredited",
        "AmountDue",
        "AmountPaid",
        "AppliedAmount",
        "BankAmount",
        "CurrencyRate",
        "Discount",
        "DiscountAmount",
        "DiscountRate",
        "DisplayTaxRate",
        "EffectiveRate",
        "GrossAmount",
        "LineAmount",
        "NetAmount",
        "Outstanding",
        "Overdue",
        "Quantity",
        "QuantityOnHand",
        "Rate",
        "RemainingCredit",
        "RoundingAmount",
        "SubTotal",
        "TaxAmount",
        "Total",
        "TotalAmount",
        "TotalCostPool",
        "TotalDiscount",
        "TotalTax",
        "UnitAmount",
        "UnitPrice",
    }
)


class XeroParseError(ConnectorError):
    """A Xero payload does not have the shape finpipe relies on."""

    def __init__(self, endpoint: str, record_id: str | None, field_name: str | None, reason: str):
        self.endpoint = endpoint
        self.record_id = record_id
        self.field = field_name
        where = f"xero {endpoint}"
        if record_id:
            where += f" record {record_id}"
        if field_name:
            where += f" field {field_name}"
        super().__init__(f"{where}: {reason}")


def parse_date(value: str | None) -> dt.datetime | None:
    """A Xero date or instant as an aware UTC datetime (None for None or "").

    Accepts ``/Date(ms+hhmm)/``, ``/Date(ms)/`` and ISO 8601 with or without an offset
    (no offset means UTC, as Xero's ``DateString``/``UpdatedDateUTCString`` and webhook
    ``eventDateUtc`` are). Raises ValueError for anything else.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a date string, got {type(value).__name__} {value!r}")
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        millis, sign, hours, minutes = match.groups()
        instant = dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(milliseconds=int(millis))
        # The milliseconds are UTC; the offset only says which zone the value was shown in.
        del sign, hours, minutes
        return instant
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = dt.datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"not a Xero date: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_ms_date(instant: dt.datetime, offset: bool = True) -> str:
    """An instant in Xero's wire form ``/Date(ms+0000)/`` (``/Date(ms)/`` without offset)."""
    millis = (instant - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(milliseconds=1)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def parse_amount(value: Any) -> Decimal:
    """An amount as an exact Decimal: ``0.00``, ``0.0``, ints and numeric strings alike.

    Floats (JSON parsed without :func:`payloads.loads`) go through their shortest repr,
    which gives back the digits that were written."""
    if isinstance(value, bool):
        raise ValueError(f"expected an amount, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
    else:
        raise ValueError(f"expected an amount, got {type(value).__name__} {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


@dataclass(frozen=True)
class XeroRecord:
    """One Xero record: its key facts plus the payload as received and a typed view.

    ``payload`` is the record exactly as parsed (what lands in ``raw.xero_*``); ``values``
    is the same structure with dates as aware datetimes and amounts as Decimals.
    """

    endpoint: str
    source_id: str
    updated_at: dt.datetime | None
    status: str | None
    deleted: bool
    payload: dict[str, Any] = field(repr=False)
    values: dict[str, Any] = field(repr=False)

    @property
    def currency_code(self) -> str | None:
        return self.values.get("CurrencyCode")

    @property
    def currency_rate(self) -> Decimal | None:
        return self.values.get("CurrencyRate")

    @property
    def journal_number(self) -> int | None:
        number = self.values.get("JournalNumber")
        return int(number) if number is not None else None


def endpoint_keys(endpoint: str) -> tuple[str, str]:
    """(id field, envelope key) of ``endpoint``; unknown endpoints follow Xero's naming
    rule (``Things`` -> ``ThingID``)."""
    if endpoint in ENDPOINTS:
        spec = ENDPOINTS[endpoint]
        return spec.id_field, spec.envelope_key
    if endpoint in OTHER_ENDPOINTS:
        return OTHER_ENDPOINTS[endpoint]
    singular = endpoint[:-1] if endpoint.endswith("s") else endpoint
    return f"{singular}ID", endpoint


def _typed(endpoint: str, record_id: str | None, value: Any, key: str | None) -> Any:
    """``value`` with dates and amounts converted, recursively; errors name the field."""
    if isinstance(value, Mapping):
        return {k: _typed(endpoint, record_id, v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(endpoint, record_id, v, key) for v in value]
    if key is None or value is None:
        return value
    try:
        if key in AMOUNT_KEYS:
            return parse_amount(value)
        if isinstance(value, str) and _DATE_KEY.search(key) and key not in _NOT_DATES:
            return parse_date(value)
    except ValueError as exc:
        raise XeroParseError(endpoint, record_id, key, str(exc)) from None
    return value


def _records_of(endpoint: str, body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, (str, bytes)):
        return _records_of(endpoint, payloads.loads(body))
    if not isinstance(body, Mapping):
        raise XeroParseError(endpoint, None, None, f"expected a JSON object or array, got {body!r}")
    if body.get("Type") == "ValidationException" or "ErrorNumber" in body:
        raise XeroParseError(
            endpoint,
            None,
            None,
            "the body is a Xero error: " + "; ".join(validation_messages(body)),
        )
    id_field, envelope = endpoint_keys(endpoint)
    if envelope in body:
        records = body[envelope]
        if not isinstance(records, list):
            raise XeroParseError(endpoint, None, envelope, "expected a list of records")
        return records
    if id_field in body:
        return [body]  # a bare record
    raise XeroParseError(
        endpoint, None, envelope, f"neither an envelope with {envelope!r} nor a record"
    )


def parse_record(endpoint: str, record: Any) -> XeroRecord:
    """One record of ``endpoint`` as a :class:`XeroRecord` (raises :class:`XeroParseError`)."""
    id_field, _ = endpoint_keys(endpoint)
    if not isinstance(record, Mapping):
        raise XeroParseError(endpoint, None, None, f"expected a record object, got {record!r}")
    source_id = record.get(id_field)
    if source_id in (None, ""):
        raise XeroParseError(endpoint, None, id_field, "missing: every record needs its id")
    source_id = str(source_id)
    values = _typed(endpoint, source_id, dict(record), None)
    updated = values.get("UpdatedDateUTC")
    # UpdatedDateUTC is optional: the spec's own Accounts example has none. A record
    # without it simply never moves an If-Modified-Since cursor.
    spec = ENDPOINTS.get(endpoint)
    status_field = spec.status_field if spec is not None else "Status"
    status = record.get(status_field) if status_field else None
    if status is not None and not isinstance(status, str):
        raise XeroParseError(endpoint, source_id, status_field, f"not a string: {status!r}")
    if spec is not None and spec.journal:
        number = record.get("JournalNumber")
        if isinstance(number, bool) or not isinstance(number, int):
            raise XeroParseError(endpoint, source_id, "JournalNumber", f"not an int: {number!r}")
    return XeroRecord(
        endpoint=endpoint,
        source_id=source_id,
        updated_at=updated if isinstance(updated, dt.datetime) else None,
        status=status,
        deleted=status in DELETED_STATUSES,
        payload=dict(record),
        values=values,
    )


def parse_endpoint(endpoint: str, body: Any) -> list[XeroRecord]:
    """Every record of a response body (envelope, list of records, one record or JSON
    text) of ``endpoint``, validated; raises :class:`XeroParseError` on the first bad one."""
    return [parse_record(endpoint, record) for record in _records_of(endpoint, body)]


def validation_messages(body: Any) -> list[str]:
    """The human messages of a Xero error body: ``Elements[].ValidationErrors[].Message``,
    else ``Message``/``Detail``/``Title``."""
    if not isinstance(body, Mapping):
        return [str(body)] if body else []
    messages: list[str] = []
    for element in body.get("Elements") or []:
        if isinstance(element, Mapping):
            for error in element.get("ValidationErrors") or []:
                if isinstance(error, Mapping) and error.get("Message"):
                    messages.append(str(error["Message"]))
    if messages:
        return messages
    for key in ("Message", "Detail", "Title", "error_description", "error"):
        if body.get(key):
            return [str(body[key])]
    return []
