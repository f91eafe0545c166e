"""Great Expectations on the raw xero landing tables."""

from finpipe.connectors.providers import accounting_providers
from finpipe.defs.landing import build_landing_checks

xero_raw_expectations = build_landing_checks(accounting_providers()["xero"])
