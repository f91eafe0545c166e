"""What companies buy: cost categories, how they are paid, and who they are bought from.

Each category has a posting role (see :mod:`chart`), a budget bucket (``cogs`` or
``opex``) and a share of that bucket per industry, how many documents a month it takes at
size 1, how it is paid (supplier bill, card purchase, direct debit) and the merchants or
suppliers it comes from in each region (US, GB, EU). Names with ``{s}`` are filled with a
surname or place word per vendor; the rest are real brands as they appear on statements.
"""

from __future__ import annotations

from dataclasses import dataclass

from finpipe.sandbox.world import reference as ref

BILL, CARD, DEBIT = 0, 1, 2  # how a category is paid
R, S, C, T, P = ref.RESTAURANT, ref.SOFTWARE, ref.CONSTRUCTION, ref.RETAIL, ref.PROFESSIONAL


@dataclass(frozen=True)
class Category:
    key: str
    role: str
    bucket: str  # cogs | opex
    share: dict[int, float]  # industry -> share of bucket
    per_month: float  # documents a month at size 1
    channel: tuple[float, float, float]  # P(bill), P(card), P(direct debit)
    vendors: tuple[int, int]  # how many vendors a company has in it
    names: dict[str, tuple[str, ...]]  # region -> names
    description: str  # line description
    mcc: str  # card merchant category code shown in POS narrations


def _n(*names: str) -> tuple[str, ...]:
    return names


CATEGORIES: tuple[Category, ...] = (
    Category(
        "food",
        "cogs_main",
        "cogs",
        {R: 0.72},
        14,
        (1, 0, 0),
        (2, 4),
        {
            "US": _n(
                "Sysco",
                "US Foods",
                "Restaurant Depot",
                "Gordon Food Service",
                "{s} Produce Co",
                "{s} Meats",
            ),
            "GB": _n("Brakes", "Bidfood", "Booker Wholesale", "{s} Fresh Produce", "{s} Butchers"),
            "EU": _n(
                "Metro Cash & Carry",
                "Transgourmet",
                "Chefs Culinar",
                "{s} Frischdienst",
                "{s} Gemüsehandel",
            ),
        },
        "Food supplies",
        "5141",
    ),
    Category(
        "drinks",
        "cogs_second",
        "cogs",
        {R: 0.28},
        6,
        (1, 0, 0),
        (1, 3),
        {
            "US": _n(
                "Southern Glazer's",
                "Breakthru Beverage",
                "Coca-Cola Bottling",
                "{s} Coffee Roasters",
            ),
            "GB": _n("Matthew Clark", "Majestic Commercial", "{s} Brewery", "{s} Coffee"),
            "EU": _n("Getränke Hoffmann", "{s} Brauerei", "{s} Kaffeerösterei"),
        },
        "Beverages",
        "5181",
    ),
    Category(
        "merchandise",
        "cogs_main",
        "cogs",
        {T: 0.92},
        18,
        (1, 0, 0),
        (4, 12),
        {
            "US": _n("{s} Wholesale", "{s} Distributors", "{s} Trading Co", "{s} Imports"),
            "GB": _n("{s} Wholesale", "{s} Distribution", "{s} Trading"),
            "EU": _n("{s} Großhandel", "{s} Distribution", "{s} Handel"),
        },
        "Stock purchase",
        "5131",
    ),
    Category(
        "freight",
        "cogs_second",
        "cogs",
        {T: 0.08},
        4,
        (0.5, 0.5, 0),
        (1, 2),
        {
            "US": _n("UPS Freight", "FedEx Freight", "XPO Logistics"),
            "GB": _n("DHL Freight", "Palletways", "DPD Freight"),
            "EU": _n("DB Schenker", "DHL Freight", "Dachser"),
        },
        "Inbound freight",
        "4214",
    ),
    Category(
        "materials",
        "cogs_main",
        "cogs",
        {C: 0.55},
        40,
        (0.6, 0.4, 0),
        (3, 8),
        {
            "US": _n(
                "Home Depot Pro",
                "Lowe's Pro",
                "84 Lumber",
                "ABC Supply",
                "Ferguson",
                "{s} Lumber",
                "{s} Concrete",
            ),
            "GB": _n("Travis Perkins", "Jewson", "Screwfix", "Wickes", "{s} Builders Merchants"),
            "EU": _n("Bauhaus", "Hornbach", "OBI", "Würth", "{s} Baustoffe"),
        },
        "Job materials",
        "5211",
    ),
    Category(
        "subcontract",
        "cogs_second",
        "cogs",
        {C: 0.45, P: 1.0},
        10,
        (1, 0, 0),
        (3, 9),
        {
            "US": _n(
                "{s} Electric", "{s} Plumbing", "{s} Drywall", "{s} Consulting LLC", "{s} Design"
            ),
            "GB": _n("{s} Electrical Ltd", "{s} Plumbing Ltd", "{s} Consulting Ltd"),
            "EU": _n("{s} Elektro", "{s} Sanitär", "{s} Beratung"),
        },
        "Subcontracted work",
        "1799",
    ),
    Category(
        "hosting",
        "cogs_main",
        "cogs",
        {S: 1.0},
        5,
        (0.3, 0.7, 0),
        (1, 3),
        {
            "US": _n("Amazon Web Services", "Google Cloud", "DigitalOcean", "Cloudflare", "Heroku"),
            "GB": _n("AWS EMEA", "Google Cloud", "Cloudflare", "DigitalOcean"),
            "EU": _n("Hetzner Online", "AWS EMEA", "IONOS", "OVHcloud"),
        },
        "Cloud hosting",
        "4816",
    ),
    Category(
        "utilities",
        "utilities",
        "opex",
        {R: 0.1, T: 0.1, S: 0.04, P: 0.04, C: 0.05},
        2,
        (0, 0, 1),
        (1, 2),
        {
            "US": _n("PG&E", "Con Edison", "Duke Energy", "City Water Dept"),
            "GB": _n("British Gas", "Octopus Energy", "EDF Energy", "Thames Water"),
            "EU": _n("Vattenfall", "E.ON", "Stadtwerke", "EnBW"),
        },
        "Utilities",
        "4900",
    ),
    Category(
        "telecom",
        "telephone",
        "opex",
        {R: 0.03, T: 0.03, S: 0.04, P: 0.05, C: 0.03},
        1.5,
        (0, 0, 1),
        (1, 2),
        {
            "US": _n("Comcast Business", "Verizon Wireless", "AT&T"),
            "GB": _n("BT Business", "Vodafone UK", "Virgin Media Business"),
            "EU": _n("Deutsche Telekom", "Vodafone", "O2 Business"),
        },
        "Phone and internet",
        "4814",
    ),
    Category(
        "insurance",
        "insurance",
        "opex",
        {R: 0.06, T: 0.05, S: 0.04, P: 0.06, C: 0.1},
        1,
        (0, 0, 1),
        (1, 2),
        {
            "US": _n("State Farm", "The Hartford", "Hiscox", "Next Insurance"),
            "GB": _n("Hiscox", "Aviva", "Simply Business", "AXA UK"),
            "EU": _n("Allianz", "AXA", "HDI", "Generali"),
        },
        "Insurance premium",
        "6300",
    ),
    Category(
        "software",
        "software",
        "opex",
        {R: 0.04, T: 0.05, S: 0.2, P: 0.14, C: 0.04},
        8,
        (0, 1, 0),
        (3, 8),
        {
            "US": _n(
                "Google Workspace",
                "Slack",
                "Adobe",
                "Zoom",
                "Microsoft 365",
                "Dropbox",
                "GitHub",
                "Atlassian",
                "HubSpot",
                "Intuit QuickBooks",
            ),
            "GB": _n(
                "Google Workspace", "Slack", "Microsoft 365", "Xero", "Adobe", "Atlassian", "Zoom"
            ),
            "EU": _n(
                "Google Workspace",
                "Slack",
                "Microsoft 365",
                "DATEV",
                "lexoffice",
                "Adobe",
                "Atlassian",
            ),
        },
        "Software subscription",
        "5734",
    ),
    Category(
        "advertising",
        "advertising",
        "opex",
        {R: 0.1, T: 0.14, S: 0.2, P: 0.08, C: 0.04},
        5,
        (0, 1, 0),
        (1, 3),
        {
            "US": _n("Google Ads", "Meta Ads", "Yelp Ads", "LinkedIn Ads"),
            "GB": _n("Google Ads", "Meta Ads", "LinkedIn Ads"),
            "EU": _n("Google Ads", "Meta Ads", "LinkedIn Ads"),
        },
        "Online advertising",
        "7311",
    ),
    Category(
        "meals",
        "meals",
        "opex",
        {R: 0.01, T: 0.02, S: 0.06, P: 0.1, C: 0.04},
        10,
        (0, 1, 0),
        (4, 9),
        {
            "US": _n("Starbucks", "Chipotle", "Panera Bread", "Sweetgreen", "{s}'s Diner"),
            "GB": _n("Pret A Manger", "Costa Coffee", "Greggs", "Wagamama", "The {s} Arms"),
            "EU": _n("Starbucks", "Vapiano", "Bäckerei {s}", "Café {s}"),
        },
        "Meals",
        "5812",
    ),
    Category(
        "travel",
        "travel",
        "opex",
        {R: 0.01, T: 0.03, S: 0.1, P: 0.12, C: 0.05},
        6,
        (0, 1, 0),
        (3, 7),
        {
            "US": _n("Delta Air Lines", "United Airlines", "Uber", "Lyft", "Marriott", "Hilton"),
            "GB": _n("Trainline", "British Airways", "easyJet", "Uber", "Premier Inn", "TfL"),
            "EU": _n("Deutsche Bahn", "Lufthansa", "Uber", "Motel One", "FlixBus"),
        },
        "Travel",
        "4511",
    ),
    Category(
        "fuel",
        "vehicle",
        "opex",
        {R: 0.03, T: 0.04, S: 0.01, P: 0.03, C: 0.18},
        14,
        (0, 1, 0),
        (2, 4),
        {
            "US": _n("Shell", "Chevron", "ExxonMobil", "BP"),
            "GB": _n("Shell", "BP", "Esso", "Tesco Fuel"),
            "EU": _n("Aral", "Shell", "TotalEnergies", "Esso"),
        },
        "Fuel",
        "5541",
    ),
    Category(
        "office",
        "office",
        "opex",
        {R: 0.03, T: 0.04, S: 0.05, P: 0.06, C: 0.03},
        5,
        (0, 1, 0),
        (2, 4),
        {
            "US": _n("Staples", "Office Depot", "Amazon"),
            "GB": _n("Viking Direct", "Amazon UK", "Ryman"),
            "EU": _n("Amazon EU", "Otto Office", "Viking"),
        },
        "Office supplies",
        "5943",
    ),
    Category(
        "supplies",
        "supplies",
        "opex",
        {R: 0.25, T: 0.12, C: 0.12},
        10,
        (0, 1, 0),
        (2, 5),
        {
            "US": _n("Costco", "Walmart", "Home Depot", "Uline"),
            "GB": _n("Costco UK", "Booker", "B&Q", "Makro"),
            "EU": _n("Metro", "Selgros", "Lidl", "Hornbach"),
        },
        "Operating supplies",
        "5300",
    ),
    Category(
        "repairs",
        "repairs",
        "opex",
        {R: 0.12, T: 0.06, S: 0.02, P: 0.02, C: 0.08},
        3,
        (0.5, 0.5, 0),
        (1, 4),
        {
            "US": _n("{s} Repair Service", "{s} HVAC", "{s} Handyman"),
            "GB": _n("{s} Maintenance Ltd", "{s} Repairs"),
            "EU": _n("{s} Haustechnik", "{s} Reparaturservice"),
        },
        "Repairs and maintenance",
        "7699",
    ),
    Category(
        "prof_fees",
        "prof_fees",
        "opex",
        {R: 0.04, T: 0.04, S: 0.06, P: 0.06, C: 0.05},
        0.8,
        (1, 0, 0),
        (1, 2),
        {
            "US": _n("{s} & Co CPAs", "{s} Law LLP", "{s} Tax Advisors"),
            "GB": _n("{s} & Co Chartered Accountants", "{s} Solicitors LLP"),
            "EU": _n("Steuerkanzlei {s}", "Kanzlei {s}", "{s} Treuhand"),
        },
        "Accounting and legal",
        "8931",
    ),
    Category(
        "shipping",
        "shipping",
        "opex",
        {R: 0.01, T: 0.12, S: 0.01, P: 0.02, C: 0.02},
        6,
        (0, 1, 0),
        (1, 3),
        {
            "US": _n("UPS", "FedEx", "USPS"),
            "GB": _n("Royal Mail", "DPD", "Parcelforce"),
            "EU": _n("DHL", "DPD", "Hermes"),
        },
        "Postage and shipping",
        "4215",
    ),
    Category(
        "equipment_rental",
        "equipment_rental",
        "opex",
        {C: 0.14},
        3,
        (1, 0, 0),
        (1, 3),
        {
            "US": _n("United Rentals", "Sunbelt Rentals", "Herc Rentals"),
            "GB": _n("Speedy Hire", "HSS Hire", "Sunbelt Rentals UK"),
            "EU": _n("Boels", "Zeppelin Rental", "Loxam"),
        },
        "Equipment hire",
        "7394",
    ),
)
CATEGORY_INDEX = {c.key: i for i, c in enumerate(CATEGORIES)}

# Special counterparties every company has (one vendor each).
SPECIAL_VENDORS = ("landlord", "payroll", "tax", "lender", "owner")
SPECIAL_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "landlord": {
        "US": _n("{s} Properties LLC", "{s} Realty Management"),
        "GB": _n("{s} Estates Ltd", "{s} Property Management"),
        "EU": _n("{s} Immobilien GmbH", "{s} Hausverwaltung"),
    },
    "payroll": {
        "US": _n("Gusto", "ADP", "Paychex"),
        "GB": _n("BrightPay", "Sage Payroll"),
        "EU": _n("DATEV Lohn", "Personio"),
    },
    "lender": {
        "US": _n("Funding Circle", "SBA Loan Servicing", "Chase Business Loan"),
        "GB": _n("Funding Circle", "Iwoca", "Barclays Business Loan"),
        "EU": _n("Sparkasse Darlehen", "Commerzbank Kredit", "Funding Circle"),
    },
}


def region(country: str) -> str:
    """The naming region of a country code."""
    return country if country in ("US", "GB") else "EU"
