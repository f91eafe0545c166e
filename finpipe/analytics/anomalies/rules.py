"""Rule detectors on one company's transactions (:data:`features.TRANSACTION_SCHEMA`).

Each rule returns :data:`flags.FLAG_SCHEMA` rows: the transactions it flags with a score in
[0, 1] and a reason naming the numbers. Thresholds live in :class:`RuleConfig`; none is
fitted to labels: they are either accounting conventions (an approval limit is a round
number, a duplicate is paid within days) or read off the company's own history (what a
vendor usually costs, when the company usually posts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from finpipe.analytics.anomalies.features import PAYMENT_TYPES
from finpipe.analytics.anomalies.flags import empty_flags, finish, label, money
from finpipe.analytics.formats import scaled_threshold


@dataclass(frozen=True)
class RuleConfig:
    """Rule thresholds (amounts in minor units)."""

    duplicate_window_days: int = 5
    # Petty purchases repeat at the same price (the same coffee, the same parcel rate), so
    # payments under this amount are not tested for duplicates unless they settle a bill
    # (a bill paid twice is a duplicate at any amount): audit duplicate-payment tests set
    # such a floor, below it a repeat purchase is routine and not worth a person's time.
    duplicate_minimum: int = 100_00
    # Approval limits a company may use; a payment in [limit * (1 - split_band), limit) is
    # "just under" it. Override per deployment when the real limits are known.
    approval_limits: tuple[int, ...] = tuple(
        x * 100 for x in (1_000, 2_000, 2_500, 5_000, 10_000, 20_000, 25_000, 50_000)
    )
    split_band: float = 0.10
    split_window_days: int = 7
    # Given for a two-decimal currency; each payment's currency rescales them (500 JPY).
    round_unit: int = 500_00  # a multiple of 500.00
    round_minimum: int = 1_000_00
    round_vendor_share: float = 0.2  # a vendor billed round sums this often is not flagged
    off_hours_start: int = 6  # entries before 06:00 ...
    off_hours_end: int = 22  # ... or from 22:00 on, or on a Saturday/Sunday, are off hours
    # ... or on a public holiday (month, day), e.g. ((1, 1), (12, 25)). Empty by default:
    # no holiday calendar ships with finpipe, and a company that works through Christmas
    # would see every such entry flagged; configure the deployment's country's holidays.
    holidays: tuple[tuple[int, int], ...] = ()
    off_hours_usual_share: float = 0.02  # ... and flagged where this rare for their kind
    off_hours_min_history: int = 20
    # ... and where the history shows it: the one-sided 95% upper bound of the kind's
    # off-hours rate is at most this. 0 of 20 is no proof: a kind an integration posts at
    # any hour (a quarter of it off hours) shows 0 of 20 once in 300 tries, and a company
    # has hundreds of vendor-and-type kinds.
    off_hours_rare_bound: float = 0.05
    # Machine runs are not a person's postings: at least this many documents created within
    # this many minutes of each other are one run (a bank-feed download, an integration
    # sync: seconds apart; keying a form by hand takes over a minute) ...
    off_hours_batch_size: int = 3
    off_hours_batch_minutes: int = 2
    # ... and so is a lone document created within this many minutes of the time of day at
    # which at least this many of the company's runs started (runs are scheduled: a nightly
    # download drifts by minutes, a person at 3 a.m. does not keep a timetable).
    off_hours_schedule_minutes: int = 5
    off_hours_schedule_runs: int = 10
    new_vendor_days: int = 30
    new_vendor_quantile: float = 0.99  # of the company's purchase amounts
    bank_change_window_days: int = 10
    bank_change_ratio: float = 2.0  # x the vendor's median earlier payment
    bank_change_min_age_days: int = 30
    unusual_user_share: float = 0.02
    unusual_user_min_history: int = 20


DEFAULT_RULES = RuleConfig()


def _ref(frame: pl.DataFrame) -> list[str]:
    return [label(n, d) for n, d in frame.select("number", "document_id").iter_rows()]


_cost_or_unknown = pl.col("standard_code").is_null() | pl.col("standard_code").str.slice(
    0, 1
).is_in(("5", "6"))


def _payments(tx: pl.DataFrame) -> pl.DataFrame:
    """Money out to vendors for costs: owners' drawings, wages and tax settlements (posted
    to equity or liability accounts) are not vendor payments."""
    return tx.filter(
        pl.col("doc_type").is_in(PAYMENT_TYPES)
        & pl.col("contact_id").is_not_null()
        & (pl.col("contact_kind").fill_null("vendor") == "vendor")
        & (pl.col("amount") > 0)
        & _cost_or_unknown
    )


def _grouped_flags(
    members: pl.DataFrame, tx: pl.DataFrame, reasons: dict[int, str], scores: dict[int, float]
) -> pl.DataFrame:
    """Flag rows of every transaction of ``members`` (group, provider, document_id)."""
    groups = pl.DataFrame(
        {
            "group": list(reasons),
            "reason": list(reasons.values()),
            "score": [scores[g] for g in reasons],
        },
        schema={"group": pl.Int64, "reason": pl.String, "score": pl.Float64},
    )
    related = members.group_by("group").agg(
        pl.col("document_id").sort().str.join(",").alias("related_document_ids")
    )
    return (
        members.select("group", "provider", "document_id")
        .join(groups, on="group")
        .join(related, on="group")
        .join(tx, on=["provider", "document_id"])
    )


# ------------------------------------------------------------------ duplicate payments


def duplicate_payments(tx: pl.DataFrame, config: RuleConfig = DEFAULT_RULES) -> pl.DataFrame:
    """Two or more payments to one vendor of the same amount within the window, or bills of
    one vendor with the same normalised number. Score 0.95 when the payments settle the same
    bill (it is then paid more than once), else 0.7."""
    pays = (
        _payments(tx)
        .filter(
            (pl.col("amount") >= scaled_threshold(config.duplicate_minimum, pl.col("currency")))
            | pl.col("paid_document_id").is_not_null()
        )
        .sort("issue_date", "document_id")
    )
    pays = pays.with_columns(
        (pl.col("issue_date").diff().over("contact_id", "amount").dt.total_days())
        .fill_null(10**6)
        .alias("gap")
    )
    pays = pays.with_columns(
        (pl.col("gap") > config.duplicate_window_days)
        .cum_sum()
        .over("contact_id", "amount")
        .alias("run")
    )
    key = ["contact_id", "amount", "run"]
    dup = pays.filter(pl.len().over(key) > 1).with_columns(
        pl.struct(key).rank("dense").cast(pl.Int64).alias("group")
    )
    bills = tx.filter((pl.col("doc_type") == "bill") & pl.col("number").is_not_null()).with_columns(
        pl.col("number")
        .str.to_uppercase()
        .str.replace_all(r"[^A-Z0-9]", "")
        .str.replace(r"^[A-Z]*0*", "")
        .alias("norm")
    )
    bills = bills.filter((pl.col("norm") != "") & (pl.len().over("contact_id", "norm") > 1))
    reasons: dict[int, str] = {}
    scores: dict[int, float] = {}
    for (group,), rows in dup.partition_by("group", as_dict=True, maintain_order=True).items():
        days = (rows["issue_date"].max() - rows["issue_date"].min()).days
        same_bill = rows["paid_document_id"].n_unique() == 1 and rows["paid_document_id"][0]
        reasons[group] = (
            f"paid {rows.height} times {money(rows['amount'][0], rows['currency'][0])} to "
            f"{rows['contact_name'][0]} within {days} day(s): {', '.join(_ref(rows))}"
            + (f" (all against bill {same_bill})" if same_bill else "")
        )
        scores[group] = 0.95 if same_bill else 0.7
    out = [_grouped_flags(dup.select("group", "provider", "document_id"), tx, reasons, scores)]
    if bills.height:
        bills = bills.with_columns(
            (pl.struct("contact_id", "norm").rank("dense").cast(pl.Int64) + 10**6).alias("group")
        )
        b_reasons: dict[int, str] = {}
        for (group,), rows in bills.partition_by("group", as_dict=True).items():
            b_reasons[group] = (
                f"{rows.height} bills of {rows['contact_name'][0]} with the same number "
                f"{rows['number'][0]!r} (normalised {rows['norm'][0]!r}): "
                + ", ".join(money(a, rows["currency"][0]) for a in rows["amount"])
            )
        out.append(
            _grouped_flags(
                bills.select("group", "provider", "document_id"),
                tx,
                b_reasons,
                dict.fromkeys(b_reasons, 0.8),
            )
        )
    return finish(pl.concat(out, how="diagonal_relaxed"), "duplicate_payment", "rules")


# ------------------------------------------------------------------ split payments


def split_payments(tx: pl.DataFrame, config: RuleConfig = DEFAULT_RULES) -> pl.DataFrame:
    """Two or more payments of one bill within the window, each just under the same
    approval limit (``[limit * (1 - split_band), limit)``) and together over it: a payment
    an approver should have seen, cut into pieces that each escape approval. Separate bills
    paid the same week are normal and not grouped; card purchases (no bill) fall under card
    limits, not payment approval, and are left out."""
    limits = sorted(config.approval_limits)
    pays = _payments(tx)
    limit = pl.lit(None, pl.Int64)
    for lim in reversed(limits):  # the smallest limit the amount is just under
        under = (pl.col("amount") < lim) & (pl.col("amount") >= lim * (1 - config.split_band))
        limit = pl.when(under).then(pl.lit(lim, pl.Int64)).otherwise(limit)
    pays = pays.with_columns(limit.alias("limit"), pl.col("paid_document_id").alias("bill"))
    pays = pays.filter(pl.col("limit").is_not_null() & pl.col("bill").is_not_null())
    over = ["contact_id", "bill", "limit"]
    pays = pays.sort("issue_date", "document_id").with_columns(
        pl.col("issue_date").diff().over(over).dt.total_days().fill_null(10**6).alias("gap")
    )
    pays = pays.with_columns(
        (pl.col("gap") > config.split_window_days).cum_sum().over(over).alias("run")
    )
    key = [*over, "run"]
    # same-amount pairs are duplicates, not splits
    groups = pays.filter(
        (pl.len().over(key) > 1)
        & (pl.col("amount").sum().over(key) > pl.col("limit"))
        & (pl.col("amount").n_unique().over(key) > 1)
    ).with_columns(pl.struct(key).rank("dense").cast(pl.Int64).alias("group"))
    reasons: dict[int, str] = {}
    scores: dict[int, float] = {}
    for (group,), rows in groups.partition_by("group", as_dict=True, maintain_order=True).items():
        ccy = rows["currency"][0]
        days = (rows["issue_date"].max() - rows["issue_date"].min()).days
        bill = rows["bill"][0]
        reasons[group] = (
            f"{rows.height} payments to {rows['contact_name'][0]} within {days} day(s), each "
            f"just under {money(rows['limit'][0], ccy)} ("
            + ", ".join(money(a, ccy, suffix=False) for a in rows["amount"])
            + f"; together {money(int(rows['amount'].sum()), ccy)}): {', '.join(_ref(rows))}"
            + f", all against bill {bill}"
        )
        scores[group] = min(1.0, 0.7 + 0.1 * rows.height)
    flagged = _grouped_flags(groups.select("group", "provider", "document_id"), tx, reasons, scores)
    return finish(flagged, "split_payment", "rules")


# ------------------------------------------------------------------ round amounts


def round_amounts(tx: pl.DataFrame, config: RuleConfig = DEFAULT_RULES) -> pl.DataFrame:
    """Payments of an exact multiple of ``round_unit`` (at least ``round_minimum``) to a
    vendor whose other payments are seldom round."""
    pays = _payments(tx)
    ccy = pl.col("currency")
    is_round = (pl.col("amount") % scaled_threshold(config.round_unit, ccy) == 0) & (
        pl.col("amount") >= scaled_threshold(config.round_minimum, ccy)
    )
    pays = pays.with_columns(is_round.alias("round"))
    others = pl.len().over("contact_id") - 1
    round_others = pl.col("round").cast(pl.Int64).sum().over("contact_id") - 1
    pays = pays.with_columns(
        others.alias("others"),
        (round_others / pl.when(others > 0).then(others).otherwise(1)).alias("share"),
    )
    hit = pays.filter(pl.col("round") & (pl.col("share") < config.round_vendor_share))
    if hit.is_empty():
        return empty_flags()
    # 1,000s rounder than 500s; a vendor never paid round before is the clearest case
    zeros = (
        pl.when(pl.col("amount") % scaled_threshold(1_000_00, ccy) == 0).then(0.15).otherwise(0.0)
    )
    hit = hit.with_columns((0.65 + zeros + 0.2 * (1 - pl.col("share") * 5)).alias("score"))
    reasons = [
        f"payment of exactly {money(a, c)} to {n or 'an unnamed payee'}; "
        f"{s:.0%} of its {o} other payment(s) are round"
        for a, c, n, s, o in hit.select(
            "amount", "currency", "contact_name", "share", "others"
        ).iter_rows()
    ]
    return finish(hit.with_columns(pl.Series("reason", reasons)), "round_amount", "rules")


# ------------------------------------------------------------------ off-hours postings


def _wilson_upper(share: pl.Expr, n: pl.Expr, z: float = 1.645) -> pl.Expr:
    """One-sided upper confidence bound (95% at the default ``z``) of a rate observed as
    ``share`` of ``n`` (Wilson score interval; ``n`` of 0 gives 1)."""
    n = n.cast(pl.Float64)
    z2 = z * z
    centre = share + z2 / (2 * n)
    spread = z * (share * (1 - share) / n + z2 / (4 * n * n)).sqrt()
    return pl.when(n > 0).then((centre + spread) / (1 + z2 / n)).otherwise(1.0)


def _machine_made(t: pl.DataFrame, config: RuleConfig) -> pl.Series:
    """Whether each row of ``t`` (non-null ``entered_at``; ``clock`` the company's wall
    clock) was created by a machine run rather than keyed by a person.

    Bank-feed downloads and integration syncs create all the documents of one run within
    seconds of each other; a person keying documents through the forms needs well over a
    minute for each. So a document is machine-made where it is one of at least
    ``off_hours_batch_size`` documents of the company (and provider) created within
    ``off_hours_batch_minutes`` of each other. Runs are scheduled, so a run that happens to
    create a single document does so at the company's usual run time: a lone document
    created within ``off_hours_schedule_minutes`` of the time of day at which at least
    ``off_hours_schedule_runs`` batches of the company started (or an hour either side:
    summer time) is machine-made too. A person keying an expense at 3 a.m. is neither."""
    if t.is_empty():
        return pl.Series("machine", [], dtype=pl.Boolean)
    keys = [c for c in ("company_id", "provider") if c in t.columns]
    group = (
        pl.concat_str([pl.col(c).cast(pl.String) for c in keys], separator="|").rank("dense")
        if keys
        else pl.lit(1)
    )
    frame = t.select(
        group.cast(pl.Int64).alias("g"),
        pl.col("entered_at").dt.replace_time_zone(None).cast(pl.Datetime("us")).cast(pl.Int64),
        (pl.col("clock").dt.hour().cast(pl.Int64) * 60 + pl.col("clock").dt.minute()).alias("m"),
    )
    g = frame["g"].to_numpy()
    ts = frame["entered_at"].to_numpy()
    minute = frame["m"].to_numpy()
    window = config.off_hours_batch_minutes * 60_000_000
    # one sorted axis with the groups far apart, so a window never spans two groups
    span = int(ts.max() - ts.min()) + 2 * window + 1
    axis = (ts - ts.min()) + (g - 1) * span
    order = np.argsort(axis, kind="stable")
    srt = axis[order]
    # every window [t, t + w] opened at a document and holding enough documents is a batch
    end = np.searchsorted(srt, srt + window, side="right")
    opens = (end - np.arange(len(srt))) >= config.off_hours_batch_size
    cover = np.zeros(len(srt) + 1, dtype=np.int64)
    np.add.at(cover, np.flatnonzero(opens), 1)
    np.add.at(cover, end[opens], -1)
    batch_sorted = np.cumsum(cover[:-1]) > 0
    batch = np.empty(len(srt), dtype=bool)
    batch[order] = batch_sorted
    # a batch starts where the previous document of the group is not within the window
    prev_gap = np.r_[np.inf, np.diff(srt).astype(np.float64)]
    starts = order[batch_sorted & (prev_gap > window)]
    # runs started per minute of the day, per group, summed over +-schedule minutes
    n_groups = int(g.max())
    runs = np.zeros((n_groups, 1440), dtype=np.int64)
    np.add.at(runs, (g[starts] - 1, minute[starts]), 1)
    reach = config.off_hours_schedule_minutes
    near = sum(np.roll(runs, shift, axis=1) for shift in range(-reach, reach + 1))
    # A run scheduled on another zone's clock (QuickBooks downloads on Pacific time) moves by
    # an hour against the company's clock in the weeks when only one of the two zones is on
    # summer time; an hour either side of the usual time counts as the usual time.
    near = np.maximum(near, np.maximum(np.roll(near, 60, axis=1), np.roll(near, -60, axis=1)))
    scheduled = near[g - 1, minute] >= config.off_hours_schedule_runs
    return pl.Series("machine", batch | scheduled)


def off_hours_postings(tx: pl.DataFrame, config: RuleConfig = DEFAULT_RULES) -> pl.DataFrame:
    """Documents entered at night, at the weekend or on a holiday, on the company's own
    clock (``entered_local``; UTC where the zone is unknown), where that is rare for their
    kind.

    "Rare" is read off the company's own entries: among the other documents of the same
    type (or, failing that, the same type and contact) at most ``off_hours_usual_share``
    were entered off hours, over at least ``off_hours_min_history`` of them, and enough of
    them that the rate's upper bound is within ``off_hours_rare_bound``. Documents created
    by machine runs (a nightly bank-feed download, an integration sync: a batch created
    within minutes, or a lone document at the company's scheduled run time; see
    ``_machine_made``) are left out of both the flags and the history: QuickBooks does not
    name the creating user, the timing does. A person keying a payment at 3 a.m. is
    flagged. Where the posting user is known (``created_by``) the user's own habit decides
    instead: entries of a user who often posts off hours (over
    ``off_hours_min_history`` of their other documents) are not flagged, any other user's
    are, a user with little history included."""
    # Office hours are the company's: 02:00 in Auckland is 13:00 UTC. Where the provider
    # gives no zone the UTC clock stands in.
    t = tx.filter(pl.col("entered_at").is_not_null()).with_columns(
        pl.coalesce(pl.col("entered_local"), pl.col("entered_at").dt.replace_time_zone(None)).alias(
            "clock"
        )
    )
    # Runs are told from all the company's documents (a download creates deposits and
    # expenses alike); what runs create is neither flagged nor a person's habit.
    t = t.filter(~_machine_made(t, config)).filter(
        pl.col("doc_type").is_in(
            (*PAYMENT_TYPES, "customer_payment", "bill", "invoice", "journal", "transfer")
        )
    )
    clock = pl.col("clock")
    hour = clock.dt.hour()
    odd = (
        (hour < config.off_hours_start)
        | (hour >= config.off_hours_end)
        | (clock.dt.weekday() >= 6)
        | (clock.dt.month().cast(pl.Int64) * 100 + clock.dt.day().cast(pl.Int64)).is_in(
            [m * 100 + d for m, d in config.holidays]
        )
    )
    t = t.with_columns(odd.cast(pl.Int64).alias("odd"))
    cols = []
    for name, key in {
        "type": ["doc_type"],
        "contact": ["doc_type", "contact_id"],
        "user": ["created_by"],
    }.items():
        n = pl.len().over(key) - 1
        k = pl.col("odd").sum().over(key) - pl.col("odd")
        cols += [
            n.alias(f"n_{name}"),
            k.alias(f"k_{name}"),
            (k / pl.when(n > 0).then(n).otherwise(1)).alias(f"s_{name}"),
        ]
    t = t.with_columns(cols)
    rare = pl.lit(False)
    for name in ("type", "contact"):
        n, s = pl.col(f"n_{name}"), pl.col(f"s_{name}")
        rare = rare | (
            (n >= config.off_hours_min_history)
            & (s <= config.off_hours_usual_share)
            & (_wilson_upper(s, n) <= config.off_hours_rare_bound)
        )
    # With the posting user known the question is the user's habit, not the kind's: someone
    # (or some integration) who often posts off hours is not flagged, anyone else is, a user
    # with too little history to have a habit included ("a user who does not normally post").
    habitual = (pl.col("n_user") >= config.off_hours_min_history) & (
        pl.col("s_user") > config.off_hours_usual_share
    )
    by_user = pl.col("created_by").is_not_null()
    rare = pl.when(by_user).then(~habitual).otherwise(rare)
    hit = t.filter((pl.col("odd") == 1) & rare)
    if hit.is_empty():
        return empty_flags()
    share = pl.min_horizontal(
        pl.when(pl.col("n_type") >= config.off_hours_min_history).then(pl.col("s_type")),
        pl.when(pl.col("n_contact") >= config.off_hours_min_history).then(pl.col("s_contact")),
    )
    # a user without a habit yet (little history) counts as one who never posts off hours
    user_share = pl.when(pl.col("n_user") >= config.off_hours_min_history).then(pl.col("s_user"))
    share = pl.when(by_user).then(user_share.fill_null(0.0)).otherwise(share)
    hit = hit.with_columns(share.alias("share"))
    hit = hit.with_columns((0.95 - 5 * pl.col("share")).clip(0.0, 1.0).alias("score"))

    def history(
        kind: str, user: str | None, s: float, n: int, k_user: int, n_user: int, who: str | None
    ) -> str:
        if user is not None:
            return f" by {user}, who entered {k_user} of {n_user} other document(s) off hours"
        return (
            f"; only {s:.1%} of {n} other {kind}s" + (f" to {who}" if who else "")
        ) + " were entered off hours"

    reasons = [
        f"{dt_type.replace('_', ' ')} {label(num, doc)} of {money(a, c)} entered "
        + (
            f"{at:%a %Y-%m-%d %H:%M} UTC"
            if local is None
            else f"{local:%a %Y-%m-%d %H:%M} company time ({at:%H:%M} UTC)"
        )
        + history(
            dt_type.replace("_", " "), user, s, n, k_user, n_user, who if by_contact else None
        )
        for (
            dt_type,
            num,
            doc,
            a,
            c,
            at,
            local,
            user,
            s,
            n,
            k_user,
            n_user,
            who,
            by_contact,
        ) in hit.select(
            "doc_type",
            "number",
            "document_id",
            "amount",
            "currency",
            "entered_at",
            "entered_local",
            "created_by",
            "share",
            pl.when(pl.col("share") == pl.col("s_type"))
            .then("n_type")
            .otherwise("n_contact")
            .alias("n"),
            "k_user",
            "n_user",
            "contact_name",
            (pl.col("share") != pl.col("s_type")).alias("by_contact"),
        ).iter_rows()
    ]
    return finish(hit.with_columns(pl.Series("reason", reasons)), "off_hours_posting", "rules")


# ------------------------------------------------------------------ new vendor, large payment


def _vendor_first_seen(tx: pl.DataFrame, contacts: pl.DataFrame) -> pl.DataFrame:
    """Per contact: ``first_seen``, the earlier of its creation (where the provider gives
    it) and its first document, and ``existed_by``, that or its last update if earlier
    (a record updated on a day existed then; Xero gives no creation date, only the update).

    Both are taken over every contact of the company with the same name: a migration
    re-creates each vendor in the new provider's file, and the vendor paid for years in the
    old one is not new in the new one."""
    first_doc = (
        tx.filter(pl.col("contact_id").is_not_null())
        .group_by("contact_id")
        .agg(
            pl.col("issue_date").min().alias("first_doc"),
            pl.col("contact_name").drop_nulls().first().alias("doc_name"),
        )
    )
    created = contacts.select(
        "contact_id",
        "name",
        "bank_account_number",
        "updated_at",
        pl.col("created_at").dt.date().alias("created"),
    ).unique("contact_id")
    seen = first_doc.join(created, on="contact_id", how="left")
    same_vendor = (
        pl.coalesce("name", "doc_name")
        .str.to_lowercase()
        .str.replace_all(r"[^a-z0-9]", "")
        .fill_null(pl.col("contact_id"))
    )
    own_first = pl.min_horizontal("first_doc", "created")
    return seen.with_columns(
        own_first.min().over(same_vendor).alias("first_seen"),
        pl.col("created").min().over(same_vendor).alias("created_first"),
        pl.min_horizontal(own_first, pl.col("updated_at").dt.date())
        .min()
        .over(same_vendor)
        .alias("existed_by"),
    ).drop("doc_name")


def new_vendor_large_payments(
    tx: pl.DataFrame, contacts: pl.DataFrame, config: RuleConfig = DEFAULT_RULES
) -> pl.DataFrame:
    """Bills and payments to a vendor first seen (created, first billed, or its record last
    updated, under any provider's id of the same name) less than ``new_vendor_days``
    before, above the ``new_vendor_quantile`` of what the company pays its established
    vendors. A vendor already there when the books start is not new: one created before
    them, or without a creation date (Xero) first seen in their first ``new_vendor_days``."""
    purchases = tx.filter(
        pl.col("doc_type").is_in(("bill", "bill_payment", "expense"))
        & (pl.col("contact_kind").fill_null("vendor") == "vendor")
        & _cost_or_unknown
        & pl.col("contact_id").is_not_null()
    )
    books_start = tx["issue_date"].min()
    seen = _vendor_first_seen(tx, contacts)
    # the earliest sign of the vendor, its last update included (Xero's only date on it)
    purchases = purchases.join(
        seen.select("contact_id", pl.col("existed_by").alias("first_seen"), "created_first"),
        on="contact_id",
    ).with_columns((pl.col("issue_date") - pl.col("first_seen")).dt.total_days().alias("age"))
    # New: created after the books start where the provider dates the record (QuickBooks);
    # without a creation date, first seen well after the start (a vendor billed in the first
    # weeks of the books was most likely there before them).
    after_start = (
        pl.when(pl.col("created_first").is_not_null())
        .then(pl.col("first_seen") > books_start)
        .otherwise(pl.col("first_seen") > books_start + pl.duration(days=config.new_vendor_days))
    )
    new = (pl.col("age") <= config.new_vendor_days) & after_start
    # "large" against what established vendors are paid (new vendors' own amounts aside)
    usual = purchases.filter(~new)
    if usual.height < 20:
        return empty_flags()
    cut = float(usual["amount"].quantile(config.new_vendor_quantile) or 0)
    hit = purchases.filter(new & (pl.col("amount") > cut))
    if hit.is_empty():
        return empty_flags()
    hit = hit.with_columns(
        (0.7 + 0.3 * (1 - pl.col("age") / (config.new_vendor_days + 1))).alias("score")
    )
    reasons = [
        f"{t.replace('_', ' ')} {label(num, doc, day)} of {money(a, c)} to {who}, first seen "
        f"{first} ({age} day(s) before); above {config.new_vendor_quantile:.0%} of "
        f"established vendors' purchases ({money(int(cut), c)})"
        for t, num, doc, day, a, c, who, first, age in hit.select(
            "doc_type",
            "number",
            "document_id",
            "issue_date",
            "amount",
            "currency",
            "contact_name",
            "first_seen",
            "age",
        ).iter_rows()
    ]
    return finish(
        hit.with_columns(pl.Series("reason", reasons)), "new_vendor_large_payment", "rules"
    )


# ------------------------------------------------------------------ bank details changed


def bank_change_payments(
    tx: pl.DataFrame, contacts: pl.DataFrame, config: RuleConfig = DEFAULT_RULES
) -> pl.DataFrame:
    """Payments to a vendor within ``bank_change_window_days`` after its record (which holds
    its bank details) was changed, at least ``bank_change_ratio`` x its median earlier
    payment and more than it was ever paid before (or, for a change too early in the books
    to have payments before it, after the window). A record changed within
    ``bank_change_min_age_days`` of its first use is a set-up edit, not a change, unless
    that first use is at the start of the books (the vendor is older than they are).

    The pattern is the payment-redirection fraud: once the details point to the new account,
    a payment the vendor never received before (an "urgent" settlement) follows. Vendors
    that really change banks keep being paid their usual sums, now and then a large one;
    neither providers' API says which field of the record changed, so a payment within the
    vendor's own range after an edit is no evidence."""
    min_age = pl.duration(days=config.bank_change_min_age_days)
    books_start = tx["issue_date"].min()
    seen = _vendor_first_seen(tx, contacts).filter(
        pl.col("updated_at").is_not_null()
        & (
            (pl.col("updated_at").dt.date() > pl.col("first_seen") + min_age)
            # first seen at the start of the books (Xero gives no creation date): the vendor
            # was there before them, its first document says nothing about its set-up
            | (pl.col("first_seen") <= pl.lit(books_start) + min_age)
        )
    )
    # Every payment to the vendor tells what it is usually paid (card and direct-debit
    # expenses too); the transfers to its bank account (bill payments) are what is judged.
    pays = _payments(tx)
    if seen.is_empty() or pays.filter(pl.col("doc_type") == "bill_payment").is_empty():
        return empty_flags()
    pays = pays.join(
        seen.select("contact_id", "updated_at", "bank_account_number"), on="contact_id"
    )
    changed = pl.col("updated_at").dt.date()
    window = (pl.col("issue_date") >= changed) & (
        pl.col("issue_date") <= changed + pl.duration(days=config.bank_change_window_days)
    )
    # What the vendor is usually paid: its payments before the change; for a change too
    # early in the books to have any before it, its payments after the window stand in.
    reference = pays.filter(~window).with_columns((pl.col("issue_date") < changed).alias("before"))
    reference = reference.filter(pl.col("before").any().over("contact_id") == pl.col("before"))
    usual = reference.group_by("contact_id").agg(
        pl.col("amount").median().alias("median_usual"),
        pl.col("amount").max().alias("max_usual"),
        pl.len().alias("n_usual"),
        pl.col("before").first(),
    )
    hit = (
        pays.filter(window & (pl.col("doc_type") == "bill_payment"))
        .join(usual, on="contact_id")
        .filter(
            (pl.col("amount") >= config.bank_change_ratio * pl.col("median_usual"))
            & (pl.col("amount") > pl.col("max_usual"))
        )
    )
    if hit.is_empty():
        return empty_flags()
    ratio = pl.col("amount") / pl.col("median_usual")
    hit = hit.with_columns(ratio.alias("ratio"), (0.6 + 0.1 * ratio.log(2)).alias("score"))
    reasons = [
        f"paid {money(a, c)} ({r:.1f}x its median of {money(int(m), c)} over {n} "
        f"{'earlier' if before else 'later'} payment(s), the largest {money(int(mx), c)}) "
        f"to {who} {(d - u.date()).days} day(s) "
        f"after its record and bank details changed on {u:%Y-%m-%d} (account now "
        f"{acct or 'not given'})"
        for a, c, r, m, mx, n, before, who, d, u, acct in hit.select(
            "amount",
            "currency",
            "ratio",
            "median_usual",
            "max_usual",
            "n_usual",
            "before",
            "contact_name",
            "issue_date",
            "updated_at",
            "bank_account_number",
        ).iter_rows()
    ]
    return finish(hit.with_columns(pl.Series("reason", reasons)), "bank_details_changed", "rules")


# ------------------------------------------------------------------ unusual user


def unusual_users(tx: pl.DataFrame, config: RuleConfig = DEFAULT_RULES) -> pl.DataFrame:
    """Documents posted to an account by a user who posts at most ``unusual_user_share`` of
    that account's documents (over ``unusual_user_min_history`` known). Needs ``created_by``:
    without posting users it flags nothing."""
    t = tx.filter(pl.col("created_by").is_not_null() & pl.col("account_id").is_not_null())
    if t.is_empty():
        return empty_flags()
    t = t.with_columns(
        (pl.len().over("account_id") - 1).alias("n"),
        (pl.len().over("account_id", "created_by") - 1).alias("k"),
    )
    share = pl.col("k") / pl.when(pl.col("n") > 0).then(pl.col("n")).otherwise(1)
    hit = t.filter(
        (pl.col("n") >= config.unusual_user_min_history) & (share <= config.unusual_user_share)
    ).with_columns(share.alias("share"), (0.9 - 10 * share).alias("score"))
    reasons = [
        f"{label(num, doc, day)} ({money(a, c)}) posted to account {acct} by {user}, who "
        f"posted {k} of its {n} other document(s)"
        for num, doc, day, a, c, acct, user, k, n in hit.select(
            "number",
            "document_id",
            "issue_date",
            "amount",
            "currency",
            "account_id",
            "created_by",
            "k",
            "n",
        ).iter_rows()
    ]
    return finish(hit.with_columns(pl.Series("reason", reasons)), "unusual_user", "rules")


def run_rules(
    tx: pl.DataFrame, contacts: pl.DataFrame, config: RuleConfig = DEFAULT_RULES
) -> pl.DataFrame:
    """Every rule's flags (none for a company without transactions)."""
    if tx.is_empty():
        return empty_flags()
    return pl.concat(
        [
            duplicate_payments(tx, config),
            split_payments(tx, config),
            round_amounts(tx, config),
            off_hours_postings(tx, config),
            new_vendor_large_payments(tx, contacts, config),
            bank_change_payments(tx, contacts, config),
            unusual_users(tx, config),
        ]
    )
