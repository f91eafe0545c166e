"""Reference data the generator draws from: industries, countries, currencies, banks, names.

Plain constants, no randomness. Indices into these tuples are what the vectorised code
carries around; strings are attached only when output tables are built.
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENCIES = ("USD", "GBP", "EUR")
USD, GBP, EUR = 0, 1, 2
# Starting rates, USD per unit (the FX paths random-walk from here).
USD_PER_UNIT = (1.0, 1.27, 1.08)

INDUSTRIES = ("restaurant", "software", "construction", "retail", "professional_services")
RESTAURANT, SOFTWARE, CONSTRUCTION, RETAIL, PROFESSIONAL = range(5)

TRAJECTORIES = ("growing", "stable", "declining", "distressed")
GROWING, STABLE, DECLINING, DISTRESSED = range(4)
# Share of companies on each trajectory.
TRAJECTORY_WEIGHTS = (0.3, 0.35, 0.2, 0.15)

ACCOUNTING_PROVIDERS = ("quickbooks", "xero", "both")
QBO, XERO, BOTH = 0, 1, 2
PROVIDER_NAMES = ("quickbooks", "xero")

BANK_PROVIDERS = ("openbanking", "berlingroup", "aggregator", "statement")
OPENBANKING, BERLINGROUP, AGGREGATOR, STATEMENT = range(4)

# Bank account kinds (one of each at most per company; kind 0 always exists).
BANK_KINDS = ("checking", "savings", "credit_card", "fx_checking")
CHECKING, SAVINGS, CREDIT_CARD, FX_CHECKING = range(4)


@dataclass(frozen=True)
class Country:
    """A country a company can be based in."""

    code: str
    currency: int
    weight: float  # share of companies
    bank_provider: int  # the API its banks expose (else: statement files)
    sales_tax: tuple[float, ...]  # standard rates a company may charge (US: by state)
    fiscal_year_starts: tuple[int, ...]
    suffixes: tuple[str, ...]  # legal-form suffix of company names
    email_tld: str
    tax_authority: str
    payroll_tax_employer: float
    payroll_withholding: float


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        USD,
        0.45,
        AGGREGATOR,
        (0.0725, 0.08875, 0.0625, 0.0825, 0.06, 0.07, 0.0),
        (1, 1, 1, 1, 10),
        ("LLC", "Inc.", "LLC", "Co."),
        "com",
        "State Dept of Revenue",
        0.0765,
        0.22,
    ),
    Country(
        "GB",
        GBP,
        0.25,
        OPENBANKING,
        (0.20,),
        (4, 4, 1, 1, 10),
        ("Ltd", "Ltd", "LLP"),
        "co.uk",
        "HMRC VAT",
        0.138,
        0.28,
    ),
    Country(
        "DE",
        EUR,
        0.12,
        BERLINGROUP,
        (0.19,),
        (1,),
        ("GmbH", "GmbH", "UG", "KG"),
        "de",
        "Finanzamt",
        0.2,
        0.36,
    ),
    Country(
        "FR", EUR, 0.06, BERLINGROUP, (0.20,), (1,), ("SARL", "SAS"), "fr", "DGFiP", 0.42, 0.22
    ),
    Country(
        "NL", EUR, 0.05, BERLINGROUP, (0.21,), (1,), ("B.V.",), "nl", "Belastingdienst", 0.19, 0.37
    ),
    Country(
        "IE",
        EUR,
        0.04,
        BERLINGROUP,
        (0.23,),
        (1,),
        ("Ltd", "DAC"),
        "ie",
        "Revenue Commissioners",
        0.11,
        0.3,
    ),
    Country(
        "ES", EUR, 0.03, BERLINGROUP, (0.21,), (1,), ("S.L.",), "es", "Agencia Tributaria", 0.3, 0.2
    ),
)
COUNTRY_CODES = tuple(c.code for c in COUNTRIES)
US_, GB_ = 0, 1


@dataclass(frozen=True)
class Industry:
    """How a kind of business earns and spends."""

    name: str
    naics: tuple[str, ...]  # NAICS 2022 six-digit codes
    revenue_usd: tuple[float, float]  # monthly revenue range at size 1, USD
    card_share: float  # revenue through a card processor (paid out net of fees)
    cash_share: float  # cash takings banked
    # the rest is invoiced (accounts receivable)
    cogs_ratio: float
    payroll_ratio: float
    rent_ratio: float
    opex_ratio: float  # card and direct-debit overheads, excluding rent and payroll
    invoices_per_month: float  # at size 1
    bills_per_month: float
    expenses_per_month: float
    customers: tuple[int, int]
    season: tuple[float, ...]  # 12 monthly factors, Jan..Dec
    terms: tuple[int, ...]  # invoice payment terms in days
    tax_goods: bool  # US sales tax applies (goods); services mostly untaxed there
    processors: tuple[str, ...]  # card processors it uses


INDUSTRY_PROFILES: tuple[Industry, ...] = (
    Industry(
        "restaurant",
        ("722511", "722513", "722515", "722410"),
        (70_000, 160_000),
        0.74,
        0.16,
        0.30,
        0.31,
        0.08,
        0.16,
        4,
        26,
        55,
        (6, 25),
        (0.82, 0.8, 0.9, 0.95, 1.05, 1.15, 1.22, 1.2, 1.0, 0.95, 0.92, 1.24),
        (14, 30),
        True,
        ("Square", "Toast", "Clover"),
    ),
    Industry(
        "software",
        ("513210", "541511", "518210", "541512"),
        (50_000, 260_000),
        0.45,
        0.0,
        0.16,
        0.45,
        0.05,
        0.14,
        22,
        10,
        50,
        (25, 160),
        (1.0,) * 12,
        (14, 30, 30, 45),
        False,
        ("Stripe",),
    ),
    Industry(
        "construction",
        ("236220", "236118", "238220", "238210", "237310"),
        (120_000, 480_000),
        0.0,
        0.0,
        0.52,
        0.22,
        0.03,
        0.12,
        14,
        55,
        85,
        (10, 60),
        (0.62, 0.68, 0.92, 1.12, 1.24, 1.3, 1.28, 1.22, 1.1, 1.0, 0.86, 0.66),
        (30, 30, 45, 60),
        True,
        (),
    ),
    Industry(
        "retail",
        ("455110", "458110", "445110", "444110", "459120", "449110"),
        (60_000, 220_000),
        0.70,
        0.14,
        0.52,
        0.16,
        0.08,
        0.12,
        7,
        24,
        42,
        (5, 30),
        (0.8, 0.76, 0.9, 0.95, 1.0, 0.96, 0.95, 1.0, 0.95, 1.02, 1.25, 1.55),
        (30,),
        True,
        ("Square", "Shopify Payments", "Stripe"),
    ),
    Industry(
        "professional_services",
        ("541211", "541611", "541110", "541810", "541330"),
        (40_000, 140_000),
        0.08,
        0.0,
        0.08,
        0.52,
        0.07,
        0.15,
        32,
        14,
        48,
        (30, 140),
        (1.05, 1.1, 1.18, 1.12, 1.0, 0.95, 0.84, 0.84, 1.0, 1.05, 1.0, 0.88),
        (14, 30, 30),
        False,
        ("Stripe",),
    ),
)

# UK/EU processors instead of the US ones.
PROCESSORS_EU = {"Toast": "SumUp", "Clover": "Zettle", "Shopify Payments": "SumUp"}
PROCESSOR_FEE = {  # rate of gross sales kept by the processor
    "Square": 0.026,
    "Toast": 0.0249,
    "Clover": 0.027,
    "Stripe": 0.029,
    "Shopify Payments": 0.027,
    "SumUp": 0.0169,
    "Zettle": 0.0175,
}


@dataclass(frozen=True)
class Bank:
    """A bank institution a company account can be held at."""

    name: str
    country: str
    code: str  # US routing number, GB sort code prefix, DE BLZ, other IBAN bank code


BANKS: tuple[Bank, ...] = (
    Bank("Chase", "US", "021000021"),
    Bank("Bank of America", "US", "026009593"),
    Bank("Wells Fargo", "US", "121000248"),
    Bank("Citibank", "US", "021000089"),
    Bank("U.S. Bank", "US", "091000022"),
    Bank("Mercury", "US", "084106768"),
    Bank("Barclays", "GB", "20"),
    Bank("HSBC UK", "GB", "40"),
    Bank("Lloyds Bank", "GB", "30"),
    Bank("NatWest", "GB", "60"),
    Bank("Starling Bank", "GB", "60"),
    Bank("Deutsche Bank", "DE", "10070000"),
    Bank("Commerzbank", "DE", "10040000"),
    Bank("Berliner Sparkasse", "DE", "10050000"),
    Bank("N26", "DE", "10011001"),
    Bank("BNP Paribas", "FR", "30004"),
    Bank("Société Générale", "FR", "30003"),
    Bank("ABN AMRO", "NL", "ABNA"),
    Bank("ING", "NL", "INGB"),
    Bank("AIB", "IE", "AIBK"),
    Bank("Bank of Ireland", "IE", "BOFI"),
    Bank("Santander", "ES", "0049"),
    Bank("BBVA", "ES", "0182"),
)

FIRST_NAMES = (
    "Maria",
    "James",
    "Sarah",
    "David",
    "Aisha",
    "Tom",
    "Priya",
    "Lukas",
    "Emma",
    "Noah",
    "Chloe",
    "Mateo",
    "Hannah",
    "Oliver",
    "Sofia",
    "Ethan",
    "Lea",
    "Jonas",
    "Grace",
    "Omar",
    "Isabel",
    "Marco",
    "Julia",
    "Ben",
    "Nina",
    "Kenji",
    "Fatima",
    "Liam",
    "Amelie",
    "Ravi",
)
SURNAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Brown",
    "Davis",
    "Martinez",
    "Wilson",
    "Taylor",
    "Anderson",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Lopez",
    "Hill",
    "Scott",
    "Green",
    "Adams",
    "Baker",
    "Nelson",
    "Carter",
    "Mitchell",
    "Patel",
    "Roberts",
    "Turner",
    "Phillips",
    "Campbell",
    "Parker",
    "Evans",
    "Edwards",
    "Collins",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Morgan",
    "Cooper",
    "Peterson",
    "Reed",
    "Bailey",
    "Bell",
    "Kelly",
    "Howard",
    "Ward",
    "Cox",
    "Richardson",
    "Wood",
    "Watson",
    "Brooks",
    "Bennett",
    "Gray",
    "Hughes",
    "Price",
    "Sanders",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Dubois",
    "Lefebvre",
    "Moreau",
    "de Vries",
    "Jansen",
    "Bakker",
    "O'Brien",
    "Byrne",
    "Fernández",
    "Romero",
    "Navarro",
    "Okafor",
    "Nguyen",
    "Kowalski",
    "Novak",
    "Rossi",
)
PLACE_WORDS = (
    "Harbor",
    "Summit",
    "Maple",
    "Cedar",
    "Riverside",
    "Northwind",
    "Bluebird",
    "Granite",
    "Lakeside",
    "Oakwood",
    "Silver",
    "Golden",
    "Copper",
    "Union",
    "Liberty",
    "Pioneer",
    "Evergreen",
    "Highland",
    "Meadow",
    "Beacon",
    "Crescent",
    "Redwood",
    "Willow",
    "Ironbridge",
    "Kingsway",
    "Fairview",
    "Westgate",
    "Eastside",
    "Brightwater",
    "Stonegate",
    "Ashford",
    "Hawthorn",
    "Juniper",
    "Orchard",
    "Lighthouse",
    "Canal",
    "Market",
    "Parkside",
    "Hillcrest",
)
COMPANY_NOUNS = {
    RESTAURANT: (
        "Bistro",
        "Kitchen",
        "Diner",
        "Trattoria",
        "Grill",
        "Café",
        "Taqueria",
        "Noodle Bar",
        "Brasserie",
        "Eatery",
    ),
    SOFTWARE: (
        "Labs",
        "Software",
        "Analytics",
        "Cloud",
        "Systems",
        "Digital",
        "AI",
        "Data",
        "Apps",
        "Technologies",
    ),
    CONSTRUCTION: (
        "Builders",
        "Construction",
        "Contracting",
        "Renovations",
        "Plumbing & Heating",
        "Electrical",
        "Roofing",
        "Civil Works",
        "Homes",
        "Build Group",
    ),
    RETAIL: (
        "Outfitters",
        "Boutique",
        "Market",
        "Home & Garden",
        "Books",
        "Toys",
        "Hardware",
        "Goods",
        "Supply Co",
        "Emporium",
    ),
    PROFESSIONAL: (
        "Advisors",
        "Consulting",
        "Partners",
        "Accounting",
        "Legal",
        "Associates",
        "Design Studio",
        "Engineering",
        "Marketing",
        "Strategy",
    ),
}
CUSTOMER_NOUNS = (
    "Dental",
    "Logistics",
    "Holdings",
    "Foods",
    "Media",
    "Health",
    "Properties",
    "Motors",
    "Realty",
    "Energy",
    "Hotels",
    "Studios",
    "Clinic",
    "Academy",
    "Fitness",
    "Architects",
    "Farms",
    "Pharmacy",
    "Insurance",
    "Ventures",
    "Manufacturing",
    "Retail Group",
    "School",
    "Events",
    "Transport",
    "Brewing",
    "Labs",
    "Services",
    "Partners",
    "Trading",
)
