"""Products and services each company sells, and how they are priced on invoices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.companies import Companies
from finpipe.sandbox.world.rng import Streams, WeightedPicker

SERVICE, NON_INVENTORY = 0, 1
ITEM_TYPES = ("service", "non_inventory")
INVOICE_USE, RECEIPT_USE = 0, 1


@dataclass(frozen=True)
class ItemTemplate:
    name: str
    kind: int
    price_usd: tuple[float, float]
    qty: tuple[int, int]  # quantity range on an invoice line
    hourly: bool  # quantities in half hours
    role: str  # income role
    cost_ratio: float  # unit cost / price for goods bought in (0: none)
    use: int
    weight: float


def _t(
    name: str,
    kind: int,
    price: tuple[float, float],
    qty: tuple[int, int] = (1, 1),
    hourly: bool = False,
    role: str = "revenue_invoice",
    cost: float = 0.0,
    use: int = INVOICE_USE,
    weight: float = 1.0,
) -> ItemTemplate:
    return ItemTemplate(name, kind, price, qty, hourly, role, cost, use, weight)


ITEM_TEMPLATES: dict[int, tuple[ItemTemplate, ...]] = {
    ref.RESTAURANT: (
        _t("Catering package", SERVICE, (400, 2500), weight=2),
        _t("Private dining event", SERVICE, (1500, 6000)),
        _t("Food sales", NON_INVENTORY, (1, 1), role="revenue_main", use=RECEIPT_USE),
        _t("Beverage sales", NON_INVENTORY, (1, 1), role="revenue_second", use=RECEIPT_USE),
    ),
    ref.SOFTWARE: (
        _t("Pro plan - monthly", SERVICE, (299, 999), (1, 20), weight=3),
        _t("Enterprise plan - annual", SERVICE, (9000, 40000), weight=1.5),
        _t("Implementation services", SERVICE, (150, 220), (10, 80), True, "revenue_second"),
        _t("Premium support - annual", SERVICE, (2000, 8000), weight=0.6),
        _t("Subscriptions (card)", SERVICE, (1, 1), role="revenue_main", use=RECEIPT_USE),
    ),
    ref.CONSTRUCTION: (
        _t("Progress billing", SERVICE, (10000, 90000), weight=2.5),
        _t("Labor", SERVICE, (65, 120), (8, 160), True, weight=1.5),
        _t("Materials", NON_INVENTORY, (500, 15000), cost=0.8),
        _t("Change order", SERVICE, (1500, 12000), weight=0.6),
        _t("Service call", SERVICE, (150, 500), (1, 4), role="revenue_second", weight=0.8),
    ),
    ref.RETAIL: (
        _t("Card sales", NON_INVENTORY, (1, 1), role="revenue_main", use=RECEIPT_USE),
        _t("Cash sales", NON_INVENTORY, (1, 1), role="revenue_main", use=RECEIPT_USE),
        _t("Shipping & handling", SERVICE, (8, 25), role="revenue_second", weight=0.3),
    ),
    ref.PROFESSIONAL: (
        _t("Consulting hours", SERVICE, (120, 350), (2, 60), True, weight=3),
        _t("Monthly retainer", SERVICE, (1500, 8000), weight=2),
        _t("Tax return preparation", SERVICE, (500, 3000)),
        _t("Bookkeeping - monthly", SERVICE, (400, 1500)),
        _t("Project fee", SERVICE, (4000, 30000), weight=0.8),
        _t("Card payments", SERVICE, (1, 1), role="revenue_main", use=RECEIPT_USE),
    ),
}
RETAIL_ADJ = ("Classic", "Premium", "Organic", "Vintage", "Eco", "Deluxe", "Everyday", "Studio")
RETAIL_NOUNS = (
    "T-shirt",
    "Candle",
    "Notebook",
    "Mug",
    "Backpack",
    "Board game",
    "Lamp",
    "Plant pot",
    "Jacket",
    "Sneakers",
    "Scarf",
    "Puzzle",
    "Tote bag",
    "Blanket",
)


@dataclass
class Items:
    """All items; ``invoice`` picks invoice items per company (weighted)."""

    frame: pl.DataFrame  # ci, item, name, sku, kind, price, cost, role, expense_role, use
    price: np.ndarray
    qty_lo: np.ndarray
    qty_hi: np.ndarray
    hourly: np.ndarray
    role: np.ndarray  # chart.ROLE of the income account
    invoice: WeightedPicker  # groups: ci
    receipt_first: np.ndarray  # per company: first receipt item (sales summaries)


def build_items(co: Companies, streams: Streams, role_index: dict[str, int]) -> Items:
    """Every company's item list."""
    rng = streams.get("items")
    rows: dict[str, list] = {
        k: []
        for k in (
            "ci",
            "name",
            "sku",
            "kind",
            "price",
            "cost",
            "role",
            "use",
            "qlo",
            "qhi",
            "hourly",
            "weight",
        )
    }
    for ci in range(co.n):  # per company: a handful of items
        ind = int(co.industry[ci])
        usd_per = ref.USD_PER_UNIT[co.home_ccy[ci]]
        templates = list(ITEM_TEMPLATES[ind])
        if ind == ref.RETAIL:
            for j in rng.permutation(len(RETAIL_ADJ) * len(RETAIL_NOUNS))[: rng.integers(8, 20)]:
                name = f"{RETAIL_ADJ[j % len(RETAIL_ADJ)]} {RETAIL_NOUNS[j // len(RETAIL_ADJ)]}"
                templates.append(
                    _t(
                        name,
                        NON_INVENTORY,
                        (12, 350),
                        (1, 40),
                        role="revenue_invoice",
                        cost=0.5,
                        weight=rng.random() + 0.2,
                    )
                )
        for k, t in enumerate(templates):
            price = rng.uniform(*t.price_usd) / usd_per
            # Shelf prices end in .99 or .00; service rates are whole units.
            cents = round(price) * 100 - (1 if t.kind == NON_INVENTORY and price < 500 else 0)
            if t.price_usd == (1, 1):
                cents = 0
            rows["ci"].append(ci)
            rows["name"].append(t.name)
            prefix = "SKU" if t.kind == NON_INVENTORY else "SVC"
            rows["sku"].append(f"{prefix}-{1000 + k * 37 + int(rng.integers(0, 30))}")
            rows["kind"].append(t.kind)
            rows["price"].append(max(cents, 0))
            rows["cost"].append(round(cents * t.cost_ratio) if t.cost_ratio else -1)
            rows["role"].append(role_index[t.role])
            rows["use"].append(t.use)
            rows["qlo"].append(t.qty[0])
            rows["qhi"].append(t.qty[1])
            rows["hourly"].append(t.hourly)
            rows["weight"].append(float(t.weight))
    frame = pl.DataFrame(rows).with_row_index("item")
    ci = frame["ci"].to_numpy()
    use = frame["use"].to_numpy()
    inv = np.flatnonzero(use == INVOICE_USE)
    receipt_first = np.full(co.n, -1, dtype=np.int64)
    rec = np.flatnonzero(use == RECEIPT_USE)
    # first receipt item per company (items are grouped by company, in template order)
    for idx in rec[::-1]:
        receipt_first[ci[idx]] = idx
    return Items(
        frame=frame,
        price=frame["price"].to_numpy(),
        qty_lo=frame["qlo"].to_numpy(),
        qty_hi=frame["qhi"].to_numpy(),
        hourly=frame["hourly"].to_numpy(),
        role=frame["role"].to_numpy(),
        invoice=WeightedPicker(ci[inv], frame["weight"].to_numpy()[inv], inv),
        receipt_first=receipt_first,
    )
