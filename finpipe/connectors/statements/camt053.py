"""ISO 20022 camt.053 (bank-to-customer statement) parser, namespace-agnostic so that
camt.053.001.02/.03/.04/.08 all read the same way."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from finpipe.connectors.statements.model import (
    Balance,
    Statement,
    StatementLine,
    StatementParseError,
    currency_exponent,
    minor_units,
)

_OPENING = ("OPBD", "PRCD")  # preferred first
_CLOSING = ("CLBD",)


@dataclass(frozen=True)
class CamtLine(StatementLine):
    """A camt entry. ``source_id`` is its ``AcctSvcrRef`` when it has one (``servicer_ref``:
    the account servicer's reference, unique per account), else its ``NtryRef`` (unique only
    within one statement, reused across files), so the landing keys them differently."""

    servicer_ref: bool = False


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element | None, *path: str) -> ET.Element | None:
    """The first element reached by following local names ``path`` from ``el``."""
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _children(el: ET.Element | None, name: str) -> list[ET.Element]:
    if el is None:
        return []
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element | None, *path: str) -> str | None:
    found = _child(el, *path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _date(el: ET.Element | None, file: str, where: str, field_name: str) -> dt.date | None:
    """A ``Dt`` / ``DtTm`` choice (also nested ``Dt/DtTm`` as some banks write it)."""
    if el is None:
        return None
    text = _text(el, "Dt") or _text(el, "DtTm") or _text(el, "Dt", "DtTm")
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise StatementParseError(file, where, field_name, f"{text!r} is not a date") from None


def _amount(holder: ET.Element, file: str, where: str, default_ccy: str | None) -> tuple[int, str]:
    """Signed minor units of ``holder``'s Amt (sign from CdtDbtInd) and its currency."""
    amt = _child(holder, "Amt")
    if amt is None or not (amt.text or "").strip():
        raise StatementParseError(file, where, "Amt", "missing")
    ccy = (amt.get("Ccy") or default_ccy or "").strip().upper()
    if not ccy:
        raise StatementParseError(file, where, "Amt@Ccy", "no currency given")
    value = minor_units(
        amt.text or "", currency_exponent(ccy), file=file, where=where, field_name="Amt"
    )
    if value < 0:
        raise StatementParseError(file, where, "Amt", f"{amt.text!r} is negative")
    indicator = _text(holder, "CdtDbtInd")
    if indicator == "DBIT":
        value = -value
    elif indicator != "CRDT":
        raise StatementParseError(
            file, where, "CdtDbtInd", f"{indicator!r} is neither CRDT nor DBIT"
        )
    return value, ccy


def _party(tx: ET.Element | None, role: str) -> tuple[str | None, str | None]:
    parties = _child(tx, "RltdPties")
    party = _child(parties, role)
    name = _text(party, "Nm") or _text(party, "Pty", "Nm")  # v8 wraps the party in Pty
    account = _child(parties, role + "Acct", "Id")
    iban = _text(account, "IBAN") or _text(account, "Othr", "Id")
    return name, iban


def _entry(ntry: ET.Element, file: str, where: str, stmt_ccy: str) -> StatementLine:
    amount, ccy = _amount(ntry, file, where, stmt_ccy)
    status_text = _text(ntry, "Sts") or _text(ntry, "Sts", "Cd") or "BOOK"
    status = {"BOOK": "booked", "PDNG": "pending"}.get(status_text)
    if status is None:
        raise StatementParseError(file, where, "Sts", f"unknown entry status {status_text!r}")
    booked = _date(_child(ntry, "BookgDt"), file, where, "BookgDt")
    value_date = _date(_child(ntry, "ValDt"), file, where, "ValDt")
    if booked is None:
        booked = value_date
    if booked is None:
        raise StatementParseError(file, where, "BookgDt", "missing (and no ValDt)")
    bk = _child(ntry, "BkTxCd")
    domain = _child(bk, "Domn")
    if domain is not None:
        code = "/".join(
            p
            for p in (
                _text(domain, "Cd"),
                _text(domain, "Fmly", "Cd"),
                _text(domain, "Fmly", "SubFmlyCd"),
            )
            if p
        )
    else:
        code = _text(bk, "Prtry", "Cd")
    tx = _child(ntry, "NtryDtls", "TxDtls")
    # Money in: the counterparty is the debtor; money out: the creditor.
    name, account = _party(tx, "Dbtr" if amount >= 0 else "Cdtr")
    ustrd = [c.text.strip() for c in _children(_child(tx, "RmtInf"), "Ustrd") if c.text]
    scor = _text(tx, "RmtInf", "Strd", "CdtrRefInf", "Ref")
    end_to_end = _text(tx, "Refs", "EndToEndId")
    if end_to_end == "NOTPROVIDED":
        end_to_end = None
    description = " ".join(ustrd) or _text(ntry, "AddtlNtryInf") or name or code or ""
    servicer_ref = _text(ntry, "AcctSvcrRef")
    return CamtLine(
        booked_date=booked,
        amount=amount,
        currency=ccy,
        description=description,
        value_date=value_date,
        source_id=servicer_ref or _text(ntry, "NtryRef"),
        counterparty_name=name,
        counterparty_account=account,
        reference=end_to_end or scor or (" ".join(ustrd) or None),
        bank_transaction_code=code,
        status=status,
        servicer_ref=servicer_ref is not None,
    )


def _statement(stmt: ET.Element, index: int, file: str) -> Statement:
    where = f"Stmt[{index}]"
    acct_id = _child(stmt, "Acct", "Id")
    account = _text(acct_id, "IBAN") or _text(acct_id, "Othr", "Id")
    if account is None:
        raise StatementParseError(file, f"{where}/Acct", "Id", "no IBAN or Othr/Id")
    first_amt = next((_child(n, "Amt") for n in _children(stmt, "Ntry")), None)
    if first_amt is None:
        first_amt = next((_child(b, "Amt") for b in _children(stmt, "Bal")), None)
    currency = _text(stmt, "Acct", "Ccy") or (
        first_amt.get("Ccy") if first_amt is not None else None
    )
    if not currency:
        raise StatementParseError(file, f"{where}/Acct", "Ccy", "no account currency")
    balances: dict[str, Balance] = {}
    for b, bal in enumerate(_children(stmt, "Bal"), start=1):
        bwhere = f"{where}/Bal[{b}]"
        tp = _child(bal, "Tp", "CdOrPrtry")
        code = _text(tp, "Cd") or _text(tp, "Prtry")
        if code is None:
            raise StatementParseError(file, bwhere, "Tp/CdOrPrtry/Cd", "missing")
        amount, _ccy = _amount(bal, file, bwhere, currency)
        balances.setdefault(code, Balance(amount, _date(_child(bal, "Dt"), file, bwhere, "Dt")))
    lines = [
        _entry(n, file, f"{where}/Ntry[{i}]", currency)
        for i, n in enumerate(_children(stmt, "Ntry"), start=1)
    ]
    return Statement(
        account_id=account,
        currency=currency.upper(),
        lines=lines,
        opening_balance=next((balances[c] for c in _OPENING if c in balances), None),
        closing_balance=next((balances[c] for c in _CLOSING if c in balances), None),
        statement_id=_text(stmt, "Id"),
    )


def parse_camt053(data: bytes, file_name: str) -> list[Statement]:
    """Every ``Stmt`` of a camt.053 document; raises StatementParseError naming the element
    and field when the document is not a readable bank-to-customer statement."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise StatementParseError(file_name, "Document", "xml", str(exc)) from None
    if _local(root.tag) != "Document":
        raise StatementParseError(file_name, _local(root.tag), "Document", "not a camt document")
    body = _child(root, "BkToCstmrStmt")
    if body is None:
        raise StatementParseError(file_name, "Document", "BkToCstmrStmt", "missing")
    stmts = _children(body, "Stmt")
    if not stmts:
        raise StatementParseError(file_name, "Document/BkToCstmrStmt", "Stmt", "no statement")
    return [_statement(s, i, file_name) for i, s in enumerate(stmts, start=1)]
