"""raw/berlingroup_*: every berlingroup account of a company, synced incrementally."""

from finpipe.connectors.banks import bank_providers
from finpipe.defs.bank_landing import build_bank_landing_assets

berlingroup_raw = build_bank_landing_assets(bank_providers()["berlingroup"])
