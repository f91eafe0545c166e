"""raw/aggregator_*: every aggregator account of a company, synced incrementally."""

from finpipe.connectors.banks import bank_providers
from finpipe.defs.bank_landing import build_bank_landing_assets

aggregator_raw = build_bank_landing_assets(bank_providers()["aggregator"])
