"""SWIFT MT940 statements and MT942 interim reports.

Handles SWIFT block envelopes ({1:..}{4: .. -}), bank preamble lines, SOH/ETX bytes, CRLF,
UTF-8 / cp1252 / latin-1, continuation lines of :61: and :86:, a tag split over two lines,
and the common structured :86: forms (German ``?20..?33`` GVC subfields with SEPA
``EREF+``/``KREF+``/``SVWZ+``, Triodos ``>20`` subfields, Rabobank ``/EREF/ /NAME/``).
Opening balance is the first :60F:/:60M:, closing the last :62F:/:62M: (an MT942 has none).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from finpipe.connectors.statements.model import (
    Balance,
    Statement,
    StatementLine,
    StatementParseError,
    currency_exponent,
    minor_units,
)

_TAG = re.compile(r"^:(\d\d[A-Z]?|NS):(.*)$")
_SPLIT_TAG = re.compile(r"^(\d\d[A-Z]?|NS):(.*)$")
_BALANCE = re.compile(r"^([CD])(\d{6})([A-Z]{3})(\d[\d,.]*)\s*$")
_LINE61 = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D|EC|ED)(?P<funds>[A-Z])?"
    r"(?P<amount>\d[\d]*,\d*|\d+)(?P<rest>.*)$",
    re.S,
)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


@dataclass
class _Field:
    tag: str
    line_no: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _fields(text: str) -> list[_Field]:
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fields: list[_Field] = []
    i = 0
    while i < len(raw):
        line = raw[i]
        line_no = i + 1
        stripped = line.strip()
        # SWIFT envelope: "{1:...}{2:...}{4:" on its own, "-}{5:...}" at the end.
        if stripped.startswith("{") or stripped.startswith("-}"):
            fields.append(_Field("-", line_no))
            i += 1
            continue
        if stripped == ":" and i + 1 < len(raw) and _SPLIT_TAG.match(raw[i + 1]):
            line = ":" + raw[i + 1]
            i += 1
        match = _TAG.match(line)
        if match:
            fields.append(_Field(match[1], line_no, [match[2]]))
        elif stripped == "-":
            fields.append(_Field("-", line_no))
        elif fields and fields[-1].tag != "-":
            fields[-1].lines.append(line)
        # anything else (preamble lines such as "ABNANL2A", "940") is ignored
        i += 1
    return fields


def _amount(text: str, currency: str, file: str, where: str, field_name: str) -> int:
    cleaned = text.strip()
    if not re.fullmatch(r"\d+(,\d*)?", cleaned):
        raise StatementParseError(file, where, field_name, f"{text!r} is not an MT940 amount")
    cleaned = cleaned.replace(",", ".").rstrip(".") or "0"
    return minor_units(
        cleaned, currency_exponent(currency or "XXX"), file=file, where=where, field_name=field_name
    )


def _yymmdd(text: str, file: str, where: str, field_name: str) -> dt.date:
    try:
        return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise StatementParseError(file, where, field_name, f"{text!r} is not a date") from None


def _balance(f: _Field, file: str) -> tuple[Balance, str]:
    where = f"line {f.line_no}"
    m = _BALANCE.match(f.text.replace("\n", "").strip())
    if not m:
        raise StatementParseError(file, where, f":{f.tag}:", f"{f.text!r} is not a balance")
    amount = _amount(m[4], m[3], file, where, f":{f.tag}: amount")
    return Balance(
        -amount if m[1] == "D" else amount, _yymmdd(m[2], file, where, f":{f.tag}: date")
    ), m[3]


def _line61(f: _Field, currency: str, file: str) -> StatementLine:
    where = f"line {f.line_no}"
    # Continuation lines are supplementary details, except when the bank wrapped the
    # mandatory part itself (the amount on the next line): then read them joined.
    m = _LINE61.match(f.lines[0].rstrip())
    if m is None or (len(f.lines) > 1 and not m["rest"].strip()):
        joined = "".join(
            part.rstrip() if n == 0 else part.strip() for n, part in enumerate(f.lines)
        )
        m = _LINE61.match(joined)
    if not m:
        raise StatementParseError(file, where, ":61:", f"{f.text!r} is not a statement line")
    value_date = _yymmdd(m["value"], file, where, ":61: value date")
    booked = value_date
    if m["entry"]:
        try:
            booked = dt.date(value_date.year, int(m["entry"][:2]), int(m["entry"][2:]))
        except ValueError:
            raise StatementParseError(
                file, where, ":61: entry date", f"{m['entry']!r} is not a date"
            ) from None
        if (booked - value_date).days > 180:
            booked = booked.replace(year=booked.year - 1)
        elif (value_date - booked).days > 180:
            booked = booked.replace(year=booked.year + 1)
    amount = _amount(m["amount"], currency, file, where, ":61: amount")
    if m["mark"] in ("D", "RC", "ED"):
        amount = -amount
    rest = m["rest"]
    code = rest[:4].strip() or None
    refs = rest[4:]
    bank_ref = None
    if "//" in refs:
        refs, bank_ref = refs.split("//", 1)
    customer_ref = refs.strip()
    return StatementLine(
        booked_date=booked,
        amount=amount,
        currency=currency,
        description="",
        value_date=value_date,
        source_id=bank_ref.strip() if bank_ref and bank_ref.strip() != "NONREF" else None,
        reference=customer_ref if customer_ref and customer_ref != "NONREF" else None,
        bank_transaction_code=code,
    )


_SEPA_KEYS = ("EREF+", "KREF+", "MREF+", "CRED+", "DEBT+", "SVWZ+", "ABWA+", "ABWE+")


def _details(text: str) -> dict[str, str | None]:
    """description, counterparty name/account, reference out of a :86: text."""
    flat = text.replace("\n", "")
    if re.search(r"\?2\d", flat):
        parts = dict[str, str]()
        for key, value in re.findall(r"\?(\d\d)([^?]*)", flat):
            parts[key] = parts.get(key, "") + value
        remittance = "".join(parts.get(f"2{n}", "") for n in range(10))
        remittance += "".join(parts.get(f"6{n}", "") for n in range(10))
        sepa: dict[str, str] = {}
        pieces = re.split(r"(EREF\+|KREF\+|MREF\+|CRED\+|DEBT\+|SVWZ\+|ABWA\+|ABWE\+)", remittance)
        for key, value in zip(pieces[1::2], pieces[2::2], strict=False):
            sepa[key] = value.strip()
        name = (parts.get("32", "") + parts.get("33", "")).strip()
        purpose = sepa.get("SVWZ+") or (remittance.strip() if not sepa else "")
        return {
            "description": " ".join((parts.get("00", "") + " " + (purpose or remittance)).split()),
            "name": " ".join(name.split()) or None,
            "account": parts.get("31", "").strip() or None,
            "reference": sepa.get("EREF+") or sepa.get("KREF+") or None,
        }
    if re.search(r">2\d", flat):
        parts = dict(re.findall(r">(\d\d)([^>]*)", flat))
        remittance = "".join(parts.get(f"2{n}", "") for n in range(10))
        return {
            "description": " ".join(remittance.split()),
            "name": None,
            "account": parts.get("31", "").strip() or None,
            "reference": None,
        }
    if re.match(r"\s*/(EREF|BENM|ORDP|REMI|NAME|IBAN|TRTP)/", flat):
        name = re.search(r"/NAME/([^/]*)", flat)
        eref = re.search(r"/EREF/([^/]*)", flat)
        remi = re.search(r"/REMI/(.*?)(?:/ISDT/|/CSID/|$)", flat)
        remi_text = remi[1].lstrip("/").replace("USTD//", "") if remi else ""
        return {
            "description": " ".join((remi_text or flat).split()),
            "name": name[1].strip() if name else None,
            "account": None,
            "reference": eref[1].strip() if eref else None,
        }
    return {
        "description": " ".join(" ".join(text.split("\n")).split()),
        "name": None,
        "account": None,
        "reference": None,
    }


def parse_mt940(data: bytes, file_name: str) -> list[Statement]:
    """Every statement (:20: .. :62F:) in an MT940 or MT942 file."""
    statements: list[Statement] = []
    current: Statement | None = None
    pending: list[tuple[StatementLine, list[str]]] = []

    def finish() -> None:
        nonlocal current, pending
        if current is None:
            return
        for line, details in pending:
            extra = _details("\n".join(details)) if details else {}
            current.lines.append(
                StatementLine(
                    **{
                        **line.__dict__,
                        "description": extra.get("description") or line.reference or "",
                        "counterparty_name": extra.get("name"),
                        "counterparty_account": extra.get("account"),
                        "reference": extra.get("reference") or line.reference,
                    }
                )
            )
        statements.append(current)
        current, pending = None, []

    def ensure() -> Statement:
        nonlocal current
        if current is None:
            current = Statement(account_id="", currency="")
        return current

    for f in _fields(_decode(data)):
        if f.tag == "20":
            finish()
            ensure().statement_id = f.text.strip()
        elif f.tag == "-":
            finish()
        elif f.tag == "25":
            ensure().account_id = f.text.strip()
        elif f.tag in ("60F", "60M"):
            stmt = ensure()
            balance, currency = _balance(f, file_name)
            stmt.currency = stmt.currency or currency
            if stmt.opening_balance is None:
                stmt.opening_balance = balance
        elif f.tag in ("62F", "62M"):
            stmt = ensure()
            balance, currency = _balance(f, file_name)
            stmt.currency = stmt.currency or currency
            stmt.closing_balance = balance
        elif f.tag == "34F":
            stmt = ensure()
            stmt.currency = stmt.currency or f.text.strip()[:3]
        elif f.tag == "61":
            stmt = ensure()
            # a fragment without balances has no currency: amounts read with 2 decimals
            pending.append((_line61(f, stmt.currency, file_name), []))
        elif f.tag == "86" and pending:
            pending[-1][1].extend(f.lines)
    finish()
    statements = [s for s in statements if s.lines or s.opening_balance or s.closing_balance]
    if not statements:
        raise StatementParseError(file_name, "file", ":20:", "no MT940 statement found")
    return statements
