"""What the books say moved through each bank account, and which books account each bank
feed account is.

Reconciliation holds two views of the same money against each other: the bank's lines
(``ledger.bank_lines``) and the books' cash movements. A cash movement is read off the
journal, not re-derived from the document: the lines a cash document posts to its cash
account (``documents.cash_account_id``, and ``from_cash_account_id`` for the paying side of a
transfer), summed per document and account. The journal already carries the sign every
document type implies (a refund paid out, a card purchase, a customer overpayment), so
money into the bank is positive on both sides with no table of signs per type.

The amount is in the bank account's currency: the document-currency figure when the
document is in that currency (a USD payment through a USD account of a EUR company), else
the home-currency figure (a foreign invoice paid from the home account at the books' rate;
reconciliation expects an FX difference there).

Bank feed accounts are linked to books accounts by, in order: the account number (the last
four digits the books print in the account name, "Business Checking (0261)", or Xero's
``BankAccountNumber``) with the same currency; then the only unlinked candidate of the same
currency and kind (bank or card) left in the company. An account that stays ambiguous is
not linked: its movements keep a null ``bank_account_id`` and may match any account of the
company in their currency.
"""

from __future__ import annotations

import polars as pl

from finpipe.ledger.books_schema import BANK_LINK_SCHEMA, DEAD_STATUSES
from finpipe.warehouse.tables.ledger import CASH_MOVEMENTS

MOVEMENT_COLUMNS = CASH_MOVEMENTS.polars_schema()
_CARD_TYPES = ("credit card", "creditcard", "credit_card")
_BANK_TYPES = ("bank", *_CARD_TYPES)


def _strings(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``frame`` with ``columns`` as strings (an all-null column of a hand-built or empty
    frame has no type)."""
    return frame.with_columns([pl.col(c).cast(pl.String) for c in columns if c in frame.columns])


def _last4(expr: pl.Expr) -> pl.Expr:
    digits = expr.str.replace_all(r"[^0-9]", "")
    return pl.when(digits.str.len_chars() >= 4).then(digits.str.slice(-4))


def _kind(expr: pl.Expr) -> pl.Expr:
    return (
        pl.when(expr.str.to_lowercase().is_in(_CARD_TYPES))
        .then(pl.lit("card"))
        .otherwise(pl.lit("bank"))
    )


def book_bank_accounts(accounts: pl.DataFrame) -> pl.DataFrame:
    """The bank and card accounts of the charts in ``accounts`` (``ACCOUNT_SCHEMA`` of
    :mod:`finpipe.ledger.account_mapping`, optionally with ``bank_account_number`` and
    ``bank_account_type``), with their last four digits and kind."""
    accounts = _strings(accounts, ["name", "account_type", "account_subtype", "currency"])
    number = (
        pl.col("bank_account_number")
        if "bank_account_number" in accounts.columns
        else pl.lit(None, pl.String)
    )
    xero_type = (
        pl.col("bank_account_type")
        if "bank_account_type" in accounts.columns
        else pl.lit(None, pl.String)
    )
    kind_source = pl.coalesce(
        pl.when(xero_type.str.to_uppercase() == "CREDITCARD").then(pl.lit("credit card")),
        pl.col("account_subtype"),
        pl.col("account_type"),
    )
    return accounts.filter(pl.col("account_type").str.to_lowercase().is_in(_BANK_TYPES)).select(
        "company_id",
        "provider",
        pl.col("account_id").alias("cash_account_id"),
        pl.col("name").alias("book_name"),
        pl.col("currency").alias("book_currency"),
        pl.coalesce(_last4(number), pl.col("name").str.extract(r"\((\d{4})\)\s*$", 1)).alias(
            "book_last4"
        ),
        _kind(kind_source).alias("book_kind"),
    )


def link_bank_accounts(
    bank_accounts: pl.DataFrame,
    accounts: pl.DataFrame,
    overrides: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``BANK_LINK_SCHEMA`` rows: each bank feed account of ``bank_accounts``
    (``ledger.bank_accounts``) linked to at most one bank/card account of each provider's
    chart in ``accounts``; ``overrides`` (same schema, method ignored) win."""
    books = book_bank_accounts(accounts)
    bank_accounts = _strings(bank_accounts, ["account_number", "iban", "account_type"])
    feeds = bank_accounts.select(
        "company_id",
        "bank_account_id",
        pl.col("currency").alias("book_currency"),
        pl.coalesce(_last4(pl.col("account_number")), _last4(pl.col("iban"))).alias("book_last4"),
        _kind(pl.col("account_type").fill_null("bank")).alias("book_kind"),
    )
    links: list[pl.DataFrame] = []
    if overrides is not None and overrides.height:
        links.append(
            overrides.select(
                "company_id",
                "bank_account_id",
                "provider",
                "cash_account_id",
                pl.lit("override").alias("method"),
            )
        )
    by_number = _unique_pairs(
        _remaining(feeds, books, links),
        ["company_id", "book_currency", "book_last4"],
        "account_number",
    )
    links.append(by_number)
    by_elimination = _unique_pairs(
        _remaining(feeds, books, links),
        ["company_id", "book_currency", "book_kind"],
        "only_candidate",
    )
    links.append(by_elimination)
    return pl.concat(
        [frame.select(list(BANK_LINK_SCHEMA)).cast(dict(BANK_LINK_SCHEMA)) for frame in links]
    )


def _remaining(feeds: pl.DataFrame, books: pl.DataFrame, links: list[pl.DataFrame]) -> pl.DataFrame:
    """Feed x book candidates (per provider) among accounts not linked yet."""
    pairs = feeds.join(books.select("company_id", "provider").unique(), on="company_id")
    taken_books = books.select("company_id", "provider", "cash_account_id").head(0)
    for done in links:
        pairs = pairs.join(done, on=["company_id", "bank_account_id", "provider"], how="anti")
        taken_books = pl.concat(
            [taken_books, done.select("company_id", "provider", "cash_account_id")]
        )
    free = books.join(taken_books, on=["company_id", "provider", "cash_account_id"], how="anti")
    return pairs.join(free, on=["company_id", "provider"], suffix="_book")


def _unique_pairs(pairs: pl.DataFrame, keys: list[str], method: str) -> pl.DataFrame:
    """Pairs agreeing on every key where each side has exactly one such partner."""
    agree = pl.all_horizontal([pl.col(k) == pl.col(f"{k}_book") for k in keys if k != "company_id"])
    cands = pairs.filter(agree)
    once = (pl.len().over("company_id", "provider", "bank_account_id") == 1) & (
        pl.len().over("company_id", "provider", "cash_account_id") == 1
    )
    return cands.filter(once).select(
        "company_id",
        "bank_account_id",
        "provider",
        "cash_account_id",
        pl.lit(method).alias("method"),
    )


def cash_movements(
    documents: pl.DataFrame,
    journal_lines: pl.DataFrame,
    contacts: pl.DataFrame,
    links: pl.DataFrame,
    accounts: pl.DataFrame,
    bank_accounts: pl.DataFrame,
) -> pl.DataFrame:
    """``ledger.cash_movements`` rows: what every live document posts to the bank and card
    accounts of the chart (``accounts``), one row per (document, account), in that
    account's currency. Money parked in a clearing account (card takings until the processor
    pays out) has not reached a bank yet and is not a movement."""
    books = book_bank_accounts(accounts).select(
        "company_id", "provider", "cash_account_id", "book_currency"
    )
    live = documents.filter(pl.col("status").is_in(DEAD_STATUSES).not_()).select(
        "company_id",
        "provider",
        "document_id",
        pl.col("cash_account_id").alias("_in"),
        pl.col("from_cash_account_id").alias("_out"),
    )
    # Every (document, bank or card account) the journal posts to: the document's cash
    # account, the paying side of a transfer, and the bank leg of a journal (payroll).
    posted = (
        journal_lines.rename({"account_id": "cash_account_id"})
        .join(books.drop("book_currency"), on=["company_id", "provider", "cash_account_id"])
        .join(live, on=["company_id", "provider", "document_id"])
        .group_by("company_id", "provider", "document_id", "cash_account_id", "_in", "_out")
        .agg(
            pl.col("amount").sum().alias("home_amount"),
            pl.col("foreign_amount").sum().alias("doc_amount"),
            pl.col("currency").first().alias("line_currency"),
        )
    )
    accounts_of_doc = pl.len().over("company_id", "provider", "document_id")
    posted = posted.with_columns(
        pl.when(pl.col("cash_account_id") == pl.col("_out"))
        .then(pl.lit("out"))
        .when((pl.col("cash_account_id") == pl.col("_in")) | (accounts_of_doc == 1))
        .then(pl.lit("in"))
        # a journal moving money between several bank accounts: one leg per account
        .otherwise(pl.col("cash_account_id"))
        .alias("leg")
    )
    feed_currency = bank_accounts.select(
        "company_id", "bank_account_id", pl.col("currency").alias("feed_currency")
    )
    doc_cols = documents.select(
        "company_id",
        "provider",
        "document_id",
        "doc_type",
        "number",
        "issue_date",
        pl.col("currency").alias("document_currency"),
        "reference",
        "external_id",
        "contact_id",
    )
    names = contacts.select(
        "company_id",
        "provider",
        "contact_id",
        pl.col("name").alias("counterparty_name"),
        pl.col("bank_account_number").alias("counterparty_account"),
    )
    out = (
        posted.join(doc_cols, on=["company_id", "provider", "document_id"])
        .join(books, on=["company_id", "provider", "cash_account_id"])
        .join(
            links.select("company_id", "provider", "cash_account_id", "bank_account_id"),
            on=["company_id", "provider", "cash_account_id"],
            how="left",
        )
        .join(feed_currency, on=["company_id", "bank_account_id"], how="left")
        .join(names, on=["company_id", "provider", "contact_id"], how="left")
    )
    currency = pl.coalesce("feed_currency", "book_currency", "line_currency")
    amount = (
        pl.when(pl.col("line_currency") == currency)
        .then(pl.col("doc_amount"))
        .otherwise(pl.col("home_amount"))
    )
    out = out.with_columns(currency.alias("currency"), amount.alias("amount"))
    return out.select(
        "company_id",
        pl.concat_str(["provider", "document_id", "leg"], separator=":").alias("movement_id"),
        "provider",
        "document_id",
        pl.col("number").alias("document_number"),
        pl.col("doc_type").alias("document_type"),
        "cash_account_id",
        "bank_account_id",
        pl.col("issue_date").alias("date"),
        "amount",
        "currency",
        "document_currency",
        "counterparty_name",
        "counterparty_account",
        "reference",
        "external_id",
    ).cast(dict(MOVEMENT_COLUMNS))  # type: ignore[arg-type]
