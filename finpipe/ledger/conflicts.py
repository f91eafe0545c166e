"""Cross-source de-duplication for companies whose books are in both QuickBooks and Xero.

A migration leaves an overlap: for a while documents are keyed into both files (people keep
using the old one, the last weeks are re-entered into the new one, items still open are
migrated with their history). Each economic document then exists twice, under different
ids. A *source policy* says which provider is the book of record for which period, and the
copy on the other side is dropped from the books.

* :data:`SOURCE_POLICY_SCHEMA` — one row per company: before ``cutover_date`` the
  ``before_provider`` is the book of record, from it the ``after_provider``. Without a
  configured row the policy is *inferred* (:func:`infer_policy`).
* :func:`find_twins` — candidate pairs across the two providers of a company: same
  ``doc_type`` and currency, and the same normalised number, or the same total with issue
  dates a few days apart; contacts must be alike (rapidfuzz over the distinct names).
  Pairs are strictly 1:1: a document whose best candidates tie is left out and its tied
  pairs come back with ``kind == "ambiguous"``.
* :func:`resolve` — documents with a ``book_of_record`` flag and the conflicts
  (:data:`CONFLICT_SCHEMA`): every twin dropped (``duplicate``, or ``amount_mismatch`` /
  ``date_mismatch`` when the copies disagree), every tie (``ambiguous``, nothing dropped),
  every document found only on the side that is not the book of record for its date
  (``only_in_non_authoritative``, kept and flagged). Conflict ids are a hash of the pair,
  so a re-run gives the same ids.

Plain Polars (rapidfuzz for names, DuckDB for the ids' SHA-256), no Dagster; the only
Python loops run over companies in both providers and a few resolution rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from finpipe.errors import FinpipeError
from finpipe.ledger.books_schema import CONTACT_SCHEMA, DEAD_STATUSES, DOCUMENT_SCHEMA, UTC

PROVIDERS = ("quickbooks", "xero")
SHORT = {"quickbooks": "QBO", "xero": "Xero"}
KINDS = ("duplicate", "amount_mismatch", "date_mismatch", "ambiguous", "only_in_non_authoritative")

SOURCE_POLICY_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "cutover_date": pl.Date,
        "before_provider": pl.String,
        "after_provider": pl.String,
        "updated_at": UTC,
    }
)
# The policy each company was resolved under: SOURCE_POLICY_SCHEMA + how it was decided.
RESOLVED_POLICY_SCHEMA = pl.Schema({**SOURCE_POLICY_SCHEMA, "policy": pl.String})

TWIN_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "quickbooks_document_id": pl.String,
        "xero_document_id": pl.String,
        "doc_type": pl.String,
        "currency": pl.String,
        "kind": pl.String,  # duplicate | amount_mismatch | date_mismatch | ambiguous
        "number_match": pl.Boolean,
        "name_score": pl.Float64,  # 0..1, 1 when neither copy names a contact
        "date_gap_days": pl.Int32,  # xero issue date - quickbooks issue date
        "quickbooks_total": pl.Int64,
        "xero_total": pl.Int64,
        "score": pl.Int64,  # lower is better
    }
)

CONFLICT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "conflict_id": pl.String,
        "kind": pl.String,
        "quickbooks_document_id": pl.String,
        "xero_document_id": pl.String,
        "kept_provider": pl.String,
        "resolution": pl.String,
        "policy": pl.String,  # configured | inferred
        "details": pl.String,
    }
)

POLICY_REJECT_SCHEMA = pl.Schema({"company_id": pl.String, "field": pl.String, "reason": pl.String})

_NAME_STOPWORDS = (
    "INC", "LTD", "LLC", "LLP", "GMBH", "CO", "CORP", "PLC", "THE", "AG", "SA", "BV", "KG",
    "LIMITED", "COMPANY", "AND", "UG", "SARL", "SRL",
)  # fmt: skip


class ConflictError(FinpipeError, ValueError):
    """An input of cross-source de-duplication cannot be used (a missing column)."""


@dataclass(frozen=True)
class TwinConfig:
    """How alike two copies must be."""

    date_window_days: int = 5  # re-keyed copies drift by a few days at most
    min_name_score: float = 0.85  # contact names (normalised) at least this alike
    max_rounds: int = 8  # rounds of "take mutual-best pairs, remove them"


@dataclass(frozen=True)
class ConflictResult:
    """``documents``: the input with ``book_of_record`` (False on the dropped twin);
    ``conflicts`` (``CONFLICT_SCHEMA``); ``policy`` (``RESOLVED_POLICY_SCHEMA``: the policy
    used per company, configured or inferred); ``rejects`` (``POLICY_REJECT_SCHEMA``:
    configured policy rows that could not be used; the company falls back to inference)."""

    documents: pl.DataFrame
    conflicts: pl.DataFrame
    policy: pl.DataFrame
    rejects: pl.DataFrame


def _conform(frame: pl.DataFrame, schema: pl.Schema, what: str, needed: list[str]) -> pl.DataFrame:
    missing = [n for n in needed if n not in frame.columns]
    if missing:
        raise ConflictError(
            f"conflicts: the {what} frame is missing columns {missing}; "
            "build it with finpipe.ledger.books_schema"
        )
    return frame.with_columns([pl.col(n).cast(t) for n, t in schema.items() if n in frame.columns])


_DOC_NEEDED = [
    "company_id", "provider", "document_id", "doc_type", "number", "reference", "contact_id",
    "issue_date", "currency", "total", "status",
]  # fmt: skip


def _norm_number(expr: pl.Expr) -> pl.Expr:
    """Comparable document number: separators gone, and a prefixed number reduced to its
    digits without leading zeros (Xero ``INV-1043`` and QuickBooks ``1043`` meet)."""
    full = expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "")
    core = full.str.extract(r"^[A-Z]*0*([0-9]+)$", 1)
    out = pl.coalesce(core, full)
    return pl.when(out.str.len_chars() > 0).then(out)


def _norm_name(expr: pl.Expr) -> pl.Expr:
    words = expr.str.to_uppercase().str.replace_all(r"[^A-Z0-9 ]", " ").str.split(" ")
    kept = words.list.eval(
        pl.element().filter((pl.element() != "") & pl.element().is_in(_NAME_STOPWORDS).not_())
    )
    return kept.list.join(" ")


def _companies_in_both(docs: pl.DataFrame) -> pl.DataFrame:
    return (
        docs.group_by("company_id")
        .agg(pl.col("provider").n_unique().alias("_n"))
        .filter(pl.col("_n") == 2)
        .select("company_id")
    )


def _name_scores(pairs: pl.DataFrame) -> pl.DataFrame:
    """``name_score`` per distinct (company, q_name, x_name): one rapidfuzz ``cdist`` per
    company over its distinct names."""
    named = pairs.select("company_id", "q_name", "x_name").unique().drop_nulls()
    out: list[pl.DataFrame] = []
    for _, grp in named.group_by("company_id", maintain_order=True):
        qn = grp["q_name"].unique().sort()
        xn = grp["x_name"].unique().sort()
        m = process.cdist(
            qn.to_list(), xn.to_list(), scorer=fuzz.token_sort_ratio, dtype=np.uint8, workers=1
        )
        qi = pl.Series(np.arange(len(qn))).cast(pl.UInt32)
        xi = pl.Series(np.arange(len(xn))).cast(pl.UInt32)
        q_idx = grp["q_name"].replace_strict(qn, qi, return_dtype=pl.UInt32).to_numpy()
        x_idx = grp["x_name"].replace_strict(xn, xi, return_dtype=pl.UInt32).to_numpy()
        out.append(grp.with_columns(pl.Series("name_score", m[q_idx, x_idx] / 100.0)))
    schema = {"company_id": pl.String, "q_name": pl.String, "x_name": pl.String}
    if not out:
        return pl.DataFrame(schema={**schema, "name_score": pl.Float64})
    return pl.concat(out)


# Document types one source books as another: Xero keeps a card-takings receipt and a
# payout deposit as RECEIVE bank transactions (deposit), QBO as SalesReceipt / Deposit; a
# refund paid out is a SPEND (expense) in Xero and a RefundReceipt (refund) in QBO.
_FAMILIES = {"sales_receipt": "deposit", "refund": "expense"}


def _family(doc_type: pl.Expr) -> pl.Expr:
    """The type two copies of one document share across sources."""
    return doc_type.replace(_FAMILIES)


def find_twins(
    documents: pl.DataFrame, contacts: pl.DataFrame, config: TwinConfig | None = None
) -> pl.DataFrame:
    """Twin pairs (``TWIN_SCHEMA``) between the QuickBooks and Xero documents of every
    company present in both.

    A candidate pair has the same ``doc_type`` (up to :data:`_FAMILIES`) and currency and
    either the same normalised number, or the same total with issue dates at most
    ``date_window_days`` apart and no conflicting numbers; the contacts' normalised names
    must score at least ``min_name_score`` (or neither copy names a contact). Pairs are
    ranked (equal totals, then number, reference, date distance, name score) and taken only
    when each is the strict best of both its documents; a tie is returned as
    ``kind == "ambiguous"`` pairs and never as a twin. Raises :class:`ConflictError` on a
    missing column.
    """
    config = config or TwinConfig()
    docs = _conform(documents, DOCUMENT_SCHEMA, "documents", _DOC_NEEDED)
    cts = _conform(
        contacts, CONTACT_SCHEMA, "contacts", ["company_id", "provider", "contact_id", "name"]
    )
    docs = docs.join(_companies_in_both(docs), on="company_id")
    names = cts.select(
        "company_id", "provider", "contact_id", _norm_name(pl.col("name")).alias("name")
    )
    base = docs.join(names, on=["company_id", "provider", "contact_id"], how="left").select(
        "company_id",
        "provider",
        "document_id",
        "doc_type",
        _family(pl.col("doc_type")).alias("family"),
        "currency",
        "total",
        "issue_date",
        "contact_id",
        "name",
        _norm_number(pl.col("number")).alias("num"),
        pl.col("reference").str.to_uppercase().str.replace_all(r"\s+", "").alias("ref"),
    )
    q = base.filter(pl.col("provider") == "quickbooks").drop("provider")
    x = base.filter(pl.col("provider") == "xero").drop("provider")
    q = q.rename({c: f"q_{c}" for c in q.columns if c not in ("company_id", "family", "currency")})
    x = x.rename({c: f"x_{c}" for c in x.columns if c not in ("company_id", "family", "currency")})
    block = ["company_id", "family", "currency"]
    by_number = q.join(x, left_on=[*block, "q_num"], right_on=[*block, "x_num"]).with_columns(
        pl.col("q_num").alias("x_num")
    )
    by_amount = q.join(x, left_on=[*block, "q_total"], right_on=[*block, "x_total"]).with_columns(
        pl.col("q_total").alias("x_total")
    )
    gap = (pl.col("x_issue_date") - pl.col("q_issue_date")).dt.total_days().cast(pl.Int32)
    by_amount = by_amount.filter(
        (gap.abs() <= config.date_window_days)
        # two different numbers say two different documents
        & (
            pl.col("q_num").is_null()
            | pl.col("x_num").is_null()
            | (pl.col("q_num") == pl.col("x_num"))
        )
    )
    cols = by_number.columns
    c = pl.concat([by_number, by_amount.select(cols)]).unique(
        ["company_id", "q_document_id", "x_document_id"], keep="first"
    )
    c = c.join(_name_scores(c), on=["company_id", "q_name", "x_name"], how="left").with_columns(
        pl.when(pl.col("q_contact_id").is_null() & pl.col("x_contact_id").is_null())
        .then(1.0)
        .otherwise(pl.col("name_score").fill_null(0.0))
        .alias("name_score"),
        gap.alias("date_gap_days"),
        # a copy without a number is no match, not unknown (a null would void the score)
        (pl.col("q_num") == pl.col("x_num")).fill_null(False).alias("number_match"),
    )
    c = c.filter(pl.col("name_score") >= config.min_name_score)
    ref_match = (pl.col("q_ref") == pl.col("x_ref")).fill_null(False)
    # integer ranking: equal totals, then number, then reference, then days, then name
    score = (
        (pl.col("q_total") != pl.col("x_total")).cast(pl.Int64) * 1_000_000_000
        + pl.col("number_match").not_().cast(pl.Int64) * 100_000_000
        + ref_match.not_().cast(pl.Int64) * 10_000_000
        + pl.col("date_gap_days").abs().cast(pl.Int64) * 10_000
        + ((1.0 - pl.col("name_score")) * 1000).round().cast(pl.Int64)
    )
    c = c.with_columns(score.alias("score"))
    won, tied = _one_to_one(c, config.max_rounds)
    kind = (
        pl.when(pl.col("q_total") != pl.col("x_total"))
        .then(pl.lit("amount_mismatch"))
        .when(pl.col("date_gap_days") != 0)
        .then(pl.lit("date_mismatch"))
        .otherwise(pl.lit("duplicate"))
    )
    out = pl.concat(
        [won.with_columns(kind.alias("kind")), tied.with_columns(pl.lit("ambiguous").alias("kind"))]
    )
    return (
        out.select(
            "company_id",
            pl.col("q_document_id").alias("quickbooks_document_id"),
            pl.col("x_document_id").alias("xero_document_id"),
            pl.col("q_doc_type").alias("doc_type"),
            "currency",
            "kind",
            "number_match",
            "name_score",
            "date_gap_days",
            pl.col("q_total").alias("quickbooks_total"),
            pl.col("x_total").alias("xero_total"),
            "score",
        )
        .cast(dict(TWIN_SCHEMA))
        .sort("company_id", "quickbooks_document_id", "xero_document_id")
    )


def _one_to_one(cands: pl.DataFrame, max_rounds: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs that are the strict best of both their documents, pairs left tied).

    Each round takes the mutual strict-best pairs and removes their documents, so runners-up
    can become best. What is left where a document's best score is shared is a tie."""
    q, x = ["company_id", "q_document_id"], ["company_id", "x_document_id"]
    won: list[pl.DataFrame] = []
    s = pl.col("score")
    for _ in range(max_rounds):
        if cands.is_empty():
            break
        ranked = cands.with_columns(
            (s == s.min().over(q)).alias("_bq"), (s == s.min().over(x)).alias("_bx")
        ).with_columns(
            pl.col("_bq").sum().over(q).alias("_nq"), pl.col("_bx").sum().over(x).alias("_nx")
        )
        take = ranked.filter(
            pl.col("_bq") & pl.col("_bx") & (pl.col("_nq") == 1) & (pl.col("_nx") == 1)
        ).select(cands.columns)
        if take.is_empty():
            break
        won.append(take)
        cands = cands.join(take.select(q), on=q, how="anti").join(take.select(x), on=x, how="anti")
    tied = cands.filter((s == s.min().over(q)) & (s == s.min().over(x)))
    tied = tied.filter((pl.len().over(q) > 1) | (pl.len().over(x) > 1))
    return (pl.concat(won) if won else cands.clear()), tied


# --- policy -------------------------------------------------------------------------------


def infer_policy(documents: pl.DataFrame, twins: pl.DataFrame | None = None) -> pl.DataFrame:
    """The default policy (``SOURCE_POLICY_SCHEMA``) of every company with live documents in
    both providers.

    ``before_provider`` is the provider whose documents start earlier (a tie: the one whose
    documents end earlier, the abandoned file; still a tie: QuickBooks, the usual source of
    a migration). ``cutover_date`` is the first issue date of the other provider's
    documents; with ``twins`` (from :func:`find_twins`) only documents without a twin
    count, because a migration copies history (items still open, with their payments) into
    the new file with their old dates, which says nothing about when the new file took
    over: the cut-over is then the first date of the new file's own documents that leaves
    the fewest of either file's own documents on the wrong side. ``updated_at`` is null:
    nobody decided it.
    """
    docs = _conform(documents, DOCUMENT_SCHEMA, "documents", _DOC_NEEDED)
    live = docs.filter(pl.col("status").is_in(list(DEAD_STATUSES)).not_()).join(
        _companies_in_both(docs), on="company_id"
    )
    span = live.group_by("company_id", "provider").agg(
        pl.col("issue_date").min().alias("first"), pl.col("issue_date").max().alias("last")
    )
    ranked = span.sort(
        "company_id", "first", "last", pl.col("provider") != "quickbooks"
    ).with_columns(pl.int_range(pl.len()).over("company_id").alias("_r"))
    before = ranked.filter(pl.col("_r") == 0).select(
        "company_id", pl.col("provider").alias("before_provider")
    )
    after = ranked.filter(pl.col("_r") == 1).select(
        "company_id",
        pl.col("provider").alias("after_provider"),
        pl.col("first").alias("cutover_date"),
    )
    if twins is not None:
        tw = _conform(twins, TWIN_SCHEMA, "twins", list(TWIN_SCHEMA))
        paired = pl.concat(
            [
                tw.select(
                    "company_id", pl.lit(p).alias("provider"), pl.col(f"{p}_document_id")
                ).rename({f"{p}_document_id": "document_id"})
                for p in PROVIDERS
            ]
        )
        own = live.join(paired, on=["company_id", "provider", "document_id"], how="anti").join(
            before, on="company_id"
        )
        # The cut-over splits the documents only one file has: the old file's before it, the
        # new file's from it. Of the new file's own dates, take the first that leaves the
        # fewest documents on the wrong side (a stray unpaired copy moves nothing).
        candidates = (
            own.filter(pl.col("provider") != pl.col("before_provider"))
            .select("company_id", pl.col("issue_date").alias("_d"))
            .unique()
        )
        wrong = (
            candidates.join(own, on="company_id")
            .with_columns(
                (
                    (pl.col("provider") == pl.col("before_provider"))
                    & (pl.col("issue_date") >= pl.col("_d"))
                    | (pl.col("provider") != pl.col("before_provider"))
                    & (pl.col("issue_date") < pl.col("_d"))
                ).alias("_wrong")
            )
            .group_by("company_id", "_d")
            .agg(pl.col("_wrong").sum().alias("_n"))
            .sort("company_id", "_n", "_d")
            .group_by("company_id", maintain_order=True)
            .first()
            .select("company_id", pl.col("_d").alias("_own"))
        )
        # a file with nothing of its own keeps the first date of all its documents
        after = (
            after.join(wrong, on="company_id", how="left")
            .with_columns(pl.coalesce("_own", "cutover_date").alias("cutover_date"))
            .drop("_own")
        )
    return (
        before.join(after, on="company_id")
        .with_columns(pl.lit(None, UTC).alias("updated_at"))
        .select(list(SOURCE_POLICY_SCHEMA))
        .cast(dict(SOURCE_POLICY_SCHEMA))
        .sort("company_id")
    )


def _text(name: str) -> pl.Expr:
    return pl.col(name).fill_null("null")


def _policy(
    documents: pl.DataFrame, twins: pl.DataFrame, policy: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(policy per company in both providers, configured rows rejected)."""
    inferred = infer_policy(documents, twins).with_columns(pl.lit("inferred").alias("policy"))
    if policy is None:
        return inferred, pl.DataFrame(schema=POLICY_REJECT_SCHEMA)
    conf = _conform(policy, SOURCE_POLICY_SCHEMA, "policy", list(SOURCE_POLICY_SCHEMA))
    # the latest decision per company counts
    conf = conf.sort("company_id", "updated_at", nulls_last=False).unique(
        "company_id", keep="last", maintain_order=True
    )
    checks = [
        (pl.col("cutover_date").is_null(), "cutover_date", pl.lit("cutover_date is missing")),
        (
            pl.col("before_provider").is_in(PROVIDERS).not_().fill_null(True),
            "before_provider",
            pl.format("before_provider {} is not quickbooks or xero", _text("before_provider")),
        ),
        (
            pl.col("after_provider").is_in(PROVIDERS).not_().fill_null(True)
            | (pl.col("after_provider") == pl.col("before_provider")).fill_null(False),
            "after_provider",
            pl.format(
                "after_provider {} must be the other of quickbooks and xero",
                _text("after_provider"),
            ),
        ),
    ]
    rejects = pl.concat(
        [
            conf.filter(cond).select(
                "company_id",
                pl.lit(fld).alias("field"),
                (
                    reason + pl.lit("; fix the policy row, the inferred policy is used meanwhile")
                ).alias("reason"),
            )
            for cond, fld, reason in checks
        ]
    ).cast(dict(POLICY_REJECT_SCHEMA))
    good = conf.join(rejects.select("company_id").unique(), on="company_id", how="anti")
    good = good.with_columns(pl.lit("configured").alias("policy"))
    used = pl.concat([good, inferred.join(good.select("company_id"), on="company_id", how="anti")])
    return used.cast(dict(RESOLVED_POLICY_SCHEMA)).sort("company_id"), rejects.sort(
        "company_id", "field"
    )


# --- resolution ---------------------------------------------------------------------------


def _sha_ids(frame: pl.DataFrame, key: pl.Expr) -> pl.Series:
    """``cf_`` + the first 20 hex digits of SHA-256 of ``key`` (DuckDB, vectorised)."""
    keys = frame.select(key.alias("k"))
    con = duckdb.connect()
    try:
        con.register("keys", keys.to_arrow())
        rel = con.sql("SELECT 'cf_' || left(sha256(k), 20) AS id FROM keys")
        # DuckDB 2 names it to_arrow_table; 1.x arrow()
        table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    finally:
        con.close()
    return pl.from_arrow(table)["id"]


def _label(side: str) -> pl.Expr:
    """``QBO 1043`` / ``Xero INV-1043``, or the doc type and id when there is no number."""
    return pl.concat_str(
        [
            pl.lit(SHORT[side]),
            pl.coalesce(
                pl.col(f"{side}_number"),
                pl.concat_str([pl.col("doc_type"), pl.col(f"{side}_document_id")], separator=" "),
            ),
        ],
        separator=" ",
    )


def resolve(
    documents: pl.DataFrame, twins: pl.DataFrame, policy: pl.DataFrame | None = None
) -> ConflictResult:
    """Decide the book of record for every document of a company in both providers.

    ``twins`` comes from :func:`find_twins`; ``policy`` (``SOURCE_POLICY_SCHEMA``) may name
    some companies, the others get :func:`infer_policy` (given ``twins``). A twin pair
    belongs to the period of its earlier issue date; the copy in the provider that is not the
    book of record then is dropped (``book_of_record`` False). Ambiguous pairs drop nothing.
    A live document without a twin, dated in a period where its provider is not the book of
    record, is kept and reported (``only_in_non_authoritative``): it may be missing from the
    book of record.
    Deterministic: the same inputs give the same rows and conflict ids.
    """
    docs = _conform(documents, DOCUMENT_SCHEMA, "documents", _DOC_NEEDED)
    tw = _conform(twins, TWIN_SCHEMA, "twins", list(TWIN_SCHEMA))
    used, rejects = _policy(docs, tw, policy)

    side_cols = ["document_id", "number", "issue_date", "total", "status"]
    q = docs.filter(pl.col("provider") == "quickbooks").select(
        "company_id", *[pl.col(c).alias(f"quickbooks_{c}") for c in side_cols]
    )
    x = docs.filter(pl.col("provider") == "xero").select(
        "company_id", *[pl.col(c).alias(f"xero_{c}") for c in side_cols]
    )
    pairs = (
        tw.join(q, on=["company_id", "quickbooks_document_id"])
        .join(x, on=["company_id", "xero_document_id"])
        .join(used, on="company_id")
    )
    period = pl.min_horizontal("quickbooks_issue_date", "xero_issue_date")
    before = period < pl.col("cutover_date")
    pairs = pairs.with_columns(
        pl.when(pl.col("kind") == "ambiguous")
        .then(pl.lit(None, pl.String))
        .when(before)
        .then(pl.col("before_provider"))
        .otherwise(pl.col("after_provider"))
        .alias("kept_provider"),
        pl.when(before).then(pl.lit("before")).otherwise(pl.lit("from")).alias("_when"),
    )
    cut_text = pl.col("cutover_date").dt.strftime("%Y-%m-%d")
    keep_q = pl.col("kept_provider") == "quickbooks"
    kept_label = pl.when(keep_q).then(_label("quickbooks")).otherwise(_label("xero"))
    dropped_label = pl.when(keep_q).then(_label("xero")).otherwise(_label("quickbooks"))
    why = pl.format("book of record {} {} under the {} policy", "_when", cut_text, "policy")
    mismatch = (
        pl.when(pl.col("kind") == "amount_mismatch")
        .then(
            pl.format(
                "; totals differ (QBO {} vs Xero {} {} minor units): check which is right",
                "quickbooks_total",
                "xero_total",
                "currency",
            )
        )
        .when(pl.col("kind") == "date_mismatch")
        .then(
            pl.format(
                "; issue dates differ (QBO {} vs Xero {})",
                "quickbooks_issue_date",
                "xero_issue_date",
            )
        )
        .otherwise(pl.lit(""))
    )
    resolution = (
        pl.when(pl.col("kind") == "ambiguous")
        .then(
            pl.format(
                "kept both {} and {}: more than one candidate twin ties; pick the twin by hand",
                _label("quickbooks"),
                _label("xero"),
            )
        )
        .otherwise(
            pl.format(
                "kept {} ({}); dropped {} as its twin{}", kept_label, why, dropped_label, mismatch
            )
        )
    )
    details = pl.format(
        "doc_type={}; currency={}; totals quickbooks={} xero={}; "
        "issue dates quickbooks={} xero={}; statuses quickbooks={} xero={}; "
        "number_match={}; name_score={}",
        "doc_type",
        "currency",
        "quickbooks_total",
        "xero_total",
        "quickbooks_issue_date",
        "xero_issue_date",
        "quickbooks_status",
        "xero_status",
        "number_match",
        pl.col("name_score").round(2),
    )
    pair_conflicts = pairs.with_columns(resolution.alias("resolution"), details.alias("details"))

    # dropped: the twin on the side that is not the book of record
    dropped = pl.concat(
        [
            pair_conflicts.filter(pl.col("kept_provider") == "xero").select(
                "company_id",
                pl.lit("quickbooks").alias("provider"),
                pl.col("quickbooks_document_id").alias("document_id"),
            ),
            pair_conflicts.filter(pl.col("kept_provider") == "quickbooks").select(
                "company_id",
                pl.lit("xero").alias("provider"),
                pl.col("xero_document_id").alias("document_id"),
            ),
        ]
    ).with_columns(pl.lit(False).alias("book_of_record"))
    out_docs = documents.join(
        dropped, on=["company_id", "provider", "document_id"], how="left"
    ).with_columns(pl.col("book_of_record").fill_null(True))

    # live documents with no twin (nor a tie) on the side that is not the book of record
    paired = pl.concat(
        [
            tw.select(
                "company_id",
                pl.lit("quickbooks").alias("provider"),
                pl.col("quickbooks_document_id").alias("document_id"),
            ),
            tw.select(
                "company_id",
                pl.lit("xero").alias("provider"),
                pl.col("xero_document_id").alias("document_id"),
            ),
        ]
    )
    authority = (
        pl.when(pl.col("issue_date") < pl.col("cutover_date"))
        .then(pl.col("before_provider"))
        .otherwise(pl.col("after_provider"))
    )
    lone = (
        docs.filter(pl.col("status").is_in(list(DEAD_STATUSES)).not_())
        .join(used, on="company_id")
        .join(paired, on=["company_id", "provider", "document_id"], how="anti")
        .with_columns(authority.alias("_auth"))
        .filter(pl.col("provider") != pl.col("_auth"))
        .with_columns(
            pl.when(pl.col("provider") == "quickbooks")
            .then(pl.col("document_id"))
            .alias("quickbooks_document_id"),
            pl.when(pl.col("provider") == "xero")
            .then(pl.col("document_id"))
            .alias("xero_document_id"),
            pl.col("provider").replace_strict(SHORT).alias("_p"),
            pl.col("_auth").replace_strict(SHORT).alias("_a"),
            pl.when(pl.col("issue_date") < pl.col("cutover_date"))
            .then(pl.lit("before"))
            .otherwise(pl.lit("from"))
            .alias("_when"),
        )
    )
    lone_label = pl.concat_str(
        [
            pl.col("_p"),
            pl.coalesce("number", pl.concat_str(["doc_type", "document_id"], separator=" ")),
        ],
        separator=" ",
    )
    lone = lone.with_columns(
        pl.lit("only_in_non_authoritative").alias("kind"),
        pl.col("provider").alias("kept_provider"),
        pl.format(
            "kept {}: no twin in {}, the book of record {} {} under the {} policy; "
            "enter it there or void it",
            lone_label,
            "_a",
            "_when",
            cut_text,
            "policy",
        ).alias("resolution"),
        pl.format(
            "doc_type={}; currency={}; total={}; issue_date={}; status={}",
            "doc_type",
            "currency",
            "total",
            "issue_date",
            "status",
        ).alias("details"),
    )

    cols = [
        "company_id",
        "kind",
        "quickbooks_document_id",
        "xero_document_id",
        "kept_provider",
        "resolution",
        "policy",
        "details",
    ]
    conflicts = pl.concat([pair_conflicts.select(cols), lone.select(cols)])
    key = pl.concat_str(
        [
            pl.col("company_id"),
            pl.col("quickbooks_document_id").fill_null(""),
            pl.col("xero_document_id").fill_null(""),
        ],
        separator="|",
    )
    conflicts = (
        conflicts.with_columns(_sha_ids(conflicts, key).alias("conflict_id"))
        .select(list(CONFLICT_SCHEMA))
        .cast(dict(CONFLICT_SCHEMA))
        .sort("company_id", "conflict_id")
    )
    return ConflictResult(out_docs, conflicts, used, rejects)


__all__ = [
    "CONFLICT_SCHEMA",
    "KINDS",
    "POLICY_REJECT_SCHEMA",
    "RESOLVED_POLICY_SCHEMA",
    "SOURCE_POLICY_SCHEMA",
    "TWIN_SCHEMA",
    "ConflictError",
    "ConflictResult",
    "TwinConfig",
    "find_twins",
    "infer_policy",
    "resolve",
]
