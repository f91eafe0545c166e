"""The standard chart the generator scores its ground truth against: the ledger's own
(:mod:`finpipe.ledger.chart`), so ``truth_standard_account`` and the account mapping speak
of the same 70 accounts by construction."""

from finpipe.ledger.chart import (
    BY_CODE,
    CLASSES,
    SECTIONS,
    STANDARD_ACCOUNTS,
    StandardAccount,
    standard_account,
    standard_chart_frame,
)

__all__ = [
    "BY_CODE",
    "CLASSES",
    "SECTIONS",
    "STANDARD_ACCOUNTS",
    "StandardAccount",
    "standard_account",
    "standard_chart_frame",
]
