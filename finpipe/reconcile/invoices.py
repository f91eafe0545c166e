"""Invoice matching: payments and credits against open invoices and bills (schema ``recon``).

Inputs are the canonical books frames of :mod:`finpipe.ledger.books_schema`
(``DOCUMENT_SCHEMA``, ``ALLOCATION_SCHEMA``), all companies and providers at once.

* :func:`open_items` — every live invoice, bill, credit note, vendor credit, overpayment and
  prepayment at ``as_of``: total, applied (allocations dated up to ``as_of``), open balance,
  recomputed status, days overdue, age bucket, and the provider's own ``amount_due`` with a
  ``disagrees`` flag.
* :func:`match_payments` — the books' allocations become matches (rule ``books``); money a
  payment or credit still has unapplied is matched, same company, provider, contact,
  currency and side (receivable / payable), by

  1. ``reference``: a number token of the payment's reference names open invoices; the
     money goes oldest-first, a partial payment leaves a reduced balance, any excess is an
     over-payment left unapplied;
  2. ``amount``: exactly one open invoice for exactly the unapplied amount (and no other
     payment wanting it);
  3. ``oldest_first``: the oldest open invoices of the contact sum exactly to the payment,
     the contact has no other unapplied payment, and the cut between taken and left
     invoices is not a tie of dates.

  Anything ambiguous becomes a *suggestion*, never a match.
* :func:`open_items_after` — the open items once the automatic matches are applied.

Money is integer minor units of the document currency throughout. Plain Polars, no
Dagster, no loop per record: the only Python loops run over the three rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from finpipe.errors import FinpipeError
from finpipe.ledger.books_schema import ALLOCATION_SCHEMA, DEAD_STATUSES, DOCUMENT_SCHEMA

# Documents that carry an open balance.
ITEM_TYPES = ("invoice", "bill", "credit_note", "vendor_credit", "overpayment", "prepayment")
# Documents whose money is applied to invoices and bills.
PAYMENT_TYPES = (
    "customer_payment",
    "bill_payment",
    "credit_note",
    "vendor_credit",
    "overpayment",
    "prepayment",
)
TARGET_TYPES = ("invoice", "bill")
RULES = ("books", "reference", "amount", "oldest_first")
AGE_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")

OPEN_ITEM_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "document_id": pl.String,
        "doc_type": pl.String,
        "side": pl.String,  # receivable | payable
        "number": pl.String,
        "contact_id": pl.String,
        "currency": pl.String,
        "issue_date": pl.Date,
        "due_date": pl.Date,
        "as_of": pl.Date,
        "total": pl.Int64,
        "applied": pl.Int64,
        "open_balance": pl.Int64,  # total - applied; negative when over-applied
        "status": pl.String,  # open | partially_paid | paid | overpaid
        "provider_status": pl.String,
        "days_overdue": pl.Int32,
        "age_bucket": pl.String,  # AGE_BUCKETS; null once nothing is open
        "provider_amount_due": pl.Int64,
        "disagrees": pl.Boolean,
    }
)

INVOICE_MATCH_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "match_id": pl.String,
        "payment_document_id": pl.String,
        "invoice_document_id": pl.String,
        "amount": pl.Int64,  # invoice currency minor units
        "rule": pl.String,  # RULES
        "confidence": pl.Float64,
    }
)

SUGGESTION_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "suggestion_id": pl.String,
        "payment_document_id": pl.String,
        "invoice_document_id": pl.String,
        "amount": pl.Int64,
        "rule": pl.String,
        "confidence": pl.Float64,
        "reason": pl.String,
    }
)

UNAPPLIED_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "payment_document_id": pl.String,
        "doc_type": pl.String,
        "contact_id": pl.String,
        "currency": pl.String,
        "total": pl.Int64,
        "unapplied": pl.Int64,
        "reason": pl.String,  # overpayment | ambiguous | no_match
    }
)

REJECT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "record_id": pl.String,
        "field": pl.String,
        "reason": pl.String,
    }
)

_KEY = ["company_id", "provider"]
_GROUP = ["company_id", "provider", "contact_id", "currency", "side"]
_TOKEN = r"[A-Z0-9]+(?:[-_/.][A-Z0-9]+)*"
_T = pl.col("target_document_id")
_S = pl.col("source_document_id")
_AMOUNT_TEXT = pl.col("amount").cast(pl.String).fill_null("null")


class InvoiceMatchError(FinpipeError, ValueError):
    """An input frame of invoice matching cannot be used (a missing column, a bad as_of)."""


@dataclass(frozen=True)
class InvoiceMatchConfig:
    """Switches and confidences of the automatic rules."""

    min_token_length: int = 3  # shorter number tokens ("12") name too many things
    # an invoice issued after the payment is not what the payment paid (rules amount and
    # oldest_first; a reference is explicit enough to skip this)
    invoice_before_payment: bool = True
    oldest_first: bool = True
    confidence_books: float = 1.0
    confidence_reference: float = 0.95
    confidence_amount: float = 0.9
    confidence_oldest_first: float = 0.8
    confidence_suggestion: float = 0.5


@dataclass(frozen=True)
class InvoiceMatchResult:
    """``matches`` (``INVOICE_MATCH_SCHEMA``: the books' allocations and the automatic
    matches), ``suggestions`` (``SUGGESTION_SCHEMA``: ambiguous candidates for a person),
    ``unapplied`` (``UNAPPLIED_SCHEMA``: payments and credits with money left after the
    automatic matches), ``rejects`` (``REJECT_SCHEMA``: allocations that could not be used)
    and the number of matches per rule."""

    matches: pl.DataFrame
    suggestions: pl.DataFrame
    unapplied: pl.DataFrame
    rejects: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def _conform(frame: pl.DataFrame, schema: pl.Schema, what: str) -> pl.DataFrame:
    missing = [n for n in schema if n not in frame.columns]
    if missing:
        raise InvoiceMatchError(
            f"invoice matching: the {what} frame is missing columns {missing}; "
            f"build it with finpipe.ledger.books_schema"
        )
    return frame.with_columns([pl.col(n).cast(t) for n, t in schema.items()])


def _side() -> pl.Expr:
    """receivable | payable; Xero overpayments/prepayments say it in their Type
    (RECEIVE-OVERPAYMENT / SPEND-OVERPAYMENT, AR... / AP...)."""
    st = pl.col("source_type").fill_null("").str.to_uppercase()
    payable = pl.col("doc_type").is_in(["bill", "bill_payment", "vendor_credit"]) | (
        pl.col("doc_type").is_in(["overpayment", "prepayment"])
        & (st.str.starts_with("SPEND") | st.str.starts_with("AP"))
    )
    return pl.when(payable).then(pl.lit("payable")).otherwise(pl.lit("receivable"))


def _live() -> pl.Expr:
    return pl.col("status").is_in(list(DEAD_STATUSES)).not_() | pl.col("status").is_null()


def allocation_rejects(documents: pl.DataFrame, allocations: pl.DataFrame) -> pl.DataFrame:
    """Allocations that cannot be applied (``REJECT_SCHEMA``): an unknown source or target
    document, a null or negative amount, a currency other than the target's. The rest of
    the batch is used as is."""
    docs = _conform(documents, DOCUMENT_SCHEMA, "documents")
    al = _conform(allocations, ALLOCATION_SCHEMA, "allocations")
    ids = docs.select(*_KEY, "document_id", pl.col("currency").alias("_tcur"))
    a = al.join(
        ids.rename({"document_id": "target_document_id"}),
        on=[*_KEY, "target_document_id"],
        how="left",
    ).join(
        ids.select(
            *_KEY, pl.col("document_id").alias("source_document_id"), pl.lit(True).alias("_s")
        ),
        on=[*_KEY, "source_document_id"],
        how="left",
    )
    checks = [
        (
            pl.col("_tcur").is_null(),
            "target_document_id",
            pl.format("target document {} is not in ledger.documents; re-sync it", _T),
        ),
        (
            pl.col("_s").is_null(),
            "source_document_id",
            pl.format("source document {} is not in ledger.documents; re-sync it", _S),
        ),
        (
            pl.col("amount").is_null() | (pl.col("amount") < 0),
            "amount",
            pl.format("amount {} is not a non-negative minor-unit amount", _AMOUNT_TEXT),
        ),
        (
            pl.col("_tcur").is_not_null() & (pl.col("currency") != pl.col("_tcur")),
            "currency",
            pl.format("currency {} differs from the target document's {}", "currency", "_tcur"),
        ),
    ]
    out = [
        a.filter(cond).select(
            *_KEY,
            pl.concat_str([pl.lit("allocation:"), "allocation_id"]).alias("record_id"),
            pl.lit(fld).alias("field"),
            reason.alias("reason"),
        )
        for cond, fld, reason in checks
    ]
    return pl.concat(out).cast(dict(REJECT_SCHEMA)).sort(*_KEY, "record_id", "field")


def _valid_allocations(
    docs: pl.DataFrame, al: pl.DataFrame, rejects: pl.DataFrame, as_of: dt.date
) -> pl.DataFrame:
    """Allocations dated up to ``as_of`` between live documents, rejects left out (a void
    payment no longer settles anything, whatever links it kept)."""
    bad = rejects.select(
        *_KEY, pl.col("record_id").str.strip_prefix("allocation:").alias("allocation_id")
    ).unique()
    live = docs.filter(_live()).select(*_KEY, "document_id")
    return (
        al.join(bad, on=[*_KEY, "allocation_id"], how="anti")
        .filter(pl.col("date") <= as_of)
        .join(live.rename({"document_id": "source_document_id"}), on=[*_KEY, "source_document_id"])
        .join(live.rename({"document_id": "target_document_id"}), on=[*_KEY, "target_document_id"])
    )


def _applied(al: pl.DataFrame) -> pl.DataFrame:
    """Money applied per document, either end: an invoice is a target, a credit note a
    source (and a target when refunded)."""
    both = pl.concat(
        [
            al.select(*_KEY, pl.col("target_document_id").alias("document_id"), "amount"),
            al.select(*_KEY, pl.col("source_document_id").alias("document_id"), "amount"),
        ]
    )
    return both.group_by(*_KEY, "document_id").agg(pl.col("amount").sum().alias("applied"))


def _derive(frame: pl.DataFrame) -> pl.DataFrame:
    """open_balance, status, days overdue, age bucket and disagreement from total/applied."""
    ob = pl.col("total") - pl.col("applied")
    f = frame.with_columns(ob.alias("open_balance"))
    applied, total = pl.col("applied"), pl.col("total")
    status = (
        pl.when(applied > total)
        .then(pl.lit("overpaid"))
        .when(applied == total)
        .then(pl.lit("paid"))
        .when(applied == 0)
        .then(pl.lit("open"))
        .otherwise(pl.lit("partially_paid"))
    )
    late = (pl.col("as_of") - pl.col("due_date")).dt.total_days()
    days = (
        pl.when((pl.col("open_balance") > 0) & pl.col("due_date").is_not_null() & (late > 0))
        .then(late)
        .otherwise(0)
        .cast(pl.Int32)
    )
    f = f.with_columns(status.alias("status"), days.alias("days_overdue"))
    d = pl.col("days_overdue")
    bucket = (
        pl.when(pl.col("open_balance") <= 0)
        .then(pl.lit(None, pl.String))
        .when(d == 0)
        .then(pl.lit("current"))
        .when(d <= 30)
        .then(pl.lit("1-30"))
        .when(d <= 60)
        .then(pl.lit("31-60"))
        .when(d <= 90)
        .then(pl.lit("61-90"))
        .otherwise(pl.lit("90+"))
    )
    disagrees = pl.col("provider_amount_due").is_not_null() & (
        pl.col("provider_amount_due") != pl.col("open_balance")
    )
    return f.with_columns(bucket.alias("age_bucket"), disagrees.alias("disagrees"))


def open_items(
    documents: pl.DataFrame, allocations: pl.DataFrame, *, as_of: dt.date
) -> pl.DataFrame:
    """Open-item view (``OPEN_ITEM_SCHEMA``) of every live invoice, bill, credit note, vendor
    credit, overpayment and prepayment issued up to ``as_of``.

    ``applied`` sums the books' allocations dated up to ``as_of`` (rejected allocations and
    allocations from void / deleted documents excluded); ``open_balance = total - applied``;
    ``status`` is recomputed from them; ``days_overdue`` counts from ``due_date`` while
    money is open. ``provider_amount_due`` is the provider's figure *at sync time*, so
    ``disagrees`` is meaningful for ``as_of`` on or after the sync date.

    Raises :class:`InvoiceMatchError` on a missing column or a missing ``as_of``.
    """
    if not isinstance(as_of, dt.date):
        raise InvoiceMatchError(f"open_items: as_of must be a date, got {as_of!r}")
    docs = _conform(documents, DOCUMENT_SCHEMA, "documents")
    al = _conform(allocations, ALLOCATION_SCHEMA, "allocations")
    rejects = allocation_rejects(docs, al)
    applied = _applied(_valid_allocations(docs, al, rejects, as_of))
    items = docs.filter(
        pl.col("doc_type").is_in(ITEM_TYPES)
        & _live()
        & (pl.col("issue_date") <= as_of)
        & pl.col("total").is_not_null()
    )
    out = (
        items.join(applied, on=[*_KEY, "document_id"], how="left")
        .with_columns(
            _side().alias("side"),
            pl.lit(as_of).alias("as_of"),
            pl.col("applied").fill_null(0),
            pl.col("status").alias("provider_status"),
            pl.col("amount_due").alias("provider_amount_due"),
        )
        .pipe(_derive)
    )
    return (
        out.select(list(OPEN_ITEM_SCHEMA)).cast(dict(OPEN_ITEM_SCHEMA)).sort(*_KEY, "document_id")
    )


def open_items_after(open_items: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """``open_items`` with the automatic matches (every rule but ``books``, which the open
    items already count) applied to both ends: invoices lose open balance, and so do the
    credit notes, overpayments and prepayments that paid them. Status, overdue days, bucket
    and ``disagrees`` (against the provider's unchanged figure) are recomputed."""
    auto = matches.filter(pl.col("rule") != "books")
    add = (
        pl.concat(
            [
                auto.select(*_KEY, pl.col("invoice_document_id").alias("document_id"), "amount"),
                auto.select(*_KEY, pl.col("payment_document_id").alias("document_id"), "amount"),
            ]
        )
        .group_by(*_KEY, "document_id")
        .agg(pl.col("amount").sum().alias("_add"))
    )
    out = (
        open_items.join(add, on=[*_KEY, "document_id"], how="left")
        .with_columns((pl.col("applied") + pl.col("_add").fill_null(0)).alias("applied"))
        .pipe(_derive)
    )
    return out.select(list(OPEN_ITEM_SCHEMA)).cast(dict(OPEN_ITEM_SCHEMA))


# --- matching -----------------------------------------------------------------------------


def _number_keys(text: pl.Expr, min_len: int) -> pl.Expr:
    """Comparable keys of the number-like tokens in ``text``: the token without separators
    (INV-0043 -> INV0043) and, for a prefixed number, its digits without leading zeros
    (INV-0043 -> 43, so "Invoice 43" and "INV-0043" meet). Words without a digit are not
    numbers."""
    found = text.fill_null("").str.to_uppercase().str.extract_all(_TOKEN)
    full = pl.element().str.replace_all(r"[-_/.]", "")
    core = full.str.extract(r"^[A-Z]*0*([0-9]+)$", 1)
    keys = found.list.eval(pl.concat_list(full, core).explode())
    return keys.list.eval(
        pl.element().filter(
            pl.element().is_not_null()
            & (pl.element().str.len_chars() >= min_len)
            & pl.element().str.contains(r"[0-9]")
        )
    ).list.unique()


def _alloc_ordered(pairs: pl.DataFrame) -> pl.DataFrame:
    """Spread each payment's unapplied money over its candidate invoices oldest first, then
    cap each invoice at its open balance in payment-date order; ``alloc`` is the result."""
    p = pairs.sort("_p", "due_date", "issue_date", "_i").with_columns(
        (pl.col("open").cum_sum().over("_p") - pl.col("open")).alias("_before")
    )
    p = p.with_columns(
        (pl.col("unapplied") - pl.col("_before")).clip(0).alias("_left")
    ).with_columns(pl.min_horizontal("_left", "open").alias("_want"))
    p = p.sort("_i", "pay_date", "_p").with_columns(
        (pl.col("_want").cum_sum().over("_i") - pl.col("_want")).alias("_claimed")
    )
    p = p.with_columns(
        pl.min_horizontal("_want", (pl.col("open") - pl.col("_claimed")).clip(0)).alias("alloc")
    )
    return p.drop("_before", "_left", "_want", "_claimed")


def _apply(
    pay: pl.DataFrame, inv: pl.DataFrame, taken: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reduce payments' unapplied money and invoices' open balances by ``taken`` (``_p``,
    ``_i``, ``alloc``)."""
    by_p = taken.group_by("_p").agg(pl.col("alloc").sum().alias("_t"))
    by_i = taken.group_by("_i").agg(pl.col("alloc").sum().alias("_t"))
    pay = (
        pay.join(by_p, on="_p", how="left")
        .with_columns((pl.col("unapplied") - pl.col("_t").fill_null(0)).alias("unapplied"))
        .drop("_t")
    )
    inv = (
        inv.join(by_i, on="_i", how="left")
        .with_columns((pl.col("open") - pl.col("_t").fill_null(0)).alias("open"))
        .drop("_t")
    )
    return pay, inv


def _candidates(pay: pl.DataFrame, inv: pl.DataFrame, config: InvoiceMatchConfig) -> pl.DataFrame:
    c = pay.filter(pl.col("unapplied") > 0).join(inv.filter(pl.col("open") > 0), on=_GROUP)
    if config.invoice_before_payment:
        c = c.filter(pl.col("issue_date") <= pl.col("pay_date"))
    return c


def _reference_pass(
    pay: pl.DataFrame, inv: pl.DataFrame, config: InvoiceMatchConfig
) -> pl.DataFrame:
    n = config.min_token_length
    pt = (
        pay.filter(pl.col("unapplied") > 0)
        .select("_p", *_GROUP, _number_keys(pl.col("pay_text"), n).alias("key"))
        .explode("key")
        .drop_nulls("key")
    )
    it = (
        inv.filter(pl.col("open") > 0)
        .select("_i", *_GROUP, _number_keys(pl.col("number"), n).alias("key"))
        .explode("key")
        .drop_nulls("key")
    )
    pairs = pt.join(it, on=[*_GROUP, "key"]).select("_p", "_i").unique()
    c = pairs.join(pay, on="_p").join(inv.select("_i", "issue_date", "due_date", "open"), on="_i")
    return _alloc_ordered(c)


def _amount_pass(
    pay: pl.DataFrame, inv: pl.DataFrame, config: InvoiceMatchConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    c = _candidates(pay, inv, config).filter(pl.col("open") == pl.col("unapplied"))
    c = c.with_columns(
        pl.len().over("_p").alias("_np"),
        pl.len().over("_i").alias("_ni"),
        pl.col("open").alias("alloc"),
    )
    unique = (pl.col("_np") == 1) & (pl.col("_ni") == 1)
    return c.filter(unique), c.filter(unique.not_())


def _oldest_first_pass(
    pay: pl.DataFrame, inv: pl.DataFrame, config: InvoiceMatchConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    waiting = pay.filter(pl.col("unapplied") > 0)
    # another payment of the same contact waiting for money makes the split a guess
    waiting = waiting.with_columns(pl.len().over(_GROUP).alias("_rivals"))
    c = _candidates(waiting, inv, config).sort("_p", "due_date", "issue_date", "_i")
    c = c.with_columns(
        pl.col("open").cum_sum().over("_p").alias("_cum"),
        pl.int_range(pl.len()).over("_p").alias("_rank"),
        pl.col("due_date").shift(-1).over("_p").alias("_next_due"),
        pl.col("issue_date").shift(-1).over("_p").alias("_next_issue"),
    )
    hit = (
        c.filter(pl.col("_cum") == pl.col("unapplied"))
        .group_by("_p")
        .agg(
            pl.col("_rank").min().alias("_k"),
            (
                pl.col("_next_issue").is_not_null()
                & pl.col("due_date").eq_missing(pl.col("_next_due"))
                & pl.col("issue_date").eq_missing(pl.col("_next_issue"))
            )
            .first()
            .alias("_tie"),
        )
    )
    # k == 0 is a single invoice: the amount rule's business
    c = c.join(hit.filter(pl.col("_k") >= 1), on="_p").filter(pl.col("_rank") <= pl.col("_k"))
    c = c.with_columns(pl.col("open").alias("alloc"))
    sure = (pl.col("_rivals") == 1) & pl.col("_tie").not_()
    return c.filter(sure), c.filter(sure.not_())


def match_payments(
    documents: pl.DataFrame,
    allocations: pl.DataFrame,
    open_items: pl.DataFrame,
    config: InvoiceMatchConfig | None = None,
) -> InvoiceMatchResult:
    """Match payments and credits to invoices and bills as of ``open_items``' ``as_of``.

    ``documents`` / ``allocations`` are the canonical books frames; ``open_items`` comes
    from :func:`open_items`. The books' allocations are matches of rule ``books``
    (confidence 1); a payment's money left unapplied goes through the rules ``reference``,
    ``amount`` and ``oldest_first`` (see the module doc), each seeing only what earlier
    rules left. Ambiguous candidates are suggestions; money still unapplied afterwards is a
    row of ``unapplied`` with its reason.

    Raises :class:`InvoiceMatchError` on a missing column.
    """
    config = config or InvoiceMatchConfig()
    docs = _conform(documents, DOCUMENT_SCHEMA, "documents")
    al = _conform(allocations, ALLOCATION_SCHEMA, "allocations")
    items = _conform(open_items, OPEN_ITEM_SCHEMA, "open_items")
    as_of = items["as_of"].max() if items.height else dt.date.max
    rejects = allocation_rejects(docs, al)
    valid = _valid_allocations(docs, al, rejects, as_of)

    books = valid.select(
        *_KEY,
        pl.concat_str([pl.lit("im:books"), "provider", "allocation_id"], separator=":").alias(
            "match_id"
        ),
        pl.col("source_document_id").alias("payment_document_id"),
        pl.col("target_document_id").alias("invoice_document_id"),
        "amount",
        pl.lit("books").alias("rule"),
        pl.lit(config.confidence_books).alias("confidence"),
    )

    pay = (
        docs.filter(
            pl.col("doc_type").is_in(PAYMENT_TYPES)
            & _live()
            & (pl.col("issue_date") <= as_of)
            & pl.col("total").is_not_null()
        )
        .join(_applied(valid), on=[*_KEY, "document_id"], how="left")
        .with_columns(
            _side().alias("side"),
            (pl.col("total") - pl.col("applied").fill_null(0)).alias("unapplied"),
            pl.col("issue_date").alias("pay_date"),
            pl.concat_str(["reference", "number"], separator=" ", ignore_nulls=True).alias(
                "pay_text"
            ),
        )
        .sort(*_KEY, "document_id")
        .with_row_index("_p")
        .select(
            "_p", *_KEY, "document_id", "doc_type", "contact_id", "currency", "side",
            "pay_date", "pay_text", "total", "unapplied",
        )
    )  # fmt: skip
    inv = (
        items.filter(pl.col("doc_type").is_in(TARGET_TYPES))
        .sort(*_KEY, "document_id")
        .with_row_index("_i")
        .select(
            "_i", *_KEY, "contact_id", "currency", "side", "document_id", "number",
            "issue_date", "due_date", pl.col("open_balance").alias("open"),
        )
    )  # fmt: skip

    found: list[pl.DataFrame] = []
    suggested: list[pl.DataFrame] = []
    settled = pl.DataFrame(schema={"_p": pl.UInt32, "reason": pl.String})

    # 1. reference: the payment says which invoices; whatever exceeds them is an
    # over-payment, not a hint to go looking elsewhere
    ref = _reference_pass(pay, inv, config)
    ref_taken = ref.filter(pl.col("alloc") > 0)
    found.append(ref_taken.with_columns(pl.lit("reference").alias("rule")))
    pay, inv = _apply(pay, inv, ref_taken)
    settled = pl.concat([settled, ref.select("_p", pl.lit("overpayment").alias("reason")).unique()])
    rest = pay.join(settled, on="_p", how="anti")

    # 2. amount
    sure, unsure = _amount_pass(rest, inv, config)
    found.append(sure.with_columns(pl.lit("amount").alias("rule")))
    suggested.append(
        unsure.with_columns(
            pl.lit("amount").alias("rule"),
            pl.lit("several open items or payments share this exact amount").alias("reason"),
        )
    )
    pay, inv = _apply(pay, inv, sure)
    rest = pay.join(settled, on="_p", how="anti")

    # 3. oldest first
    if config.oldest_first:
        sure, unsure = _oldest_first_pass(rest, inv, config)
        found.append(sure.with_columns(pl.lit("oldest_first").alias("rule")))
        suggested.append(
            unsure.with_columns(
                pl.lit("oldest_first").alias("rule"),
                pl.lit(
                    "oldest open items sum to the payment, but another payment of the contact "
                    "is waiting or the oldest-first order is a tie"
                ).alias("reason"),
            )
        )
        pay, inv = _apply(pay, inv, sure)

    confidence = {
        "reference": config.confidence_reference,
        "amount": config.confidence_amount,
        "oldest_first": config.confidence_oldest_first,
    }
    auto = _rows(found, pay, inv, INVOICE_MATCH_SCHEMA, "match_id", confidence)
    sugg = _rows(
        suggested, pay, inv, SUGGESTION_SCHEMA, "suggestion_id",
        {r: config.confidence_suggestion for r in confidence},
    )  # fmt: skip
    sugg = sugg.join(
        auto.select(*_KEY, "payment_document_id"), on=[*_KEY, "payment_document_id"], how="anti"
    )
    matches = pl.concat([books.cast(dict(INVOICE_MATCH_SCHEMA)), auto]).sort(
        *_KEY, "payment_document_id", "invoice_document_id", "rule"
    )

    left = pay.filter(pl.col("unapplied") > 0).join(settled, on="_p", how="left")
    ambiguous = sugg.select(
        *_KEY, pl.col("payment_document_id").alias("document_id"), pl.lit(True).alias("_amb")
    ).unique()
    unapplied = (
        left.join(ambiguous, on=[*_KEY, "document_id"], how="left")
        .with_columns(
            pl.coalesce(
                "reason",
                pl.when(pl.col("_amb")).then(pl.lit("ambiguous")),
                pl.lit("no_match"),
            ).alias("reason")
        )
        .select(
            *_KEY,
            pl.col("document_id").alias("payment_document_id"),
            "doc_type",
            "contact_id",
            "currency",
            "total",
            "unapplied",
            "reason",
        )
        .cast(dict(UNAPPLIED_SCHEMA))
        .sort(*_KEY, "payment_document_id")
    )
    counts = {rule: 0 for rule in RULES}
    for rule, n in matches.group_by("rule").len().iter_rows():
        counts[rule] = n
    return InvoiceMatchResult(matches, sugg, unapplied, rejects, counts)


def _rows(
    parts: list[pl.DataFrame],
    pay: pl.DataFrame,
    inv: pl.DataFrame,
    schema: pl.Schema,
    id_col: str,
    confidence: dict[str, float],
) -> pl.DataFrame:
    parts = [
        p.select("_p", "_i", "alloc", "rule", *(["reason"] if "reason" in p.columns else []))
        for p in parts
        if p.height
    ]
    if not parts:
        return pl.DataFrame(schema=schema)
    won = pl.concat(parts, how="diagonal")
    conf = pl.col("rule").replace_strict(confidence, return_dtype=pl.Float64)
    out = won.join(
        pay.select("_p", *_KEY, pl.col("document_id").alias("payment_document_id")), on="_p"
    ).join(inv.select("_i", pl.col("document_id").alias("invoice_document_id")), on="_i")
    out = out.with_columns(
        pl.concat_str(
            [pl.lit("im"), "rule", "provider", "payment_document_id", "invoice_document_id"],
            separator=":",
        ).alias(id_col),
        pl.col("alloc").alias("amount"),
        conf.alias("confidence"),
    )
    return (
        out.select(list(schema))
        .cast(dict(schema))
        .unique(id_col, keep="first", maintain_order=True)
        .sort("company_id", "provider", "payment_document_id", "invoice_document_id")
    )


__all__ = [
    "AGE_BUCKETS",
    "INVOICE_MATCH_SCHEMA",
    "ITEM_TYPES",
    "OPEN_ITEM_SCHEMA",
    "PAYMENT_TYPES",
    "REJECT_SCHEMA",
    "SUGGESTION_SCHEMA",
    "UNAPPLIED_SCHEMA",
    "InvoiceMatchConfig",
    "InvoiceMatchError",
    "InvoiceMatchResult",
    "allocation_rejects",
    "match_payments",
    "open_items",
    "open_items_after",
]
