"""The companies' bank accounts as the bank sees them: institution, product, numbers
(valid IBANs, sort codes, ABA routing numbers) and ids in each bank API's style."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.columns import prefixed
from finpipe.sandbox.world.companies import Companies
from finpipe.sandbox.world.identifiers import digits, ibans
from finpipe.sandbox.world.rng import Streams, random_bytes, uuid4_strings

PRODUCT_NAMES = {
    "US": ("Business Checking", "Business Savings", "Business Credit Card", "{ccy} Account"),
    "GB": (
        "Business Current Account",
        "Business Reserve",
        "Business Credit Card",
        "{ccy} Currency Account",
    ),
    "EU": ("Geschäftskonto", "Tagesgeld Business", "Business Kreditkarte", "{ccy} Konto"),
}


def alnum_ids(rng: np.random.Generator, n: int, length: int = 37) -> pl.Series:
    """Aggregator-style ids (``BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp``): base-62-looking."""
    nbytes = (length * 3 + 3) // 4
    raw = random_bytes(rng, n, nbytes)
    arr = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(nbytes), n, [None, pa.py_buffer(raw.tobytes())]
    )
    b64 = pl.Series(pl.from_arrow(arr)).cast(pl.Binary).bin.encode("base64")
    return (
        b64.str.replace_all("+", "x", literal=True)
        .str.replace_all("/", "Z", literal=True)
        .str.slice(0, length)
    )


@dataclass
class BankAccounts:
    """Bank accounts per (company, kind)."""

    frame: pl.DataFrame  # ci, kind, bank_account_id, ... (output columns without openings)
    row_of: np.ndarray  # (companies, 4) -> row, -1 if absent
    names: dict[tuple[int, int], tuple[str, str]]  # ledger name, bank_account_id
    last4: np.ndarray  # (companies, 4) last four digits shown in narrations


def build_bank_accounts(co: Companies, streams: Streams) -> BankAccounts:
    rng = streams.get("bank_accounts")
    ci, kind = np.nonzero(co.has_kind)
    n = len(ci)
    country = np.array(ref.COUNTRY_CODES)[co.country[ci]]
    bank_pick = rng.random(co.n)
    institution = []
    for c in ci:  # per account: a handful per company
        code = ref.COUNTRY_CODES[co.country[c]]
        options = [b for b in ref.BANKS if b.country == code]
        institution.append(options[int(bank_pick[c] * len(options))])
    # Credit cards in the US are often Amex rather than the checking bank.
    inst_name = [b.name for b in institution]
    amex = (kind == ref.CREDIT_CARD) & (country == "US") & (rng.random(n) < 0.4)
    inst_name = [
        ("American Express" if a else name) for a, name in zip(amex, inst_name, strict=True)
    ]
    region = np.where(np.isin(country, ("US", "GB")), country, "EU")
    ccy = np.where(kind == ref.FX_CHECKING, co.foreign_ccy[ci], co.home_ccy[ci])
    product = [
        PRODUCT_NAMES[r][k].replace("{ccy}", ref.CURRENCIES[c])
        for r, k, c in zip(region, kind, ccy, strict=True)
    ]
    account_type = np.array(["checking", "savings", "credit_card", "checking"])[kind]

    iban = np.full(n, None, dtype=object)
    sort_code = np.full(n, None, dtype=object)
    account_number = np.full(n, None, dtype=object)
    routing = np.full(n, None, dtype=object)
    us = np.flatnonzero(country == "US")
    account_number[us] = digits(rng, len(us), 10).to_numpy()
    routing[us] = [institution[i].code for i in us]
    for code in ("GB", "DE", "FR", "NL", "IE", "ES"):
        sel = np.flatnonzero(country == code)
        if not len(sel):
            continue
        ib = ibans(rng, code, [institution[i].code for i in sel]).to_numpy()
        iban[sel] = ib
        if code == "GB":
            sort_code[sel] = [x[8:14] for x in ib]
            account_number[sel] = [x[14:] for x in ib]
    cards = kind == ref.CREDIT_CARD
    card_numbers = digits(rng, n, 4).to_numpy()
    account_number[cards] = [f"XXXXXXXXXXXX{x}" for x in card_numbers[cards]]
    iban[cards] = None
    sort_code[cards] = None
    routing[cards] = None
    last4 = np.array(
        [str(a)[-4:] if a else str(i)[-4:] for a, i in zip(account_number, iban, strict=True)]
    )

    provider = co.bank_provider[ci]
    ids = pl.Series([None] * n, dtype=pl.String)
    uuids = uuid4_strings(rng, n)
    alnum = alnum_ids(rng, n)
    stmt = prefixed("acct-", digits(rng, n, 10))
    ids = pl.select(
        pl.when(pl.Series(provider == ref.AGGREGATOR))
        .then(alnum)
        .when(pl.Series(provider == ref.STATEMENT))
        .then(stmt)
        .otherwise(uuids)
    ).to_series()
    frame = pl.DataFrame(
        {
            "ci": ci.astype(np.int32),
            "kind": kind.astype(np.int8),
            "bank_account_id": ids,
            "bank_provider": [ref.BANK_PROVIDERS[p] for p in provider],
            "institution_name": inst_name,
            "account_name": product,
            "account_type": account_type,
            "iban": pl.Series(iban.tolist(), dtype=pl.String),
            "sort_code": pl.Series(sort_code.tolist(), dtype=pl.String),
            "account_number": pl.Series(account_number.tolist(), dtype=pl.String),
            "routing_number": pl.Series(routing.tolist(), dtype=pl.String),
            "currency": [ref.CURRENCIES[c] for c in ccy],
        }
    )
    row_of = np.full((co.n, 4), -1, dtype=np.int64)
    row_of[ci, kind] = np.arange(n)
    names = {}
    last4_table = np.full((co.n, 4), "0000", dtype=object)
    for r in range(n):
        names[(int(ci[r]), int(kind[r]))] = (f"{inst_name[r]} {product[r]} ({last4[r]})", ids[r])
        last4_table[ci[r], kind[r]] = last4[r]
    return BankAccounts(frame=frame, row_of=row_of, names=names, last4=last4_table)
