"""OFX / QFX bank and credit-card statements (OFX 1.x SGML and 2.x XML).

Neither form is read with an XML parser: OFX 1.x leaves leaf elements unclosed, and
real "XML" OFX files often do too. The file is tokenised into start tags, end tags and
text, and leaf values are the text that follows a start tag up to the next tag.

One ``Statement`` per STMTRS (bank) or CCSTMTRS (credit card). LEDGERBAL is the closing
balance; OFX has no opening balance, so ``balance_difference`` is not applicable. A
statement transaction whose STATUS has SEVERITY ERROR raises ``StatementParseError``.
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

_TOKEN = re.compile(r"<!\[CDATA\[(.*?)\]\]>|<(/?)([A-Za-z0-9_.]+)[^>]*>|<\?[^>]*\?>|([^<]+)", re.S)
_STATEMENT_TAGS = {"STMTRS", "CCSTMTRS"}
_TRANSACTION_RS = {"STMTTRNRS", "CCSTMTTRNRS"}


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


@dataclass
class _Node:
    name: str
    values: dict[str, str] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)
    parent: _Node | None = None

    def child(self, name: str) -> _Node | None:
        return next((c for c in self.children if c.name == name), None)

    def find_all(self, name: str) -> list[_Node]:
        found = []
        for c in self.children:
            if c.name == name:
                found.append(c)
            found.extend(c.find_all(name))
        return found


# Aggregates (elements with children); every other element is a leaf whose end tag may be
# missing. Unknown tags followed directly by another tag are treated as aggregates too.
_AGGREGATES = {
    "OFX",
    "SIGNONMSGSRSV1",
    "SONRS",
    "STATUS",
    "FI",
    "BANKMSGSRSV1",
    "CREDITCARDMSGSRSV1",
    "STMTTRNRS",
    "CCSTMTTRNRS",
    "STMTRS",
    "CCSTMTRS",
    "BANKACCTFROM",
    "CCACCTFROM",
    "BANKACCTTO",
    "CCACCTTO",
    "BANKTRANLIST",
    "STMTTRN",
    "LEDGERBAL",
    "AVAILBAL",
    "PAYEE",
    "CURRENCY",
    "ORIGCURRENCY",
    "SIGNUPMSGSRSV1",
    "ACCTINFOTRNRS",
    "ACCTINFORS",
    "ACCTINFO",
    "BANKACCTINFO",
    "CCACCTINFO",
    "BALLIST",
    "BAL",
    "MKTGINFO",
}


def _tree(text: str) -> _Node:
    root = _Node("#root")
    current = root
    pending_leaf: str | None = None
    for match in _TOKEN.finditer(text):
        cdata, slash, name, chars = match.groups()
        if name is None and cdata is None and chars is None:
            continue  # processing instruction
        if cdata is not None or chars is not None:
            value = cdata if cdata is not None else chars
            if pending_leaf is not None and (cdata is not None or value.strip()):
                current.values[pending_leaf] = current.values.get(pending_leaf, "") + value
            continue
        name = name.upper()
        if slash:
            if pending_leaf == name:
                pending_leaf = None
                continue
            pending_leaf = None
            node: _Node | None = current
            while node is not None and node.name != name:
                node = node.parent
            if node is not None and node.parent is not None:
                current = node.parent
            continue
        pending_leaf = None
        if name in _AGGREGATES:
            new = _Node(name, parent=current)
            current.children.append(new)
            current = new
        else:
            pending_leaf = name
            current.values.setdefault(name, "")
    return root


def _value(node: _Node | None, name: str) -> str:
    if node is None:
        return ""
    return node.values.get(name, "").strip()


def _date(text: str, *, file: str, where: str, field_name: str) -> dt.date:
    match = re.match(r"(\d{4})(\d{2})(\d{2})", text.strip())
    if not match:
        raise StatementParseError(file, where, field_name, f"{text!r} is not an OFX date")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise StatementParseError(file, where, field_name, f"{text!r} is not a date") from None


def _amount(text: str, currency: str, *, file: str, where: str, field_name: str) -> int:
    cleaned = text.strip().replace(",", ".")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", cleaned):
        raise StatementParseError(file, where, field_name, f"{text!r} is not an OFX amount")
    return minor_units(
        cleaned, currency_exponent(currency or "XXX"), file=file, where=where, field_name=field_name
    )


def _check_status(trnrs: _Node, file: str) -> None:
    status = trnrs.child("STATUS")
    if status is not None and _value(status, "SEVERITY").upper() == "ERROR":
        raise StatementParseError(
            file,
            f"{trnrs.name}/STATUS",
            "SEVERITY",
            f"the bank reported an error (CODE {_value(status, 'CODE')}: "
            f"{_value(status, 'MESSAGE') or 'no message'})",
        )


def _statement(rs: _Node, file: str, index: int) -> Statement:
    acct = rs.child("BANKACCTFROM") or rs.child("CCACCTFROM")
    account_id = _value(acct, "ACCTID")
    currency = _value(rs, "CURDEF").upper()
    transactions = rs.find_all("STMTTRN")
    if not currency:
        for trn in transactions:
            cur = trn.child("CURRENCY") or trn.child("ORIGCURRENCY")
            if _value(cur, "CURSYM"):
                currency = _value(cur, "CURSYM").upper()
                break
    lines: list[StatementLine] = []
    for n, trn in enumerate(transactions, start=1):
        where = f"{rs.name}[{index}]/STMTTRN[{n}]"
        if not _value(trn, "TRNAMT"):
            raise StatementParseError(file, where, "TRNAMT", "is missing or empty")
        amount = _amount(
            _value(trn, "TRNAMT"), currency, file=file, where=where, field_name="TRNAMT"
        )
        if not _value(trn, "DTPOSTED"):
            raise StatementParseError(file, where, "DTPOSTED", "is missing or empty")
        booked = _date(_value(trn, "DTPOSTED"), file=file, where=where, field_name="DTPOSTED")
        user = _value(trn, "DTUSER")
        payee = trn.child("PAYEE")
        name = _value(trn, "NAME") or _value(payee, "NAME")
        memo = _value(trn, "MEMO")
        account_to = trn.child("BANKACCTTO") or trn.child("CCACCTTO")
        lines.append(
            StatementLine(
                booked_date=booked,
                amount=amount,
                currency=currency,
                description=memo or name,
                value_date=_date(user, file=file, where=where, field_name="DTUSER")
                if user
                else None,
                source_id=_value(trn, "FITID") or None,
                counterparty_name=name or None,
                counterparty_account=_value(account_to, "ACCTID") or None,
                reference=_value(trn, "REFNUM") or None,
                check_number=_value(trn, "CHECKNUM") or None,
                bank_transaction_code=_value(trn, "TRNTYPE").upper() or None,
            )
        )
    closing = None
    ledger = rs.child("LEDGERBAL")
    if ledger is not None and _value(ledger, "BALAMT"):
        where = f"{rs.name}[{index}]/LEDGERBAL"
        asof = _value(ledger, "DTASOF")
        closing = Balance(
            _amount(
                _value(ledger, "BALAMT"), currency, file=file, where=where, field_name="BALAMT"
            ),
            _date(asof, file=file, where=where, field_name="DTASOF") if asof else None,
        )
    return Statement(
        account_id=account_id,
        currency=currency,
        lines=lines,
        closing_balance=closing,
        statement_id=None,
    )


def parse_ofx(data: bytes, file_name: str) -> list[Statement]:
    """Every bank and credit-card statement in an OFX/QFX file (none for files such as
    account listings that carry no statement)."""
    text = _decode(data)
    if "<OFX" not in text.upper():
        raise StatementParseError(file_name, "file", "OFX", "no <OFX> element found")
    root = _tree(text)
    for trnrs in [n for t in _TRANSACTION_RS for n in root.find_all(t)]:
        _check_status(trnrs, file_name)
    statements = []
    for index, rs in enumerate((n for n in _walk(root) if n.name in _STATEMENT_TAGS), start=1):
        statements.append(_statement(rs, file_name, index))
    return statements


def _walk(node: _Node):  # document order
    for c in node.children:
        yield c
        yield from _walk(c)
