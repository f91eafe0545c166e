"""Customers, vendors, the aggregated payroll employee contact, and items.

Contacts carry the behaviour later steps need (how a customer pays and how late, which
cost category a vendor supplies, its currency and bank details and whether they changed),
so documents only have to pick contacts, never decide about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.sandbox.world import catalog as cat
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.columns import keep, prefixed
from finpipe.sandbox.world.companies import Companies
from finpipe.sandbox.world.identifiers import digits, ibans
from finpipe.sandbox.world.rng import Streams, WeightedPicker
from finpipe.sandbox.world.spec import Calendar

CUSTOMER, VENDOR, EMPLOYEE = 0, 1, 2
CONTACT_KINDS = ("customer", "vendor", "employee")
N_CAT = len(cat.CATEGORIES)
# Special vendor "categories" come after the cost categories.
SPECIAL = {name: N_CAT + i for i, name in enumerate(cat.SPECIAL_VENDORS)}
N_GROUPS = N_CAT + len(cat.SPECIAL_VENDORS)

PAYMENT_METHODS = (
    "ach",
    "card",
    "check",
    "cash",
    "sepa",
    "faster_payments",
    "wire",
    "card_settlement",
    "payroll",
    "direct_debit",
)
ACH, CARD, CHECK, CASH, SEPA, FPS, WIRE, CARD_SETTLEMENT, PAYROLL, DIRECT_DEBIT = range(10)

FOREIGN_COUNTRY = {ref.USD: ("US",), ref.GBP: ("GB",), ref.EUR: ("DE", "FR", "NL", "IE")}


def transfer_method(country: np.ndarray) -> np.ndarray:
    """The everyday bank transfer scheme of each company country."""
    return np.select([country == ref.US_, country == ref.GB_], [ACH, FPS], SEPA).astype(np.int8)


@dataclass
class Contacts:
    """All contacts (index = global contact number) and pickers to draw them."""

    frame: pl.DataFrame  # internal columns, one row per contact (see build_contacts)
    ci: np.ndarray
    kind: np.ndarray
    group: np.ndarray  # category / special index for vendors, -1 for customers
    ccy: np.ndarray
    method: np.ndarray
    late_mean: np.ndarray
    terms: np.ndarray
    partial: np.ndarray  # probability to pay an invoice in two instalments
    bank_changed_day: np.ndarray  # -1 if never
    customers: WeightedPicker  # groups: ci
    vendors: WeightedPicker  # groups: ci * N_GROUPS + category
    employee: np.ndarray  # per company: its employee contact
    # max days between a contact's creation and its first use (anomalies: "just created")
    created_lag: np.ndarray | None = None
    # contacts numbered from here on were planted by an anomaly injection (add_vendors)
    n_regular: int | None = None

    def regular(self) -> np.ndarray:
        """True for contacts of the company's normal trade, False for those an anomaly
        injection created (another injection must not take them over: a bank-detail fraud
        targets a vendor the company has long paid, not one set up days ago)."""
        out = np.ones(len(self.ci), dtype=bool)
        if self.n_regular is not None:
            out[self.n_regular :] = False
        return out

    def add_vendors(
        self,
        ci: np.ndarray,
        group: np.ndarray,
        names: list[str],
        country: list[str],
        ccy: np.ndarray,
        method: np.ndarray,
        account: pl.Series,
        created_lag: int,
    ) -> np.ndarray:
        """Append vendors created on the spot (anomalies); returns their contact numbers."""
        n = len(ci)
        start = len(self.ci)
        ids = np.arange(start, start + n, dtype=np.int64)
        if self.created_lag is None:
            self.created_lag = np.full(start, 45, dtype=np.int32)
        if self.n_regular is None:
            self.n_regular = start
        self.ci = np.concatenate([self.ci, ci.astype(np.int32)])
        self.kind = np.concatenate([self.kind, np.full(n, VENDOR, dtype=np.int8)])
        self.group = np.concatenate([self.group, group.astype(np.int16)])
        self.ccy = np.concatenate([self.ccy, ccy.astype(np.int8)])
        self.method = np.concatenate([self.method, method.astype(np.int8)])
        self.late_mean = np.concatenate([self.late_mean, np.zeros(n)])
        self.terms = np.concatenate([self.terms, np.full(n, 7, dtype=np.int16)])
        self.partial = np.concatenate([self.partial, np.zeros(n)])
        self.bank_changed_day = np.concatenate(
            [self.bank_changed_day, np.full(n, -1, dtype=np.int32)]
        )
        self.created_lag = np.concatenate([self.created_lag, np.full(n, created_lag, np.int32)])
        slug = pl.Series(names).str.to_lowercase().str.replace_all(r"[^a-z0-9]", "")
        extra = pl.DataFrame(
            {
                "contact": pl.Series(ids, dtype=self.frame["contact"].dtype),
                "ci": ci.astype(np.int32),
                "name": names,
                "kind": np.full(n, VENDOR, dtype=np.int8),
                "group": group.astype(np.int16),
                "ccy": ccy.astype(np.int8),
                "country": pl.Series(country, dtype=pl.String),
                "email": prefixed("billing@", slug) + ".com",
                "account": account,
                "old_account": pl.Series([None] * n, dtype=pl.String),
                "bank_changed_day": np.full(n, -1, dtype=np.int32),
                "method": method.astype(np.int8),
                "local": np.zeros(n, dtype=bool),
            }
        )
        self.frame = pl.concat([self.frame, extra.select(self.frame.columns)])
        return ids


def _fill(template: str, filler: str) -> str:
    return template.replace("{s}", filler)


def build_contacts(cal: Calendar, co: Companies, streams: Streams) -> Contacts:
    """Draw every company's customers, vendors and employee contact."""
    rng = streams.get("contacts")
    rows_ci: list[int] = []
    rows_kind: list[int] = []
    rows_group: list[int] = []
    rows_name: list[str] = []
    rows_local: list[bool] = []  # a local business (card descriptors may show "SQ *")
    for ci in range(co.n):  # per company; the inner loops are over a few dozen contacts
        ind = int(co.industry[ci])
        profile = ref.INDUSTRY_PROFILES[ind]
        country = ref.COUNTRY_CODES[co.country[ci]]
        reg = cat.region(country)
        suffixes = ref.COUNTRIES[co.country[ci]].suffixes
        lo, hi = profile.customers
        n_cust = int(rng.integers(lo, hi + 1) * np.sqrt(co.size[ci]))
        consumer_share = {ref.CONSTRUCTION: 0.4, ref.PROFESSIONAL: 0.2}.get(ind, 0.05)
        for _ in range(n_cust):
            if rng.random() < consumer_share:
                name = (
                    f"{ref.FIRST_NAMES[rng.integers(len(ref.FIRST_NAMES))]} "
                    f"{ref.SURNAMES[rng.integers(len(ref.SURNAMES))]}"
                )
            else:
                first = ref.PLACE_WORDS if rng.random() < 0.5 else ref.SURNAMES
                name = (
                    f"{first[rng.integers(len(first))]} "
                    f"{ref.CUSTOMER_NOUNS[rng.integers(len(ref.CUSTOMER_NOUNS))]}"
                )
                if rng.random() < 0.6:
                    name += f" {suffixes[rng.integers(len(suffixes))]}"
            rows_ci.append(ci)
            rows_kind.append(CUSTOMER)
            rows_group.append(-1)
            rows_name.append(name)
            rows_local.append(False)
        for g, category in enumerate(cat.CATEGORIES):
            if category.share.get(ind, 0.0) <= 0:
                continue
            names = category.names[reg]
            k = int(rng.integers(category.vendors[0], category.vendors[1] + 1))
            # Brands appear once; "{s}" templates make as many local businesses as needed.
            local = [j for j, name in enumerate(names) if "{s}" in name]
            picks = list(rng.permutation(len(names))[:k])
            while len(picks) < k and local:
                picks.append(local[int(rng.integers(len(local)))])
            for j in picks:
                filler = ref.SURNAMES if rng.random() < 0.7 else ref.PLACE_WORDS
                rows_ci.append(ci)
                rows_kind.append(VENDOR)
                rows_group.append(g)
                rows_name.append(_fill(names[j], filler[rng.integers(len(filler))]))
                rows_local.append("{s}" in names[j])
        for special in cat.SPECIAL_VENDORS:
            if special == "tax":
                name = ref.COUNTRIES[co.country[ci]].tax_authority
            elif special == "owner":
                owner = co.users[ci][0]
                name = f"{owner} (owner)"
            else:
                options = cat.SPECIAL_NAMES[special][reg]
                name = _fill(
                    options[rng.integers(len(options))],
                    ref.SURNAMES[rng.integers(len(ref.SURNAMES))],
                )
            rows_ci.append(ci)
            rows_kind.append(VENDOR)
            rows_group.append(SPECIAL[special])
            rows_name.append(name)
            rows_local.append(False)
        rows_ci.append(ci)
        rows_kind.append(EMPLOYEE)
        rows_group.append(-2)
        rows_name.append("Employees (payroll)")
        rows_local.append(False)

    ci_arr = np.array(rows_ci, dtype=np.int32)
    kind = np.array(rows_kind, dtype=np.int8)
    group = np.array(rows_group, dtype=np.int16)
    n = len(ci_arr)
    frame = pl.DataFrame({"ci": ci_arr, "name": rows_name})
    # Display names must be unique within a company file (QBO enforces it).
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()).over("ci", "name") > 0)
        .then(
            pl.col("name") + " " + (pl.int_range(pl.len()).over("ci", "name") + 1).cast(pl.String)
        )
        .otherwise(pl.col("name"))
        .alias("name")
    )

    home = co.home_ccy[ci_arr]
    company_country = co.country[ci_arr]
    is_cust = kind == CUSTOMER
    channel_bill = np.zeros(n, dtype=bool)
    for g, category in enumerate(cat.CATEGORIES):
        channel_bill |= (group == g) & (category.channel[0] > 0)
    is_landlord = group == SPECIAL["landlord"]
    # Foreign-currency contacts only in companies that trade abroad.
    fccy = co.foreign_ccy[ci_arr]
    foreign = (fccy >= 0) & (
        (is_cust & (rng.random(n) < 0.18)) | (channel_bill & (rng.random(n) < 0.14))
    )
    ccy = np.where(foreign, fccy, home).astype(np.int8)
    country = np.array(ref.COUNTRY_CODES)[company_country].astype(object)
    for c, options in FOREIGN_COUNTRY.items():
        sel = foreign & (ccy == c)
        country[sel] = np.array(options, dtype=object)[rng.integers(0, len(options), sel.sum())]

    base_method = transfer_method(company_country)
    u = rng.random(n)
    cust_method = np.where(
        company_country == ref.US_,
        np.where(u < 0.55, ACH, np.where(u < 0.93, CHECK, WIRE)),
        np.where(u < 0.94, base_method, WIRE),
    )
    vend_method = np.where(
        company_country == ref.US_,
        np.where(u < 0.6, ACH, np.where(u < 0.95, CHECK, WIRE)),
        np.where(u < 0.96, base_method, WIRE),
    )
    method = np.where(is_cust, cust_method, vend_method)
    method = np.where(foreign, WIRE, method)
    method = np.where(is_landlord, base_method, method)
    method = method.astype(np.int8)

    v = rng.random(n)
    late_mean = np.where(
        v < 0.6,
        rng.uniform(-3, 4, n),
        np.where(v < 0.9, rng.uniform(8, 25, n), rng.uniform(35, 70, n)),
    )
    terms_choice = np.array([ref.INDUSTRY_PROFILES[i].terms for i in range(5)], dtype=object)
    terms = np.array(
        [
            t[int(x * len(t))]
            for t, x in zip(terms_choice[co.industry[ci_arr]], rng.random(n), strict=True)
        ],
        dtype=np.int16,
    )
    terms = np.where(is_cust, terms, rng.choice(np.array([14, 30, 30, 45]), n)).astype(np.int16)
    partial = np.where(is_cust, np.where(rng.random(n) < 0.15, 0.35, 0.04), 0.03)
    weight = rng.pareto(1.3, n) + 0.3

    # Bank details: transfer-paid vendors and customers have accounts; card merchants don't.
    has_bank = is_cust | channel_bill | (group >= N_CAT)
    iban_country = np.where(np.isin(country, list(ref.COUNTRY_CODES[1:])), country, "US")
    account = np.full(n, None, dtype=object)
    old_account = np.full(n, None, dtype=object)
    for code in ("US", "GB", "DE", "FR", "NL", "IE"):
        sel = np.flatnonzero(has_bank & (iban_country == code))
        if not len(sel):
            continue
        for target in (account, old_account):
            if code == "US":
                target[sel] = digits(rng, len(sel), 10).to_numpy()
            else:
                banks = [b.code for b in ref.BANKS if b.country == code] or ["0000"]
                picks = [banks[i] for i in rng.integers(0, len(banks), len(sel))]
                target[sel] = ibans(rng, code, picks).to_numpy()
    # Benign bank-detail changes (suppliers switching banks) for a few transfer vendors.
    changes = (kind == VENDOR) & channel_bill & (rng.random(n) < 0.06)
    changed_day = np.where(changes, rng.integers(cal.start + 20, cal.end + 1, n), -1)
    changed_day = changed_day.astype(np.int32)
    old_account = np.where(changes, old_account, None)

    slug = frame["name"].str.to_lowercase().str.replace_all(r"[^a-z0-9]", "")
    tld = pl.Series([ref.COUNTRIES[ref.COUNTRY_CODES.index(c)].email_tld for c in iban_country])
    mailbox = pl.Series(np.where(is_cust, "accounts", "billing"))
    email = pl.select(pl.concat_str([mailbox, pl.lit("@"), slug, pl.lit("."), tld])).to_series()
    email = keep(email, has_bank & (kind != EMPLOYEE))

    frame = frame.with_columns(
        pl.Series("kind", kind),
        pl.Series("group", group),
        pl.Series("ccy", ccy),
        pl.Series("country", country.astype(str)),
        pl.Series("email", email),
        pl.Series("account", account.tolist(), dtype=pl.String),
        pl.Series("old_account", old_account.tolist(), dtype=pl.String),
        pl.Series("bank_changed_day", changed_day),
        pl.Series("method", method),
        pl.Series("local", rows_local, dtype=pl.Boolean),
    ).with_row_index("contact")

    cust_idx = np.flatnonzero(is_cust)
    customers = WeightedPicker(ci_arr[cust_idx], weight[cust_idx], cust_idx)
    vend_idx = np.flatnonzero(kind == VENDOR)
    vgroups = ci_arr[vend_idx].astype(np.int64) * N_GROUPS + group[vend_idx]
    order = np.argsort(vgroups, kind="stable")
    vendors = WeightedPicker(vgroups[order], weight[vend_idx][order], vend_idx[order])
    employee = np.flatnonzero(kind == EMPLOYEE)
    return Contacts(
        frame=frame,
        ci=ci_arr,
        kind=kind,
        group=group,
        ccy=ccy,
        method=method,
        late_mean=late_mean,
        terms=terms,
        partial=partial,
        bank_changed_day=changed_day,
        customers=customers,
        vendors=vendors,
        employee=employee,
    )


def pick_customers(rng: np.random.Generator, contacts: Contacts, ci: np.ndarray) -> np.ndarray:
    """A customer (global contact number) of each company in ``ci``, weighted."""
    return contacts.customers.pick(rng, ci)


def pick_vendors(
    rng: np.random.Generator, contacts: Contacts, ci: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """A vendor of category ``group`` of each company in ``ci``, weighted."""
    g = ci.astype(np.int64) * N_GROUPS + group
    return contacts.vendors.pick(rng, g)


def special_vendor(contacts: Contacts, ci: np.ndarray, special: str) -> np.ndarray:
    """The company's special vendor (landlord, payroll, tax, lender, owner)."""
    sel = np.flatnonzero(contacts.group == SPECIAL[special])
    lookup = np.full(int(contacts.ci.max()) + 1, -1, dtype=np.int64)
    lookup[contacts.ci[sel]] = sel
    return lookup[ci]
