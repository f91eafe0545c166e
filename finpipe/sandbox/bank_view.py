"""The world's bank data as a bank would report it at the sandbox's "now".

Shared by every bank sandbox provider (Open Banking, Berlin Group, the aggregator, statement
exports). The world's ``bank_lines`` is the full history the bank ever reported: a booked
line is reported from its ``created_at``; a pending line from its ``created_at`` until the
booked line that replaces it (``pending_line_id``) is reported, then it disappears. The
clock starts the day after the world's last day (09:00 UTC) unless told otherwise, so by
default every booked line is visible and only the still-pending lines are pending.

Tests move the clock (:meth:`BankView.advance`, or start it earlier) and mutate lines
(:meth:`remove`, :meth:`modify`); :meth:`history` turns all of that into the ordered
added / modified / removed events an incremental API (the aggregator's
``/transactions/sync``) serves.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import polars as pl

from finpipe.sandbox.world import World
from finpipe.sandbox.xero.store import SandboxClock

UTC = dt.UTC


@dataclass(frozen=True)
class Mutation:
    at: dt.datetime
    kind: str  # removed | modified
    line_id: str
    changes: dict[str, Any]


class BankView:
    """The bank data of the companies whose ``bank_provider`` is ``provider``."""

    def __init__(self, world: World, provider: str, start: dt.datetime | None = None) -> None:
        self.provider = provider
        companies = world.table("companies").filter(pl.col("bank_provider") == provider).collect()
        self.companies = companies
        self.accounts = (
            world.table("bank_accounts")
            .filter(pl.col("bank_provider") == provider)
            .collect()
            .sort("company_id", "bank_account_id")
        )
        ids = self.accounts.get_column("bank_account_id").to_list()
        self._lines = (
            world.table("bank_lines")
            .filter(pl.col("bank_account_id").is_in(ids))
            .drop("truth_kind")
            .collect()
        )
        # When each pending line stops being reported: its booked line's first report.
        replaced = (
            self._lines.filter(pl.col("pending_line_id").is_not_null())
            .group_by("pending_line_id")
            .agg(pl.col("created_at").min().alias("replaced_at"))
            .rename({"pending_line_id": "line_id"})
        )
        self._lines = self._lines.join(replaced, on="line_id", how="left")
        last_day = companies.get_column("end_date").max() if companies.height else None
        if start is None:
            day = last_day or dt.date(2026, 1, 1)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + dt.timedelta(
                days=1, hours=9
            )
        self.clock = SandboxClock(start)
        self._mutations: list[Mutation] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def now(self) -> dt.datetime:
        return self.clock.now()

    def accounts_of(self, company_id: str) -> pl.DataFrame:
        return self.accounts.filter(pl.col("company_id") == company_id)

    def account(self, bank_account_id: str) -> dict[str, Any] | None:
        rows = self.accounts.filter(pl.col("bank_account_id") == bank_account_id)
        return rows.row(0, named=True) if rows.height else None

    def lines(
        self, bank_account_id: str | None = None, at: dt.datetime | None = None
    ) -> pl.DataFrame:
        """Lines the bank reports at ``at`` (default now), in statement order (booked date,
        then first report), with every mutation up to then applied."""
        at = at or self.now()
        frame = self._lines
        if bank_account_id is not None:
            frame = frame.filter(pl.col("bank_account_id") == bank_account_id)
        frame = frame.filter(
            (pl.col("created_at") <= at)
            & (pl.col("replaced_at").is_null() | (pl.col("replaced_at") > at))
        )
        with self._lock:
            mutations = [m for m in self._mutations if m.at <= at]
        for mutation in mutations:
            hit = pl.col("line_id") == mutation.line_id
            if mutation.kind == "removed":
                frame = frame.filter(~hit)
            else:
                frame = frame.with_columns(
                    [
                        pl.when(hit).then(pl.lit(value)).otherwise(pl.col(name)).alias(name)
                        for name, value in mutation.changes.items()
                    ]
                )
        return frame.sort("booked_date", "created_at", "line_id").drop("replaced_at")

    def booked_balance(
        self, bank_account_id: str, on: dt.date | None = None, at: dt.datetime | None = None
    ) -> int:
        """Opening balance + booked amounts up to ``on`` (default: everything reported)."""
        account = self.account(bank_account_id)
        if account is None:
            raise KeyError(bank_account_id)
        lines = self.lines(bank_account_id, at).filter(pl.col("status") == "booked")
        if on is not None:
            lines = lines.filter(pl.col("booked_date") <= on)
        return int(account["opening_balance"]) + int(lines.get_column("amount").sum())

    def history(self, bank_account_ids: list[str], at: dt.datetime | None = None) -> pl.DataFrame:
        """Ordered events up to ``at``: (``at``, ``seq``, ``kind`` added | modified | removed,
        ``line_id``). A line is added when first reported, a pending line removed when its
        booked line arrives, and mutations are events of their own."""
        at = at or self.now()
        base = self._lines.filter(pl.col("bank_account_id").is_in(bank_account_ids))
        added = base.filter(pl.col("created_at") <= at).select(
            pl.col("created_at").alias("at"), pl.lit("added").alias("kind"), "line_id"
        )
        gone = base.filter(pl.col("replaced_at") <= at).select(
            pl.col("replaced_at").alias("at"), pl.lit("removed").alias("kind"), "line_id"
        )
        with self._lock:
            known = set(base.get_column("line_id").to_list())
            mutations = [m for m in self._mutations if m.at <= at and m.line_id in known]
        mutated = pl.DataFrame(
            {
                "at": [m.at for m in mutations],
                "kind": [m.kind for m in mutations],
                "line_id": [m.line_id for m in mutations],
            },
            schema={"at": pl.Datetime("us", "UTC"), "kind": pl.String(), "line_id": pl.String()},
        )
        events = pl.concat([added, gone, mutated]).sort("at", "kind", "line_id")
        return events.with_row_index("seq", offset=1)

    # ---------------------------------------------------------------- mutations

    def advance(self, seconds: float) -> None:
        """Move the bank's clock forward (new lines get reported, pending lines post)."""
        self.clock.advance(seconds)

    def remove(self, line_id: str) -> None:
        """The bank withdraws a line (a reversed pending authorisation, a correction)."""
        self._mutate("removed", line_id, {})

    def modify(self, line_id: str, **changes: Any) -> None:
        """The bank changes a reported line (e.g. its description or amount)."""
        unknown = [k for k in changes if k not in self._lines.columns]
        if unknown:
            raise ValueError(f"bank lines have no column(s) {unknown}")
        self._mutate("modified", line_id, changes)

    def _mutate(self, kind: str, line_id: str, changes: dict[str, Any]) -> None:
        if self._lines.filter(pl.col("line_id") == line_id).is_empty():
            raise KeyError(f"no bank line {line_id!r} at {self.provider}")
        with self._lock:
            self._mutations.append(Mutation(self.clock.stamp(), kind, line_id, changes))
