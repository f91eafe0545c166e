"""Provider connectors (no Dagster): OAuth2, rate-limited HTTP, incremental syncs."""
