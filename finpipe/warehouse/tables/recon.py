"""Schema ``recon``: what reconciliation found.

``matches`` pairs bank lines with the books' cash movements (rule, match type, confidence);
``suggestions`` are what a person must decide (never applied automatically);
``unmatched_bank_lines`` / ``unmatched_movements`` are the exceptions, aged; ``summary`` is one
row per company and currency. ``conflicts`` records every cross-source duplicate of a company
on both QuickBooks and Xero and how it was resolved.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

M = Kind.MONEY
T = Kind.TEXT
F = Kind.FLOAT

MATCHES = Table(
    schema="recon",
    name="matches",
    doc="Bank line <-> ledger cash movement matches, each with the rule that made it and its confidence; rows of a 1:n or n:1 match share group_id.",
    columns=(
        company_id_column(),
        col("match_id", T, "one id per (bank line, movement) pair", nullable=False),
        col("group_id", T, "shared by the rows of one 1:n / n:1 match", nullable=False),
        col("bank_line_id", T, "ledger.bank_lines line_id", nullable=False),
        col("movement_id", T, "ledger.cash_movements movement_id", nullable=False),
        col(
            "rule",
            T,
            "exact_id | reference | amount_date | tolerance | counterparty | subset_sum",
            nullable=False,
        ),
        col("match_type", T, "1:1 | 1:n | n:1", nullable=False),
        col("confidence", F, "0..1", nullable=False),
        col("amount_difference", M, "movement amount - bank line amount"),
        col("difference_kind", T, "none | fee | fx"),
    ),
    primary_key=("company_id", "bank_line_id", "movement_id"),
)

SUGGESTIONS = Table(
    schema="recon",
    name="suggestions",
    doc="Ambiguous candidates for a person to confirm or reject: never applied automatically.",
    columns=(
        company_id_column(),
        col("suggestion_id", T, "one id per suggested pair", nullable=False),
        col("group_id", T, "the suggested group (alternatives have different groups)"),
        col("bank_line_id", T, "ledger.bank_lines line_id", nullable=False),
        col("movement_id", T, "ledger.cash_movements movement_id", nullable=False),
        col("rule", T, "the rule that proposed it", nullable=False),
        col("score", F, "0..1", nullable=False),
        col("reason", T, "why it is proposed and why it is not automatic"),
    ),
    primary_key=("company_id", "suggestion_id", "bank_line_id", "movement_id"),
)

UNMATCHED_BANK_LINES = Table(
    schema="recon",
    name="unmatched_bank_lines",
    doc="Booked bank lines no movement explains yet, with their age and whether a suggestion exists.",
    columns=(
        company_id_column(),
        col("line_id", T, "ledger.bank_lines line_id", nullable=False),
        col("bank_account_id", T, "ledger.bank_accounts id", nullable=False),
        col("booked_date", Kind.DATE, "booking date", nullable=False),
        col("amount", M, "signed, money in positive", nullable=False),
        col("currency", T, "ISO 4217", nullable=False),
        col("description", T, "narration"),
        col("counterparty_name", T, "as the bank reports it"),
        col("age_days", Kind.INT, "days from booked_date to the reconciliation date"),
        col("age_bucket", T, "0-7 | 8-30 | 31-60 | 61-90 | 90+"),
        col("suggested", Kind.BOOL, "a suggestion names this line", nullable=False),
    ),
    primary_key=("company_id", "line_id"),
)

UNMATCHED_MOVEMENTS = Table(
    schema="recon",
    name="unmatched_movements",
    doc="Ledger cash movements no bank line explains yet, with their age and whether a suggestion exists.",
    columns=(
        company_id_column(),
        col("movement_id", T, "ledger.cash_movements movement_id", nullable=False),
        col("provider", T, "quickbooks | xero"),
        col("document_id", T, "source document"),
        col("document_type", T, "canonical document type"),
        col("bank_account_id", T, "ledger.bank_accounts id (null: not linked)"),
        col("date", Kind.DATE, "ledger date", nullable=False),
        col("amount", M, "signed, money in positive", nullable=False),
        col("currency", T, "ISO 4217", nullable=False),
        col("counterparty_name", T, "contact name"),
        col("age_days", Kind.INT, "days from date to the reconciliation date"),
        col("age_bucket", T, "0-7 | 8-30 | 31-60 | 61-90 | 90+"),
        col("suggested", Kind.BOOL, "a suggestion names this movement", nullable=False),
    ),
    primary_key=("company_id", "movement_id"),
)

# The reconciliation rules and age buckets the summary has one column per (kept in step
# with finpipe.reconcile: a new rule is a new column).
_RULES = ("exact_id", "reference", "amount_date", "tolerance", "counterparty", "subset_sum")
_BUCKETS = ("0_7", "8_30", "31_60", "61_90", "over_90")

SUMMARY = Table(
    schema="recon",
    name="summary",
    doc="Per company and currency: how much of the bank was reconciled automatically, by which rule, and what is left (bank lines and ledger movements, by age in days).",
    columns=(
        company_id_column(),
        col("currency", T, "ISO 4217 (money is never summed across currencies)", nullable=False),
        col("bank_lines_booked", Kind.INT, "booked bank lines", nullable=False),
        col("bank_lines_matched", Kind.INT, "of which matched automatically", nullable=False),
        col("matched_share", F, "matched / booked"),
        *(
            col(f"matched_{rule}", Kind.INT, f"bank lines matched by rule {rule}", nullable=False)
            for rule in _RULES
        ),
        col("bank_lines_suggested", Kind.INT, "unmatched lines with a suggestion", nullable=False),
        col("bank_lines_unmatched", Kind.INT, "booked lines left unmatched", nullable=False),
        col("bank_unmatched_amount", M, "their absolute amount", nullable=False),
        *(
            col(f"bank_unmatched_{b}", M, f"unmatched bank amount aged {b} days", nullable=False)
            for b in _BUCKETS
        ),
        col("movements", Kind.INT, "ledger cash movements", nullable=False),
        col("movements_unmatched", Kind.INT, "of which unmatched", nullable=False),
        col("movement_unmatched_amount", M, "their absolute amount", nullable=False),
        *(
            col(
                f"movement_unmatched_{b}",
                M,
                f"unmatched ledger amount aged {b} days",
                nullable=False,
            )
            for b in _BUCKETS
        ),
        col("auto_reconciled_amount_share", F, "matched / booked bank amount (absolute)"),
    ),
    primary_key=("company_id", "currency"),
)

OPEN_ITEMS = Table(
    schema="recon",
    name="open_items",
    doc="Every live invoice, bill, credit note, vendor credit, overpayment and prepayment with what was applied to it (the books' allocations and the automatic invoice matches), its open balance, status and age.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("document_id", T, "the document", nullable=False),
        col("doc_type", T, "canonical document type", nullable=False),
        col("side", T, "receivable | payable", nullable=False),
        col("number", T, "document number"),
        col("contact_id", T, "customer or vendor"),
        col("currency", T, "document currency", nullable=False),
        col("issue_date", Kind.DATE, "issue date"),
        col("due_date", Kind.DATE, "due date"),
        col("as_of", Kind.DATE, "the date balances are computed at", nullable=False),
        col("total", M, "gross, document currency", nullable=False),
        col("applied", M, "payments and credits applied up to as_of", nullable=False),
        col("open_balance", M, "total - applied (negative when over-applied)", nullable=False),
        col("status", T, "open | partially_paid | paid | overpaid", nullable=False),
        col("provider_status", T, "the status the provider reports"),
        col("days_overdue", Kind.INT, "days past due at as_of"),
        col("age_bucket", T, "current | 1-30 | 31-60 | 61-90 | 90+ (null when settled)"),
        col("provider_amount_due", M, "the open balance the provider reports"),
        col("disagrees", Kind.BOOL, "open_balance differs from provider_amount_due"),
    ),
    primary_key=("company_id", "provider", "document_id"),
)

INVOICE_MATCHES = Table(
    schema="recon",
    name="invoice_matches",
    doc="Payments and credits applied to invoices and bills: the books' own allocations (rule books) and automatic matches of unapplied money (reference, amount, oldest_first).",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("match_id", T, "stable id", nullable=False),
        col("payment_document_id", T, "the payment or credit", nullable=False),
        col("invoice_document_id", T, "the invoice or bill", nullable=False),
        col("amount", M, "applied, invoice currency", nullable=False),
        col("rule", T, "books | reference | amount | oldest_first", nullable=False),
        col("confidence", F, "0..1", nullable=False),
    ),
    primary_key=("company_id", "provider", "match_id"),
)

INVOICE_SUGGESTIONS = Table(
    schema="recon",
    name="invoice_suggestions",
    doc="Ambiguous payment -> invoice candidates for a person to decide.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("suggestion_id", T, "stable id", nullable=False),
        col("payment_document_id", T, "the payment or credit", nullable=False),
        col("invoice_document_id", T, "the candidate invoice or bill", nullable=False),
        col("amount", M, "amount that would apply"),
        col("rule", T, "the rule that proposed it", nullable=False),
        col("confidence", F, "0..1"),
        col("reason", T, "why it is not automatic"),
    ),
    primary_key=("company_id", "provider", "suggestion_id"),
)

UNAPPLIED_PAYMENTS = Table(
    schema="recon",
    name="unapplied_payments",
    doc="Payments and credits with money left unapplied after the books' allocations and the automatic matches (over-payments, ambiguous, no candidate).",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("payment_document_id", T, "the payment or credit", nullable=False),
        col("doc_type", T, "canonical document type"),
        col("contact_id", T, "customer or vendor"),
        col("currency", T, "currency"),
        col("total", M, "the payment's total"),
        col("unapplied", M, "what is left", nullable=False),
        col("reason", T, "overpayment | ambiguous | no_match", nullable=False),
    ),
    primary_key=("company_id", "provider", "payment_document_id"),
)

CONFLICTS = Table(
    schema="recon",
    name="conflicts",
    doc="Cross-source duplicates of a company on both QuickBooks and Xero, and how each was resolved under the company's source policy (ops.source_policies, or inferred).",
    columns=(
        company_id_column(),
        col("conflict_id", T, "stable hash of the pair", nullable=False),
        col(
            "kind",
            T,
            "duplicate | amount_mismatch | date_mismatch | ambiguous | only_in_non_authoritative",
            nullable=False,
        ),
        col("quickbooks_document_id", T, "the QuickBooks copy"),
        col("xero_document_id", T, "the Xero copy"),
        col("kept_provider", T, "the copy kept in the books"),
        col("resolution", T, "what was done, in words", nullable=False),
        col("policy", T, "configured | inferred", nullable=False),
        col("details", T, "amounts, dates and scores behind the decision"),
    ),
    primary_key=("company_id", "conflict_id"),
)

WRITEBACK_LOG = Table(
    schema="recon",
    name="writeback_log",
    doc="Every write-back attempt (bank fees and interest created in the books): dry runs, creations, updates, skips, failures and stale-version conflicts.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("bank_line_id", T, "the bank line explained", nullable=False),
        col("idempotency_key", T, "QBO requestid / Xero Idempotency-Key", nullable=False),
        col("entity", T, "Purchase | Deposit | BankTransactions"),
        col("source_id", T, "the document's id in the books"),
        col("source_version", T, "QBO SyncToken / Xero UpdatedDateUTC after the write"),
        col("amount", M, "the bank line's amount"),
        col(
            "status",
            T,
            "would_create | would_update | created | updated | skipped_existing | failed | stale_conflict",
            nullable=False,
        ),
        col("detail", T, "what happened"),
        col("attempted_at", Kind.TIMESTAMP, "when", nullable=False),
    ),
    primary_key=("company_id", "idempotency_key", "attempted_at"),
)

TABLES: tuple[Table, ...] = (
    MATCHES,
    SUGGESTIONS,
    UNMATCHED_BANK_LINES,
    UNMATCHED_MOVEMENTS,
    SUMMARY,
    OPEN_ITEMS,
    INVOICE_MATCHES,
    INVOICE_SUGGESTIONS,
    UNAPPLIED_PAYMENTS,
    CONFLICTS,
    WRITEBACK_LOG,
)
