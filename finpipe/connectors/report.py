"""What a sync did, per entity: what the Dagster layer shows as materialization metadata."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class EntityReport:
    """One entity (or endpoint) of one tenant."""

    entity: str
    tenant_id: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    pages: int = 0
    calls: int = 0
    rate_limited: int = 0
    cursor_before: str | None = None
    cursor_after: str | None = None

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@dataclass
class SyncReport:
    """A whole sync of one company with one provider."""

    provider: str
    company_id: str
    sync_id: str
    entities: list[EntityReport] = field(default_factory=list)
    calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    token_refreshes: int = 0
    # A sync that had to stop early without failing (a bank's daily access budget is spent):
    # why, and when the next attempt can get further.
    stopped: str | None = None
    resume_at: dt.datetime | None = None

    def totals(self) -> dict[str, int]:
        return {
            "inserted": sum(e.inserted for e in self.entities),
            "updated": sum(e.updated for e in self.entities),
            "deleted": sum(e.deleted for e in self.entities),
            "calls": self.calls,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "token_refreshes": self.token_refreshes,
        }

    def entity(self, name: str) -> list[EntityReport]:
        return [e for e in self.entities if e.entity == name]
