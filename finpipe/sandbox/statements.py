"""A world company's bank statements as the files a bank lets a customer download.

:func:`export_statements` writes one file per bank account and calendar month:

* **camt.053.001.08** XML for IBAN accounts: ``Stmt`` with ``Acct/Id/IBAN``, ``Bal``
  ``OPBD``/``CLBD``, ``TxsSummry`` and one ``Ntry`` per booked line (``Amt@Ccy``,
  ``CdtDbtInd``, ``Sts/Cd`` ``BOOK``, ``BookgDt``/``ValDt``, ``AcctSvcrRef`` = the world's
  ``line_id``, ``BkTxCd/Domn``, ``NtryDtls/TxDtls`` with ``Refs/EndToEndId``,
  ``RltdPties`` and ``RmtInf/Ustrd``);
* **OFX 2.2** XML for accounts without IBAN (US checking, cards): ``STMTRS`` (``CCSTMTRS``
  for cards) with ``STMTTRN`` (``FITID`` = ``line_id``, ``DTPOSTED``, ``DTUSER``, ``TRNAMT``,
  ``CHECKNUM`` for cheques, ``REFNUM``, ``NAME``, ``MEMO``) and ``LEDGERBAL``. Text with
  ``& < >`` is written as CDATA.

Only booked lines are exported (a statement is what has settled). Balances are the world's
opening balance plus booked amounts: a month opens with everything booked before its first
day and closes with everything booked up to its last. The output is deterministic (creation
stamps derive from the month), so exporting the same month twice gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import polars as pl

from finpipe.connectors.statements.model import currency_exponent
from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.world import World

CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
FORMATS = ("auto", "camt053", "ofx")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ExportError(ValueError):
    """The export cannot be made as asked (unknown company, format or month)."""


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    out, month = [], start.replace(day=1)
    while month <= end:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def _month_end(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def _parse_month(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value.replace(day=1)
    try:
        return dt.date.fromisoformat(f"{value.strip()[:7]}-01")
    except ValueError:
        raise ExportError(f"month {value!r} is not YYYY-MM") from None


def _decimal(minor: int, currency: str) -> str:
    """``minor`` units as the currency's decimal text, e.g. 281661 EUR -> ``2816.61``."""
    exponent = currency_exponent(currency)
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"


def export_statements(
    world: World,
    company_id: str,
    out_dir: Path,
    *,
    fmt: str = "auto",
    months: Iterable[str | dt.date] | None = None,
) -> list[Path]:
    """Write ``company_id``'s statements into ``out_dir``, one file per account and month
    (``months``: ``"YYYY-MM"`` strings or dates; default every month of the company's
    activity). ``fmt``: ``auto`` (camt.053 for IBAN accounts, OFX otherwise), ``camt053``
    or ``ofx`` for every account. Returns the files written, in account then month order."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    companies = world.table("companies").filter(pl.col("company_id") == company_id).collect()
    if companies.is_empty():
        raise ExportError(f"company {company_id!r} is not in the world at {world.root}")
    company = companies.row(0, named=True)
    view = BankView(world, company["bank_provider"])
    accounts = view.accounts_of(company_id)
    wanted = (
        sorted({_parse_month(m) for m in months})
        if months is not None
        else _months(company["start_date"], company["end_date"])
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for account in accounts.iter_rows(named=True):
        booked = view.lines(account["bank_account_id"]).filter(pl.col("status") == "booked")
        for month in wanted:
            end = _month_end(month)
            before = booked.filter(pl.col("booked_date") < month)
            lines = booked.filter(pl.col("booked_date").is_between(month, end))
            opening = int(account["opening_balance"]) + int(before.get_column("amount").sum())
            closing = opening + int(lines.get_column("amount").sum())
            as_camt = fmt == "camt053" or (fmt == "auto" and bool(account["iban"]))
            ident = _identification(account, as_camt)
            stem = f"{_SAFE_NAME.sub('_', ident)}_{month:%Y-%m}"
            statement = _Statement(company, account, ident, month, end, opening, closing, lines)
            if as_camt:
                path, data = out_dir / f"{stem}.camt053.xml", _camt(statement)
            else:
                path, data = out_dir / f"{stem}.ofx", _ofx(statement)
            # Written under a dotfile name and renamed: an importer watching out_dir (an
            # inbox) never picks up a half-written file.
            partial = path.with_name(f".{path.name}.part")
            partial.write_bytes(data)
            os.replace(partial, path)
            written.append(path)
    return written


def _identification(account: dict[str, Any], as_camt: bool) -> str:
    if as_camt and account["iban"]:
        return str(account["iban"])
    return str(account["account_number"] or account["iban"] or account["bank_account_id"])


class _Statement:
    """One account-month, with what every format writes."""

    def __init__(
        self,
        company: dict[str, Any],
        account: dict[str, Any],
        ident: str,
        month: dt.date,
        end: dt.date,
        opening: int,
        closing: int,
        lines: pl.DataFrame,
    ) -> None:
        self.company, self.account, self.ident = company, account, ident
        self.month, self.end = month, end
        self.opening, self.closing = opening, closing
        self.lines = lines.to_dicts()
        self.currency = str(account["currency"])
        # Deterministic: the bank produces the statement early on the next month's first day.
        self.created = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(6), dt.UTC)
        self.statement_id = f"{account['bank_account_id']}-{month:%Y%m}"


# ----------------------------------------------------------------------------- camt.053


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _amount(parent: ET.Element, minor: int, currency: str) -> None:
    _sub(parent, "Amt", _decimal(abs(minor), currency), Ccy=currency)
    _sub(parent, "CdtDbtInd", "CRDT" if minor >= 0 else "DBIT")


def _balance(stmt: ET.Element, code: str, minor: int, currency: str, day: dt.date) -> None:
    bal = _sub(stmt, "Bal")
    _sub(_sub(_sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(bal, minor, currency)
    _sub(_sub(bal, "Dt"), "Dt", day.isoformat())


def _account_id(parent: ET.Element, value: str) -> None:
    ident = _sub(parent, "Id")
    if _IBAN.match(value):
        _sub(ident, "IBAN", value)
    else:
        _sub(_sub(ident, "Othr"), "Id", value)


def _camt(s: _Statement) -> bytes:
    ccy = s.currency
    root = ET.Element("Document", {"xmlns": CAMT_NS})
    body = _sub(root, "BkToCstmrStmt")
    header = _sub(body, "GrpHdr")
    _sub(header, "MsgId", f"STMT-{s.statement_id}")
    _sub(header, "CreDtTm", s.created.isoformat())
    stmt = _sub(body, "Stmt")
    _sub(stmt, "Id", s.statement_id)
    _sub(stmt, "ElctrncSeqNb", f"{s.month:%Y%m}")
    _sub(stmt, "CreDtTm", s.created.isoformat())
    period = _sub(stmt, "FrToDt")
    _sub(period, "FrDtTm", f"{s.month.isoformat()}T00:00:00+00:00")
    _sub(period, "ToDtTm", f"{s.end.isoformat()}T23:59:59+00:00")
    acct = _sub(stmt, "Acct")
    _account_id(acct, s.ident)
    _sub(acct, "Ccy", ccy)
    _sub(acct, "Nm", str(s.account["account_name"]))
    _sub(_sub(acct, "Ownr"), "Nm", str(s.company["name"]))
    _sub(_sub(_sub(acct, "Svcr"), "FinInstnId"), "Nm", str(s.account["institution_name"]))
    _balance(stmt, "OPBD", s.opening, ccy, s.month)
    _balance(stmt, "CLBD", s.closing, ccy, s.end)
    credits = [line["amount"] for line in s.lines if line["amount"] >= 0]
    debits = [-line["amount"] for line in s.lines if line["amount"] < 0]
    summary = _sub(stmt, "TxsSummry")
    total = _sub(summary, "TtlNtries")
    _sub(total, "NbOfNtries", str(len(s.lines)))
    _sub(total, "Sum", _decimal(sum(credits) + sum(debits), ccy))
    _amount(_sub(total, "TtlNetNtry"), sum(credits) - sum(debits), ccy)
    for tag, amounts in (("TtlCdtNtries", credits), ("TtlDbtNtries", debits)):
        part = _sub(summary, tag)
        _sub(part, "NbOfNtries", str(len(amounts)))
        _sub(part, "Sum", _decimal(sum(amounts), ccy))
    for line in s.lines:
        _entry(stmt, line, ccy)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _entry(stmt: ET.Element, line: dict[str, Any], ccy: str) -> None:
    amount = int(line["amount"])
    ntry = _sub(stmt, "Ntry")
    _amount(ntry, amount, line["currency"] or ccy)
    _sub(_sub(ntry, "Sts"), "Cd", "BOOK")
    _sub(_sub(ntry, "BookgDt"), "Dt", line["booked_date"].isoformat())
    _sub(_sub(ntry, "ValDt"), "Dt", (line["value_date"] or line["booked_date"]).isoformat())
    _sub(ntry, "AcctSvcrRef", line["line_id"])
    code = (line["bank_transaction_code"] or "").split("-")
    bk = _sub(ntry, "BkTxCd")
    if len(code) == 3:
        domain = _sub(bk, "Domn")
        _sub(domain, "Cd", code[0])
        family = _sub(domain, "Fmly")
        _sub(family, "Cd", code[1])
        _sub(family, "SubFmlyCd", code[2])
    else:
        prtry = _sub(bk, "Prtry")
        _sub(prtry, "Cd", line["bank_transaction_code"] or "NTRF")
    tx = _sub(_sub(ntry, "NtryDtls"), "TxDtls")
    refs = _sub(tx, "Refs")
    _sub(refs, "AcctSvcrRef", line["line_id"])
    _sub(refs, "EndToEndId", (line["reference"] or "NOTPROVIDED")[:35])
    _amount(tx, amount, line["currency"] or ccy)
    name, account = line["counterparty_name"], line["counterparty_account"]
    if name or account:
        # Money in: the counterparty paid us (debtor); money out: we paid them (creditor).
        role = "Dbtr" if amount >= 0 else "Cdtr"
        parties = _sub(tx, "RltdPties")
        if name:
            _sub(_sub(_sub(parties, role), "Pty"), "Nm", name)
        if account:
            _account_id(_sub(parties, role + "Acct"), account)
    if line["description"]:
        _sub(_sub(tx, "RmtInf"), "Ustrd", line["description"][:140])


# ---------------------------------------------------------------------------------- OFX

_TRNTYPE = {
    "ACMT-MDOP-FEES": "FEE",
    "ACMT-MDOP-INTR": "INT",
    "PMNT-CCRD-POSD": "POS",
    "PMNT-ICHQ-CCHQ": "CHECK",
    "PMNT-RCHQ-BCHQ": "DEP",
}


def _ofx_text(value: str) -> str:
    # The OFX reader keeps text verbatim: CDATA carries & < > through without entities.
    if any(ch in value for ch in "&<>"):
        return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return escape(value)


def _trntype(line: dict[str, Any]) -> str:
    code = line["bank_transaction_code"] or ""
    if code in _TRNTYPE:
        return _TRNTYPE[code]
    if "-IDDT-" in code:
        return "DIRECTDEBIT"
    if "-ICDT-" in code:
        return "PAYMENT"
    return "CREDIT" if line["amount"] >= 0 else "DEBIT"


def _ofx(s: _Statement) -> bytes:
    card = s.account["account_type"] == "credit_card"
    ccy = s.currency
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>',
        "<OFX>",
        "<SIGNONMSGSRSV1><SONRS>",
        "<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>",
        f"<DTSERVER>{s.created:%Y%m%d%H%M%S}.000[0:GMT]</DTSERVER>",
        "<LANGUAGE>ENG</LANGUAGE>",
        f"<FI><ORG>{_ofx_text(str(s.account['institution_name']))}</ORG></FI>",
        "</SONRS></SIGNONMSGSRSV1>",
        "<CREDITCARDMSGSRSV1>" if card else "<BANKMSGSRSV1>",
        "<CCSTMTTRNRS>" if card else "<STMTTRNRS>",
        f"<TRNUID>{s.statement_id}</TRNUID>",
        "<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>",
        "<CCSTMTRS>" if card else "<STMTRS>",
        f"<CURDEF>{ccy}</CURDEF>",
    ]
    if card:
        out.append(f"<CCACCTFROM><ACCTID>{_ofx_text(s.ident)}</ACCTID></CCACCTFROM>")
    else:
        kind = "SAVINGS" if s.account["account_type"] == "savings" else "CHECKING"
        bank_id = s.account["routing_number"] or s.account["sort_code"] or ""
        out.append(
            f"<BANKACCTFROM><BANKID>{_ofx_text(str(bank_id))}</BANKID>"
            f"<ACCTID>{_ofx_text(s.ident)}</ACCTID><ACCTTYPE>{kind}</ACCTTYPE></BANKACCTFROM>"
        )
    out.append("<BANKTRANLIST>")
    out.append(f"<DTSTART>{s.month:%Y%m%d}</DTSTART><DTEND>{s.end:%Y%m%d}</DTEND>")
    for line in s.lines:
        out.append(_stmttrn(line, ccy))
    out.append("</BANKTRANLIST>")
    out.append(
        f"<LEDGERBAL><BALAMT>{_decimal(s.closing, ccy)}</BALAMT>"
        f"<DTASOF>{s.end:%Y%m%d}</DTASOF></LEDGERBAL>"
    )
    out.extend(
        [
            "</CCSTMTRS>" if card else "</STMTRS>",
            "</CCSTMTTRNRS>" if card else "</STMTTRNRS>",
            "</CREDITCARDMSGSRSV1>" if card else "</BANKMSGSRSV1>",
            "</OFX>",
        ]
    )
    return ("\n".join(out) + "\n").encode("utf-8")


def _stmttrn(line: dict[str, Any], ccy: str) -> str:
    parts = [
        "<STMTTRN>",
        f"<TRNTYPE>{_trntype(line)}</TRNTYPE>",
        f"<DTPOSTED>{line['booked_date']:%Y%m%d}</DTPOSTED>",
    ]
    if line["value_date"] is not None:
        parts.append(f"<DTUSER>{line['value_date']:%Y%m%d}</DTUSER>")
    parts.append(f"<TRNAMT>{_decimal(int(line['amount']), line['currency'] or ccy)}</TRNAMT>")
    parts.append(f"<FITID>{_ofx_text(line['line_id'])}</FITID>")
    reference = line["reference"]
    is_cheque = "CHQ" in (line["bank_transaction_code"] or "")
    if is_cheque and reference and reference.isdigit() and len(reference) <= 12:
        parts.append(f"<CHECKNUM>{reference}</CHECKNUM>")
    if reference and len(reference) <= 32:
        parts.append(f"<REFNUM>{_ofx_text(reference)}</REFNUM>")
    if line["counterparty_name"]:
        parts.append(f"<NAME>{_ofx_text(line['counterparty_name'][:32])}</NAME>")
    if line["description"]:
        parts.append(f"<MEMO>{_ofx_text(line['description'][:255])}</MEMO>")
    parts.append("</STMTTRN>")
    return "".join(parts)
