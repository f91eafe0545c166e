"""The ``company`` dynamic partitions: one partition per tenant in ``ops.companies``."""

from __future__ import annotations

import dagster as dg

company_partitions = dg.DynamicPartitionsDefinition(name="company")
