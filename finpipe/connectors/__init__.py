"""Provider connectors (no Dagster): OAuth2, rate-limited HTTP, incremental syncs."""

from finpipe import logsafe

# Every connector module talks to token endpoints: make sure no library logs a token.
logsafe.install()
