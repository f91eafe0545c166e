"""The canonical book: every economic document once, before providers and ids.

Generation steps append columns of numbers (company, day, contact, amounts...) in bulk;
cross references between documents use the canonical document number handed out by
:meth:`Book.add_docs`. Providers, provider ids and strings are attached much later, so
the heavy lifting stays in NumPy.

Document amounts are in the document currency; ``rate`` converts them to home currency
(fixed point, see :mod:`fx`). Line amounts are net of tax and positive for ordinary
documents; journal documents carry signed lines (debit positive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

DOC_TYPES = (
    "invoice",
    "bill",
    "customer_payment",
    "bill_payment",
    "expense",
    "deposit",
    "transfer",
    "journal",
    "credit_note",
    "vendor_credit",
    "sales_receipt",
    "refund",
)
(
    INVOICE,
    BILL,
    CUSTOMER_PAYMENT,
    BILL_PAYMENT,
    EXPENSE,
    DEPOSIT,
    TRANSFER,
    JOURNAL,
    CREDIT_NOTE,
    VENDOR_CREDIT,
    SALES_RECEIPT,
    REFUND,
) = range(12)

STATUSES = ("open", "partially_paid", "paid", "void", "deleted", "posted")
OPEN, PARTIALLY_PAID, PAID, VOID, DELETED, POSTED = range(6)

# What a document is for: drives narrations, users and numbering.
PURPOSES = (
    "card_sales",
    "payout",
    "cash_sales",
    "invoice",
    "customer_payment",
    "credit_note",
    "bill",
    "bill_payment",
    "card_expense",
    "direct_debit",
    "rent",
    "payroll",
    "savings_transfer",
    "card_payoff",
    "fx_sweep",
    "loan_payment",
    "owner_draw",
    "tax_payment",
    "depreciation",
    "opening",
    "refund",
    "vendor_credit",
)
PURPOSE = {p: i for i, p in enumerate(PURPOSES)}

# Tax treatment of a line; mapped to provider tax codes on output.
TAX_NONE, TAX_SALES, TAX_PURCHASE, TAX_ZERO, TAX_EXEMPT = range(5)

# Automated "users" that create documents (index >= AUTOMATED_BASE in ``user``).
AUTOMATED = ("Bank feed rule", "Payroll sync", "Card processor sync", "Migration tool")
AUTOMATED_BASE = 16
BANK_FEED, PAYROLL_SYNC, PROCESSOR_SYNC, MIGRATION = range(4)
UNUSUAL_USER = 15


def _empty(dtype: type) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


DOC_FIELDS: dict[str, type] = {
    "ci": np.int32,
    "doc_type": np.int8,
    "purpose": np.int8,
    "day": np.int32,
    "due": np.int32,  # -1: none
    "contact": np.int64,  # -1: none
    "ccy": np.int8,
    "rate": np.int64,  # fixed point, doc currency -> home
    "subtotal": np.int64,
    "tax": np.int64,
    "total": np.int64,
    "bank": np.int8,  # bank account kind the cash moved through, -1: none
    "from_bank": np.int8,  # transfers: paying account kind
    "method": np.int8,  # payment method, -1: none
    "status": np.int8,
    "user": np.int8,  # company user index, or AUTOMATED_BASE + automated user
    "link": np.int64,  # related document (payout -> sales, payment -> invoice), -1
    "entry_lag": np.int16,  # days between the document date and its entry
}
LINE_FIELDS: dict[str, type] = {
    "doc": np.int64,
    "line_no": np.int32,
    "role": np.int16,  # posting role (chart.ROLE)
    "item": np.int64,  # -1: none
    "qty4": np.int64,  # quantity x 10_000, -1: none
    "unit": np.int64,  # unit amount, -1: none
    "amount": np.int64,
    "tax": np.int64,
    "tax_kind": np.int8,
    "desc": np.int32,  # index into Book.descriptions
    "ccy": np.int8,  # currency of the line (-1: the document's)
    "fx_amount": np.int64,  # with ``ccy``: the amount in that currency
}
ALLOC_FIELDS: dict[str, type] = {
    "source": np.int64,
    "target": np.int64,
    "day": np.int32,
    "amount": np.int64,
}


@dataclass
class Book:
    """Append-only columnar store of canonical documents, lines and allocations."""

    doc_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    line_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    alloc_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    # Documents whose single bank movement the bank shows as several lines (payroll: net
    # pay and taxes): one entry per bank line, amounts summing to the document's.
    split_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    n_docs: int = 0
    descriptions: list[str] = field(default_factory=list)
    _desc_index: dict[str, int] = field(default_factory=dict)

    def desc(self, text: str) -> int:
        """The number of a line description (descriptions are stored once)."""
        if text not in self._desc_index:
            self._desc_index[text] = len(self.descriptions)
            self.descriptions.append(text)
        return self._desc_index[text]

    def add_docs(self, n: int, **cols: np.ndarray | int) -> np.ndarray:
        """Append ``n`` documents; unspecified fields take their "none" default."""
        ids = np.arange(self.n_docs, self.n_docs + n, dtype=np.int64)
        part = {}
        for name, dtype in DOC_FIELDS.items():
            value = cols.pop(name, None)
            if value is None:
                default = {
                    "due": -1,
                    "contact": -1,
                    "bank": -1,
                    "from_bank": -1,
                    "method": -1,
                    "link": -1,
                    "status": 0,
                    "user": 0,
                    "tax": 0,
                    "entry_lag": 0,
                }.get(name)
                if default is None:
                    raise ValueError(f"Book.add_docs: field {name!r} is required")
                value = default
            arr = np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
            part[name] = arr
        if cols:
            raise ValueError(f"Book.add_docs: unknown fields {sorted(cols)}")
        part["doc"] = ids
        self.doc_parts.append(part)
        self.n_docs += n
        return ids

    def add_lines(self, doc: np.ndarray, **cols: np.ndarray | int) -> None:
        """Append lines of documents ``doc`` (one entry per line)."""
        n = len(doc)
        part = {"doc": np.asarray(doc, dtype=np.int64)}
        for name, dtype in LINE_FIELDS.items():
            if name == "doc":
                continue
            value = cols.pop(name, None)
            if value is None:
                default = {
                    "item": -1,
                    "qty4": -1,
                    "unit": -1,
                    "tax": 0,
                    "tax_kind": TAX_NONE,
                    "ccy": -1,
                    "desc": -1,
                    "fx_amount": 0,
                }.get(name)
                if default is None:
                    raise ValueError(f"Book.add_lines: field {name!r} is required")
                value = default
            part[name] = np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
        if cols:
            raise ValueError(f"Book.add_lines: unknown fields {sorted(cols)}")
        self.line_parts.append(part)

    def add_allocs(
        self, source: np.ndarray, target: np.ndarray, day: np.ndarray, amount: np.ndarray
    ) -> None:
        """Append allocations (payment or credit ``source`` applied to ``target``)."""
        self.alloc_parts.append(
            {
                "source": np.asarray(source, dtype=np.int64),
                "target": np.asarray(target, dtype=np.int64),
                "day": np.asarray(day, dtype=np.int32),
                "amount": np.asarray(amount, dtype=np.int64),
            }
        )

    def add_credits(
        self,
        rng: np.random.Generator,
        targets: np.ndarray,
        day: np.ndarray,
        total: np.ndarray,
        tax: np.ndarray,
        *,
        doc_type: int,
        purpose: int,
        role: np.ndarray | int,
        tax_kind: int,
        desc: str,
    ) -> np.ndarray:
        """Credit documents (credit notes, vendor credits) against ``targets``: one line
        each, at the credited document's currency and rate, allocated to it in full."""
        docs = self.docs()
        k = len(targets)
        credits = self.add_docs(
            k,
            ci=docs["ci"][targets],
            doc_type=doc_type,
            purpose=purpose,
            day=day,
            contact=docs["contact"][targets],
            ccy=docs["ccy"][targets],
            rate=docs["rate"][targets],
            subtotal=total - tax,
            tax=tax,
            total=total,
            status=PAID,
            user=rng.integers(0, 3, k),
            link=targets,
        )
        self.add_lines(
            credits,
            line_no=1,
            role=role,
            amount=total - tax,
            tax=tax,
            tax_kind=np.where(tax > 0, tax_kind, TAX_NONE),
            desc=self.desc(desc),
        )
        self.add_allocs(credits, targets, day, total)
        return credits

    def add_splits(
        self, doc: np.ndarray, day: np.ndarray, amount: np.ndarray, part: np.ndarray
    ) -> None:
        """Record that ``doc`` clears as several bank lines (signed, bank currency);
        ``part`` numbers the lines of one document (0: net pay, 1: taxes for payroll)."""
        self.split_parts.append(
            {
                "doc": np.asarray(doc, dtype=np.int64),
                "day": np.asarray(day, dtype=np.int32),
                "amount": np.asarray(amount, dtype=np.int64),
                "part": np.asarray(part, dtype=np.int8),
            }
        )

    def splits(self) -> dict[str, np.ndarray]:
        return self._concat(
            self.split_parts,
            {"doc": np.int64, "day": np.int32, "amount": np.int64, "part": np.int8},
        )

    @staticmethod
    def _concat(
        parts: list[dict[str, np.ndarray]], fields: dict[str, type], extra: tuple[str, ...] = ()
    ) -> dict[str, np.ndarray]:
        names = (*extra, *fields)
        if not parts:
            return {k: _empty(fields.get(k, np.int64)) for k in names}
        return {k: np.concatenate([p[k] for p in parts]) for k in names}

    def docs(self) -> dict[str, np.ndarray]:
        """All documents as columns, indexed by document number (shared arrays: copy
        before editing in place, then hand the edit back with :meth:`replace_docs`)."""
        self.compact()
        part = self.doc_parts[0] if self.doc_parts else self._concat([], DOC_FIELDS, ("doc",))
        if not np.array_equal(part["doc"], np.arange(len(part["doc"]))):
            order = np.argsort(part["doc"], kind="stable")
            part = {k: v[order] for k, v in part.items()}
            self.doc_parts = [part]
        return dict(part)

    def lines(self) -> dict[str, np.ndarray]:
        self.compact()
        return dict(self.line_parts[0]) if self.line_parts else self._concat([], LINE_FIELDS)

    def allocs(self) -> dict[str, np.ndarray]:
        self.compact()
        return dict(self.alloc_parts[0]) if self.alloc_parts else self._concat([], ALLOC_FIELDS)

    def compact(self) -> None:
        """Merge the appended parts into one (later reads are then free)."""
        if len(self.doc_parts) > 1:
            self.doc_parts = [self._concat(self.doc_parts, DOC_FIELDS, ("doc",))]
        if len(self.line_parts) > 1:
            self.line_parts = [self._concat(self.line_parts, LINE_FIELDS)]
        if len(self.alloc_parts) > 1:
            self.alloc_parts = [self._concat(self.alloc_parts, ALLOC_FIELDS)]

    def replace_docs(self, docs: dict[str, np.ndarray]) -> None:
        """Replace the document columns (after in-place edits such as statuses)."""
        self.doc_parts = [docs]


def to_frame(cols: dict[str, np.ndarray]) -> pl.DataFrame:
    """Columns as a Polars frame (zero-copy for numeric arrays)."""
    return pl.DataFrame(cols)
