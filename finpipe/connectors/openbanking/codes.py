"""Code lists the Open Banking connector and sandbox share: OBIE paths, ISO 20022 bank
transaction codes in OBIE's long form, UK bank identifiers and currency exponents."""

from __future__ import annotations

API_PREFIX = "/open-banking/v3.1/aisp"
AUTHORIZE_PATH = "/oauth2/authorize"
TOKEN_PATH = "/oauth2/token"

# OBIE fills BankTransactionCode.Code / SubCode with the ISO 20022 description "with
# delimiters removed" (e.g. CNTR "Counter Transactions" -> "CounterTransactions").
FAMILIES: dict[str, str] = {
    "CCRD": "CustomerCardTransactions",
    "CNTR": "CounterTransactions",
    "CSLN": "ConsumerLoans",
    "ICDT": "IssuedCreditTransfers",
    "ICHQ": "IssuedCheques",
    "IDDT": "IssuedDirectDebits",
    "MCOP": "MiscellaneousCreditOperations",
    "MDOP": "MiscellaneousDebitOperations",
    "RCDT": "ReceivedCreditTransfers",
    "RCHQ": "ReceivedCheques",
    "RDDT": "ReceivedDirectDebits",
    "SPOT": "SpotTransactions",
}
SUB_FAMILIES: dict[str, str] = {
    "AUTT": "AutomaticTransfer",
    "BCHQ": "BankCheque",
    "BOOK": "InternalBookTransfer",
    "CCHQ": "Cheque",
    "CDPT": "CashDeposit",
    "DMCT": "DomesticCreditTransfer",
    "ESDD": "SEPACoreDirectDebit",
    "FEES": "Fees",
    "INTR": "Interest",
    "POSD": "PointOfSalePaymentDebitCard",
    "PPAY": "PrincipalPayment",
    "SALA": "PayrollSalaryPayment",
    "TAXS": "WithholdingTaxPayment",
    "XBCT": "CrossBorderCreditTransfer",
}
# Banks write the family names singular too ("ReceivedCreditTransfer" in OBIE's own examples).
FAMILY_CODES = {v: k for k, v in FAMILIES.items()} | {
    v.removesuffix("s"): k for k, v in FAMILIES.items()
}
SUB_FAMILY_CODES = {v: k for k, v in SUB_FAMILIES.items()}

# BIC of the UK account servicers the sandbox world uses (Servicer / agents carry BICs,
# never names): institution name <-> BIC.
BICS: dict[str, str] = {
    "Barclays": "BARCGB22",
    "HSBC UK": "HBUKGB4B",
    "Lloyds Bank": "LOYDGB2L",
    "NatWest": "NWBKGB2L",
    "Starling Bank": "SRLGGB2L",
}
INSTITUTIONS: dict[str, str] = {bic[:4]: name for name, bic in BICS.items()}

# ISO 4217 minor-unit exponents that are not 2.
EXPONENTS: dict[str, int] = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}


def exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (2 unless listed)."""
    return EXPONENTS.get(currency.upper(), 2)


def long_btc(iso: str | None) -> dict[str, str] | None:
    """``PMNT-CCRD-POSD`` as OBIE's ``{"Code": family, "SubCode": sub-family}`` (long form);
    unknown codes keep their four letters."""
    if not iso:
        return None
    parts = iso.split("-")
    if len(parts) != 3:
        return None
    _, family, sub = parts
    return {"Code": FAMILIES.get(family, family), "SubCode": SUB_FAMILIES.get(sub, sub)}


def short_btc(code: str, sub_code: str) -> str:
    """OBIE's long-form family / sub-family back to ISO ``FAMILY-SUBFAMILY`` (names not in
    the lists are kept as written)."""
    return f"{FAMILY_CODES.get(code, code)}-{SUB_FAMILY_CODES.get(sub_code, sub_code)}"
