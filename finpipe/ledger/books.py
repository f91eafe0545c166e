"""One company's canonical books as an accounting source expanded them (no Dagster).

:class:`Books` is what ``books_from_quickbooks`` / ``books_from_xero`` return: the four
frames of :mod:`finpipe.ledger.books_schema` plus the records that could not be read
(``rejects``, :data:`REJECT_SCHEMA`). A rejected record never stops the batch: it is left
out of the frames and named here (entity, source id, field, reason) so it can be quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from finpipe.ledger.books_schema import (
    ALLOCATION_SCHEMA,
    CONTACT_SCHEMA,
    DOCUMENT_SCHEMA,
    JOURNAL_LINE_SCHEMA,
    empty,
)

# A source record the expansion could not read: which record (provider entity + id),
# which field, and why (the reason says what to do).
REJECT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "entity": pl.String,
        "source_id": pl.String,
        "field": pl.String,
        "reason": pl.String,
    }
)


@dataclass(frozen=True)
class Books:
    """One company's canonical books from one provider.

    ``contacts`` / ``documents`` / ``journal_lines`` / ``allocations`` follow
    ``CONTACT_SCHEMA`` / ``DOCUMENT_SCHEMA`` / ``JOURNAL_LINE_SCHEMA`` /
    ``ALLOCATION_SCHEMA``; ``rejects`` follows :data:`REJECT_SCHEMA`.
    """

    contacts: pl.DataFrame = field(default_factory=lambda: empty(CONTACT_SCHEMA))
    documents: pl.DataFrame = field(default_factory=lambda: empty(DOCUMENT_SCHEMA))
    journal_lines: pl.DataFrame = field(default_factory=lambda: empty(JOURNAL_LINE_SCHEMA))
    allocations: pl.DataFrame = field(default_factory=lambda: empty(ALLOCATION_SCHEMA))
    rejects: pl.DataFrame = field(default_factory=lambda: empty(REJECT_SCHEMA))

    def summary(self) -> str:
        """A one-line count of every frame, plus documents per doc_type and entries that
        do not balance (should be none)."""
        per_type = ""
        if self.documents.height:
            counts = self.documents.group_by("doc_type").len().sort("doc_type").iter_rows()
            per_type = " (" + ", ".join(f"{t}={n}" for t, n in counts) + ")"
        entries = self.journal_lines["entry_id"].n_unique() if self.journal_lines.height else 0
        unbalanced = check_balanced(self.journal_lines).height
        return (
            f"contacts={self.contacts.height} documents={self.documents.height}{per_type} "
            f"journal_lines={self.journal_lines.height} entries={entries} "
            f"unbalanced={unbalanced} allocations={self.allocations.height} "
            f"rejects={self.rejects.height}"
        )


def check_balanced(journal_lines: pl.DataFrame) -> pl.DataFrame:
    """Entries whose lines do not sum to zero: one row per (company_id, provider, entry_id)
    with ``total`` (the non-zero sum, home minor units) and ``lines``; empty when the books
    balance."""
    if journal_lines.height == 0:
        return pl.DataFrame(
            schema={
                "company_id": pl.String,
                "provider": pl.String,
                "entry_id": pl.String,
                "total": pl.Int64,
                "lines": pl.UInt32,
            }
        )
    return (
        journal_lines.group_by("company_id", "provider", "entry_id")
        .agg(pl.col("amount").sum().alias("total"), pl.len().alias("lines"))
        .filter(pl.col("total") != 0)
        .sort("company_id", "provider", "entry_id")
    )
