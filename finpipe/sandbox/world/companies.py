"""Company profiles: who each generated company is and how its business evolves.

One row per company, drawn in bulk. The profile drives every later step: industry and
size set volumes and amounts, the trajectory bends revenue and costs month by month,
providers decide which accounting file(s) and which bank API the company has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.columns import keep, nullable_dates, prefixed
from finpipe.sandbox.world.rng import Streams, digit_strings, hex_strings, uuid4_strings
from finpipe.sandbox.world.spec import Calendar, busday_on_or_before

USERS_PER_COMPANY = 4  # user 0 is the owner; unusual users are drawn separately


@dataclass
class Companies:
    """Per-company arrays (index = company number ``ci``) plus the output-ready frame."""

    n: int
    company_id: pl.Series
    industry: np.ndarray
    country: np.ndarray
    home_ccy: np.ndarray
    provider: np.ndarray  # QBO | XERO | BOTH
    cutover: np.ndarray  # day number; -1 unless BOTH
    bank_provider: np.ndarray
    trajectory: np.ndarray
    size: np.ndarray
    revenue0: np.ndarray  # monthly revenue at month 0, home minor units (float)
    level: np.ndarray  # (n, months) revenue level (trend x season), mean ~1
    cost_level: np.ndarray  # (n, months) fixed-cost level (payroll/overheads stickiness)
    season: np.ndarray  # (n, months) seasonal factor alone
    clean: np.ndarray  # no anomalies injected
    foreign_ccy: np.ndarray  # currency of foreign contacts, -1 if none
    has_kind: np.ndarray  # (n, 4) bank account kinds present
    has_loan: np.ndarray
    processor: np.ndarray  # index into PROCESSOR_NAMES, -1 if no card sales
    sales_tax: np.ndarray  # rate charged on taxable sales
    purchase_tax: np.ndarray  # recoverable input VAT rate (0 in the US)
    tax_periods: np.ndarray  # months per sales-tax / VAT return (1 or 3)
    cash_cover: np.ndarray  # months of costs held at the start
    renewal_moy: np.ndarray  # software: month of year most annual contracts renew
    users: list[list[str]]
    unusual_user: list[str]
    frame: pl.DataFrame  # world_companies, output-ready


PROCESSOR_NAMES = tuple(ref.PROCESSOR_FEE)


def _trend(traj: np.ndarray, months: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    n = len(traj)
    g = np.select(
        [traj == ref.GROWING, traj == ref.STABLE, traj == ref.DECLINING],
        [
            rng.uniform(0.015, 0.035, n),
            rng.uniform(-0.003, 0.005, n),
            rng.uniform(-0.03, -0.014, n),
        ],
        rng.uniform(-0.075, -0.045, n),
    )
    m = np.arange(months)[None, :]
    revenue = (1 + g[:, None]) ** m
    # Costs follow revenue with friction: growing firms hire behind demand, declining firms
    # cut slowly, distressed firms barely cut at all (that is how the cash runs out).
    stickiness = np.select(
        [traj == ref.GROWING, traj == ref.STABLE, traj == ref.DECLINING], [0.85, 1.0, 0.45], 0.0
    )
    # Distressed firms also carry an over-expanded cost base from better times.
    base = np.where(traj == ref.DISTRESSED, 1.25, 1.0)
    cost = base[:, None] * revenue ** stickiness[:, None]
    return revenue, cost, g


def build_companies(cal: Calendar, n: int, streams: Streams) -> Companies:
    """Draw ``n`` company profiles over the calendar ``cal``."""
    rng = streams.get("companies")
    # Stratify so small worlds still show every industry, trajectory and provider option.
    industry = rng.permutation(np.arange(n) % len(ref.INDUSTRIES)).astype(np.int8)
    trajectory = rng.choice(4, n, p=ref.TRAJECTORY_WEIGHTS).astype(np.int8)
    if n >= 4:
        trajectory[rng.permutation(n)[:4]] = np.arange(4)
    country_w = np.array([c.weight for c in ref.COUNTRIES])
    country = rng.choice(len(ref.COUNTRIES), n, p=country_w / country_w.sum()).astype(np.int8)
    # Keep the three home currencies present in small worlds.
    if n >= 3:
        country[rng.permutation(n)[:3]] = [0, 1, 2]
    home_ccy = np.array([ref.COUNTRIES[c].currency for c in country], dtype=np.int8)
    is_gb = country == ref.GB_
    p_xero = np.where(is_gb, 0.55, np.where(country == ref.US_, 0.25, 0.45))
    u = rng.random(n)
    provider = np.where(u < 0.1, ref.BOTH, np.where(u < 0.1 + p_xero, ref.XERO, ref.QBO))
    if n >= 3:
        provider[rng.permutation(n)[:3]] = [ref.QBO, ref.XERO, ref.BOTH]
    provider = provider.astype(np.int8)
    # Cutover on the first day of a month between 35% and 65% of the window.
    lo, hi = max(1, int(cal.months * 0.35)), max(2, int(np.ceil(cal.months * 0.65)))
    cut_month = rng.integers(lo, hi, n).clip(0, cal.months - 1)
    cutover = np.where(provider == ref.BOTH, cal.month_starts[cut_month], -1).astype(np.int32)
    statement = rng.random(n) < 0.15
    bank_provider = np.array([ref.COUNTRIES[c].bank_provider for c in country], dtype=np.int8)
    bank_provider = np.where(statement, ref.STATEMENT, bank_provider).astype(np.int8)
    if n >= 4:
        bank_provider[rng.permutation(n)[:1]] = ref.STATEMENT

    size = np.clip(rng.lognormal(0.0, 0.32, n), 0.6, 2.4)
    rev_lo = np.array([ref.INDUSTRY_PROFILES[i].revenue_usd[0] for i in industry])
    rev_hi = np.array([ref.INDUSTRY_PROFILES[i].revenue_usd[1] for i in industry])
    usd_per = np.array(ref.USD_PER_UNIT)[home_ccy]
    revenue0 = rng.uniform(rev_lo, rev_hi) * size / usd_per * 100.0  # minor units

    revenue, cost, _ = _trend(trajectory, cal.months, rng)
    season = np.array([ref.INDUSTRY_PROFILES[i].season for i in industry])[:, cal.month_of_year - 1]
    noise = rng.lognormal(0, 0.06, (n, cal.months))
    level = revenue * season * noise

    # Clean companies: no injected anomaly at all (and so never distressed).
    clean = rng.random(n) < 0.3
    clean &= trajectory != ref.DISTRESSED
    if n >= 2 and not clean.any():
        candidates = np.flatnonzero(trajectory != ref.DISTRESSED)
        if len(candidates) > 1:
            clean[candidates[0]] = True
    if n >= 2 and clean.all():
        clean[0] = False

    foreign = rng.random(n) < 0.4
    if n >= 3 and not foreign.any():
        foreign[0] = True
    other = rng.integers(1, 3, n)
    foreign_ccy = np.where(foreign, (home_ccy + other) % 3, -1).astype(np.int8)
    has_kind = np.zeros((n, 4), dtype=bool)
    has_kind[:, ref.CHECKING] = True
    has_kind[:, ref.SAVINGS] = rng.random(n) < 0.5
    has_kind[:, ref.CREDIT_CARD] = rng.random(n) < 0.45
    has_kind[:, ref.FX_CHECKING] = foreign & (rng.random(n) < 0.45)
    # At most three accounts: drop savings first if all four were drawn.
    too_many = has_kind.sum(axis=1) > 3
    has_kind[too_many, ref.SAVINGS] = False
    if n >= 3 and not has_kind[:, ref.FX_CHECKING].any():
        k = np.flatnonzero(foreign)[0]
        has_kind[k, ref.FX_CHECKING] = True
        if has_kind[k].sum() > 3:
            has_kind[k, ref.SAVINGS] = False
    has_loan = rng.random(n) < 0.4

    card_share = np.array([ref.INDUSTRY_PROFILES[i].card_share for i in industry])
    proc_choice = rng.random(n)
    processor = np.full(n, -1, dtype=np.int8)
    for i in range(n):  # per company: cheap
        procs = ref.INDUSTRY_PROFILES[industry[i]].processors
        if card_share[i] > 0 and procs:
            name = procs[int(proc_choice[i] * len(procs))]
            if home_ccy[i] != ref.USD:
                name = ref.PROCESSORS_EU.get(name, name)
            processor[i] = PROCESSOR_NAMES.index(name)

    tax_choice = rng.random(n)
    sales_tax = np.zeros(n)
    for i in range(n):
        rates = ref.COUNTRIES[country[i]].sales_tax
        rate = rates[int(tax_choice[i] * len(rates))]
        if country[i] == ref.US_ and not ref.INDUSTRY_PROFILES[industry[i]].tax_goods:
            rate = 0.0
        sales_tax[i] = rate
    purchase_tax = np.where(country == ref.US_, 0.0, sales_tax)
    tax_periods = np.where(country == ref.US_, 1, 3).astype(np.int8)
    cash_cover = np.select(
        [trajectory == ref.GROWING, trajectory == ref.STABLE, trajectory == ref.DECLINING],
        [rng.uniform(1.5, 3.0, n), rng.uniform(1.5, 3.0, n), rng.uniform(1.0, 2.0, n)],
        rng.uniform(0.45, 0.8, n),
    )
    renewal_moy = np.where(rng.random(n) < 0.6, 1, rng.integers(1, 13, n)).astype(np.int8)

    company_id = prefixed("cmp_", hex_strings(rng.integers(0, 256, (n, 5), dtype=np.uint8)))
    names = _company_names(rng, industry, country)
    naics = [
        ref.INDUSTRY_PROFILES[i].naics[int(x * len(ref.INDUSTRY_PROFILES[i].naics))]
        for i, x in zip(industry, rng.random(n), strict=True)
    ]
    fy = [
        ref.COUNTRIES[c].fiscal_year_starts[int(x * len(ref.COUNTRIES[c].fiscal_year_starts))]
        for c, x in zip(country, rng.random(n), strict=True)
    ]
    realm = pl.Series(["9130"] * n) + digit_strings(rng, n, 12)
    tenant = uuid4_strings(rng, n)
    users, unusual = _users(rng, n)
    frame = pl.DataFrame(
        {
            "company_id": company_id,
            "name": names,
            "industry": [ref.INDUSTRIES[i] for i in industry],
            "naics_code": naics,
            "country": [ref.COUNTRY_CODES[c] for c in country],
            "home_currency": [ref.CURRENCIES[c] for c in home_ccy],
            "fiscal_year_start_month": pl.Series(fy, dtype=pl.Int64),
            "accounting_provider": [ref.ACCOUNTING_PROVIDERS[p] for p in provider],
            "qbo_realm_id": keep(realm, provider != ref.XERO),
            "xero_tenant_id": keep(tenant, provider != ref.QBO),
            "migration_cutover_date": nullable_dates(cutover),
            "bank_provider": [ref.BANK_PROVIDERS[b] for b in bank_provider],
            "start_date": pl.Series([cal.start] * n, dtype=pl.Int32).cast(pl.Date),
            "end_date": pl.Series([cal.end] * n, dtype=pl.Int32).cast(pl.Date),
            "truth_trajectory": [ref.TRAJECTORIES[t] for t in trajectory],
        }
    )
    return Companies(
        n=n,
        company_id=company_id,
        industry=industry,
        country=country,
        home_ccy=home_ccy,
        provider=provider,
        cutover=cutover,
        bank_provider=bank_provider,
        trajectory=trajectory,
        size=size,
        revenue0=revenue0,
        level=level,
        cost_level=cost,
        season=season,
        clean=clean,
        foreign_ccy=foreign_ccy,
        has_kind=has_kind,
        has_loan=has_loan,
        processor=processor,
        sales_tax=sales_tax,
        purchase_tax=purchase_tax,
        tax_periods=tax_periods,
        cash_cover=cash_cover,
        renewal_moy=renewal_moy,
        users=users,
        unusual_user=unusual,
        frame=frame,
    )


def _company_names(
    rng: np.random.Generator, industry: np.ndarray, country: np.ndarray
) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for i, (ind, c) in enumerate(zip(industry, country, strict=True)):  # per company: cheap
        nouns = ref.COMPANY_NOUNS[int(ind)]
        suffixes = ref.COUNTRIES[int(c)].suffixes
        words = ref.PLACE_WORDS if rng.random() < 0.5 else ref.SURNAMES
        base = f"{words[rng.integers(len(words))]} {nouns[rng.integers(len(nouns))]}"
        name = f"{base} {suffixes[rng.integers(len(suffixes))]}"
        if name in seen:
            name = f"{base} {i + 1} {suffixes[0]}"
        seen.add(name)
        names.append(name)
    return names


def _users(rng: np.random.Generator, n: int) -> tuple[list[list[str]], list[str]]:
    users = []
    unusual = []
    for _ in range(n):
        picks = rng.choice(len(ref.FIRST_NAMES), USERS_PER_COMPANY, replace=False)
        sur = rng.choice(len(ref.SURNAMES), USERS_PER_COMPANY)
        users.append(
            [f"{ref.FIRST_NAMES[a]} {ref.SURNAMES[b]}" for a, b in zip(picks, sur, strict=True)]
        )
        unusual.append(
            ("admin-temp", "it.support", "j.doe (contractor)", "former.bookkeeper")[rng.integers(4)]
        )
    return users, unusual


def last_business_days(cal: Calendar) -> np.ndarray:
    """The last business day of every month of the window."""
    return busday_on_or_before(cal.month_starts[1:] - 1)
