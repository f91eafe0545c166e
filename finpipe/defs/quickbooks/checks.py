"""Great Expectations on the raw quickbooks landing tables."""

from finpipe.connectors.providers import accounting_providers
from finpipe.defs.landing import build_landing_checks

quickbooks_raw_expectations = build_landing_checks(accounting_providers()["quickbooks"])
