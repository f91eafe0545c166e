"""Bank identifiers that validate: IBANs with correct mod-97 check digits, US routing and
account numbers, UK sort codes. All built in bulk from byte matrices."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)

# country -> (BBAN layout, total IBAN length); layout: 'n' digit, 'a' upper letter,
# 'b' = bank code placeholder filled from the bank's code.
IBAN_LAYOUT = {
    "GB": "bbbbnnnnnnnnnnnnnn",  # bank (4 letters) + sort code (6) + account (8)
    "DE": "bbbbbbbbnnnnnnnnnn",  # BLZ (8) + account (10)
    "FR": "bbbbbnnnnnnnnnnnnnnnnnn",  # bank (5) + branch (5) + account (11) + key (2)
    "NL": "bbbbnnnnnnnnnn",  # bank (4 letters) + account (10)
    "IE": "bbbbnnnnnnnnnnnnnn",  # bank (4 letters) + sort code (6) + account (8)
    "ES": "bbbbnnnnnnnnnnnnnnnn",  # bank (4) + branch (4) + check (2) + account (10)
}
GB_BANK_LETTERS = {"20": "BARC", "40": "HBUK", "30": "LOYD", "60": "NWBK"}


def matrix_to_strings(chars: np.ndarray) -> pl.Series:
    """Rows of an ``(n, width)`` ASCII byte matrix as strings."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    n, width = chars.shape
    arr = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), n, [None, pa.py_buffer(chars.tobytes())]
    )
    return pl.Series(pl.from_arrow(arr.cast(pa.binary()).cast(pa.string())))


def _mod97(chars: np.ndarray) -> np.ndarray:
    """ISO 7064 mod 97-10 of each row (letters count as 10..35)."""
    rem = np.zeros(chars.shape[0], dtype=np.int64)
    for col in chars.T:  # one pass per character position (~30), vectorised over rows
        is_letter = col >= 65
        val = np.where(is_letter, col.astype(np.int64) - 55, col.astype(np.int64) - 48)
        rem = np.where(is_letter, (rem * 100 + val) % 97, (rem * 10 + val) % 97)
    return rem


def ibans(rng: np.random.Generator, country: str, bank_codes: list[str]) -> pl.Series:
    """One valid IBAN per entry of ``bank_codes`` (each row's bank), for ``country``."""
    layout = IBAN_LAYOUT[country]
    n = len(bank_codes)
    width = len(layout)
    bban = _DIGITS[rng.integers(0, 10, (n, width))]
    letters = _LETTERS[rng.integers(0, 26, (n, width))]
    alpha = np.array([c == "a" for c in layout])
    bban[:, alpha] = letters[:, alpha]
    bank_len = layout.count("b")
    codes = []
    for code in bank_codes:  # per account holder: small
        if country == "GB":
            code = GB_BANK_LETTERS.get(code, "MONZ")
        codes.append(code.ljust(bank_len, "0")[:bank_len].encode())
    bban[:, :bank_len] = np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(n, bank_len)
    tail = np.frombuffer((country + "00").encode(), dtype=np.uint8)
    rem = _mod97(np.hstack([bban, np.broadcast_to(tail, (n, 4))]))
    check = 98 - rem
    head = np.empty((n, 4), dtype=np.uint8)
    head[:, 0:2] = np.frombuffer(country.encode(), dtype=np.uint8)
    head[:, 2] = 48 + check // 10
    head[:, 3] = 48 + check % 10
    return matrix_to_strings(np.hstack([head, bban]))


def iban_is_valid(iban: str) -> bool:
    """Check an IBAN's mod-97 check digits (used by tests)."""
    moved = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


def digits(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    """``n`` strings of ``width`` random digits (leading zeros allowed)."""
    return matrix_to_strings(_DIGITS[rng.integers(0, 10, (n, width))])
