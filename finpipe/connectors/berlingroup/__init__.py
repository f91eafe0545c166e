"""The Berlin Group NextGenPSD2 (XS2A, AIS) connector: consent + OAuth SCA connection,
incremental sync into ``raw.berlingroup_*``, and the canonical bank frames. Plain Python
(no Dagster). The CLI and Dagster reach it through :data:`PROVIDER`.

Every ASPSP publishes its own API root; ``FINPIPE_BERLINGROUP_API_BASE`` (read in
:mod:`finpipe.config`) names the one this deployment connects to (``FINPIPE_SANDBOX_URL``
points it at the sandbox instead).
"""

from __future__ import annotations

from finpipe.connectors.banks import BankProvider
from finpipe.connectors.berlingroup.client import (
    AccessExceeded,
    AisClient,
    TppClient,
    error_text,
    oauth_app,
    tpp_codes,
)
from finpipe.connectors.berlingroup.connect import connect_berlingroup, consent_request
from finpipe.connectors.berlingroup.money import AmountError, format_amount, to_minor
from finpipe.connectors.berlingroup.parse import (
    BerlinGroupParseError,
    Rejected,
    parse_line,
    parse_lines,
    read_lines,
    rejected_lines,
    to_bank_accounts,
    to_bank_lines,
    transaction_source_id,
)
from finpipe.connectors.berlingroup.sync import sync_berlingroup
from finpipe.warehouse.tables.raw import BERLINGROUP_TABLES

# No default: every ASPSP has its own root (FINPIPE_BERLINGROUP_API_BASE).
REAL_API_BASE: str | None = None

PROVIDER = BankProvider(
    name="berlingroup",
    tables=BERLINGROUP_TABLES,
    real_api_base=REAL_API_BASE,
    connect=connect_berlingroup,
    sync=sync_berlingroup,
    read_lines=read_lines,
    to_bank_accounts=to_bank_accounts,
)

__all__ = [
    "PROVIDER",
    "REAL_API_BASE",
    "AccessExceeded",
    "AisClient",
    "AmountError",
    "BerlinGroupParseError",
    "Rejected",
    "TppClient",
    "connect_berlingroup",
    "consent_request",
    "error_text",
    "format_amount",
    "oauth_app",
    "parse_line",
    "parse_lines",
    "read_lines",
    "rejected_lines",
    "sync_berlingroup",
    "to_bank_accounts",
    "to_bank_lines",
    "to_minor",
    "tpp_codes",
    "transaction_source_id",
]
