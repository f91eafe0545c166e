"""Bank statement files (no Dagster): every parser returns ``list[Statement]`` in the
canonical bank-line terms (signed integer minor units, money in positive), verifying the
file's own balances where it gives them, and raises :class:`StatementParseError` naming the
file, the line or element, and the field.

:func:`detect_format` / :func:`parse_file` read a file in whatever format it is. The drop
folder (:mod:`.dropfolder`: ``pending_files``, ``import_file``, ``import_inbox``) lands files
in ``raw.statement_*``, and :func:`to_bank_lines` / :func:`to_bank_accounts` (:mod:`.landing`)
turn the rows of ``STATEMENT_SOURCE_TABLES`` into canonical bank frames."""

from finpipe.connectors.statements.camt053 import parse_camt053
from finpipe.connectors.statements.csv_profiles import (
    BUILTIN_PROFILES,
    CsvProfile,
    detect_profile,
    parse_csv,
    register_profile,
)
from finpipe.connectors.statements.detect import detect_format, parse_file
from finpipe.connectors.statements.landing import (
    STATEMENT_SOURCE_TABLES,
    to_bank_accounts,
    to_bank_lines,
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
    "STATEMENT_SOURCE_TABLES",
    "Balance",
    "CsvProfile",
    "Statement",
    "StatementLine",
    "StatementParseError",
    "detect_format",
    "detect_profile",
    "parse_camt053",
    "parse_csv",
    "parse_file",
    "parse_mt940",
    "parse_ofx",
    "register_profile",
    "to_bank_accounts",
    "to_bank_lines",
]
