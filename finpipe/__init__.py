"""finpipe: a Dagster-orchestrated data platform for small-business finance."""

__version__ = "0.1.0"
