"""raw/xero_*: every xero entity of a company, synced incrementally."""

from finpipe.connectors.providers import accounting_providers
from finpipe.defs.landing import build_landing_assets

xero_raw = build_landing_assets(accounting_providers()["xero"])
