"""Write-back: bank lines the books lack (bank fees, interest) created in the source books.

After reconciliation some booked bank lines stay unmatched and are confidently explained by
the bank itself: account and transfer fees, overdraft charges, interest. Write-back creates
them in the company's accounting file, off unless enabled per company and dry-run first:

1. :func:`classify_unbooked` — vectorised rules over unmatched booked lines: the bank
   transaction code (ISO 20022 ``DOMN-FMLY-SBFM`` sub-families ``FEES``/``CHRG``/``COMM``/
   ``INTR``, OFX ``TRNTYPE`` ``FEE``/``SRVCHG``/``INT``, SWIFT MT940 ``NCHG``/``NINT``) and
   the narration (``MONTHLY SERVICE FEE``, ``ENTGELT KONTOFUEHRUNG``, ``INTEREST (GROSS)``,
   ``HABENZINSEN`` ...). Kind ``bank_fee`` | ``interest_income`` | ``interest_expense``, a
   confidence and the rule; ``proposed`` when the confidence reaches the threshold.
2. :func:`plan_writeback` — one proposal per proposed line of an enabled company: which
   document (QBO ``Purchase`` / ``Deposit``, Xero ``BankTransactions`` SPEND / RECEIVE), the
   books cash account (``ledger.bank_account_links``), the target account (the company's
   account mapped to standard 6600 bank charges / 7000 interest income / 8000 interest
   expense), an idempotency key and the exact JSON body. Lines that cannot be planned go to
   :func:`writeback_rejects` (record, field, reason), never silently away.
3. :func:`execute_writeback` — dry run: logs ``would_create`` / ``would_update`` and calls
   nothing. Real run: creates through the connectors' write primitives with the proposal's
   key as QBO ``requestid`` / Xero ``Idempotency-Key`` (a retried create returns the first
   answer); proposals whose key the previous log holds as written are ``skipped_existing``;
   a line written before whose amount changed updates the written document with the stored
   SyncToken / UpdatedDateUTC, and on a stale version re-reads it and re-applies once; a
   second conflict is logged ``stale_conflict`` and surfaced by the result.

Payload shapes (``PROPOSAL_SCHEMA.payload``, JSON text, amounts as exact decimal numbers in
the line's currency, positive):

* QBO ``Purchase`` (fee, interest paid)::

    {"PaymentType": "Cash", "AccountRef": {"value": <cash account Id>}, "TxnDate": "YYYY-MM-DD",
     "CurrencyRef": {"value": <ccy>}, "PrivateNote": <memo>,
     "Line": [{"Amount": 12.00, "DetailType": "AccountBasedExpenseLineDetail",
               "Description": <narration>,
               "AccountBasedExpenseLineDetail": {"AccountRef": {"value": <target Id>}}}]}

* QBO ``Deposit`` (interest earned)::

    {"DepositToAccountRef": {"value": <cash account Id>}, "TxnDate": ..., "CurrencyRef": ...,
     "PrivateNote": <memo>, "Line": [{"Amount": 3.21, "DetailType": "DepositLineDetail",
     "Description": <narration>, "DepositLineDetail": {"AccountRef": {"value": <target Id>}}}]}

* Xero ``BankTransactions`` (one record; the envelope is added by the primitive)::

    {"Type": "SPEND" | "RECEIVE", "Contact": {"Name": "Bank"},
     "BankAccount": {"AccountID": <cash AccountID>}, "Date": "YYYY-MM-DD",
     "Reference": <memo>, "LineAmountTypes": "NoTax", "Status": "AUTHORISED",
     "LineItems": [{"Description": <narration>, "Quantity": 1, "UnitAmount": 12.00,
                    "LineAmount": 12.00, "AccountCode": <target Code>}]}

  Xero creates the contact named ``Bank`` when the organisation has none.

Audit: :func:`execute_writeback` returns one event per created, updated, failed or
conflicting write (``kind`` ``write_back``, the :class:`~finpipe.compliance.AuditKind` value),
shaped as :func:`finpipe.compliance.audit.append` takes them; the Dagster layer appends them.

No Dagster here. Money is integer minor units in frames and exact Decimals in payloads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from finpipe.connectors import payloads
from finpipe.connectors.errors import ConnectorError, ProviderError, StaleVersion
from finpipe.connectors.quickbooks import write as qbo_write
from finpipe.connectors.quickbooks.client import QuickBooksClient
from finpipe.connectors.quickbooks.parse import QboRecord, fault_codes, parse_response
from finpipe.connectors.statements.model import currency_exponent
from finpipe.connectors.xero.client import XeroClient
from finpipe.connectors.xero.parse import parse_endpoint
from finpipe.connectors.xero.write import create_record, update_record
from finpipe.errors import FinpipeError
from finpipe.reconcile.schema import BANK_LINE_SCHEMA, conform

UTC = pl.Datetime("us", "UTC")

KINDS = ("bank_fee", "interest_income", "interest_expense")
THRESHOLD = 0.8
"""Lines classified at or above this confidence are proposed for write-back."""

# The standard chart account each kind is booked to (finpipe/ledger/chart.py).
STANDARD_CODE: dict[str, str] = {
    "bank_fee": "6600",  # Bank charges
    "interest_income": "7000",  # Interest income
    "interest_expense": "8000",  # Interest expense
}
XERO_ENDPOINT = "BankTransactions"
XERO_CONTACT_NAME = "Bank"
MEMO_MAX = 255  # Xero Reference; QBO PrivateNote allows more
ACTOR = "finpipe.writeback"
AUDIT_KIND = "write_back"  # finpipe.compliance.AuditKind.WRITE_BACK
KEY_VERSION = "finpipe.writeback.v1"
KEY_LENGTH = 40  # hex characters: under QBO's 50-character requestid and Xero's 128

# Confidence of each rule (first that applies wins, see classify_unbooked).
CONFIDENCE: dict[str, float] = {
    "code+narration": 0.99,
    "code": 0.9,
    "narration": 0.85,
    "narration_named_counterparty": 0.6,
    "code_narration_disagree": 0.5,
    "narration_payment_code": 0.4,
    "fee_refund": 0.3,
}

STATUSES = (
    "created",
    "updated",
    "would_create",
    "would_update",
    "skipped_existing",
    "failed",
    "stale_conflict",
)
# Statuses that mean the document exists in the books with the logged key.
WRITTEN = ("created", "updated", "skipped_existing")

CLASSIFICATION_COLUMNS = pl.Schema(
    {
        "kind": pl.String,
        "confidence": pl.Float64,
        "rule": pl.String,
        "proposed": pl.Boolean,
    }
)

WRITEBACK_SETTINGS_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "enabled": pl.Boolean,
        "dry_run": pl.Boolean,
        "updated_at": UTC,
    }
)
"""Per company: write-back on (``enabled``) and whether it only rehearses (``dry_run``,
null means true). An optional ``provider`` column restricts a company to one set of books
(a company mid-migration links its bank accounts in both)."""

PROPOSAL_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,  # quickbooks | xero
        "bank_line_id": pl.String,
        "bank_account_id": pl.String,
        "kind": pl.String,
        "rule": pl.String,
        "confidence": pl.Float64,
        "entity": pl.String,  # Purchase | Deposit | BankTransactions
        "transaction_type": pl.String,  # QBO PaymentType Cash / Deposit; Xero SPEND | RECEIVE
        "cash_account_id": pl.String,
        "target_account_id": pl.String,
        "target_account_code": pl.String,
        "date": pl.Date,
        "amount": pl.Int64,  # the bank line's signed minor units (money in positive)
        "currency": pl.String,
        "memo": pl.String,
        "idempotency_key": pl.String,
        "payload": pl.String,
        "dry_run": pl.Boolean,  # the company's setting
    }
)

WRITEBACK_LOG_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "provider": pl.String,
        "bank_line_id": pl.String,
        "idempotency_key": pl.String,
        "entity": pl.String,
        "source_id": pl.String,  # the document's id in the books (QBO Id, Xero id)
        "source_version": pl.String,  # QBO SyncToken / Xero UpdatedDateUTC after the write
        "amount": pl.Int64,
        "status": pl.String,  # one of STATUSES
        "detail": pl.String,
        "attempted_at": UTC,
    }
)
"""One row per proposal per run; the concatenation of past logs is ``already_written``."""

REJECT_SCHEMA = pl.Schema(
    {
        "company_id": pl.String,
        "bank_line_id": pl.String,
        "field": pl.String,
        "reason": pl.String,
    }
)


class WritebackError(FinpipeError):
    """Write-back cannot run as asked (inputs missing columns, a client missing)."""


class WritebackConflict(WritebackError):
    """Writes ended in ``stale_conflict`` or ``failed``; raised by
    :meth:`WritebackResult.raise_for_problems` after the log and audit events are kept."""


# ------------------------------------------------------------------------------ classify

# ISO 20022 bank transaction codes: DOMAIN-FAMILY-SUBFAMILY.
_ISO = r"^[A-Z]{4}-[A-Z]{4}-[A-Z]{4}$"
_ISO_FEE = r"^[A-Z]{4}-[A-Z]{4}-(FEES|CHRG|COMM|COME|COMI|COMT)$"
_ISO_INTEREST = r"^[A-Z]{4}-[A-Z]{4}-INTR$"
_FLAT_FEE = ("FEE", "SRVCHG", "NCHG", "NCOM", "FCHG", "FCOM")  # OFX TRNTYPE, SWIFT MT940
_FLAT_INTEREST = ("INT", "NINT", "FINT")
# OFX TRNTYPE / MT940 codes that say the line is a payment, whatever its narration says.
_FLAT_PAYMENT = ("PAYMENT", "DIRECTDEBIT", "DIRECTDEP", "CHECK", "XFER", "POS", "ATM")
_FLAT_PAYMENT += ("NTRF", "NCHK", "NDDT", "NSTO", "NCMI")
# Narrations as banks print them (English, German, French, Dutch); word boundaries keep
# payout ids like "po_fee0b6..." and "COSTA COFFEE" out. The sign decides interest earned
# or paid ("DEBIT INTEREST", "SOLLZINSEN" come out of the account).
_TEXT_FEE = (
    r"\bFEES?\b|\bCHARGES?\b|ENTGELT|GEB(?:UE|Ü)HR|\bFRAIS\b|\bCOMMISSION\b"
    r"|\bKOSTEN (?:KONTO|REKENING|BETAALREKENING)"
)
_TEXT_INTEREST = r"\bINTEREST\b|ZINSEN\b|\bZINS\b|\bINT(?:ERETS|ÉRÊTS)\b|\bRENTE\b"


# What a line needs to be classified and written; the rest of BANK_LINE_SCHEMA is optional.
_LINE_REQUIRED = (
    "company_id",
    "line_id",
    "bank_account_id",
    "booked_date",
    "amount",
    "currency",
    "status",
    "description",
)


def classify_unbooked(
    bank_lines: pl.DataFrame,
    *,
    matched_line_ids: pl.Series | None = None,
    threshold: float = THRESHOLD,
) -> pl.DataFrame:
    """Classify the unmatched booked lines of ``bank_lines`` that a bank itself explains.

    ``bank_lines``: :data:`~finpipe.reconcile.schema.BANK_LINE_SCHEMA` columns (``value_date``
    and ``bank_transaction_code`` optional; extra columns carried through). Pending lines and
    lines whose ``line_id`` is in ``matched_line_ids`` (the reconciliation's matches) are
    left out. Returns the lines a rule fired on, with :data:`CLASSIFICATION_COLUMNS`:

    * ``kind``: ``bank_fee`` (money out), ``interest_income`` (in), ``interest_expense`` (out);
    * ``rule`` / ``confidence`` (first that applies): ``code+narration`` 0.99 (the code and
      the narration agree), ``code`` 0.9 (an ISO/OFX/MT940 fee or interest code, narration
      silent), ``narration`` 0.85 (no code), ``narration_named_counterparty`` 0.6 (no code
      but the bank names a counterparty: likely a payment to a firm called "... Fees"),
      ``code_narration_disagree`` 0.5, ``narration_payment_code`` 0.4 (the code says it is
      a payment), ``fee_refund`` 0.3 (a fee with money in);
    * ``proposed``: ``confidence >= threshold``.
    """
    schema = pl.Schema({**BANK_LINE_SCHEMA, "bank_transaction_code": pl.String})
    missing = [c for c in _LINE_REQUIRED if c not in bank_lines.columns]
    if missing:
        raise WritebackError(f"write-back: bank lines are missing columns {missing}")
    optional = frozenset(schema) - frozenset(_LINE_REQUIRED)
    lines = conform(bank_lines, schema, optional).filter(pl.col("status") == "booked")
    if matched_line_ids is not None:
        lines = lines.filter(~pl.col("line_id").is_in(matched_line_ids.cast(pl.String).implode()))
    code = pl.col("bank_transaction_code").fill_null("").str.strip_chars().str.to_uppercase()
    text = pl.col("description").fill_null("").str.to_uppercase()
    money_in = pl.col("amount") > 0
    code_kind = (
        pl.when(code.str.contains(_ISO_FEE) | code.is_in(_FLAT_FEE))
        .then(pl.lit("fee"))
        .when(code.str.contains(_ISO_INTEREST) | code.is_in(_FLAT_INTEREST))
        .then(pl.lit("interest"))
    )
    text_kind = (
        # interest first: "DEBIT INTEREST CHARGED" is interest, not a fee
        pl.when(text.str.contains(_TEXT_INTEREST))
        .then(pl.lit("interest"))
        .when(text.str.contains(_TEXT_FEE))
        .then(pl.lit("fee"))
    )
    payment_code = (code.str.contains(_ISO) | code.is_in(_FLAT_PAYMENT)) & code_kind.is_null()
    named = pl.col("counterparty_name").fill_null("").str.strip_chars() != ""
    out = lines.with_columns(
        code_kind.alias("_code_kind"),
        text_kind.alias("_text_kind"),
        payment_code.alias("_payment_code"),
        named.alias("_named"),
    ).filter(pl.col("_code_kind").is_not_null() | pl.col("_text_kind").is_not_null())
    base = pl.coalesce("_code_kind", "_text_kind")
    rule = (
        pl.when((base == "fee") & money_in)
        .then(pl.lit("fee_refund"))
        .when(pl.col("_code_kind").is_not_null() & pl.col("_text_kind").is_not_null())
        .then(
            pl.when(pl.col("_code_kind") == pl.col("_text_kind"))
            .then(pl.lit("code+narration"))
            .otherwise(pl.lit("code_narration_disagree"))
        )
        .when(pl.col("_code_kind").is_not_null())
        .then(pl.lit("code"))
        .when(pl.col("_payment_code"))
        .then(pl.lit("narration_payment_code"))
        .when(pl.col("_named"))
        .then(pl.lit("narration_named_counterparty"))
        .otherwise(pl.lit("narration"))
    )
    kind = (
        pl.when(base == "fee")
        .then(pl.lit("bank_fee"))
        .when(money_in)
        .then(pl.lit("interest_income"))
        .otherwise(pl.lit("interest_expense"))
    )
    confidence = pl.col("rule").replace_strict(CONFIDENCE, return_dtype=pl.Float64)
    return (
        out.with_columns(kind.alias("kind"), rule.alias("rule"))
        .with_columns(confidence.alias("confidence"))
        .with_columns((pl.col("confidence") >= threshold).alias("proposed"))
        .drop("_code_kind", "_text_kind", "_payment_code", "_named")
    )


# ---------------------------------------------------------------------------------- plan


def _require(frame: pl.DataFrame, schema: Mapping[str, Any], what: str) -> pl.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise WritebackError(f"write-back: {what} is missing columns {missing}")
    return frame.with_columns([pl.col(c).cast(t) for c, t in schema.items()])


_LINK_COLUMNS = {
    "company_id": pl.String,
    "bank_account_id": pl.String,
    "provider": pl.String,
    "cash_account_id": pl.String,
}
_ACCOUNT_COLUMNS = {
    "company_id": pl.String,
    "provider": pl.String,
    "account_id": pl.String,
    "code": pl.String,
    "name": pl.String,
    "currency": pl.String,
    "standard_code": pl.String,
}
# Among several accounts mapped to one standard code, the one named for it wins.
_PREFERRED_NAME = r"(?i)bank (service )?charges?|bank fees?|interest|zins|geb(ue|ü)hr"


def idempotency_keys(
    company_id: pl.Series, provider: pl.Series, bank_line_id: pl.Series, amount: pl.Series
) -> pl.Series:
    """Stable keys (40 hex characters of SHA-256) of (company, provider, bank line, amount):
    the same line at the same amount always gets the same key, a changed amount a new one."""
    material = pl.DataFrame(
        {"c": company_id, "p": provider, "l": bank_line_id, "a": amount.cast(pl.String)}
    ).select(pl.concat_str([pl.lit(KEY_VERSION), "c", "p", "l", "a"], separator="\n"))
    # hashlib per key: Polars has no stable cryptographic hash; plans are small.
    return pl.Series(
        "idempotency_key",
        [hashlib.sha256(m.encode()).hexdigest()[:KEY_LENGTH] for m in material.to_series()],
        dtype=pl.String,
    )


def _decimal_text(minor: pl.Expr, currency: pl.Expr, currencies: list[str]) -> pl.Expr:
    """Positive minor units as exact decimal text in the currency's exponent (1234 -> "12.34");
    ``currencies`` lists the currencies the frame holds."""
    exponents = {c: currency_exponent(c) for c in currencies}
    exponent = currency.replace_strict(exponents, default=2, return_dtype=pl.Int64)
    digits = minor.abs().cast(pl.String).str.zfill(exponent + 1)
    cut = digits.str.len_chars() - exponent
    return (
        pl.when(exponent == 0)
        .then(digits)
        .otherwise(pl.concat_str([digits.str.slice(0, cut), pl.lit("."), digits.str.slice(cut)]))
    )


# JSON numbers are written as strings by struct.json_encode; these keys are unquoted after.
_NUMERIC_KEYS = r'"(Amount|UnitAmount|LineAmount|Quantity)":"(-?[0-9]+(?:\.[0-9]+)?)"'


def _payload_expr() -> pl.Expr:
    amount = pl.col("_amount_text")
    ref = lambda column: pl.struct(pl.col(column).alias("value"))  # noqa: E731
    date = pl.col("date").dt.strftime("%Y-%m-%d")
    purchase = pl.struct(
        pl.lit("Cash").alias("PaymentType"),
        ref("cash_account_id").alias("AccountRef"),
        date.alias("TxnDate"),
        ref("currency").alias("CurrencyRef"),
        pl.col("memo").alias("PrivateNote"),
        pl.concat_list(
            pl.struct(
                amount.alias("Amount"),
                pl.lit("AccountBasedExpenseLineDetail").alias("DetailType"),
                pl.col("_description").alias("Description"),
                pl.struct(ref("target_account_id").alias("AccountRef")).alias(
                    "AccountBasedExpenseLineDetail"
                ),
            )
        ).alias("Line"),
    )
    deposit = pl.struct(
        ref("cash_account_id").alias("DepositToAccountRef"),
        date.alias("TxnDate"),
        ref("currency").alias("CurrencyRef"),
        pl.col("memo").alias("PrivateNote"),
        pl.concat_list(
            pl.struct(
                amount.alias("Amount"),
                pl.lit("DepositLineDetail").alias("DetailType"),
                pl.col("_description").alias("Description"),
                pl.struct(ref("target_account_id").alias("AccountRef")).alias("DepositLineDetail"),
            )
        ).alias("Line"),
    )
    xero = pl.struct(
        pl.col("transaction_type").alias("Type"),
        pl.struct(pl.lit(XERO_CONTACT_NAME).alias("Name")).alias("Contact"),
        pl.struct(pl.col("cash_account_id").alias("AccountID")).alias("BankAccount"),
        date.alias("Date"),
        pl.col("memo").alias("Reference"),
        pl.lit("NoTax").alias("LineAmountTypes"),
        pl.lit("AUTHORISED").alias("Status"),
        pl.concat_list(
            pl.struct(
                pl.col("_description").alias("Description"),
                pl.lit("1").alias("Quantity"),
                amount.alias("UnitAmount"),
                amount.alias("LineAmount"),
                pl.col("target_account_code").alias("AccountCode"),
            )
        ).alias("LineItems"),
    )
    encoded = (
        pl.when(pl.col("entity") == "Purchase")
        .then(purchase.struct.json_encode())
        .when(pl.col("entity") == "Deposit")
        .then(deposit.struct.json_encode())
        .otherwise(xero.struct.json_encode())
    )
    return encoded.str.replace_all(_NUMERIC_KEYS, r'"$1":$2')


@dataclass(frozen=True)
class WritebackPlan:
    """Proposals (:data:`PROPOSAL_SCHEMA`) and the proposed lines that could not be planned
    (:data:`REJECT_SCHEMA`)."""

    proposals: pl.DataFrame
    rejects: pl.DataFrame


def build_plan(
    lines: pl.DataFrame,
    links: pl.DataFrame,
    accounts: pl.DataFrame,
    settings: pl.DataFrame,
) -> WritebackPlan:
    """:func:`plan_writeback` and :func:`writeback_rejects` in one pass."""
    classified = lines if "kind" in lines.columns else classify_unbooked(lines)
    for column in ("kind", "proposed", "rule", "confidence"):
        if column not in classified.columns:
            raise WritebackError(f"write-back: classified lines are missing column {column!r}")
    settings = _require(settings, WRITEBACK_SETTINGS_SCHEMA, "settings")
    if "provider" not in settings.columns:
        settings = settings.with_columns(pl.lit(None, pl.String).alias("provider"))
    links = _require(links, _LINK_COLUMNS, "links (ledger.bank_account_links)")
    accounts = _require(accounts, _ACCOUNT_COLUMNS, "accounts (chart with standard_code)")

    enabled = (
        settings.filter(pl.col("enabled").fill_null(False))
        .sort("updated_at", nulls_last=False)
        .unique("company_id", keep="last")
        .select(
            "company_id",
            pl.col("dry_run").fill_null(True),
            pl.col("provider").alias("_only_provider"),
        )
    )
    proposed = (
        classified.filter(pl.col("proposed").fill_null(False))
        .join(enabled, on="company_id", how="inner")
        .with_columns(pl.col("line_id").alias("bank_line_id"))
    )
    linked = proposed.join(
        links.select(*_LINK_COLUMNS).unique(["company_id", "bank_account_id", "provider"]),
        on=["company_id", "bank_account_id"],
        how="left",
    ).filter(
        pl.col("_only_provider").is_null()
        | pl.col("provider").is_null()
        | (pl.col("provider") == pl.col("_only_provider"))
    )
    rejects = [
        linked.filter(pl.col("cash_account_id").is_null()).select(
            "company_id",
            "bank_line_id",
            pl.lit("bank_account_id").alias("field"),
            pl.format(
                "bank line {} of company {}: bank account {} is not linked to a books account "
                "(ledger.bank_account_links); link it, then re-run",
                "bank_line_id",
                "company_id",
                "bank_account_id",
            ).alias("reason"),
        )
    ]
    linked = linked.filter(pl.col("cash_account_id").is_not_null()).with_columns(
        pl.col("kind").replace_strict(STANDARD_CODE, default=None).alias("_standard_code")
    )
    targets = (
        accounts.filter(pl.col("standard_code").is_in(list(STANDARD_CODE.values())))
        .with_columns(pl.col("name").fill_null("").str.contains(_PREFERRED_NAME).alias("_pref"))
        .sort(["_pref", "account_id"], descending=[True, False])
        .unique(["company_id", "provider", "standard_code"], keep="first", maintain_order=True)
        .select(
            "company_id",
            "provider",
            pl.col("standard_code").alias("_standard_code"),
            pl.col("account_id").alias("target_account_id"),
            pl.col("code").alias("target_account_code"),
        )
    )
    cash_currency = accounts.select(
        "company_id",
        "provider",
        pl.col("account_id").alias("cash_account_id"),
        pl.col("currency").alias("_cash_currency"),
    ).unique(["company_id", "provider", "cash_account_id"])
    planned = linked.join(
        targets, on=["company_id", "provider", "_standard_code"], how="left"
    ).join(cash_currency, on=["company_id", "provider", "cash_account_id"], how="left")
    no_target = pl.col("target_account_id").is_null() | (
        (pl.col("provider") == "xero") & pl.col("target_account_code").is_null()
    )
    rejects.append(
        planned.filter(no_target).select(
            "company_id",
            "bank_line_id",
            pl.lit("standard_code").alias("field"),
            pl.format(
                "bank line {} of company {}: no {} account (with a code, for xero) maps to "
                "standard account {} for a {}; map one (ops.account_map_overrides), then re-run",
                "bank_line_id",
                "company_id",
                "provider",
                "_standard_code",
                "kind",
            ).alias("reason"),
        )
    )
    planned = planned.filter(~no_target)
    wrong_currency = pl.col("_cash_currency").is_not_null() & (
        pl.col("_cash_currency") != pl.col("currency")
    )
    rejects.append(
        planned.filter(wrong_currency).select(
            "company_id",
            "bank_line_id",
            pl.lit("currency").alias("field"),
            pl.format(
                "bank line {} of company {} is in {} but its books account {} ({}) is in {}; "
                "check ledger.bank_account_links",
                "bank_line_id",
                "company_id",
                "currency",
                "cash_account_id",
                "provider",
                "_cash_currency",
            ).alias("reason"),
        )
    )
    planned = planned.filter(~wrong_currency)

    description = pl.col("description").fill_null("").str.strip_chars()
    memo = pl.format("finpipe write-back: bank line {} {}", "bank_line_id", description)
    planned = planned.with_columns(
        pl.when(pl.col("provider") == "xero")
        .then(pl.lit(XERO_ENDPOINT))
        .when(pl.col("kind") == "interest_income")
        .then(pl.lit("Deposit"))
        .otherwise(pl.lit("Purchase"))
        .alias("entity"),
        pl.when(pl.col("provider") == "xero")
        .then(pl.when(pl.col("amount") > 0).then(pl.lit("RECEIVE")).otherwise(pl.lit("SPEND")))
        .when(pl.col("kind") == "interest_income")
        .then(pl.lit("Deposit"))
        .otherwise(pl.lit("Cash"))
        .alias("transaction_type"),
        pl.col("booked_date").alias("date"),
        memo.str.slice(0, MEMO_MAX).alias("memo"),
        pl.when(description == "")
        .then(pl.col("kind"))
        .otherwise(description)
        .str.slice(0, MEMO_MAX)
        .alias("_description"),
        _decimal_text(
            pl.col("amount"),
            pl.col("currency"),
            planned["currency"].drop_nulls().unique().to_list(),
        ).alias("_amount_text"),
    )
    planned = planned.with_columns(
        idempotency_keys(
            planned["company_id"], planned["provider"], planned["bank_line_id"], planned["amount"]
        ),
        _payload_expr().alias("payload"),
    )
    proposals = planned.select(list(PROPOSAL_SCHEMA)).cast(dict(PROPOSAL_SCHEMA))
    rejected = pl.concat([r.cast(dict(REJECT_SCHEMA)) for r in rejects])
    return WritebackPlan(
        proposals.sort("company_id", "provider", "date", "bank_line_id"),
        rejected.sort("company_id", "bank_line_id"),
    )


def plan_writeback(
    lines: pl.DataFrame,
    links: pl.DataFrame,
    accounts: pl.DataFrame,
    settings: pl.DataFrame,
) -> pl.DataFrame:
    """Write-back proposals (:data:`PROPOSAL_SCHEMA`), one per proposed line and books.

    ``lines``: the output of :func:`classify_unbooked`, or bank lines (then classified here
    with the default threshold). ``links``: ``ledger.bank_account_links``
    (:data:`~finpipe.ledger.books_schema.BANK_LINK_SCHEMA`). ``accounts``: the companies'
    charts (:data:`~finpipe.ledger.account_mapping.ACCOUNT_SCHEMA`) with ``standard_code``
    from ``ledger.account_map``. ``settings``: :data:`WRITEBACK_SETTINGS_SCHEMA`; a company
    without an enabled row gets nothing, and ``dry_run`` defaults to true.

    Lines that cannot be planned (bank account not linked, no target account, currency
    mismatch) are not proposals: :func:`writeback_rejects` lists them with the reason.
    """
    return build_plan(lines, links, accounts, settings).proposals


def writeback_rejects(
    lines: pl.DataFrame,
    links: pl.DataFrame,
    accounts: pl.DataFrame,
    settings: pl.DataFrame,
) -> pl.DataFrame:
    """The proposed lines of enabled companies :func:`plan_writeback` could not plan
    (:data:`REJECT_SCHEMA`: company, bank line, field to blame, reason saying what to do)."""
    return build_plan(lines, links, accounts, settings).rejects


# ------------------------------------------------------------------------------- execute


@dataclass
class WritebackResult:
    """What :func:`execute_writeback` did: the log (:data:`WRITEBACK_LOG_SCHEMA`, one row per
    proposal) and the audit events to append (``company_id``, ``kind``, ``subject``,
    ``details``, ``actor``: the arguments of :func:`finpipe.compliance.audit.append`)."""

    log: pl.DataFrame
    audit_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conflicts(self) -> pl.DataFrame:
        """Log rows whose update met a stale version twice (re-read once, still changed)."""
        return self.log.filter(pl.col("status") == "stale_conflict")

    @property
    def failures(self) -> pl.DataFrame:
        """Log rows the provider refused or that could not be attempted."""
        return self.log.filter(pl.col("status") == "failed")

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing conflicts."""
        return self.conflicts.is_empty() and self.failures.is_empty()

    def raise_for_problems(self) -> None:
        """Raise :class:`WritebackConflict` naming every conflicting or failed write (call
        it after keeping the log and appending the audit events)."""
        if self.ok:
            return
        bad = pl.concat([self.conflicts, self.failures])
        lines = [
            f"{r['status']}: {r['provider']} {r['entity']} for bank line {r['bank_line_id']} "
            f"of {r['company_id']}: {r['detail']}"
            for r in bad.iter_rows(named=True)
        ]
        raise WritebackConflict(
            f"write-back left {bad.height} problem(s); resolve them in the books or re-run:\n"
            + "\n".join(lines)
        )


@dataclass
class _Written:
    source_id: str
    version: str | None


def _qbo_post(
    client: QuickBooksClient, entity: str, body: Mapping[str, Any], request_id: str
) -> QboRecord:
    """POST a create with QBO's ``requestid`` (a retry with the same id gets the first
    answer). The connector's ``create`` has no requestid yet, hence the direct call."""
    try:
        response = client.http.request(
            "POST",
            f"{client.company_url}/{entity.lower()}",
            params={"minorversion": client.minor_version, "requestid": request_id},
            headers={"Accept": "application/json", "Content-Type": "application/json"},
            data=payloads.dumps(body).encode(),
        )
    except ProviderError as exc:
        if qbo_write.STALE_OBJECT in fault_codes(exc.provider_message):
            raise StaleVersion("quickbooks", entity, "?", exc.provider_message) from exc
        raise
    records = parse_response(response.content, entity=entity, status=response.status_code)
    found = records.of(entity) or records.records
    if len(found) != 1:
        raise ProviderError("quickbooks", 200, f"expected one {entity} in the answer", entity)
    return found[0]


def _qbo_create(client: QuickBooksClient, row: Mapping[str, Any]) -> _Written:
    body = payloads.loads(row["payload"])
    record = _qbo_post(client, row["entity"], body, row["idempotency_key"])
    return _Written(record.id, record.sync_token)


def _qbo_update(
    client: QuickBooksClient, row: Mapping[str, Any], source_id: str, version: str | None
) -> tuple[_Written, bool]:
    """Update a written document; on a stale SyncToken re-read and re-apply once. Returns
    the write and whether a retry was needed; a second StaleVersion propagates."""
    body = payloads.loads(row["payload"])
    entity = row["entity"]

    def apply(token: str | None) -> _Written:
        record = qbo_write.update(client, entity, {**body, "Id": source_id, "SyncToken": token})
        return _Written(record.id, record.sync_token)

    try:
        return apply(version), False
    except StaleVersion:
        current = client.read(entity, source_id).of(entity)
        token = current[0].sync_token if current else None
        return apply(token), True


def _xero_create(client: XeroClient, tenant_id: str, row: Mapping[str, Any]) -> _Written:
    record = create_record(
        client, tenant_id, XERO_ENDPOINT, payloads.loads(row["payload"]), key=row["idempotency_key"]
    )
    return _Written(record.source_id, str(record.payload.get("UpdatedDateUTC")))


def _xero_update(
    client: XeroClient,
    tenant_id: str,
    row: Mapping[str, Any],
    source_id: str,
    version: str | None,
) -> tuple[_Written, bool]:
    changes = payloads.loads(row["payload"])

    def apply(updated_at: str) -> _Written:
        record = update_record(
            client, tenant_id, XERO_ENDPOINT, source_id, changes, updated_at=updated_at
        )
        return _Written(record.source_id, str(record.payload.get("UpdatedDateUTC")))

    try:
        if not version:
            raise StaleVersion("xero", XERO_ENDPOINT, source_id, "no stored UpdatedDateUTC")
        return apply(version), False
    except StaleVersion:
        response = client.get(tenant_id, f"{XERO_ENDPOINT}/{source_id}")
        current = parse_endpoint(XERO_ENDPOINT, payloads.loads(response.content))
        if len(current) != 1:
            raise ProviderError(
                "xero", response.status_code, f"re-read answered {len(current)} records", source_id
            ) from None
        return apply(str(current[0].payload.get("UpdatedDateUTC"))), True


def _prior_writes(already_written: pl.DataFrame) -> pl.DataFrame:
    """The latest written document per bank line: its key, id, version and entity. A key
    counts as written only while it is the line's latest (an amount changed and changed
    back is written again)."""
    written = already_written.filter(
        pl.col("status").is_in(WRITTEN) & pl.col("source_id").is_not_null()
    ).sort("attempted_at", nulls_last=False, maintain_order=True)
    return written.unique(
        ["company_id", "provider", "bank_line_id"], keep="last", maintain_order=True
    ).select(
        "company_id",
        "provider",
        "bank_line_id",
        pl.col("idempotency_key").alias("_prior_key"),
        pl.col("source_id").alias("_prior_id"),
        pl.col("source_version").alias("_prior_version"),
        pl.col("entity").alias("_prior_entity"),
    )


def _event(row: Mapping[str, Any], status: str, source_id: str | None, detail: str | None):
    details: dict[str, Any] = {
        "status": status,
        "provider": row["provider"],
        "entity": row["entity"],
        "source_id": source_id,
        "bank_line_id": row["bank_line_id"],
        "idempotency_key": row["idempotency_key"],
        "kind": row["kind"],
        "rule": row["rule"],
        "amount_minor": int(row["amount"]),
        "currency": row["currency"],
        "date": row["date"].isoformat(),
        "cash_account_id": row["cash_account_id"],
        "target_account_id": row["target_account_id"],
    }
    if detail:
        details["detail"] = detail
    return {
        "company_id": row["company_id"],
        "kind": AUDIT_KIND,
        "subject": f"{row['provider']}:{row['entity']}:{source_id or row['bank_line_id']}",
        "details": details,
        "actor": ACTOR,
    }


def execute_writeback(
    plan: pl.DataFrame,
    *,
    quickbooks_client: QuickBooksClient | None = None,
    xero_client: XeroClient | None = None,
    xero_tenant_id: str | None = None,
    already_written: pl.DataFrame,
    dry_run: bool,
    now: Callable[[], dt.datetime] | None = None,
) -> WritebackResult:
    """Carry out ``plan`` (:data:`PROPOSAL_SCHEMA`) against the books.

    Per proposal, in plan order:

    * its key is in ``already_written`` (:data:`WRITEBACK_LOG_SCHEMA`, the previous logs)
      as ``created``/``updated``/``skipped_existing``: ``skipped_existing``, no call;
    * a document was written for the same bank line under another key (the bank changed
      the amount): update it with the stored SyncToken / UpdatedDateUTC; on a stale version
      re-read the document and re-apply once, and if that is stale too: ``stale_conflict``;
    * a document of another type was written for the line (its sign flipped: a Deposit
      that now must be a Purchase): ``failed``, naming the document for a person to void;
    * otherwise create it, with the key as QBO ``requestid`` / Xero ``Idempotency-Key``.

    ``dry_run`` (or the company's own ``dry_run`` setting in the plan) calls nothing and logs
    ``would_create`` / ``would_update``. A write the provider refuses is ``failed`` with its
    message and the rest goes on; a connection-level failure (re-authorisation needed,
    provider down) fails that write and marks the provider's remaining proposals ``failed``
    without trying them. Every created, updated, failed and conflicting write yields an
    audit event. Nothing is raised for them: the result lists them
    (:attr:`WritebackResult.conflicts`, :attr:`~WritebackResult.failures`,
    :meth:`~WritebackResult.raise_for_problems`).

    The QBO client is bound to one realm and ``xero_tenant_id`` names one organisation, so a
    real run's plan must hold one company per provider. Raises :class:`WritebackError`
    when a needed client or tenant is missing (before any write).
    """
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    plan = _require(plan, PROPOSAL_SCHEMA, "plan")
    previous = _require(already_written, WRITEBACK_LOG_SCHEMA, "already_written log")
    work = (
        plan.with_row_index("_order")
        .join(_prior_writes(previous), on=["company_id", "provider", "bank_line_id"], how="left")
        .with_columns(
            pl.when(pl.col("_prior_key") == pl.col("idempotency_key"))
            .then(pl.lit("skip"))
            .when(pl.col("_prior_id").is_not_null() & (pl.col("_prior_entity") == pl.col("entity")))
            .then(pl.lit("update"))
            # written as another document type (the sign flipped): a person decides
            .when(pl.col("_prior_id").is_not_null())
            .then(pl.lit("mismatch"))
            .otherwise(pl.lit("create"))
            .alias("_action"),
            (pl.col("dry_run").fill_null(True) | pl.lit(dry_run)).alias("_rehearse"),
        )
        .sort("_order")
    )
    live = work.filter(~pl.col("_rehearse") & pl.col("_action").is_in(["create", "update"]))
    for provider in live["provider"].unique().to_list():
        companies = live.filter(pl.col("provider") == provider)["company_id"].unique()
        if provider == "quickbooks" and quickbooks_client is None:
            raise WritebackError(
                "write-back: the plan writes to quickbooks; pass quickbooks_client"
            )
        if provider == "xero" and (xero_client is None or not xero_tenant_id):
            raise WritebackError("write-back: the plan writes to xero; pass xero_client and tenant")
        if provider not in ("quickbooks", "xero"):
            raise WritebackError(f"write-back: unknown provider {provider!r} in the plan")
        if companies.len() > 1:
            raise WritebackError(
                f"write-back: one {provider} connection writes one company's books, but the "
                f"plan holds {sorted(companies.to_list())}; run it per company"
            )

    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    aborted: dict[str, str] = {}
    for row in work.iter_rows(named=True):  # one provider call per proposal: unavoidable
        action = row["_action"]
        out = {
            "company_id": row["company_id"],
            "provider": row["provider"],
            "bank_line_id": row["bank_line_id"],
            "idempotency_key": row["idempotency_key"],
            "entity": row["entity"],
            "source_id": row["_prior_id"],
            "source_version": row["_prior_version"],
            "amount": row["amount"],
            "status": None,
            "detail": None,
            "attempted_at": clock(),
        }
        if action == "skip":
            out.update(status="skipped_existing", detail="already written with this key")
        elif action == "mismatch":
            out.update(
                status="failed",
                detail=(
                    f"bank line was written as {row['_prior_entity']} {row['_prior_id']} but "
                    f"now needs a {row['entity']} (its sign changed); void or delete that "
                    "document in the books, then drop its log row and re-run"
                ),
            )
            events.append(_event(row, "failed", out["source_id"], out["detail"]))
        elif row["_rehearse"]:
            out.update(
                status="would_update" if action == "update" else "would_create",
                detail=(
                    f"would update {row['entity']} {row['_prior_id']} to the new amount"
                    if action == "update"
                    else f"would create {row['entity']}"
                ),
            )
        elif row["provider"] in aborted:
            out.update(status="failed", detail=f"not attempted: {aborted[row['provider']]}")
            events.append(_event(row, "failed", out["source_id"], out["detail"]))
        else:
            try:
                written, retried = _write(
                    row, action, quickbooks_client, xero_client, xero_tenant_id
                )
            except StaleVersion as exc:
                out.update(
                    status="stale_conflict",
                    detail=f"changed again after the re-read; not applied: {exc}",
                )
            except ProviderError as exc:
                out.update(status="failed", detail=str(exc))
            except ConnectorError as exc:
                out.update(status="failed", detail=str(exc))
                aborted[row["provider"]] = f"{type(exc).__name__} earlier in this run: {exc}"
            else:
                out.update(
                    status="updated" if action == "update" else "created",
                    source_id=written.source_id,
                    source_version=written.version,
                    detail=(
                        "re-read after a stale version and re-applied"
                        if retried
                        else ("amount changed at the bank" if action == "update" else None)
                    ),
                )
            events.append(_event(row, out["status"], out["source_id"], out["detail"]))
        rows.append(out)
    log = pl.DataFrame(rows, schema=WRITEBACK_LOG_SCHEMA, orient="row") if rows else None
    return WritebackResult(
        log if log is not None else pl.DataFrame(schema=WRITEBACK_LOG_SCHEMA), events
    )


def _write(
    row: Mapping[str, Any],
    action: str,
    quickbooks_client: QuickBooksClient | None,
    xero_client: XeroClient | None,
    xero_tenant_id: str | None,
) -> tuple[_Written, bool]:
    """One provider write for ``row``: (what was written, whether a stale retry happened)."""
    if row["provider"] == "quickbooks":
        assert quickbooks_client is not None  # checked before the loop
        if action == "update":
            return _qbo_update(quickbooks_client, row, row["_prior_id"], row["_prior_version"])
        return _qbo_create(quickbooks_client, row), False
    assert xero_client is not None and xero_tenant_id is not None
    if action == "update":
        return _xero_update(
            xero_client, xero_tenant_id, row, row["_prior_id"], row["_prior_version"]
        )
    return _xero_create(xero_client, xero_tenant_id, row), False
