"""Helpers of the Xero tests: what the world says should land, and what did."""

from __future__ import annotations

import threading
from decimal import Decimal

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.xero.parse import XeroRecord, parse_record
from finpipe.sandbox.world import World
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.raw import XERO_TABLES


class FakeClock:
    """A monotonic clock shared by the sandbox and the client: sleeping moves it, so tests
    about minute and day limits run in milliseconds."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)


# ------------------------------------------------------------------ world vs warehouse

CENT = Decimal("0.01")


def _money(minor: int) -> Decimal:
    return (Decimal(int(minor)) / 100).quantize(CENT)


def amount_of(endpoint: str, values: dict) -> Decimal | None:
    """The amount an endpoint's record carries, for per-endpoint totals."""
    if endpoint in ("Invoices", "CreditNotes", "BankTransactions", "Overpayments", "Prepayments"):
        return values["Total"]
    if endpoint in ("Payments", "BankTransfers"):
        return values["Amount"]
    if endpoint == "ManualJournals":
        return sum(
            (ln["LineAmount"] for ln in values["JournalLines"] if ln["LineAmount"] > 0),
            Decimal("0.00"),
        )
    if endpoint == "Journals":
        return sum(
            (ln["NetAmount"] for ln in values["JournalLines"] if ln["NetAmount"] > 0),
            Decimal("0.00"),
        )
    return None


def world_expectations(world: World, company_id: str) -> dict[str, tuple[int, Decimal | None]]:
    """(rows, amount total) per endpoint, computed from the world with the mapping the
    sandbox documents (independently of its renderer)."""

    def rows(name: str) -> pl.DataFrame:
        frame = world.table(name).filter(pl.col("company_id") == company_id)
        if "provider" in frame.collect_schema().names():
            frame = frame.filter(pl.col("provider") == "xero")
        return frame.collect()

    docs, allocs, jl = rows("documents"), rows("allocations"), rows("journal_lines")
    lines = rows("document_lines")

    def of(*types: str) -> pl.DataFrame:
        return docs.filter(pl.col("doc_type").is_in(types))

    def total(frame: pl.DataFrame, column: str = "total") -> Decimal:
        return _money(int(frame[column].sum() or 0))

    pays = of("customer_payment", "bill_payment")
    applied = allocs.group_by("source_document_id").agg(pl.col("amount").sum().alias("applied"))
    pays = pays.join(applied, left_on="document_id", right_on="source_document_id", how="left")
    pays = pays.with_columns(pl.col("applied").fill_null(0))
    pay_allocs = allocs.filter(pl.col("source_document_id").is_in(pays["document_id"].to_list()))
    deleted_unapplied = pays.filter((pl.col("applied") == 0) & (pl.col("status") == "deleted"))
    over = pays.filter(
        (pl.col("total") > pl.col("applied"))
        & ~((pl.col("applied") == 0) & (pl.col("status") == "deleted"))
    )
    over_total = over.select(
        pl.when(pl.col("status").is_in(["void", "deleted"]))
        .then(pl.col("total"))
        .otherwise(pl.col("total") - pl.col("applied"))
        .sum()
    ).item()
    journal_docs = of("journal")
    mj_lines = lines.filter(pl.col("document_id").is_in(journal_docs["document_id"].to_list()))
    currencies = set(docs["currency"].to_list()) | set(rows("accounts")["currency"].to_list())
    currencies |= set(rows("contacts")["currency"].to_list())
    return {
        "Accounts": (rows("accounts").height, None),
        "Contacts": (rows("contacts").height, None),
        "Items": (rows("items").height, None),
        "Invoices": (of("invoice", "bill").height, total(of("invoice", "bill"))),
        "CreditNotes": (
            of("credit_note", "vendor_credit").height,
            total(of("credit_note", "vendor_credit")),
        ),
        "Payments": (
            pay_allocs.height + deleted_unapplied.height,
            _money(int(pay_allocs["amount"].sum() or 0)) + total(deleted_unapplied),
        ),
        "Overpayments": (over.height, _money(int(over_total or 0))),
        "Prepayments": (0, Decimal("0.00")),
        "BankTransactions": (
            of("expense", "refund", "deposit", "sales_receipt").height,
            total(of("expense", "refund", "deposit", "sales_receipt")),
        ),
        "BankTransfers": (of("transfer").height, total(of("transfer"))),
        "ManualJournals": (
            journal_docs.height,
            _money(int(mj_lines.filter(pl.col("amount") > 0)["amount"].sum() or 0)),
        ),
        "Journals": (
            jl["entry_id"].n_unique(),
            _money(int(jl.filter(pl.col("amount") > 0)["amount"].sum() or 0)),
        ),
        "Organisation": (1, None),
        "Currencies": (len(currencies), None),
    }


def landed(warehouse: Warehouse, company_id: str) -> dict[str, list[XeroRecord]]:
    """Every landed record of the company, parsed back from its payload."""
    out: dict[str, list[XeroRecord]] = {}
    for endpoint, table in XERO_TABLES.items():
        frame = warehouse.read(table, company_id=company_id)
        out[endpoint] = [
            parse_record(endpoint, payloads.loads(text)) for text in frame["payload"].to_list()
        ]
    return out


def landed_summary(warehouse: Warehouse, company_id: str) -> dict[str, tuple[int, Decimal | None]]:
    """(rows, amount total) per endpoint of what landed, like :func:`world_expectations`."""
    summary: dict[str, tuple[int, Decimal | None]] = {}
    for endpoint, records in landed(warehouse, company_id).items():
        if endpoint in NO_AMOUNT:
            summary[endpoint] = (len(records), None)
            continue
        amounts = [amount_of(endpoint, r.values) or Decimal("0.00") for r in records]
        summary[endpoint] = (len(records), sum(amounts, Decimal("0.00")))
    return summary


NO_AMOUNT = frozenset({"Accounts", "Contacts", "Items", "Organisation", "Currencies"})


def snapshot(warehouse: Warehouse, company_id: str) -> dict[str, list[tuple]]:
    """What landed, without when or by which run: (tenant, id, payload, deleted, updated)."""
    out = {}
    for endpoint, table in XERO_TABLES.items():
        frame = warehouse.read(table, company_id=company_id).sort("tenant_id", "source_id")
        out[endpoint] = [
            (
                r["tenant_id"],
                r["source_id"],
                payloads.loads(r["payload"]),
                r["deleted"],
                r["source_updated_at"],
            )
            for r in frame.iter_rows(named=True)
        ]
    return out
