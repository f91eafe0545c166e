"""Statement narrations as banks print them, per region and bank style.

``{cp}`` counterparty as the bank abbreviates it, ``{ref}`` remittance reference (the
invoice number a customer quotes), ``{num}`` cheque number, ``{l4}`` last four digits of
the company's own card or account, ``{o4}`` of the other own account, ``{mmdd}``/``{ddmm}``
transaction date, ``{e2e}`` SEPA end-to-end id, ``{mref}`` mandate reference, ``{proc}``
card processor, ``{ccy}`` currency. Statement-file banks (OFX/CSV) truncate to 32
upper-case characters. Built per (template, region, style) slice, never per line.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import polars as pl

REGIONS = ("US", "GB", "EU")
NARRATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "card_pos": {
        "US": ("POS {l4} {cp}", "DEBIT CARD PURCHASE {mmdd} {cp}"),
        "GB": ("CARD PAYMENT TO {cp} ON {ddmm}", "{cp} {ddmm} CD {l4}"),
        "EU": ("KARTENZAHLUNG {cp} {ddmm}", "Girocard {cp}"),
    },
    "card_cc": {"US": ("{cp}", "{cp} {mmdd}"), "GB": ("{cp}",), "EU": ("{cp}",)},
    "transfer_in": {
        "US": ("ACH CREDIT {cp} PAYMENT {ref}", "{cp} ACH PMT {ref}"),
        "GB": ("FASTER PAYMENT {cp} REF {ref}", "{cp} FP {ref}"),
        "EU": ("SEPA-GUTSCHRIFT {cp} EREF+{e2e} SVWZ+{ref}", "GUTSCHRIFT {cp} {ref}"),
    },
    "transfer_out": {
        "US": ("ACH DEBIT {cp} {ref}", "ONLINE PAYMENT TO {cp} {ref}"),
        "GB": ("FASTER PAYMENT TO {cp} REF {ref}", "{cp} BP {ref}"),
        "EU": ("SEPA-UEBERWEISUNG {cp} EREF+{e2e} SVWZ+{ref}", "UEBERWEISUNG {cp} {ref}"),
    },
    "direct_debit": {
        "US": ("ACH DEBIT {cp} {mref}", "{cp} AUTOPAY {mref}"),
        "GB": ("DIRECT DEBIT {cp} {mref}", "DD {cp}"),
        "EU": ("SEPA-LASTSCHRIFT {cp} MREF+{mref}", "LASTSCHRIFT {cp}"),
    },
    "check_out": {
        "US": ("CHECK #{num}", "CHECK {num}"),
        "GB": ("CHEQUE {num}",),
        "EU": ("SCHECK {num}",),
    },
    "check_deposit": {
        "US": ("DEPOSIT", "MOBILE DEPOSIT REF {e2e}"),
        "GB": ("CHEQUE DEPOSIT",),
        "EU": ("SCHECKEINREICHUNG",),
    },
    "cash_deposit": {
        "US": ("CASH DEPOSIT BRANCH {o4}", "DEPOSIT CASH"),
        "GB": ("CASH DEPOSIT {o4}",),
        "EU": ("BAREINZAHLUNG",),
    },
    "payout": {
        "US": ("{proc} TRANSFER {ref}", "{proc} DEPOSIT {ref}"),
        "GB": ("{proc} PAYOUT {ref}",),
        "EU": ("{proc} AUSZAHLUNG {ref}",),
    },
    "wire_out": {
        "US": ("WIRE TYPE:WIRE OUT {cp}", "OUTGOING WIRE {cp} {ref}"),
        "GB": ("INTERNATIONAL PAYMENT {cp} {ref}",),
        "EU": ("AUSLANDSUEBERWEISUNG {cp} {ref}",),
    },
    "wire_in": {
        "US": ("WIRE TYPE:WIRE IN {cp}", "INCOMING WIRE {cp} {ref}"),
        "GB": ("INTERNATIONAL RECEIPT {cp} {ref}",),
        "EU": ("AUSLANDSGUTSCHRIFT {cp} {ref}",),
    },
    "payroll_net": {
        "US": ("{cp} NET {e2e}",),
        "GB": ("BACS SALARIES {cp}",),
        "EU": ("SEPA SAMMLER LOHN/GEHALT",),
    },
    "payroll_tax": {
        "US": ("{cp} TAX {e2e}",),
        "GB": ("HMRC PAYE {mref}",),
        "EU": ("FINANZAMT LOHNSTEUER {mref}",),
    },
    "own_transfer_out": {
        "US": ("ONLINE TRANSFER TO XXXXXX{o4}",),
        "GB": ("TRANSFER TO {o4}",),
        "EU": ("UMBUCHUNG AUF {o4}",),
    },
    "own_transfer_in": {
        "US": ("ONLINE TRANSFER FROM XXXXXX{o4}",),
        "GB": ("TRANSFER FROM {o4}",),
        "EU": ("UMBUCHUNG VON {o4}",),
    },
    "card_payment_in": {
        "US": ("PAYMENT - THANK YOU",),
        "GB": ("PAYMENT RECEIVED - THANK YOU",),
        "EU": ("ZAHLUNG ERHALTEN",),
    },
    "card_payment_out": {
        "US": ("PAYMENT TO CREDIT CARD XXXX{o4}",),
        "GB": ("CREDIT CARD PAYMENT {o4}",),
        "EU": ("KREDITKARTENABRECHNUNG {o4}",),
    },
    "loan": {
        "US": ("{cp} LOAN PMT {mref}",),
        "GB": ("DIRECT DEBIT {cp} LOAN",),
        "EU": ("SEPA-LASTSCHRIFT {cp} DARLEHEN {mref}",),
    },
    "tax": {
        "US": ("{cp} TAX PYMT {mref}",),
        "GB": ("HMRC VAT {mref}",),
        "EU": ("{cp} UST-VA {mref}",),
    },
    "owner": {
        "US": ("ONLINE TRANSFER TO {cp}",),
        "GB": ("FASTER PAYMENT TO {cp}",),
        "EU": ("SEPA-UEBERWEISUNG {cp} PRIVATENTNAHME",),
    },
    "fee_monthly": {
        "US": ("MONTHLY SERVICE FEE",),
        "GB": ("ACCOUNT FEE",),
        "EU": ("ENTGELT KONTOFUEHRUNG",),
    },
    "fee_wire": {
        "US": ("WIRE TRANSFER FEE",),
        "GB": ("INTERNATIONAL PAYMENT FEE",),
        "EU": ("ENTGELT AUSLANDSZAHLUNG",),
    },
    "fee_overdraft": {
        "US": ("OVERDRAFT FEE",),
        "GB": ("UNARRANGED OVERDRAFT CHARGE",),
        "EU": ("UEBERZIEHUNGSENTGELT",),
    },
    "interest": {"US": ("INTEREST PAYMENT",), "GB": ("INTEREST (GROSS)",), "EU": ("HABENZINSEN",)},
    "refund": {
        "US": ("REFUND TO {cp}",),
        "GB": ("FASTER PAYMENT TO {cp} REFUND",),
        "EU": ("SEPA-UEBERWEISUNG {cp} ERSTATTUNG",),
    },
    "fx_out": {
        "US": ("FX TRANSFER {ccy} TO XXXXXX{o4}",),
        "GB": ("CURRENCY TRANSFER TO {o4}",),
        "EU": ("DEVISENUMBUCHUNG AUF {o4}",),
    },
    "fx_in": {
        "US": ("FX TRANSFER {ccy} FROM XXXXXX{o4}",),
        "GB": ("CURRENCY TRANSFER FROM {o4}",),
        "EU": ("DEVISENUMBUCHUNG VON {o4}",),
    },
}
TRANSACTION_CODES = {
    "card_pos": "PMNT-CCRD-POSD",
    "card_cc": "PMNT-CCRD-POSD",
    "transfer_in": "PMNT-RCDT-DMCT",
    "transfer_out": "PMNT-ICDT-DMCT",
    "direct_debit": "PMNT-IDDT-ESDD",
    "check_out": "PMNT-ICHQ-CCHQ",
    "check_deposit": "PMNT-RCHQ-BCHQ",
    "cash_deposit": "PMNT-CNTR-CDPT",
    "payout": "PMNT-RCDT-DMCT",
    "wire_out": "PMNT-ICDT-XBCT",
    "wire_in": "PMNT-RCDT-XBCT",
    "payroll_net": "PMNT-ICDT-SALA",
    "payroll_tax": "PMNT-ICDT-TAXS",
    "own_transfer_out": "PMNT-ICDT-BOOK",
    "own_transfer_in": "PMNT-RCDT-BOOK",
    "card_payment_in": "PMNT-RCDT-BOOK",
    "card_payment_out": "PMNT-ICDT-BOOK",
    "loan": "LDAS-CSLN-PPAY",
    "tax": "PMNT-ICDT-TAXS",
    "owner": "PMNT-ICDT-DMCT",
    "fee_monthly": "ACMT-MDOP-FEES",
    "fee_wire": "ACMT-MDOP-FEES",
    "fee_overdraft": "ACMT-MDOP-FEES",
    "interest": "ACMT-MDOP-INTR",
    "refund": "PMNT-ICDT-DMCT",
    "fx_out": "FORX-SPOT-BOOK",
    "fx_in": "FORX-SPOT-BOOK",
}
FIELDS = ("cp", "ref", "num", "l4", "o4", "mmdd", "ddmm", "e2e", "mref", "proc", "ccy")
_PART = re.compile(r"\{(\w+)\}")


def _expr(template: str) -> pl.Expr:
    # an empty column first, so a template without fields still yields one value per row
    parts: list[pl.Expr] = [pl.col("cp").fill_null("").str.slice(0, 0)]
    pos = 0
    for match in _PART.finditer(template):
        if match.start() > pos:
            parts.append(pl.lit(template[pos : match.start()]))
        parts.append(pl.col(match.group(1)).fill_null(""))
        pos = match.end()
    if pos < len(template):
        parts.append(pl.lit(template[pos:]))
    return pl.concat_str(parts).str.strip_chars().str.replace_all(r"\s+", " ")


def describe(
    fields: pl.DataFrame,
    template: np.ndarray,
    region: np.ndarray,
    style: np.ndarray,
    template_names: tuple[str, ...],
    statement: np.ndarray,
) -> pl.Series:
    """Narration of each line. ``fields`` holds the FIELDS columns (strings)."""
    n = fields.height
    n_styles = 2
    combo = (template.astype(np.int64) * len(REGIONS) + region) * n_styles + style
    order = np.argsort(combo, kind="stable")
    sorted_combo = combo[order]
    bounds = np.flatnonzero(np.r_[True, sorted_combo[1:] != sorted_combo[:-1], True])
    ordered = fields[order]
    pieces = []
    for a, b in itertools.pairwise(bounds):  # one slice per narration style
        c = int(sorted_combo[a])
        st = c % n_styles
        reg = (c // n_styles) % len(REGIONS)
        name = template_names[c // n_styles // len(REGIONS)]
        variants = NARRATIONS[name][REGIONS[reg]]
        pieces.append(
            ordered.slice(int(a), int(b - a))
            .select(_expr(variants[st % len(variants)]).alias("d"))
            .to_series()
        )
    text = pl.concat(pieces) if pieces else pl.Series("d", [], dtype=pl.String)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    text = text.gather(pl.Series(inverse))
    return text.str.to_uppercase().str.slice(0, 32).zip_with(pl.Series(statement), text)


def transaction_codes(template: np.ndarray, template_names: tuple[str, ...]) -> pl.Series:
    codes = pl.Series([TRANSACTION_CODES[t] for t in template_names])
    return codes.gather(pl.Series(template.astype(np.int64)))
