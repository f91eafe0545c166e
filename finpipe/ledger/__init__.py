"""The unified ledger (no Dagster): journal lines, documents, bank lines, contacts."""
