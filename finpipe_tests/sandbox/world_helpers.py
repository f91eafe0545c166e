"""Helpers for the sandbox tests (imported by the test modules of this folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finpipe.sandbox.world import WorldManifest, WorldSpec


@dataclass
class Loaded:
    """A generated world: its folder (if written), manifest and every table collected."""

    spec: WorldSpec
    root: Path | None
    manifest: WorldManifest | None
    tables: dict[str, pl.DataFrame]

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def book_of_record_lines(w: Loaded) -> pl.DataFrame:
    """Journal lines of the true books: book-of-record documents plus revaluations."""
    docs = w["documents"].select("company_id", "provider", "document_id", "truth_duplicate_of")
    lines = w["journal_lines"].join(docs, on=["company_id", "provider", "document_id"], how="left")
    return lines.filter(pl.col("truth_duplicate_of").is_null())


def with_standard(w: Loaded, lines: pl.DataFrame) -> pl.DataFrame:
    """Journal lines with the true standard account of their account."""
    accounts = w["accounts"].select(
        "company_id", "provider", "account_id", "truth_standard_account"
    )
    return lines.join(accounts, on=["company_id", "provider", "account_id"], how="left")
