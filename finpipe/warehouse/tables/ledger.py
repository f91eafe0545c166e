"""Schema ``ledger``: the canonical, source-independent books and bank data.

``contacts``, ``documents``, ``journal_lines`` and ``allocations`` are every accounting
source's records (QuickBooks Online, Xero) in one shape, each document expanded into
balanced double-entry lines in home currency (see :mod:`finpipe.ledger.books_schema`);
``cash_movements`` are what the books say moved through each bank account, which
reconciliation holds against ``bank_lines``.

``bank_accounts`` and ``bank_lines`` hold every bank account of a company across
institutions and sources (Open Banking, Berlin Group, the aggregator, statement files) in one
shape. Money in is positive; amounts are integer minor units of the line's currency.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

M = Kind.MONEY
T = Kind.TEXT

BANK_ACCOUNTS = Table(
    schema="ledger",
    name="bank_accounts",
    doc="Every bank account of a company, across institutions and sources, with the latest balance the bank reported.",
    columns=(
        company_id_column(),
        col(
            "bank_account_id",
            T,
            "the account's id at its source (OBIE AccountId, Berlin Group resourceId, aggregator account_id; statement files: IBAN or account number)",
            nullable=False,
        ),
        col("source", T, "openbanking | berlingroup | aggregator | statement", nullable=False),
        col("institution_name", T, "bank name, where the source gives it"),
        col("account_name", T, "nickname or product name"),
        col("account_type", T, "checking | savings | credit_card | other"),
        col("iban", T, "IBAN, where the account has one"),
        col(
            "account_number",
            T,
            "domestic account number (UK: sort code + number), or masked number",
        ),
        col("currency", T, "ISO 4217", nullable=False),
        col("reported_balance", M, "latest booked balance the bank reported (minor units)"),
        col("reported_balance_date", Kind.DATE, "date of reported_balance"),
        col(
            "lines", Kind.INT, "canonical lines of the account in ledger.bank_lines", nullable=False
        ),
        col("first_booked_date", Kind.DATE, "earliest booked date of its lines"),
        col("last_booked_date", Kind.DATE, "latest booked date of its lines"),
    ),
    primary_key=("company_id", "bank_account_id"),
)

BANK_LINES = Table(
    schema="ledger",
    name="bank_lines",
    doc="Canonical bank lines of every source: pending lines replaced by their posted line, removed lines gone, one line per transaction even when an API and a statement file both report it.",
    columns=(
        company_id_column(),
        col(
            "line_id",
            T,
            "finpipe id of the line: '<source>:<bank account id>:<source id>' of the line that represents it",
            nullable=False,
        ),
        col("bank_account_id", T, "ledger.bank_accounts id", nullable=False),
        col(
            "source",
            T,
            "openbanking | berlingroup | aggregator | statement: where the kept version came from",
            nullable=False,
        ),
        col(
            "source_id",
            T,
            "the transaction's id at that source (OBIE TransactionId, Berlin Group transactionId, aggregator transaction_id, FITID / AcctSvcrRef / derived key)",
            nullable=False,
        ),
        col(
            "booked_date",
            Kind.DATE,
            "booking date (pending lines: transaction date)",
            nullable=False,
        ),
        col("value_date", Kind.DATE, "value date, where given"),
        col("amount", M, "signed minor units, money in positive", nullable=False),
        col("currency", T, "ISO 4217", nullable=False),
        col("status", T, "pending | booked", nullable=False),
        col("description", T, "narration as the bank gives it", nullable=False),
        col("counterparty_name", T, "counterparty as the bank reports it"),
        col("counterparty_account", T, "counterparty IBAN / account number"),
        col("reference", T, "end-to-end id, remittance information or cheque number"),
        col("bank_transaction_code", T, "ISO 20022 family code or the source's own code"),
        col("running_balance", M, "balance after the line, where the source gives it"),
        col(
            "pending_source_id",
            T,
            "for a posted line: the source id of the pending line it replaced",
        ),
        col(
            "also_reported_by",
            T,
            "other sources that reported the same transaction ('statement:<file sha>', ...), comma separated",
        ),
        col(
            "extracted_at", Kind.TIMESTAMP, "when finpipe fetched the kept version", nullable=False
        ),
    ),
    primary_key=("company_id", "line_id"),
)

CONTACTS = Table(
    schema="ledger",
    name="contacts",
    doc="Customers, vendors and employees of every accounting source.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("contact_id", T, "the provider's id", nullable=False),
        col("name", T, "display name", nullable=False),
        col("kind", T, "customer | vendor | employee", nullable=False),
        col("is_customer", Kind.BOOL, "sold to"),
        col("is_supplier", Kind.BOOL, "bought from"),
        col("email", T, "primary e-mail"),
        col("tax_number", T, "VAT / tax id"),
        col("bank_account_number", T, "IBAN or account number on file"),
        col("currency", T, "the contact's default currency"),
        col("is_active", Kind.BOOL, "active at the provider"),
        col("updated_at", Kind.TIMESTAMP, "the provider's last update"),
    ),
    primary_key=("company_id", "provider", "contact_id"),
)

DOCUMENTS = Table(
    schema="ledger",
    name="documents",
    doc="Every accounting document (invoices, bills, payments, expenses, deposits, transfers, journals, credit notes, refunds, overpayments, prepayments) with its open balance and status; voided and deleted ones kept with their status.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("document_id", T, "the provider's id", nullable=False),
        col("doc_type", T, "canonical type (ledger.books_schema.DOC_TYPES)", nullable=False),
        col("source_type", T, "the provider's own type (QBO entity, Xero Type)"),
        col("number", T, "document number"),
        col("reference", T, "reference / memo"),
        col("contact_id", T, "customer or vendor"),
        # null only on a deletion the provider reports as a bare id (QBO CDC tombstone)
        col("issue_date", Kind.DATE, "transaction date (null on a bare deletion tombstone)"),
        col("due_date", Kind.DATE, "due date"),
        col("currency", T, "document currency (null on a bare deletion tombstone)"),
        col(
            "fx_rate",
            Kind.DECIMAL,
            "home currency per unit of document currency, from the document",
            precision=18,
            scale=8,
        ),
        col("subtotal", M, "net, document currency"),
        col("tax", M, "tax, document currency"),
        col("total", M, "gross, document currency (null on a bare deletion tombstone)"),
        col("home_total", M, "gross, home currency at fx_rate"),
        col("amount_due", M, "open balance the provider reports, document currency"),
        col(
            "status",
            T,
            "open | partially_paid | paid | posted | draft | void | deleted",
            nullable=False,
        ),
        col("cash_account_id", T, "books account the cash moved through"),
        col("from_cash_account_id", T, "paying account of a transfer"),
        col("external_id", T, "payment id the bank also knows"),
        col("updated_at", Kind.TIMESTAMP, "the provider's last update"),
        col("sync_version", T, "QBO SyncToken / Xero UpdatedDateUTC"),
        col(
            "book_of_record",
            Kind.BOOL,
            "false for the twin a company on both sources does not keep (see recon.conflicts)",
            nullable=False,
        ),
    ),
    primary_key=("company_id", "provider", "document_id"),
)

JOURNAL_LINES = Table(
    schema="ledger",
    name="journal_lines",
    doc="Every live document as balanced double-entry lines in home currency, debit positive (sum zero per entry).",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("entry_id", T, "journal entry id (one per document)", nullable=False),
        col("line_no", Kind.INT, "1-based", nullable=False),
        col("document_id", T, "source document"),
        col("doc_type", T, "canonical document type"),
        col("date", Kind.DATE, "posting date", nullable=False),
        col("account_id", T, "the provider's account id (see ledger.account_map)", nullable=False),
        col("standard_code", T, "ledger.standard_accounts code the account maps to"),
        col("amount", M, "home currency, debit positive", nullable=False),
        col("currency", T, "currency of foreign_amount (the document's)", nullable=False),
        col("foreign_amount", M, "the line in that currency (0 on exchange differences)"),
        col("contact_id", T, "customer or vendor of the document"),
        col("description", T, "line description"),
    ),
    primary_key=("company_id", "provider", "entry_id", "line_no"),
)

ALLOCATIONS = Table(
    schema="ledger",
    name="allocations",
    doc="Payments and credits applied to invoices and bills, as the books record them.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("allocation_id", T, "stable id", nullable=False),
        col("source_document_id", T, "the payment or credit", nullable=False),
        col("target_document_id", T, "the invoice or bill", nullable=False),
        col("date", Kind.DATE, "application date"),
        col("amount", M, "amount applied, target's currency", nullable=False),
        col("currency", T, "target's currency"),
    ),
    primary_key=("company_id", "provider", "allocation_id"),
)

BANK_ACCOUNT_LINKS = Table(
    schema="ledger",
    name="bank_account_links",
    doc="Which bank or card account of the books each bank feed account is, per accounting source.",
    columns=(
        company_id_column(),
        col("bank_account_id", T, "ledger.bank_accounts id", nullable=False),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("cash_account_id", T, "the books account id", nullable=False),
        col("method", T, "account_number | only_candidate | name | override", nullable=False),
    ),
    primary_key=("company_id", "bank_account_id", "provider"),
)

CASH_MOVEMENTS = Table(
    schema="ledger",
    name="cash_movements",
    doc="What the books say moved through each bank account: one row per cash document and bank account (a transfer gives two), in the bank account's currency, money in positive.",
    columns=(
        company_id_column(),
        col("movement_id", T, "provider:document:leg", nullable=False),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("document_id", T, "source document", nullable=False),
        col("document_number", T, "document number"),
        col("document_type", T, "canonical document type", nullable=False),
        col("cash_account_id", T, "books account", nullable=False),
        col("bank_account_id", T, "ledger.bank_accounts id (null: not linked)"),
        col("date", Kind.DATE, "ledger date", nullable=False),
        col("amount", M, "signed, money in positive, bank account currency", nullable=False),
        col("currency", T, "currency of amount", nullable=False),
        col("document_currency", T, "the document's currency"),
        col("counterparty_name", T, "contact name"),
        col("counterparty_account", T, "contact's bank account on file"),
        col("reference", T, "document reference"),
        col("external_id", T, "payment id the bank also knows"),
    ),
    primary_key=("company_id", "movement_id"),
)

PROVIDER_TRIAL_BALANCES = Table(
    schema="ledger",
    name="provider_trial_balances",
    doc="Each accounting source's own trial balance (QBO reports/TrialBalance, Xero Reports/TrialBalance), what the ledger's totals are held to.",
    columns=(
        company_id_column(),
        col("provider", T, "quickbooks | xero", nullable=False),
        col("as_of", Kind.DATE, "report date", nullable=False),
        col("account_id", T, "the provider's account id", nullable=False),
        col("account_name", T, "account name"),
        col("balance", M, "home currency, debit positive", nullable=False),
        col("currency", T, "home currency"),
        col(
            "fiscal_year_start",
            Kind.DATE,
            "first day of the fiscal year the report's income and expense cover (earlier years are in retained earnings)",
            nullable=False,
        ),
        col("extracted_at", Kind.TIMESTAMP, "when finpipe fetched it", nullable=False),
    ),
    primary_key=("company_id", "provider", "as_of", "account_id"),
)

TABLES: tuple[Table, ...] = (
    BANK_ACCOUNTS,
    BANK_LINES,
    CONTACTS,
    DOCUMENTS,
    JOURNAL_LINES,
    ALLOCATIONS,
    BANK_ACCOUNT_LINKS,
    CASH_MOVEMENTS,
    PROVIDER_TRIAL_BALANCES,
)
