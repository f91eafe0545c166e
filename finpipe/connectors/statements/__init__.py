"""Bank statement files (no Dagster): every parser returns ``list[Statement]`` in the
canonical bank-line terms (signed integer minor units, money in positive), verifying the
file's own balances where it gives them, and raises :class:`StatementParseError` naming the
file, the line or element, and the field."""

from finpipe.connectors.statements.camt053 import parse_camt053
from finpipe.connectors.statements.csv_profiles import (
    BUILTIN_PROFILES,
    CsvProfile,
    detect_profile,
    parse_csv,
    register_profile,
)
from finpipe.connectors.statements.model import (
    Balance,
    Statement,
    StatementLine,
    StatementParseError,
)
from finpipe.connectors.statements.mt940 import parse_mt940
from finpipe.connectors.statements.ofx import parse_ofx

__all__ = [
    "BUILTIN_PROFILES",
    "Balance",
    "CsvProfile",
    "Statement",
    "StatementLine",
    "StatementParseError",
    "detect_profile",
    "parse_camt053",
    "parse_csv",
    "parse_mt940",
    "parse_ofx",
    "register_profile",
]
