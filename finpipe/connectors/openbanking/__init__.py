"""The UK Open Banking connector (OBIE Read/Write API, Account Information v3.1): consent
set-up and authorisation, incremental sync into ``raw.openbanking_*`` and the conversion to
finpipe's canonical bank frames. Plain Python (no Dagster).

The CLI and the Dagster layer reach it through :data:`PROVIDER`
(:class:`~finpipe.connectors.banks.BankProvider`).
"""

from __future__ import annotations

from finpipe.connectors.banks import BankContext, BankProvider
from finpipe.connectors.openbanking.client import (
    PERMISSIONS,
    REAL_API_BASE,
    AccountsClient,
    ConsentClient,
    OpenBankingApp,
    PullLimitReached,
    error_text,
    openbanking_app,
)
from finpipe.connectors.openbanking.parse import (
    OpenBankingParseError,
    parse_accounts,
    parse_balances,
    parse_consent,
    parse_lines,
    parse_transactions,
    read_lines,
    rejected_lines,
    to_bank_accounts,
    to_bank_lines,
)
from finpipe.connectors.openbanking.sync import (
    OVERLAP,
    OpenBankingSyncReport,
    connect_openbanking,
    sync_openbanking,
)
from finpipe.connectors.report import SyncReport
from finpipe.warehouse.tables.raw import OPENBANKING_TABLES


def _sync(ctx: BankContext, external_ids: list[str]) -> SyncReport:
    return sync_openbanking(ctx, external_ids)


PROVIDER = BankProvider(
    name="openbanking",
    tables=OPENBANKING_TABLES,
    real_api_base=REAL_API_BASE,
    connect=connect_openbanking,
    sync=_sync,
    read_lines=read_lines,
    to_bank_accounts=to_bank_accounts,
)

__all__ = [
    "OVERLAP",
    "PERMISSIONS",
    "PROVIDER",
    "REAL_API_BASE",
    "AccountsClient",
    "ConsentClient",
    "OpenBankingApp",
    "OpenBankingParseError",
    "OpenBankingSyncReport",
    "PullLimitReached",
    "connect_openbanking",
    "error_text",
    "openbanking_app",
    "parse_accounts",
    "parse_balances",
    "parse_consent",
    "parse_lines",
    "parse_transactions",
    "read_lines",
    "rejected_lines",
    "sync_openbanking",
    "to_bank_accounts",
    "to_bank_lines",
]
