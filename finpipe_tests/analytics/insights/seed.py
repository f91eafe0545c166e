"""A hand-built warehouse for one company (``c1``, GBP) whose insights are known by hand.

Months 2026-01..2026-04 (revenue 215,000.00 in Jan-Feb, 185,000.00 in Mar-Apr); DSO 38.2 ->
52.4 days, gross margin 45 % -> 38 %, current ratio 1.80 -> 1.20; runway 4.25 months at a burn
of 2,000.00 GBP; health 48.25 (down 6.3, liquidity -4.1, Z'' 0.85 distress); overdue invoices
of four customers (one in EUR) as of 2026-04-20; two anomaly flags above 0.7 (one bill without
a number); a forecast crossing; gross margin at percentile 18 of its peers; Acme Ltd 40 % and
the top three 83 % of the twelve months' sales.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import polars as pl

from finpipe.warehouse import Table, Warehouse
from finpipe.warehouse.schema import Kind
from finpipe.warehouse.tables.analytics_anomalies import ANOMALY_FLAGS
from finpipe.warehouse.tables.analytics_financials import (
    BALANCE_SHEET,
    HEALTH_COMPONENTS,
    HEALTH_SCORES,
    INCOME_STATEMENT,
    KPIS,
)
from finpipe.warehouse.tables.analytics_forecast import CASH_WARNINGS
from finpipe.warehouse.tables.analytics_peers import PEER_BENCHMARKS
from finpipe.warehouse.tables.ledger import CONTACTS, DOCUMENTS

CID = "c1"
MONTHS = [dt.date(2026, m, 1) for m in (1, 2, 3, 4)]
APR = MONTHS[-1]
JAN = MONTHS[0]
REVENUE_TTM = 120_000_000  # 1,200,000.00 GBP
# Monthly revenue: 100,000.00 a month on average, 14 % down in Mar-Apr on Jan-Feb.
REVENUE = [11_000_000, 10_500_000, 9_500_000, 9_000_000]
_DEFAULTS = {Kind.MONEY: 0, Kind.INT: 0, Kind.BOOL: False, Kind.TEXT: "", Kind.FLOAT: 0.0}


def frame(table: Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """``rows`` as a frame of ``table``: unnamed nullable columns null, others a zero."""
    full = []
    for row in rows:
        out = {}
        for c in table.columns:
            if c.name in row:
                out[c.name] = row[c.name]
            else:
                out[c.name] = None if c.nullable else _DEFAULTS.get(c.kind)
        full.append(out)
    return pl.DataFrame(full, schema=table.polars_schema())


def _kpi(month: dt.date, kpi: str, value: float, unit: str, **inputs: float) -> dict[str, Any]:
    amount = round(value) if unit == "money" else None
    return {
        "company_id": CID,
        "month": month,
        "kpi": kpi,
        "value": value,
        "amount": amount,
        "unit": unit,
        "inputs": json.dumps(inputs),
    }


def kpi_rows() -> list[dict[str, Any]]:
    rows = []
    dso = [38.2, 41.0, 47.5, 52.4]
    gm = [0.45, 0.43, 0.40, 0.38]
    nm = [0.10, 0.10, 0.097, 0.095]
    cr = [1.8, 1.6, 1.4, 1.2]
    for i, m in enumerate(MONTHS):
        rows += [
            _kpi(m, "dso", dso[i], "days"),
            _kpi(m, "gross_margin", gm[i], "ratio", revenue_ttm=REVENUE_TTM),
            _kpi(m, "net_margin", nm[i], "ratio"),
            _kpi(m, "current_ratio", cr[i], "ratio"),
        ]
    rows += [
        _kpi(APR, "burn", 200_000.0, "money"),
        _kpi(APR, "runway_months", 4.25, "months"),
    ]
    return rows


def document(
    doc_id: str, contact: str | None, issue: str, due: str, due_amount: int, **kw: Any
) -> dict[str, Any]:
    row = {
        "company_id": CID,
        "provider": "xero",
        "document_id": doc_id,
        "doc_type": "invoice",
        "number": f"INV-{doc_id[1:]:0>4}",
        "contact_id": contact,
        "issue_date": dt.date.fromisoformat(issue),
        "due_date": dt.date.fromisoformat(due),
        "currency": "GBP",
        "fx_rate": Decimal("1"),
        "total": due_amount,
        "amount_due": due_amount,
        "status": "open",
        "book_of_record": True,
    }
    row.update(kw)
    # The ledger's home total: the gross at the document's rate (given when not the same).
    row.setdefault("home_total", row["total"])
    return row


DOCUMENT_ROWS = [
    document("d1", "k1", "2026-01-05", "2026-02-04", 500_000),  # A, oldest
    document("d2", "k1", "2026-02-10", "2026-03-12", 740_000, status="partially_paid"),  # A
    document("d3", "k2", "2026-02-01", "2026-03-03", 880_000),  # Studio 54
    # B's EUR invoice: 5,000.01 EUR at 0.85 = 4,250.0085 -> 4,250.01 GBP (half away from 0)
    document(
        "d4",
        "k3",
        "2026-01-20",
        "2026-02-19",
        500_001,
        currency="EUR",
        fx_rate=Decimal("0.85"),
        home_total=425_001,
    ),
    document("d5", "k4", "2026-03-01", "2026-03-31", 300_000),  # D, fourth
    document("d6", "k4", "2026-04-01", "2026-05-01", 99_999),  # not due yet
    document("d7", "k1", "2026-01-02", "2026-02-01", 0, status="paid"),
    document("d8", "k2", "2026-01-03", "2026-02-02", 77_777, status="void"),
    document("d9", "k3", "2026-04-20", "2026-05-20", 1_000),  # sets the books' date
    document("d10", "k1", "2026-04-25", "2026-05-25", 3_000, status="draft"),  # not live
    # Sales only (nothing open): Acme's credit of 400.00, a big sale of Studio 54 before the
    # twelve months to 2026-04, an anonymous sales receipt (in the total, never a top customer).
    document("d11", "k1", "2026-03-05", "2026-03-05", 0, doc_type="credit_note", total=40_000),
    document("d12", "k2", "2025-04-15", "2025-05-15", 0, status="paid", total=5_000_000),
    document("d13", None, "2026-03-10", "2026-03-10", 0, doc_type="sales_receipt", total=100_000),
    # The flagged bills (paid): b1 without a contact, b2 without a number.
    document("b1", None, "2026-02-27", "2026-03-27", 0, doc_type="bill", status="paid"),
    document(
        "b2", "k5", "2026-03-14", "2026-04-13", 0, doc_type="bill", status="paid", number=None
    ),
]
CONTACT_ROWS = [
    {
        "company_id": CID,
        "provider": "xero",
        "contact_id": "k1",
        "name": "Acme Ltd",
        "kind": "customer",
    },
    {
        "company_id": CID,
        "provider": "xero",
        "contact_id": "k2",
        "name": "Studio 54 Ltd",
        "kind": "customer",
    },
    {
        "company_id": CID,
        "provider": "xero",
        "contact_id": "k3",
        "name": "Brandt GmbH",
        "kind": "customer",
    },
    {
        "company_id": CID,
        "provider": "xero",
        "contact_id": "k4",
        "name": "Dee & Co",
        "kind": "customer",
    },
    {
        "company_id": CID,
        "provider": "xero",
        "contact_id": "k5",
        "name": "Northern Paper 2 Ltd",
        "kind": "vendor",
    },
]


def tamper(wh: Warehouse, insight_id: str, **changes: object) -> None:
    """Overwrite columns of one stored insight, as someone editing the table by hand would
    (the checker must then catch it)."""
    from finpipe.analytics.insights.build import read_insights
    from finpipe.warehouse.tables.analytics_insights import INSIGHTS

    stored = read_insights(wh, CID)
    rows = [
        {**row, **changes} if row["insight_id"] == insight_id else row
        for row in stored.iter_rows(named=True)
    ]
    wh.replace_partition(INSIGHTS, CID, pl.DataFrame(rows, schema=INSIGHTS.polars_schema()))


def seed(wh: Warehouse, *, optional: bool = True) -> None:
    """Write the hand-built company; ``optional=False`` leaves anomaly, forecast and peer
    tables empty (a company those parts have not reached)."""
    with wh.keep_open():  # one open of the DuckDB file for the whole seed, not one per write
        _seed(wh, optional=optional)


def _seed(wh: Warehouse, *, optional: bool) -> None:
    wh.replace_partition(KPIS, CID, frame(KPIS, kpi_rows()))
    wh.replace_partition(
        INCOME_STATEMENT,
        CID,
        frame(
            INCOME_STATEMENT,
            [
                {"company_id": CID, "month": m, "currency": "GBP", "revenue": r}
                for m, r in zip(MONTHS, REVENUE, strict=True)
            ],
        ),
    )
    wh.replace_partition(
        BALANCE_SHEET,
        CID,
        frame(
            BALANCE_SHEET,
            [
                {
                    "company_id": CID,
                    "month": m,
                    "currency": "GBP",
                    "cash": 850_000,
                    "accounts_receivable": 2_630_000,
                }
                for m in MONTHS
            ],
        ),
    )
    scores = [
        {"company_id": CID, "month": MONTHS[2], "composite": 54.55, "composite_change": -1.0},
        {
            "company_id": CID,
            "month": APR,
            "composite": 48.25,
            "composite_change": -6.3,
            "biggest_mover": "liquidity",
            "altman_z": 0.85,
            "altman_zone": "distress",
        },
    ]
    wh.replace_partition(HEALTH_SCORES, CID, frame(HEALTH_SCORES, scores))
    parts = [
        {
            "company_id": CID,
            "month": APR,
            "score": "composite",
            "component": "liquidity",
            "value": 30.0,
            "change": -4.1,
            "inputs": "{}",
        },
        {
            "company_id": CID,
            "month": APR,
            "score": "composite",
            "component": "growth",
            "value": 50.0,
            "change": -0.5,
            "inputs": "{}",
        },
    ]
    wh.replace_partition(HEALTH_COMPONENTS, CID, frame(HEALTH_COMPONENTS, parts))
    wh.replace_partition(DOCUMENTS, CID, frame(DOCUMENTS, DOCUMENT_ROWS))
    wh.replace_partition(CONTACTS, CID, frame(CONTACTS, CONTACT_ROWS))
    if not optional:
        return
    flag = {
        "company_id": CID,
        "provider": "xero",
        "doc_type": "bill",
        "currency": "GBP",
        "detector": "rules",
        "reason": "r",
    }
    flags = [
        {
            **flag,
            "flag_id": "f1",
            "document_id": "b1",
            "document_number": "BILL-7",
            "issue_date": dt.date(2026, 2, 27),
            "amount": 125_000,
            "type": "duplicate_payment",
            "score": 0.93,
        },
        {
            **flag,
            "flag_id": "f2",
            "document_id": "b2",
            "document_number": None,
            "issue_date": dt.date(2026, 3, 14),
            "amount": 990_000,
            "type": "split_payment",
            "score": 0.75,
        },
        {
            **flag,
            "flag_id": "f3",
            "document_id": "b3",
            "amount": 5_000_000,
            "type": "round_amount",
            "score": 0.5,
        },
    ]
    wh.replace_partition(ANOMALY_FLAGS, CID, frame(ANOMALY_FLAGS, flags))
    warning = {
        "company_id": CID,
        "warning_id": "balance_may_cross_zero:weekly",
        "kind": "balance_may_cross_zero",
        "severity": "high",
        "frequency": "weekly",
        "period": dt.date(2026, 5, 11),
        "periods_ahead": 2,
        "as_of": dt.date(2026, 4, 30),
        "currency": "GBP",
        "cash_balance": 850_000,
        "expected_balance": 120_000,
        "lower_balance": -320_000,
        "band": 80,
        "reason": "r",
    }
    wh.replace_partition(CASH_WARNINGS, CID, frame(CASH_WARNINGS, [warning]))
    peer = {
        "company_id": CID,
        "month": MONTHS[2],
        "group_id": "naics4:5412",
        "source": "peers",
        "level": "naics4",
        "higher_is_better": True,
    }
    peers = [
        {**peer, "kpi": "gross_margin", "value": 0.40, "percentile": 17.6, "group_median": 0.452},
        {**peer, "kpi": "net_margin", "value": 0.097, "percentile": 60.0, "group_median": 0.08},
        {
            **peer,
            "kpi": "gross_margin",
            "group_id": "reference:54",
            "source": "reference",
            "level": "reference",
            "value": 0.40,
            "percentile": 10.0,
            "group_median": 0.5,
        },
    ]
    wh.replace_all(PEER_BENCHMARKS, frame(PEER_BENCHMARKS, peers))
