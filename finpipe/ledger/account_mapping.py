"""Map each company's QuickBooks / Xero accounts onto the standard chart (no Dagster).

Input: provider accounts in one small shape (:data:`ACCOUNT_SCHEMA`), decoded from the
landing tables by :func:`accounts_from_quickbooks` / :func:`accounts_from_xero`. Output:
``ledger.account_map`` rows. Every account gets a row, the rule that decided and a
confidence; the rules, first that applies wins:

1. ``override`` (1.0): the company's own correction in ``ops.account_map_overrides``.
2. ``system`` (0.99): accounts the provider creates and that have one meaning — Xero
   ``SystemAccount`` (DEBTORS, CREDITORS, GST, HISTORICAL, ROUNDING, REALISEDCURRENCYGAIN...),
   QBO subtypes a file has once (AccountsReceivable, UndepositedFunds, RetainedEarnings,
   OpeningBalanceEquity, ExchangeGainOrLoss...). These beat the account's type on purpose:
   Xero keeps Historical Adjustment (equity) and Rounding (an expense) in liability types.
3. ``provider_type`` (0.95): a provider type / subtype that names one standard account
   (QBO ``Vehicles``, ``RentOrLeaseOfBuildings``; Xero ``INVENTORY``, ``PREPAYMENT``; a Xero
   BANK account classed as a liability is a credit card).
4. ``name`` (0.85, generic names 0.6): keyword rules on the account name, in English, German,
   French and Dutch, each only allowed within the sections the provider type permits — so
   "Shipping" is delivery income in a revenue account and postage in an expense account.
5. ``type_default`` (0.6): a provider subtype that usually means one account but is also
   used for others (QBO ``SalesOfProductIncome``, ``Utilities``; a Xero BANK account).
6. ``fallback`` (0.3): the catch-all account of the section the type or class implies.
7. ``none`` (0.0): no type or class finpipe knows; the code is null.

A bank account in another currency than the company's home currency is the foreign-currency
bank account (1030) whatever rule placed it as a bank. :func:`unmapped` lists what only
reached the fallback or nothing: an asset check shows it, nothing is dropped.

Everything is vectorised: joins against rule tables and one ``coalesce`` over the name
patterns, no Python loop per account.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from finpipe.ledger.chart import BY_CODE, CLASS_SECTIONS, SECTION_CATCH_ALL, SECTIONS
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.mapping import ACCOUNT_MAP, ACCOUNT_MAP_OVERRIDES
from finpipe.warehouse.tables.raw import QUICKBOOKS_TABLES, XERO_TABLES

ACCOUNT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String(),
        "provider": pl.String(),
        "account_id": pl.String(),
        "code": pl.String(),
        "name": pl.String(),
        "account_type": pl.String(),
        "account_subtype": pl.String(),
        "classification": pl.String(),
        "currency": pl.String(),
    }
)
"""Provider accounts as :func:`map_accounts` takes them (the world's ``accounts`` columns)."""

OVERRIDE_SCHEMA = ACCOUNT_MAP_OVERRIDES.polars_schema()
MAP_SCHEMA = ACCOUNT_MAP.polars_schema()

CONFIDENCE: dict[str, float] = {
    "override": 1.0,
    "system": 0.99,
    "provider_type": 0.95,
    "name": 0.85,
    "type_default": 0.6,
    "fallback": 0.3,
    "none": 0.0,
}
UNMAPPED_BELOW = 0.5
"""Mappings below this confidence (fallback, none) are listed by :func:`unmapped`."""
REVIEW_BELOW = 0.7
"""Mappings below this confidence (type defaults, generic names) deserve a person's look."""
GENERIC = 0.6  # a name that gives the section but not the line ("Sales", "Revenue")


class AccountMappingError(ValueError):
    """An input frame does not follow the contract (missing columns, wrong types)."""


# --- rule tables ---------------------------------------------------------------------------
# Types and subtypes are compared as keys: lower case, letters and digits only, so QBO's
# "Other Current Asset" and the SDK's "OtherCurrentAsset" are the same type.

SYSTEM: dict[tuple[str, str], str] = {
    # Xero SystemAccount values
    ("xero", "debtors"): "1100",
    ("xero", "creditors"): "2000",
    ("xero", "gst"): "2200",
    ("xero", "gstonimports"): "2200",
    ("xero", "historical"): "3900",
    ("xero", "retainedearnings"): "3200",
    ("xero", "realisedcurrencygain"): "7100",
    ("xero", "unrealisedcurrencygain"): "7110",
    ("xero", "bankcurrencygain"): "7110",
    ("xero", "rounding"): "6990",
    ("xero", "wagepayables"): "2210",
    ("xero", "unpaidexpclm"): "2000",
    ("xero", "cisassets"): "1400",
    ("xero", "cisasset"): "1400",
    ("xero", "cisliability"): "2210",
    ("xero", "cislabourexpense"): "5030",
    ("xero", "cismaterials"): "5020",
    # QuickBooks subtypes of accounts a company file holds once
    ("quickbooks", "accountsreceivable"): "1100",
    ("quickbooks", "accountspayable"): "2000",
    ("quickbooks", "undepositedfunds"): "1050",
    ("quickbooks", "retainedearnings"): "3200",
    ("quickbooks", "openingbalanceequity"): "3900",
    ("quickbooks", "exchangegainorloss"): "7100",
    ("quickbooks", "globaltaxpayable"): "2200",
    ("quickbooks", "globaltaxsuspense"): "2200",
}

# Provider subtypes: (code, decisive). Decisive subtypes decide before names; the others are
# the default when no name rule places the account.
SUBTYPES: dict[tuple[str, str], tuple[str, bool]] = {
    ("xero", "creditcard"): ("2100", True),  # BankAccountType of a card account
    ("xero", "paypal"): ("1040", True),
}
_QBO_SUBTYPES: dict[str, tuple[str, bool]] = {
    # Bank
    "cashonhand": ("1000", True),
    "checking": ("1010", True),
    "savings": ("1020", True),
    "moneymarket": ("1020", True),
    "trustaccounts": ("1010", False),
    "rentsheldintrust": ("1010", False),
    "cashandcashequivalents": ("1010", False),
    "otherearmarkedbankaccounts": ("1020", False),
    # Other Current Asset
    "allowancefordoubtfulaccounts": ("1150", True),
    "allowanceforbaddebts": ("1150", True),
    "inventory": ("1200", True),
    "prepaidexpenses": ("1300", True),
    "employeecashadvances": ("1400", True),
    "loanstoofficers": ("1400", True),
    "loanstoothers": ("1400", True),
    "loanstostockholders": ("1400", True),
    "othercurrentassets": ("1400", False),
    "retainage": ("1100", False),
    "investmentother": ("1400", False),
    "investmentmortgagerealestateloans": ("1400", False),
    "investmenttaxexemptsecurities": ("1400", False),
    "investmentusgovernmentobligations": ("1400", False),
    # Fixed Asset
    "accumulateddepreciation": ("1550", True),
    "accumulateddepletion": ("1550", True),
    "accumulatedamortization": ("1550", True),
    "accumulatedamortizationofotherassets": ("1550", True),
    "vehicles": ("1510", True),
    "furnitureandfixtures": ("1500", True),
    "machineryandequipment": ("1500", True),
    "buildings": ("1500", True),
    "land": ("1500", True),
    "leaseholdimprovements": ("1500", True),
    "depletableassets": ("1500", True),
    "fixedassetcomputers": ("1500", True),
    "fixedassetcopiers": ("1500", True),
    "fixedassetfurniture": ("1500", True),
    "fixedassetphone": ("1500", True),
    "fixedassetphotovideo": ("1500", True),
    "fixedassetothertoolsequipment": ("1500", True),
    "fixedassetsoftware": ("1600", True),
    "otherfixedassets": ("1500", False),
    # Other Asset
    "intangibleassets": ("1600", True),
    "goodwill": ("1600", True),
    "licenses": ("1600", True),
    "organizationalcosts": ("1600", True),
    "leasebuyout": ("1600", False),
    "securitydeposits": ("1400", True),
    "otherlongtermassets": ("1500", False),
    # Liabilities
    "creditcard": ("2100", True),
    "salestaxpayable": ("2200", True),
    "payrolltaxpayable": ("2210", True),
    "payrollclearing": ("2210", True),
    "directdepositpayable": ("2210", True),
    "accruedliabilities": ("2220", True),
    "insurancepayable": ("2220", True),
    "federalincometaxpayable": ("2220", True),
    "stateincometaxpayable": ("2220", True),
    "statelocalincometaxpayable": ("2220", True),
    "lineofcredit": ("2400", True),
    "loanpayable": ("2400", True),
    "currentportionoflongtermdebt": ("2400", True),
    "othercurrentliabilities": ("2220", False),
    "trustaccountsliabilities": ("2220", False),
    "rentsintrustliability": ("2220", False),
    "prepaidexpensespayable": ("2220", False),
    "notespayable": ("2500", True),
    "shareholdernotespayable": ("2500", True),
    "otherlongtermliabilities": ("2500", False),
    # Equity
    "ownersequity": ("3000", True),
    "partnersequity": ("3000", True),
    "partnercontributions": ("3000", True),
    "paidincapitalorsurplus": ("3000", True),
    "commonstock": ("3000", True),
    "preferredstock": ("3000", True),
    "treasurystock": ("3000", True),
    "personalincome": ("3000", True),
    "partnerdistributions": ("3100", True),
    "personalexpense": ("3100", True),
    "estimatedtaxes": ("3100", True),
    "healthcare": ("3100", True),
    "accumulatedadjustment": ("3200", True),
    # Income
    "discountsrefundsgiven": ("4100", True),
    "salesofproductincome": ("4000", False),
    "serviceincome": ("4010", False),
    "servicefeeincome": ("4010", False),
    "otherprimaryincome": ("4000", False),
    "nonprofitincome": ("4010", False),
    "unappliedcashpaymentincome": ("4000", False),
    "interestearned": ("7000", True),
    "taxexemptinterest": ("7000", True),
    "dividendincome": ("7200", True),
    "otherinvestmentincome": ("7200", True),
    "othermiscellaneousincome": ("7200", False),
    # Cost of goods sold
    "shippingfreightdeliverycos": ("5000", True),
    "suppliesmaterialscogs": ("5000", False),
    "costoflaborcos": ("5100", False),
    "othercostsofservicecos": ("5000", False),
    "equipmentrentalcos": ("5000", False),
    # Expense
    "advertisingpromotional": ("6200", True),
    "auto": ("6700", True),
    "baddebts": ("6990", True),
    "charitablecontributions": ("6990", True),
    "entertainment": ("6300", True),
    "entertainmentmeals": ("6300", True),
    "promotionalmeals": ("6300", True),
    "travelmeals": ("6300", True),
    "equipmentrental": ("6710", True),
    "insurance": ("6500", True),
    "interestpaid": ("8000", True),
    "financecosts": ("8000", True),
    "legalprofessionalfees": ("6510", True),
    "officeexpenses": ("6410", True),
    "rentorleaseofbuildings": ("6100", True),
    "repairmaintenance": ("6420", True),
    "shippingfreightdelivery": ("6920", True),
    "suppliesmaterials": ("6430", True),
    "travel": ("6310", True),
    "depreciation": ("6800", True),
    "amortization": ("6800", True),
    "penaltiessettlements": ("6990", True),
    "bankcharges": ("6600", False),  # processors' fees are often booked here too
    "utilities": ("6110", False),  # QBO files phone and internet under Utilities
    "duessubscriptions": ("6400", False),
    "payrollexpenses": ("6000", False),
    "costoflabor": ("6000", False),
    "officegeneraladministrativeexpenses": ("6410", False),
    "othermiscellaneousservicecost": ("6990", False),
    "otherbusinessexpenses": ("6990", False),
    "othermiscellaneousexpense": ("6990", False),
    "commissionsandfees": ("6990", False),
    "taxespaid": ("6990", False),
    "globaltaxexpense": ("6990", False),
}
SUBTYPES.update({("quickbooks", k): v for k, v in _QBO_SUBTYPES.items()})


@dataclass(frozen=True)
class TypeRule:
    """What a provider account type allows: the sections its accounts may belong to (the
    first one is where the fallback goes), a code the type alone decides, and a default used
    when no name rule places the account."""

    sections: tuple[str, ...]
    code: str | None = None
    default: str | None = None


_CUR, _FIX = "current_asset", "fixed_asset"
_CL, _LTL = "current_liability", "long_term_liability"
_REV, _COS, _OPEX = "revenue", "cost_of_sales", "operating_expense"
_OI, _OX = "other_income", "other_expense"

TYPES: dict[tuple[str, str], TypeRule] = {
    # QuickBooks AccountType
    ("quickbooks", "bank"): TypeRule(("cash", _CUR), default="1010"),
    ("quickbooks", "accountsreceivable"): TypeRule((_CUR,), code="1100"),
    ("quickbooks", "othercurrentasset"): TypeRule((_CUR,)),
    ("quickbooks", "fixedasset"): TypeRule((_FIX,)),
    ("quickbooks", "otherasset"): TypeRule((_FIX, _CUR)),
    ("quickbooks", "accountspayable"): TypeRule((_CL,), code="2000"),
    ("quickbooks", "creditcard"): TypeRule((_CL,), code="2100"),
    ("quickbooks", "othercurrentliability"): TypeRule((_CL,)),
    ("quickbooks", "longtermliability"): TypeRule((_LTL,)),
    ("quickbooks", "equity"): TypeRule(("equity",)),
    ("quickbooks", "income"): TypeRule((_REV, _OI)),
    ("quickbooks", "otherincome"): TypeRule((_OI,)),
    ("quickbooks", "costofgoodssold"): TypeRule((_COS,)),
    ("quickbooks", "expense"): TypeRule((_OPEX, _OX)),
    # QBO files depreciation, FX and income tax as Other Expense.
    ("quickbooks", "otherexpense"): TypeRule((_OX, _OPEX, _OI)),
    # Xero Type
    ("xero", "bank"): TypeRule(("cash", _CUR, _CL), default="1010"),
    ("xero", "current"): TypeRule((_CUR,)),
    ("xero", "inventory"): TypeRule((_CUR,), code="1200"),
    ("xero", "prepayment"): TypeRule((_CUR,), code="1300"),
    ("xero", "fixed"): TypeRule((_FIX,)),
    ("xero", "noncurrent"): TypeRule((_FIX, _CUR)),
    ("xero", "currliab"): TypeRule((_CL,)),
    ("xero", "liability"): TypeRule((_CL, _LTL)),
    ("xero", "termliab"): TypeRule((_LTL,)),
    ("xero", "paygliability"): TypeRule((_CL,), code="2210"),
    ("xero", "superannuationliability"): TypeRule((_CL,), code="2210"),
    ("xero", "equity"): TypeRule(("equity",)),
    ("xero", "revenue"): TypeRule((_REV, _OI)),
    ("xero", "sales"): TypeRule((_REV,)),
    ("xero", "otherincome"): TypeRule((_OI,)),
    ("xero", "directcosts"): TypeRule((_COS,)),
    ("xero", "expense"): TypeRule((_OPEX, _OX, _OI)),
    ("xero", "overheads"): TypeRule((_OPEX, _OX)),
    ("xero", "depreciatn"): TypeRule((_OPEX,), code="6800"),
    ("xero", "wagesexpense"): TypeRule((_OPEX,), code="6000"),
    ("xero", "superannuationexpense"): TypeRule((_OPEX,), code="6020"),
}

# Classification -> standard class, for types finpipe does not know.
CLASSIFICATION = {
    "asset": "asset",
    "liability": "liability",
    "equity": "equity",
    "revenue": "income",
    "income": "income",
    "expense": "expense",
}


@dataclass(frozen=True)
class NameRule:
    """A keyword rule: a name (lower-cased) containing any of ``words`` (regular
    expressions) is ``code``, when the account's type allows ``code``'s section."""

    code: str
    label: str
    words: tuple[str, ...]
    confidence: float = CONFIDENCE["name"]

    @property
    def pattern(self) -> str:
        """The words as one case-insensitive regular expression."""
        return "(?i)" + "|".join(f"(?:{w})" for w in self.words)


# Order matters: the first rule whose section is allowed and whose pattern matches wins, so
# specific rules ("payroll taxes", "accumulated depreciation") precede generic ones.
# fmt: off
# fmt: off
NAME_RULES: tuple[NameRule, ...] = (
    # --- cash and current assets
    NameRule("1000", "petty cash", (
        r"petty cash", r"cash on hand", r"cash in hand", r"\btill\b", r"\bkasse\b", r"\bcaisse\b",
        r"\bkas\b",
    )),
    NameRule("2100", "credit card", (
        r"credit ?card", r"kreditkarte", r"carte (de )?cr[ée]dit", r"creditcard", r"\bvisa\b",
        r"mastercard", r"\bamex\b", r"american express", r"charge card",
    )),
    NameRule("1020", "savings", (
        r"saving", r"reserve", r"deposit account", r"money market", r"tagesgeld", r"festgeld",
        r"sparkonto", r"sparbuch", r"[ée]pargne", r"livret", r"compte [àa] terme", r"spaar",
        r"deposito",
    )),
    NameRule("1040", "processor clearing", (
        r"clearing", r"processor", r"card sales", r"stripe", r"paypal", r"square", r"sumup",
        r"adyen", r"zettle", r"geldtransit", r"durchlaufend", r"transit", r"en attente",
        r"kruisposten", r"tussenrekening",
    )),
    NameRule("1030", "foreign currency", (
        r"foreign", r"currency account", r"fremdw[äa]hrung", r"w[äa]hrungskonto", r"devises?\b",
        r"vreemde valuta",
    )),
    NameRule("1010", "current account", (
        r"checking", r"current account", r"business account", r"operating", r"cheque", r"girokonto",
        r"gesch[äa]ftskonto", r"kontokorrent", r"compte (courant|pro|professionnel)",
        r"betaalrekening", r"zakelijke rekening", r"\bbank\b", r"\bbanque\b", r"account", r"konto",
        r"compte", r"rekening",
    )),
    NameRule("1050", "undeposited funds", (
        r"undeposited", r"not yet (banked|deposited)",
    )),
    NameRule("1150", "doubtful debts", (
        r"doubtful", r"bad debt", r"allowance", r"wertberichtigung", r"einzelwertb",
        r"pauschalwertb", r"d[ée]pr[ée]ciation des cr[ée]ances", r"dubieuze", r"oninbare",
    )),
    NameRule("1300", "prepayments", (
        r"prepa", r"paid in advance", r"vorausbezahlt", r"rechnungsabgrenzung",
        r"charges constat[ée]es d.avance", r"vooruitbetaald", r"vooruitbetaalde",
    )),
    NameRule("1100", "receivable", (
        r"receivable", r"debtors", r"\ba/r\b", r"forderungen", r"d[ée]biteurs", r"clients",
        r"cr[ée]ances", r"debiteuren", r"vorderingen",
    )),
    NameRule("1200", "inventory", (
        r"inventor", r"stock", r"vorr[äa]te", r"warenbestand", r"lager", r"marchandises",
        r"voorraad",
    )),
    NameRule("1400", "deposits paid", (
        r"\bdeposit", r"kaution", r"d[ée]p[oô]t", r"cautionnement", r"waarborg",
        r"other (current )?assets?", r"sonstige verm[öo]gen", r"autres cr[ée]ances",
        r"overige vorderingen",
    )),
    # --- fixed assets
    NameRule("1550", "accumulated depreciation", (
        r"accumulated", r"depreciation", r"amorti[sz]", r"abschreibung", r"kumulierte",
        r"afschrijving", r"cumul",
    )),
    NameRule("1600", "intangible", (
        r"intangible", r"software", r"goodwill", r"patent", r"trademark", r"licen[cs]",
        r"development cost", r"immateriell", r"firmenwert", r"incorporel", r"immateri[eë]le",
        r"fonds de commerce",
    )),
    NameRule("1510", "vehicles", (
        r"vehicle", r"truck", r"\bcars?\b", r"\bvan\b", r"fahrzeug", r"\bkfz\b", r"\bpkw\b",
        r"\blkw\b", r"v[ée]hicule", r"voiture", r"camion", r"voertuig", r"auto",
    )),
    NameRule("1500", "equipment", (
        r"equipment", r"computer", r"furniture", r"fixture", r"machine", r"plant", r"building",
        r"land", r"leasehold", r"tools", r"hardware", r"betriebs- und gesch[äa]ftsausstattung",
        r"ausstattung", r"einrichtung", r"geb[äa]ude", r"mat[ée]riel", r"mobilier",
        r"immobilisation", r"inventaris", r"inrichting", r"machines", r"gebouw",
    )),
    # --- liabilities
    NameRule("2200", "sales tax / VAT", (
        r"\bvat\b", r"sales tax", r"\bgst\b", r"\bhst\b", r"\bpst\b", r"umsatzsteuer", r"vorsteuer",
        r"mehrwertsteuer", r"\bmwst\b", r"\bust\b", r"\btva\b", r"\bbtw\b", r"omzetbelasting",
        r"equalization",
    )),
    NameRule("2210", "payroll liabilities", (
        r"payroll", r"\bpaye\b", r"employee", r"wage", r"salar", r"withholding",
        r"national insurance", r"pension", r"superannuation", r"lohn", r"l[öo]hne", r"gehalt",
        r"sozialversicherung", r"lohnsteuer", r"salaires", r"urssaf", r"dettes sociales",
        r"loonheffing", r"lonen", r"salarissen", r"pensioen",
    )),
    NameRule("2300", "deferred revenue", (
        r"deferred", r"unearned", r"in advance", r"received in advance", r"erhaltene anzahlung",
        r"passive rechnungsabgrenzung", r"produits constat[ée]s", r"avances re[çc]ues",
        r"vooruitontvangen", r"vooruitgefactureerd",
    )),
    NameRule("2400", "short-term borrowing", (
        r"overdraft", r"line of credit", r"credit line", r"revolving", r"short[- ]term",
        r"kontokorrent", r"dispositions", r"d[ée]couvert", r"kredietlijn",
        r"rekening.courant krediet", r"kortlopend",
    )),
    NameRule("2500", "loans", (
        r"loan", r"note", r"mortgage", r"borrowing", r"debt", r"darlehen", r"kredit", r"hypothek",
        r"verbindlichkeiten gegen[üu]ber kreditinstituten", r"emprunt", r"pr[êe]t", r"dette",
        r"lening", r"hypotheek",
    )),
    NameRule("2400", "loan (current)", (
        r"loan", r"darlehen", r"kredit", r"emprunt", r"pr[êe]t", r"lening",
    )),
    NameRule("2220", "taxes payable", (
        r"income tax", r"corporation tax", r"tax payable", r"steuerr[üu]ckstellung",
        r"imp[ôo]ts? sur les soci[ée]t[ée]s", r"vennootschapsbelasting",
    )),
    NameRule("2000", "payable", (
        r"payable", r"creditors", r"\ba/p\b", r"verbindlichkeiten aus lieferungen", r"kreditoren",
        r"fournisseurs", r"crediteuren", r"leveranciers",
    )),
    NameRule("2220", "accruals", (
        r"accru", r"accrued", r"r[üu]ckstellung", r"abgrenzung", r"charges [àa] payer",
        r"provision", r"overlopende", r"nog te betalen", r"te betalen",
    )),
    # --- equity
    NameRule("3900", "opening balance", (
        r"opening balance", r"historical", r"er[öo]ffnungsbilanz", r"saldenvortrag",
        r"bilan d.ouverture", r"a nouveaux", r"beginbalans", r"openingsbalans",
    )),
    NameRule("3200", "retained earnings", (
        r"retained", r"accumulated (profit|earnings|surplus)", r"profit and loss reserve",
        r"gewinnvortrag", r"verlustvortrag", r"report [àa] nouveau", r"r[ée]serves",
        r"winstreserve", r"overige reserves", r"ingehouden",
    )),
    NameRule("3100", "drawings", (
        r"draw", r"distribution", r"dividend", r"personal", r"privatentnahme", r"entnahme",
        r"\bprivat\b", r"pr[ée]l[èe]vement", r"dividende", r"priv[ée]", r"onttrekking",
        r"uitkering",
    )),
    NameRule("3000", "capital", (
        r"capital", r"invest", r"stock", r"share", r"contribution", r"funds introduced", r"equity",
        r"stammkapital", r"grundkapital", r"einlage", r"kapital", r"capital social", r"apport",
        r"aandelenkapitaal", r"storting", r"eigen vermogen",
    )),
    # --- other income and expense (before revenue: "Interest Income" is not a sale)
    NameRule("8100", "income tax", (
        r"income tax", r"corporation tax", r"corporate tax", r"k[öo]rperschaftsteuer",
        r"gewerbesteuer", r"einkommensteuer",
        r"imp[ôo]ts? sur (les b[ée]n[ée]fices|les soci[ée]t[ée]s|le revenu)",
        r"vennootschapsbelasting", r"inkomstenbelasting",
    )),
    NameRule("7110", "unrealised FX", (
        r"unreali[sz]ed", r"revaluation", r"neubewertung", r"bewertung", r"non r[ée]alis",
        r"r[ée][ée]valuation", r"ongerealiseerd", r"herwaardering",
    )),
    NameRule("7100", "FX gain/loss", (
        r"exchange", r"currency", r"\bfx\b", r"forex", r"kursdifferenz", r"w[äa]hrung",
        r"kursgewinn", r"kursverlust", r"de change", r"koers", r"valuta", r"wissel",
    )),
    NameRule("8000", "interest expense", (
        r"interest (paid|expense|charge)", r"finance (cost|charge)", r"zinsaufwand",
        r"zinsen und [äa]hnliche aufwendungen", r"charges d.int[ée]r[êe]t",
        r"int[ée]r[êe]ts (pay[ée]s|et charges)", r"rentelasten", r"betaalde rente",
    )),
    NameRule("7000", "interest income", (
        r"interest (earned|income|received)", r"zinsertr", r"zinseinnahmen",
        r"produits d.int[ée]r[êe]t", r"int[ée]r[êe]ts re[çc]us", r"rentebaten", r"ontvangen rente",
    )),
    NameRule("8000", "interest", (
        r"interest", r"zins", r"int[ée]r[êe]t", r"\brente\b",
    )),
    NameRule("7000", "interest", (
        r"interest", r"zins", r"int[ée]r[êe]t", r"\brente\b",
    )),
    NameRule("7200", "other income", (
        r"other (income|revenue)", r"misc[a-z.]* income", r"sundry income",
        r"sonstige (betriebliche )?ertr[äa]ge", r"autres produits", r"overige (baten|opbrengsten)",
    )),
    # --- revenue
    NameRule("4100", "discounts and refunds", (
        r"discount", r"refund", r"allowance", r"rebate", r"returns", r"rabatt", r"skonto",
        r"erl[öo]sschm[äa]lerung", r"gutschrift", r"remise", r"ristourne", r"rabais", r"korting",
        r"retour",
    )),
    NameRule("4200", "shipping income", (
        r"shipping", r"delivery", r"freight", r"postage", r"carriage", r"versand", r"lieferung",
        r"fracht", r"livraison", r"\bport\b", r"transport", r"verzend", r"bezorg",
    )),
    NameRule("4010", "catering", (
        r"catering", r"traiteur",
    )),
    NameRule("4020", "subscriptions", (
        r"subscription", r"saas", r"recurring", r"licen[cs]e (fee|revenue|income)", r"abonnement",
        r"\babo\b", r"wiederkehrend", r"licenties",
    )),
    NameRule("4040", "food and beverage", (
        r"food", r"beverage", r"drink", r"\bbar\b", r"kitchen", r"restaurant", r"speisen",
        r"getr[äa]nke", r"k[üu]che", r"nourriture", r"boissons", r"repas", r"eten", r"drank",
        r"keuken",
    )),
    NameRule("4030", "contract revenue", (
        r"contract", r"construction", r"project", r"progress billing", r"bauleistung",
        r"werkvertrag", r"auftrag", r"chantier", r"travaux", r"march[ée]s?", r"aanneming",
        r"projecten", r"bouw",
    )),
    NameRule("4010", "services", (
        r"service", r"fee", r"consult", r"labou?r income", r"dienstleistung", r"beratung",
        r"honorar", r"prestation", r"honoraires", r"dienstverlening", r"advies", r"diensten",
    )),
    NameRule("4000", "product sales", (
        r"product", r"goods", r"merchandise", r"resale", r"waren", r"produkt", r"marchandises",
        r"produits", r"goederen", r"producten",
    )),
    NameRule("4000", "sales (generic)", (
        r"sales", r"revenue", r"income", r"turnover", r"umsatz", r"erl[öo]s", r"verk[äa]uf",
        r"ventes", r"chiffre d.affaires", r"omzet", r"verkoop", r"opbrengst",
    ), confidence=GENERIC),
    # --- cost of sales
    NameRule("5030", "subcontractors", (
        r"subcontract", r"sub-contract", r"contract labou?r", r"outside labou?r", r"fremdleistung",
        r"nachunternehmer", r"subunternehmer", r"sous-trait", r"onderaanne", r"inhuur derden",
    )),
    NameRule("5040", "hosting", (
        r"hosting", r"cloud", r"server", r"infrastructure", r"\baws\b", r"azure", r"data ?cent",
        r"rechenzentrum", r"h[ée]bergement",
    )),
    NameRule("5010", "food and beverage cost", (
        r"food", r"beverage", r"drink", r"\bbar\b", r"kitchen", r"ingredient", r"lebensmittel",
        r"getr[äa]nke", r"speisen", r"nourriture", r"boissons", r"denr[ée]es", r"eten", r"drank",
        r"levensmiddel",
    )),
    NameRule("5020", "materials", (
        r"material", r"materiaal", r"mat[ée]riaux", r"mati[èe]res", r"roh-", r"rohstoffe",
        r"grondstof",
    )),
    NameRule("5000", "freight in", (
        r"freight", r"shipping", r"delivery", r"carriage", r"postage", r"bezugsnebenkosten",
        r"fracht", r"transport", r"verzend",
    )),
    NameRule("5100", "direct labour", (
        r"labou?r", r"wages", r"salar", r"payroll", r"l[öo]hne", r"lohn", r"fertigungsl",
        r"main.d.(oe|œ)uvre", r"lonen", r"arbeid",
    )),
    NameRule("5000", "cost of goods sold", (
        r"cost of (goods|sales)", r"cogs", r"purchase", r"resale", r"merchandise", r"wareneinkauf",
        r"wareneingang", r"wareneinsatz", r"einkauf", r"achats", r"inkoop", r"kostprijs",
        r"inkopen",
    )),
    # --- operating expenses
    NameRule("6010", "payroll taxes", (
        r"payroll.*tax", r"employer.*(tax|insurance|contribution|nic)", r"national insurance",
        r"social (security|charges)", r"\bfica\b", r"\bfuta\b", r"\bsuta\b", r"sozialversicherung",
        r"sozialabgaben", r"arbeitgeberanteil", r"gesetzliche soziale", r"charges sociales",
        r"cotisations (sociales|patronales)", r"sociale lasten", r"werkgeverslasten",
        r"sociale premies",
    )),
    NameRule("6020", "employee benefits", (
        r"benefit", r"pension", r"superannuation", r"401k", r"retirement",
        r"health (insurance|plan)", r"altersvorsorge", r"betriebliche altersv",
        r"freiwillige soziale", r"pr[ée]voyance", r"mutuelle", r"pensioen",
        r"personeelsvoorzieningen",
    )),
    NameRule("6000", "wages", (
        r"wage", r"salar", r"payroll", r"staff cost", r"personnel", r"employee", r"l[öo]hne",
        r"lohn", r"geh[äa]lt", r"personalkosten", r"personalaufwand", r"salaires",
        r"r[ée]mun[ée]ration", r"traitements", r"lonen", r"salarissen", r"personeelskosten",
    )),
    NameRule("6710", "equipment rental", (
        r"(equipment|plant|machine|tool|scaffold).*(rent|hire|leas)", r"\bhire\b", r"mietleasing",
        r"ger[äa]temiete", r"maschinenmiete", r"location (de )?mat[ée]riel",
        r"huur (materieel|machines)",
    )),
    NameRule("6100", "rent", (
        r"\brent", r"lease", r"premises", r"occupancy", r"\bmiete", r"pacht", r"raumkosten",
        r"loyer", r"location", r"\bhuur",
    )),
    NameRule("6120", "telephone and internet", (
        r"phone", r"telecom", r"internet", r"mobile", r"broadband", r"telefon", r"handy",
        r"mobilfunk", r"t[ée]l[ée]phone", r"t[ée]l[ée]com", r"telefoon", r"mobiel",
    )),
    NameRule("6110", "utilities", (
        r"utilit", r"electric", r"power", r"heating", r"light", r"\bgas\b", r"water", r"energy",
        r"strom", r"energie", r"heizung", r"wasser", r"[ée]lectricit[ée]", r"chauffage", r"\beau\b",
        r"elektriciteit", r"verwarming", r"nutsvoorzieningen", r"gas, water",
    )),
    NameRule("6200", "advertising", (
        r"advertis", r"marketing", r"promotion", r"werbung", r"anzeigen", r"publicit[ée]",
        r"r[ée]clame", r"reclame",
    )),
    NameRule("6300", "meals and entertainment", (
        r"meal", r"entertain", r"hospitality", r"bewirtung", r"repas", r"r[ée]ception",
        r"repr[ée]sentatie", r"relatiegeschenk",
    )),
    NameRule("6310", "travel", (
        r"travel", r"lodging", r"hotel", r"airfare", r"flight", r"mileage", r"reise",
        r"[üu]bernachtung", r"voyage", r"d[ée]placement", r"reiskosten", r"reizen", r"verblijf",
    )),
    NameRule("6400", "software and subscriptions", (
        r"software", r"subscription", r"saas", r"\bit\b", r"computer", r"cloud", r"abonnement",
        r"edv", r"logiciel", r"informatique", r"automatisering",
    )),
    NameRule("6410", "office", (
        r"office", r"stationery", r"printing", r"b[üu]ro", r"b[üu]robedarf", r"schreibwaren",
        r"fournitures de bureau", r"bureau", r"kantoor", r"drukwerk",
    )),
    NameRule("6420", "repairs and maintenance", (
        r"repair", r"maintenance", r"reparatur", r"instandhaltung", r"wartung", r"entretien",
        r"r[ée]paration", r"onderhoud", r"reparatie",
    )),
    NameRule("6430", "supplies", (
        r"suppl", r"cleaning", r"packaging", r"small tools", r"consumable", r"verbrauchsmaterial",
        r"reinigung", r"verpackung", r"kleinger[äa]t", r"fournitures", r"nettoyage", r"emballage",
        r"schoonmaak", r"verpakking", r"kleine materialen",
    )),
    NameRule("6500", "insurance", (
        r"insurance", r"versicherung", r"assurance", r"verzekering",
    )),
    NameRule("6510", "professional fees", (
        r"legal", r"accounting", r"accountan", r"audit", r"professional", r"consult", r"lawyer",
        r"attorney", r"solicitor", r"bookkeep", r"rechtsanwalt", r"rechts", r"steuerberat",
        r"buchf[üu]hrung", r"beratung", r"avocat", r"comptab", r"expert", r"honoraires", r"juridi",
        r"advies", r"notari",
    )),
    NameRule("6610", "merchant fees", (
        r"merchant", r"processing fee", r"card fee", r"stripe", r"paypal", r"square", r"sumup",
        r"adyen", r"kartengeb[üu]hr", r"commission.*carte", r"transactiekosten",
    )),
    NameRule("6600", "bank charges", (
        r"bank", r"kontof[üu]hrung", r"geldverkehr", r"frais bancaires", r"bankkosten",
    )),
    NameRule("6700", "vehicle expenses", (
        r"vehicle", r"motor", r"automobile", r"\bauto\b", r"\bcars?\b", r"truck", r"fuel",
        r"petrol", r"gasoline", r"autokosten", r"diesel", r"kfz", r"fahrzeug", r"benzin",
        r"treibstoff", r"v[ée]hicule", r"carburant", r"voiture", r"brandstof",
    )),
    NameRule("6800", "depreciation", (
        r"depreciat", r"amorti[sz]", r"abschreibung", r"afschrijving", r"dotation",
    )),
    NameRule("6900", "dues and licences", (
        r"dues", r"membership", r"licen[cs]", r"permit", r"beitr[äa]ge", r"mitglied",
        r"geb[üu]hren", r"cotisation", r"adh[ée]sion", r"contributie", r"lidmaatschap",
        r"vergunning",
    )),
    NameRule("6910", "training", (
        r"training", r"education", r"course", r"seminar", r"fortbildung", r"weiterbildung",
        r"schulung", r"formation", r"opleiding", r"cursus",
    )),
    NameRule("6920", "shipping and postage", (
        r"shipping", r"freight", r"postage", r"courier", r"delivery", r"porto", r"versand",
        r"fracht", r"affranchissement", r"port\b", r"verzend", r"koerier",
    )),
    NameRule("6990", "other expenses", (
        r"misc", r"general", r"sundry", r"other", r"bad debt", r"donation", r"charit", r"sonstige",
        r"allgemein", r"divers", r"autres", r"overige", r"algemene",
    )),
    # --- last: anything else in an other-income account
    NameRule("7200", "other income (generic)", (
        r"other", r"misc", r"sundry", r"gain", r"dividend", r"rental", r"sonstige", r"ertr[äa]ge",
        r"divers", r"autres", r"overige", r"opbrengsten",
    ), confidence=GENERIC),
)
# fmt: on
# fmt: on


# --- decoding the landing tables -----------------------------------------------------------

QBO_PAYLOAD = pl.Struct(
    {
        "Id": pl.String(),
        "Name": pl.String(),
        "FullyQualifiedName": pl.String(),
        "AcctNum": pl.String(),
        "AccountType": pl.String(),
        "AccountSubType": pl.String(),
        "Classification": pl.String(),
        "CurrencyRef": pl.Struct({"value": pl.String()}),
    }
)
XERO_PAYLOAD = pl.Struct(
    {
        "AccountID": pl.String(),
        "Code": pl.String(),
        "Name": pl.String(),
        "Type": pl.String(),
        "Class": pl.String(),
        "SystemAccount": pl.String(),
        "BankAccountType": pl.String(),
        "CurrencyCode": pl.String(),
    }
)
XERO_ORGANISATION = pl.Struct({"BaseCurrency": pl.String()})


def _landed(raw: pl.DataFrame, what: str) -> pl.DataFrame:
    need = ("company_id", "source_id", "payload", "deleted")
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise AccountMappingError(f"{what}: missing columns {missing}")
    # A record the provider deleted no longer exists there; archived accounts stay.
    return raw.filter(~pl.col("deleted").fill_null(False))


def accounts_from_quickbooks(raw: pl.DataFrame) -> pl.DataFrame:
    """Decode ``raw.quickbooks_account`` landing rows into :data:`ACCOUNT_SCHEMA`.

    The name is the ``FullyQualifiedName`` (``Payroll Expenses:Taxes`` says more than the
    sub-account's own ``Taxes``); the currency is ``CurrencyRef.value``. Deleted rows are
    left out, inactive accounts kept (they hold history).
    """
    rows = _landed(raw, "raw.quickbooks_account")
    p = pl.col("payload")
    decoded = rows.select(
        "company_id", "source_id", p.str.json_decode(QBO_PAYLOAD).alias("p")
    ).unnest("p")
    return decoded.select(
        pl.col("company_id"),
        pl.lit("quickbooks").alias("provider"),
        pl.coalesce("Id", "source_id").alias("account_id"),
        pl.col("AcctNum").alias("code"),
        pl.coalesce("FullyQualifiedName", "Name").alias("name"),
        pl.col("AccountType").alias("account_type"),
        pl.col("AccountSubType").alias("account_subtype"),
        pl.col("Classification").alias("classification"),
        pl.col("CurrencyRef").struct.field("value").alias("currency"),
    ).cast(dict(ACCOUNT_SCHEMA))


def accounts_from_xero(
    raw: pl.DataFrame, organisations: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Decode ``raw.xero_accounts`` landing rows into :data:`ACCOUNT_SCHEMA`.

    ``account_subtype`` is the ``SystemAccount``, or for a bank account that is a card or
    PayPal wallet its ``BankAccountType`` (CREDITCARD / PAYPAL): both say what the account
    is. ``classification`` is ``Class`` title-cased (``REVENUE`` -> ``Revenue``). Xero gives a
    currency only on bank accounts; the others are in the organisation's base currency,
    taken from ``organisations`` (``raw.xero_organisation`` rows, matched on company and
    tenant) when given, else left null (read as the home currency).
    """
    rows = _landed(raw, "raw.xero_accounts")
    tenant = pl.col("tenant_id") if "tenant_id" in rows.columns else pl.lit(None, pl.String)
    decoded = rows.select(
        "company_id",
        "source_id",
        tenant.alias("tenant_id"),
        pl.col("payload").str.json_decode(XERO_PAYLOAD).alias("p"),
    ).unnest("p")
    base = pl.lit(None, pl.String)
    if organisations is not None and organisations.height:
        orgs = _landed(organisations, "raw.xero_organisation").select(
            "company_id",
            "tenant_id",
            pl.col("payload")
            .str.json_decode(XERO_ORGANISATION)
            .struct.field("BaseCurrency")
            .alias("_base"),
        )
        decoded = decoded.join(
            orgs.unique(["company_id", "tenant_id"]), on=["company_id", "tenant_id"], how="left"
        )
        base = pl.col("_base")
    card = pl.col("BankAccountType").str.to_uppercase().is_in(["CREDITCARD", "PAYPAL"])
    return decoded.select(
        pl.col("company_id"),
        pl.lit("xero").alias("provider"),
        pl.coalesce("AccountID", "source_id").alias("account_id"),
        pl.col("Code").alias("code"),
        pl.col("Name").alias("name"),
        pl.col("Type").alias("account_type"),
        pl.coalesce(
            pl.col("SystemAccount"),
            pl.when(card).then(pl.col("BankAccountType").str.to_uppercase()),
        ).alias("account_subtype"),
        pl.col("Class").str.to_titlecase().alias("classification"),
        pl.coalesce(pl.col("CurrencyCode"), base).alias("currency"),
    ).cast(dict(ACCOUNT_SCHEMA))


# --- mapping -------------------------------------------------------------------------------


def _conform(frame: pl.DataFrame, schema: pl.Schema, what: str) -> pl.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise AccountMappingError(f"{what}: missing columns {missing}")
    return frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])


def _key(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]", "").fill_null("")


def _subtype_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "provider": [p for p, _ in SUBTYPES],
            "_sub": [s for _, s in SUBTYPES],
            "_s_code": [c for c, _ in SUBTYPES.values()],
            "_s_decisive": [d for _, d in SUBTYPES.values()],
        }
    )


def _system_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "provider": [p for p, _ in SYSTEM],
            "_sub": [s for _, s in SYSTEM],
            "_sys_code": list(SYSTEM.values()),
        }
    )


def _type_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "provider": [p for p, _ in TYPES],
            "_type": [t for _, t in TYPES],
            "_t_sections": [list(r.sections) for r in TYPES.values()],
            "_t_code": [r.code for r in TYPES.values()],
            "_t_default": [r.default for r in TYPES.values()],
        },
        schema_overrides={"_t_code": pl.String, "_t_default": pl.String},
    )


def _home_currency(acc: pl.DataFrame, home_currencies: pl.DataFrame | None) -> pl.DataFrame:
    """``company_id, provider, _home``: given, else the currency most non-bank accounts use
    (bank accounts count a hundredth: a company may hold as many foreign as home banks)."""
    if home_currencies is not None:
        given = home_currencies.select(
            pl.col("company_id").cast(pl.String), pl.col("home_currency").cast(pl.String)
        ).unique("company_id")
        pairs = acc.select("company_id", "provider").unique()
        return pairs.join(given, on="company_id", how="left").rename({"home_currency": "_home"})
    weight = pl.when(pl.col("_type") == "bank").then(0.01).otherwise(1.0)
    return (
        acc.filter(pl.col("currency").is_not_null())
        .group_by("company_id", "provider", "currency")
        .agg(weight.sum().alias("_w"))
        .sort(["company_id", "provider", "_w", "currency"], descending=[False, False, True, False])
        .group_by("company_id", "provider", maintain_order=True)
        .first()
        .select("company_id", "provider", pl.col("currency").alias("_home"))
    )


def _valid_overrides(overrides: pl.DataFrame | None) -> pl.DataFrame:
    cols = ["company_id", "provider", "account_id", "standard_code", "note", "updated_at"]
    if overrides is None or overrides.height == 0:
        return pl.DataFrame(schema={c: OVERRIDE_SCHEMA[c] for c in cols})
    ov = _conform(overrides, OVERRIDE_SCHEMA, "ops.account_map_overrides")
    # The latest override of an account wins; one naming no standard code cannot decide
    # (invalid_overrides lists it for a check).
    return (
        ov.filter(pl.col("standard_code").is_in(list(BY_CODE)))
        .sort("updated_at", descending=True, nulls_last=True)
        .unique(["company_id", "provider", "account_id"], keep="first")
    )


def invalid_overrides(overrides: pl.DataFrame) -> pl.DataFrame:
    """Overrides naming a code that is not in the standard chart (they are not applied)."""
    ov = _conform(overrides, OVERRIDE_SCHEMA, "ops.account_map_overrides")
    return ov.filter(~pl.col("standard_code").is_in(list(BY_CODE)))


def map_accounts(
    accounts: pl.DataFrame,
    overrides: pl.DataFrame | None = None,
    home_currencies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Map provider accounts (:data:`ACCOUNT_SCHEMA`) onto the standard chart.

    ``overrides`` are ``ops.account_map_overrides`` rows; ``home_currencies`` (company_id,
    home_currency), e.g. from ``ops.companies``, says which bank accounts are foreign; without
    it the currency most of a company's accounts use is taken as home. Returns one
    ``ledger.account_map`` row per input account (same schema), the rule that decided, its
    detail and confidence; see the module docstring for the rules. Raises
    :class:`AccountMappingError` when a frame lacks a column.
    """
    acc = _conform(accounts, ACCOUNT_SCHEMA, "accounts").with_columns(
        _name=pl.col("name")
        .fill_null("")
        .str.to_lowercase()
        .str.replace(r"\s*\(deleted\)\s*$", ""),
        _type=_key(pl.col("account_type")),
        _sub=_key(pl.col("account_subtype")),
        _class=_key(pl.col("classification")).replace_strict(
            CLASSIFICATION, default=None, return_dtype=pl.String
        ),
    )
    acc = acc.join(_home_currency(acc, home_currencies), on=["company_id", "provider"], how="left")
    ov = _valid_overrides(overrides).select(
        "company_id",
        "provider",
        "account_id",
        pl.col("standard_code").alias("_ov_code"),
        pl.col("note").alias("_ov_note"),
    )
    class_sections = pl.DataFrame(
        {"_class": list(CLASS_SECTIONS), "_c_sections": [list(s) for s in CLASS_SECTIONS.values()]}
    )
    acc = (
        acc.join(ov, on=["company_id", "provider", "account_id"], how="left")
        .join(_system_frame(), on=["provider", "_sub"], how="left")
        .join(_subtype_frame(), on=["provider", "_sub"], how="left")
        .join(_type_frame(), on=["provider", "_type"], how="left")
        .join(class_sections, on="_class", how="left")
        .with_columns(_sections=pl.coalesce("_t_sections", "_c_sections"))
    )

    # Name rules: one boolean per section the account allows, then the first rule that
    # matches in an allowed section (coalesce keeps list order).
    acc = acc.with_columns(
        [
            pl.col("_sections").list.contains(pl.lit(s)).fill_null(False).alias(f"_ok_{s}")
            for s in SECTIONS
        ]
    )
    name = pl.col("_name")
    hits = [
        pl.when(pl.col(f"_ok_{BY_CODE[r.code].section}") & name.str.contains(r.pattern)).then(
            pl.lit(i, pl.Int32)
        )
        for i, r in enumerate(NAME_RULES)
    ]
    acc = acc.with_columns(_rule_i=pl.coalesce(hits) if hits else pl.lit(None, pl.Int32))
    idx = {i: r for i, r in enumerate(NAME_RULES)}
    acc = acc.with_columns(
        _n_code=pl.col("_rule_i").replace_strict(
            {i: r.code for i, r in idx.items()}, default=None, return_dtype=pl.String
        ),
        _n_label=pl.col("_rule_i").replace_strict(
            {i: r.label for i, r in idx.items()}, default=None, return_dtype=pl.String
        ),
        _n_conf=pl.col("_rule_i").replace_strict(
            {i: r.confidence for i, r in idx.items()}, default=None, return_dtype=pl.Float64
        ),
        _fallback=pl.col("_sections")
        .list.first()
        .replace_strict(SECTION_CATCH_ALL, default=None, return_dtype=pl.String),
    )

    decisive = pl.col("_s_decisive").fill_null(False)
    # Xero has no card type: a BANK account its file classes as a liability is a card.
    xero_card = (
        (pl.col("provider") == "xero")
        & (pl.col("_type") == "bank")
        & (pl.col("_class") == "liability")
    )
    sub_text = pl.col("account_subtype")
    type_text = pl.col("account_type")
    stages: list[tuple[str, pl.Expr, pl.Expr, pl.Expr]] = [
        # (rule, applies, code, detail)
        ("override", pl.col("_ov_code").is_not_null(), pl.col("_ov_code"), pl.col("_ov_note")),
        ("system", pl.col("_sys_code").is_not_null(), pl.col("_sys_code"), sub_text),
        ("provider_type", decisive, pl.col("_s_code"), sub_text),
        ("provider_type", pl.col("_t_code").is_not_null(), pl.col("_t_code"), type_text),
        ("provider_type", xero_card, pl.lit("2100"), pl.lit("BANK classed as liability")),
        ("name", pl.col("_n_code").is_not_null(), pl.col("_n_code"), pl.col("_n_label")),
        ("type_default", pl.col("_s_code").is_not_null(), pl.col("_s_code"), sub_text),
        ("type_default", pl.col("_t_default").is_not_null(), pl.col("_t_default"), type_text),
        (
            "fallback",
            pl.col("_fallback").is_not_null(),
            pl.col("_fallback"),
            pl.col("_sections").list.first(),
        ),
    ]

    def chain(pick: int, otherwise: pl.Expr) -> pl.Expr:
        def value(stage: tuple[str, pl.Expr, pl.Expr, pl.Expr]) -> pl.Expr:
            return pl.lit(stage[0]) if pick == 0 else stage[pick]

        expr = pl.when(stages[0][1]).then(value(stages[0]))
        for stage in stages[1:]:
            expr = expr.when(stage[1]).then(value(stage))
        return expr.otherwise(otherwise)

    acc = acc.with_columns(
        _rule=chain(0, pl.lit("none")).cast(pl.String),
        _code=chain(2, pl.lit(None, pl.String)),
        _detail=chain(3, pl.lit(None, pl.String)),
    )
    conf = pl.col("_rule").replace_strict(CONFIDENCE, return_dtype=pl.Float64)
    # A bank account in another currency than home is the foreign-currency bank account,
    # unless a person said otherwise.
    foreign = (
        pl.col("_code").is_in(["1010", "1020"])
        & (pl.col("_rule") != "override")
        & pl.col("currency").is_not_null()
        & pl.col("_home").is_not_null()
        & (pl.col("currency") != pl.col("_home"))
    )
    out = acc.select(
        "company_id",
        "provider",
        "account_id",
        pl.col("code").alias("source_code"),
        pl.col("name").fill_null("").alias("source_name"),
        pl.col("account_type").alias("source_type"),
        pl.col("account_subtype").alias("source_subtype"),
        pl.col("classification").alias("source_classification"),
        "currency",
        pl.when(foreign).then(pl.lit("1030")).otherwise(pl.col("_code")).alias("standard_code"),
        pl.col("_rule").alias("rule"),
        pl.when(foreign)
        .then(pl.concat_str([pl.col("_detail").fill_null(""), pl.lit("; foreign currency")]))
        .otherwise(pl.col("_detail"))
        .alias("rule_detail"),
        pl.when(pl.col("_rule") == "name")
        .then(pl.col("_n_conf"))
        .otherwise(conf)
        .alias("confidence"),
    )
    return out.cast(dict(MAP_SCHEMA))


def unmapped(mapped: pl.DataFrame, below: float = UNMAPPED_BELOW) -> pl.DataFrame:
    """Accounts no rule really placed: those that only reached the section fallback or
    nothing (confidence below ``below``; pass :data:`REVIEW_BELOW` to include type defaults
    and generic names). What the asset check lists; sorted by company, provider, name."""
    return mapped.filter((pl.col("confidence") < below) | pl.col("standard_code").is_null()).sort(
        "company_id", "provider", "source_name", "account_id"
    )


def provider_accounts(warehouse: Warehouse, company_id: str) -> pl.DataFrame:
    """Both providers' landed charts of ``company_id`` (QuickBooks ``Account``, Xero
    ``Accounts`` with the organisation's base currency) in :data:`ACCOUNT_SCHEMA`: what the
    account map is computed from."""
    return pl.concat(
        [
            accounts_from_quickbooks(
                warehouse.read(QUICKBOOKS_TABLES["Account"], company_id=company_id)
            ),
            accounts_from_xero(
                warehouse.read(XERO_TABLES["Accounts"], company_id=company_id),
                warehouse.read(XERO_TABLES["Organisation"], company_id=company_id),
            ),
        ]
    )
