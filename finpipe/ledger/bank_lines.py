"""Canonical bank lines: every bank source of a company merged into one table (no Dagster).

Input: the frames each source produced (:mod:`finpipe.ledger.bank_sources` schemas). The
merge, vectorised in Polars:

1. **Removed lines go.** Rows the source soft-deleted (aggregator ``removed``, pending lines
   a later pull no longer returned) never reach the canonical table.
2. **Statement accounts join their API account.** A statement file names its account by IBAN
   or account number; when an API source reports an account with the same IBAN / number,
   the file's lines are that account's lines.
3. **Pending lines are replaced by their posted line.** The APIs do this themselves (a
   pending line a later pull no longer returns is soft-deleted, or the posted line names it
   in ``pending_source_id``, which the merge honours). A statement file's pending line, which
   nothing withdraws, is dropped when a booked line of the same account, amount and
   currency was booked 0..``PENDING_WINDOW_DAYS`` days after it, one to one.
4. **One line per transaction across sources.** Booked lines of one account with the same
   booked date, amount and currency are numbered within each source; the k-th of each
   source are the same transaction. The API's version is kept (richer, and it is what
   later syncs update), the statement's is recorded in ``also_reported_by``.

:func:`balance_continuity` proves each account's lines against the balances the banks
reported: every day's closing balance (anchored on the latest reported balance) must be a
running balance the bank printed that day, and every reported balance must equal the anchor
plus the booked movements up to its date.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from finpipe.ledger.bank_sources import (
    SOURCE_ACCOUNT_SCHEMA,
    SOURCE_LINE_SCHEMA,
    conform,
)
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES

PENDING_WINDOW_DAYS = 10
# Lower rank wins when two sources report the same transaction.
SOURCE_PRIORITY = {"openbanking": 0, "berlingroup": 0, "aggregator": 0, "statement": 1}


@dataclass(frozen=True)
class MergeStats:
    """What the merge did, for metadata and the demo summary."""

    source_lines: int
    deleted: int
    pending_replaced: int
    duplicates_collapsed: int
    statement_accounts_mapped: int
    lines: int
    pending: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _normalise_id(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"[\s-]", "").str.to_uppercase()


def _account_aliases(accounts: pl.DataFrame, *, own_ids: bool = False) -> pl.DataFrame:
    """(alias, bank_account_id) for every API account's IBAN and account number (and, with
    ``own_ids``, every account's own id: canonical accounts name themselves)."""
    api = accounts if own_ids else accounts.filter(pl.col("source") != "statement")
    columns = (
        ("bank_account_id", "iban", "account_number") if own_ids else ("iban", "account_number")
    )
    return (
        pl.concat(
            [
                api.select(_normalise_id(pl.col(c)).alias("alias"), "bank_account_id")
                for c in columns
            ]
        )
        .filter(pl.col("alias").is_not_null() & (pl.col("alias") != ""))
        .unique(subset="alias", keep="first", maintain_order=True)
    )


def canonical_account_ids(
    frame: pl.DataFrame, accounts: pl.DataFrame, column: str = "tenant_id"
) -> pl.DataFrame:
    """``frame`` with ``column`` (an account identification from a statement file: IBAN or
    account number) replaced by the canonical ``bank_account_id`` of ``accounts``
    (ledger.bank_accounts rows); identifications no account knows are kept as they are."""
    aliases = _account_aliases(accounts, own_ids=True)
    return (
        frame.with_columns(_normalise_id(pl.col(column)).alias("_alias"))
        .join(aliases, left_on="_alias", right_on="alias", how="left")
        .with_columns(pl.coalesce("bank_account_id", column).alias("bank_account_id"))
        .drop("_alias", column)
    )


def _masked_aliases(accounts: pl.DataFrame) -> pl.DataFrame:
    """(last digits, currency, bank_account_id) of API accounts known only by a masked
    number (the aggregator's ``****1234``), where those digits and the currency name one
    account of the company alone."""
    masked = (
        accounts.filter(
            (pl.col("source") != "statement")
            & pl.col("account_number").str.contains(r"^[*Xx•]+\d{2,}$")
        )
        .select(
            "company_id",
            pl.col("account_number").str.extract(r"(\d+)$").alias("digits"),
            "currency",
            "bank_account_id",
        )
        .filter(pl.len().over("company_id", "digits", "currency") == 1)
    )
    return masked


def _map_statement_accounts(
    lines: pl.DataFrame, accounts: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    aliases = _account_aliases(accounts)
    statement = accounts.filter(pl.col("source") == "statement").with_columns(
        _normalise_id(pl.col("bank_account_id")).alias("alias")
    )
    exact = statement.join(aliases, on="alias", how="inner", suffix="_api").select(
        pl.col("bank_account_id").alias("from_id"), pl.col("bank_account_id_api").alias("to_id")
    )
    # A file names the full number, the aggregator only its last digits: same digits at
    # the end, same currency, and no other candidate.
    masked = _masked_aliases(accounts)
    by_mask = (
        statement.join(exact, left_on="bank_account_id", right_on="from_id", how="anti")
        .join(masked, on=["company_id", "currency"], how="inner", suffix="_api")
        .filter(pl.col("alias").str.ends_with(pl.col("digits")))
        .filter(pl.len().over("bank_account_id") == 1)
        .select(
            pl.col("bank_account_id").alias("from_id"),
            pl.col("bank_account_id_api").alias("to_id"),
        )
    )
    mapping = pl.concat([exact, by_mask])
    if mapping.is_empty():
        return lines, accounts, 0
    lines = (
        lines.join(mapping, left_on="bank_account_id", right_on="from_id", how="left")
        .with_columns(
            pl.when(pl.col("source") == "statement")
            .then(pl.coalesce("to_id", "bank_account_id"))
            .otherwise(pl.col("bank_account_id"))
            .alias("bank_account_id")
        )
        .drop("to_id")
    )
    # The statement's own account row is folded into the API one (its balance may be newer).
    mapped = set(mapping.get_column("from_id").to_list())
    accounts = accounts.filter(
        ~((pl.col("source") == "statement") & pl.col("bank_account_id").is_in(list(mapped)))
    )
    return lines, accounts, len(mapped)


def _replace_pending(lines: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    booked = lines.filter(pl.col("status") == "booked")
    pending = lines.filter(pl.col("status") == "pending")
    if pending.is_empty():
        return lines, 0
    linked = booked.filter(pl.col("pending_source_id").is_not_null()).select(
        "bank_account_id", "source", pl.col("pending_source_id").alias("source_id")
    )
    pending = pending.join(linked, on=["bank_account_id", "source", "source_id"], how="anti")
    explicit = lines.filter(pl.col("status") == "pending").height - pending.height
    # The APIs manage their own pending lines (a snapshot per pull, or an explicit link), so
    # a pending line an API still reports IS pending: only statement files' pending lines,
    # which no later file withdraws, are paired implicitly. The n-th pending line of
    # (account, amount, currency) goes with the n-th booked line of the same key booked
    # inside the window after it and not already linked.
    managed = pending.filter(pl.col("source") != "statement")
    pending = pending.filter(pl.col("source") == "statement")
    key = ["bank_account_id", "amount", "currency"]
    candidates = (
        pending.with_row_index("_p")
        .join(
            booked.filter(pl.col("pending_source_id").is_null()).with_row_index("_b"),
            on=key,
            how="inner",
            suffix="_b",
        )
        .filter(
            (pl.col("booked_date_b") >= pl.col("booked_date"))
            & (
                (pl.col("booked_date_b") - pl.col("booked_date")).dt.total_days()
                <= PENDING_WINDOW_DAYS
            )
        )
        .sort("_p", "booked_date_b", "_b")
    )
    # Greedy one-to-one: each pending takes its earliest free booked line. A loop, but over
    # candidate pairs of pending lines only (a few per account), not over all lines.
    taken_b: set[int] = set()
    replaced: list[int] = []
    for p, b in candidates.select("_p", "_b").iter_rows():
        if p in replaced[-1:] or b in taken_b:
            continue
        taken_b.add(b)
        replaced.append(p)
    keep = pending.with_row_index("_p").filter(~pl.col("_p").is_in(replaced)).drop("_p")
    return pl.concat([booked, managed, keep]), explicit + len(replaced)


def _collapse_duplicates(lines: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    key = ["bank_account_id", "status", "booked_date", "amount", "currency"]
    ranked = lines.with_columns(
        pl.col("source").replace_strict(SOURCE_PRIORITY, default=9).alias("_priority"),
        pl.int_range(pl.len()).over([*key, "source"], order_by="source_id").alias("_occurrence"),
    )
    group = [*key, "_occurrence"]
    ranked = ranked.sort([*group, "_priority", "source"]).with_columns(
        pl.int_range(pl.len()).over(group).alias("_rank"),
        (
            pl.concat_str([pl.col("source"), pl.lit(":"), pl.col("source_id")])
            .implode()
            .over(group)
        ).alias("_reporters"),
    )
    kept = ranked.filter(pl.col("_rank") == 0)
    others = kept.with_columns(
        pl.col("_reporters")
        .list.slice(1)
        .list.join(",")
        .replace("", None)
        .alias("also_reported_by")
    )
    return others.drop("_priority", "_occurrence", "_rank", "_reporters"), (
        lines.height - kept.height
    )


def merge_bank_lines(
    source_lines: list[pl.DataFrame], source_accounts: list[pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame, MergeStats]:
    """``ledger.bank_lines`` and ``ledger.bank_accounts`` rows of one company (or several)
    from every source's frames, plus what the merge did."""
    lines = pl.concat(
        [conform(f, SOURCE_LINE_SCHEMA, "bank source lines") for f in source_lines]
        or [pl.DataFrame(schema=SOURCE_LINE_SCHEMA)]
    )
    accounts = pl.concat(
        [conform(f, SOURCE_ACCOUNT_SCHEMA, "bank source accounts") for f in source_accounts]
        or [pl.DataFrame(schema=SOURCE_ACCOUNT_SCHEMA)]
    )
    total = lines.height
    lines = lines.filter(~pl.col("deleted"))
    deleted = total - lines.height
    lines, accounts, mapped = _map_statement_accounts(lines, accounts)
    lines, replaced = _replace_pending(lines)
    lines, collapsed = _collapse_duplicates(lines)
    lines = lines.with_columns(
        pl.concat_str(
            [pl.col("source"), pl.lit(":"), pl.col("bank_account_id"), pl.lit(":"), "source_id"]
        ).alias("line_id"),
        pl.col("description").fill_null(""),
    ).sort("company_id", "bank_account_id", "booked_date", "line_id")
    canonical = lines.select(BANK_LINES.column_names).cast(BANK_LINES.polars_schema())  # type: ignore[arg-type]
    canonical_accounts = _accounts(accounts, canonical)
    stats = MergeStats(
        source_lines=total,
        deleted=deleted,
        pending_replaced=replaced,
        duplicates_collapsed=collapsed,
        statement_accounts_mapped=mapped,
        lines=canonical.height,
        pending=canonical.filter(pl.col("status") == "pending").height,
    )
    return canonical, canonical_accounts, stats


def _accounts(accounts: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    # Latest reported balance wins when several rows describe one account.
    accounts = accounts.sort("reported_balance_date", nulls_last=False, descending=False).unique(
        subset=["company_id", "bank_account_id"], keep="last", maintain_order=True
    )
    per_account = lines.group_by("company_id", "bank_account_id").agg(
        pl.len().cast(pl.Int64).alias("lines"),
        pl.col("booked_date").filter(pl.col("status") == "booked").min().alias("first_booked_date"),
        pl.col("booked_date").filter(pl.col("status") == "booked").max().alias("last_booked_date"),
    )
    # A line whose account no source described still gets an account row.
    described = accounts.join(
        per_account, on=["company_id", "bank_account_id"], how="full", coalesce=True
    )
    currency = lines.group_by("company_id", "bank_account_id").agg(
        pl.col("currency").first().alias("_ccy"), pl.col("source").first().alias("_src")
    )
    described = described.join(
        currency, on=["company_id", "bank_account_id"], how="left"
    ).with_columns(
        pl.coalesce("currency", "_ccy").alias("currency"),
        pl.coalesce("source", "_src").alias("source"),
        pl.col("lines").fill_null(0),
    )
    return (
        described.select(BANK_ACCOUNTS.column_names)
        .cast(BANK_ACCOUNTS.polars_schema())  # type: ignore[arg-type]
        .sort("company_id", "bank_account_id")
    )


def balance_continuity(
    lines: pl.DataFrame, balances: pl.DataFrame | None = None, accounts: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per account: is the chain of booked lines consistent with every balance the
    bank reported?

    ``lines``: ledger.bank_lines rows. ``balances``: extra reported end-of-day balances
    (``bank_account_id``, ``date``, ``balance``; e.g. statement closing balances).
    ``accounts``: ledger.bank_accounts rows (their ``reported_balance`` anchors the chain).

    The anchor is the latest reported balance B at date D: opening = B − (booked movements
    up to D). Then every day d with lines has closing(d) = opening + movements up to d, and
    the check fails when a day's closing is not among the running balances the bank printed
    that day, a day's first line does not start from the previous closing, or a reported
    balance differs from closing at its date. Accounts with no reported balance can only be
    checked against their own running balances: the first day's chain is anchored on them.
    ``verified`` says whether anything but the anchor itself was checked (an account whose
    bank gives one current balance and no running balances is consistent by construction).
    """
    booked = lines.filter(pl.col("status") == "booked")
    points = [] if balances is None else [balances.select("bank_account_id", "date", "balance")]
    if accounts is not None:
        points.append(
            accounts.filter(pl.col("reported_balance").is_not_null()).select(
                "bank_account_id",
                pl.col("reported_balance_date").alias("date"),
                pl.col("reported_balance").alias("balance"),
            )
        )
    reported = (
        pl.concat(points)
        if points
        else pl.DataFrame(
            schema={"bank_account_id": pl.String(), "date": pl.Date(), "balance": pl.Int64()}
        )
    ).filter(pl.col("date").is_not_null())
    days = (
        booked.group_by("bank_account_id", "booked_date")
        .agg(
            pl.col("amount").sum().alias("movement"),
            pl.col("running_balance").drop_nulls().alias("printed"),
            (pl.col("running_balance") - pl.col("amount")).drop_nulls().alias("starts"),
        )
        .sort("bank_account_id", "booked_date")
        .with_columns(pl.col("movement").cum_sum().over("bank_account_id").alias("cum"))
    )
    # Anchor: the latest reported balance per account -> opening = balance - cum at its date.
    latest = reported.sort("date").group_by("bank_account_id").agg(pl.all().last())
    at_anchor = (
        latest.join_asof(
            days.select("bank_account_id", "booked_date", "cum").sort("booked_date"),
            left_on="date",
            right_on="booked_date",
            by="bank_account_id",
            strategy="backward",
            check_sortedness=False,  # sorted by date within each account above
        )
        .with_columns((pl.col("balance") - pl.col("cum").fill_null(0)).alias("opening"))
        .select("bank_account_id", "opening")
    )
    # Without a reported balance the first day's running balances anchor the chain: its
    # opening is the one balance a line starts from that no line of the day ends on.
    fallback = (
        days.group_by("bank_account_id")
        .agg(pl.all().sort_by("booked_date").first())
        .with_columns(pl.col("starts").list.set_difference(pl.col("printed")).alias("_open"))
        .filter(pl.col("_open").list.len() == 1)
        .select("bank_account_id", pl.col("_open").list.first().alias("opening_fallback"))
    )
    chain = (
        days.join(at_anchor, on="bank_account_id", how="left")
        .join(fallback, on="bank_account_id", how="left")
        .with_columns(pl.coalesce("opening", "opening_fallback").alias("opening"))
        .with_columns(
            (pl.col("opening") + pl.col("cum")).alias("closing"),
            (pl.col("opening") + pl.col("cum") - pl.col("movement")).alias("previous"),
        )
        .with_columns(
            (
                (pl.col("printed").list.len() == 0)
                | pl.col("printed").list.contains(pl.col("closing"))
            )
            # an unanchored chain cannot be judged (it is reported as not verified)
            .fill_null(True)
            .alias("closing_ok"),
            (
                (pl.col("starts").list.len() == 0)
                | pl.col("starts").list.contains(pl.col("previous"))
            )
            .fill_null(True)
            .alias("start_ok"),
        )
    )
    reported_check = (
        reported.sort("date")
        .join_asof(
            chain.select("bank_account_id", "booked_date", "closing").sort("booked_date"),
            left_on="date",
            right_on="booked_date",
            by="bank_account_id",
            strategy="backward",
            check_sortedness=False,  # sorted by date within each account above
        )
        .join(at_anchor, on="bank_account_id", how="left")
        .with_columns(pl.coalesce("closing", "opening").alias("expected"))
        .with_columns((pl.col("balance") - pl.col("expected")).alias("difference"))
    )
    per_day = chain.group_by("bank_account_id").agg(
        pl.len().alias("days"),
        pl.col("printed").list.len().sum().alias("running_balances"),
        (~pl.col("closing_ok") | ~pl.col("start_ok")).sum().alias("broken_days"),
        pl.col("booked_date")
        .filter(~pl.col("closing_ok") | ~pl.col("start_ok"))
        .first()
        .alias("first_broken_day"),
        pl.col("opening").first().is_not_null().alias("anchored"),
    )
    per_reported = reported_check.group_by("bank_account_id").agg(
        pl.len().alias("reported_balances"),
        (pl.col("difference").fill_null(0) != 0).sum().alias("reported_mismatches"),
        pl.col("difference").filter(pl.col("difference") != 0).first().alias("first_difference"),
    )
    result = per_day.join(
        per_reported, on="bank_account_id", how="full", coalesce=True
    ).with_columns(
        pl.col("days").fill_null(0),
        pl.col("running_balances").fill_null(0),
        pl.col("broken_days").fill_null(0),
        pl.col("reported_balances").fill_null(0),
        pl.col("reported_mismatches").fill_null(0),
        pl.col("anchored").fill_null(False),
    )
    return result.with_columns(
        ((pl.col("broken_days") == 0) & (pl.col("reported_mismatches") == 0)).alias("continuous"),
        # Proven, not just consistent: the chain met a balance other than its own anchor
        # (a running balance, or a second reported balance).
        (
            pl.col("anchored")
            & ((pl.col("running_balances") > 0) | (pl.col("reported_balances") >= 2))
        ).alias("verified"),
    ).sort("bank_account_id")
