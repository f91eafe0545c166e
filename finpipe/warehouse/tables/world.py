"""Schema ``raw``, tables ``world_*``: the sandbox world as generated, landed verbatim.

The generator (:mod:`finpipe.sandbox.world`) writes exactly these tables as Parquet files;
the sandbox providers serve them in each provider's own wire shape; the demo lands them
here so later stages (and accuracy benchmarks) can compare what the connectors rebuilt
against what was true. Columns starting with ``truth_`` and the ``world_truth_*`` tables
are ground truth: the sandbox never serves them.

Money columns are signed integer minor units of the row's currency. In journal lines a
debit is positive and a credit negative; in bank lines money in is positive.
"""

from __future__ import annotations

from finpipe.warehouse.schema import Kind, Table, col, company_id_column

M = Kind.MONEY
T = Kind.TEXT


def _world(name: str, doc: str, *columns, key: tuple[str, ...]) -> Table:
    return Table(
        schema="raw",
        name=f"world_{name}",
        doc=doc,
        columns=(company_id_column(), *columns),
        primary_key=("company_id", *key),
    )


WORLD_COMPANIES = _world(
    "companies",
    "One row per generated company, with its providers and the trajectory it was generated on.",
    col("name", T, "trading name", nullable=False),
    col(
        "industry",
        T,
        "restaurant | software | construction | retail | professional_services",
        nullable=False,
    ),
    col("naics_code", T, "6-digit NAICS 2022 code", nullable=False),
    col("country", T, "ISO 3166-1 alpha-2", nullable=False),
    col("home_currency", T, "ISO 4217 currency of the books", nullable=False),
    col("fiscal_year_start_month", Kind.INT, "1-12", nullable=False),
    col("accounting_provider", T, "quickbooks | xero | both (migration overlap)", nullable=False),
    col("qbo_realm_id", T, "QuickBooks realmId, when on QuickBooks"),
    col("xero_tenant_id", T, "Xero tenant id (UUID), when on Xero"),
    col("migration_cutover_date", Kind.DATE, "for `both`: first day Xero is the book of record"),
    col("bank_provider", T, "openbanking | berlingroup | aggregator | statement", nullable=False),
    col("start_date", Kind.DATE, "first day of generated activity", nullable=False),
    col("end_date", Kind.DATE, "last day of generated activity", nullable=False),
    col("truth_trajectory", T, "growing | stable | declining | distressed", nullable=False),
    key=(),
)

WORLD_ACCOUNTS = _world(
    "accounts",
    "Each company's chart of accounts in its provider's own style (QBO AccountType/AccountSubType, Xero Type/Class).",
    col("provider", T, "quickbooks | xero", nullable=False),
    col("account_id", T, "provider id: QBO numeric string, Xero AccountID UUID", nullable=False),
    col("code", T, "account code (Xero Code, QBO AcctNum)"),
    col("name", T, "account name", nullable=False),
    col(
        "account_type",
        T,
        "provider type: QBO AccountType (e.g. 'Accounts Receivable') or Xero Type (e.g. 'CURRENT')",
        nullable=False,
    ),
    col("account_subtype", T, "QBO AccountSubType or Xero SystemAccount"),
    col("classification", T, "Asset | Liability | Equity | Revenue | Expense", nullable=False),
    col("currency", T, "ISO 4217", nullable=False),
    col("bank_account_id", T, "world_bank_accounts id when this is a bank account"),
    col("active", Kind.BOOL, "false once archived", nullable=False),
    col("created_at", Kind.TIMESTAMP, "creation instant", nullable=False),
    col("updated_at", Kind.TIMESTAMP, "last modification instant", nullable=False),
    col(
        "truth_standard_account",
        T,
        "the finpipe standard chart code this account truly maps to",
        nullable=False,
    ),
    key=("provider", "account_id"),
)

WORLD_CONTACTS = _world(
    "contacts",
    "Customers and vendors (and payroll employees, aggregated).",
    col("provider", T, "quickbooks | xero", nullable=False),
    col("contact_id", T, "provider id", nullable=False),
    col("kind", T, "customer | vendor | employee", nullable=False),
    col("name", T, "display name", nullable=False),
    col("email", T, "email address"),
    col("country", T, "ISO 3166-1 alpha-2"),
    col("currency", T, "ISO 4217 currency the contact is billed/paid in", nullable=False),
    col("bank_account_number", T, "IBAN or account number the contact is paid to / pays from"),
    col("bank_details_changed_at", Kind.TIMESTAMP, "last change of the bank details, if changed"),
    col("created_at", Kind.TIMESTAMP, "creation instant", nullable=False),
    col("updated_at", Kind.TIMESTAMP, "last modification instant", nullable=False),
    key=("provider", "contact_id"),
)

WORLD_ITEMS = _world(
    "items",
    "Products and services sold or bought.",
    col("provider", T, "quickbooks | xero", nullable=False),
    col("item_id", T, "provider id", nullable=False),
    col("name", T, "item name", nullable=False),
    col("sku", T, "stock keeping unit / Xero Code"),
    col("item_type", T, "service | inventory | non_inventory", nullable=False),
    col("unit_price", M, "sales price, home currency", nullable=False),
    col("unit_cost", M, "purchase cost, home currency"),
    col("income_account_id", T, "account credited on sale"),
    col("expense_account_id", T, "account debited on purchase / COGS"),
    col("created_at", Kind.TIMESTAMP, "creation instant", nullable=False),
    col("updated_at", Kind.TIMESTAMP, "last modification instant", nullable=False),
    key=("provider", "item_id"),
)

WORLD_BANK_ACCOUNTS = _world(
    "bank_accounts",
    "The company's bank accounts as the bank sees them (1-3 per company).",
    col(
        "bank_account_id",
        T,
        "stable id of the account at the bank (OBIE AccountId, Berlin Group resourceId, aggregator account_id)",
        nullable=False,
    ),
    col("bank_provider", T, "openbanking | berlingroup | aggregator | statement", nullable=False),
    col("institution_name", T, "bank name", nullable=False),
    col("account_name", T, "nickname / product name", nullable=False),
    col("account_type", T, "checking | savings | credit_card", nullable=False),
    col("iban", T, "IBAN where the country uses them"),
    col("sort_code", T, "UK sort code (6 digits)"),
    col("account_number", T, "domestic account number"),
    col("routing_number", T, "US ABA routing number"),
    col("currency", T, "ISO 4217", nullable=False),
    col("opening_balance", M, "balance at start_date, minor units", nullable=False),
    col("opening_date", Kind.DATE, "date of opening_balance", nullable=False),
    col(
        "ledger_account_id",
        T,
        "world_accounts id of the matching bank account in the books (for `both`: the Xero account; every provider's bank account names this id in world_accounts.bank_account_id)",
        nullable=False,
    ),
    key=("bank_account_id",),
)

WORLD_DOCUMENTS = _world(
    "documents",
    "Every accounting document: invoices, bills, payments, expenses, deposits, transfers, journals, credit notes, refunds.",
    col("provider", T, "quickbooks | xero", nullable=False),
    col("document_id", T, "provider id", nullable=False),
    col(
        "doc_type",
        T,
        "invoice | bill | customer_payment | bill_payment | expense | deposit | transfer | journal | credit_note | vendor_credit | sales_receipt | refund",
        nullable=False,
    ),
    col("number", T, "document number (invoice number, bill ref, cheque number)"),
    col("reference", T, "free reference / memo"),
    col("contact_id", T, "customer or vendor"),
    col("issue_date", Kind.DATE, "transaction date", nullable=False),
    col("due_date", Kind.DATE, "due date for invoices and bills"),
    col("currency", T, "ISO 4217 document currency", nullable=False),
    col(
        "fx_rate",
        Kind.DECIMAL,
        "home currency per unit of document currency (1 for home)",
        nullable=False,
        precision=18,
        scale=8,
    ),
    col("subtotal", M, "net amount, document currency", nullable=False),
    col("tax", M, "tax amount, document currency", nullable=False),
    col("total", M, "gross amount, document currency", nullable=False),
    col("home_total", M, "gross amount in home currency at fx_rate", nullable=False),
    col(
        "status",
        T,
        "open | partially_paid | paid | void | deleted (cash documents: posted | void | deleted)",
        nullable=False,
    ),
    col(
        "bank_account_id",
        T,
        "world_bank_accounts id the cash moved through (cash documents; for transfers the receiving account; null for card takings, which go to the processor clearing account until paid out)",
    ),
    col("from_bank_account_id", T, "for transfers: the paying bank account"),
    col(
        "payment_method",
        T,
        "ach | card | check | cash | sepa | faster_payments | wire | card_settlement | payroll | direct_debit",
    ),
    col("created_by", T, "user who entered the document", nullable=False),
    col("created_at", Kind.TIMESTAMP, "creation instant (may be off-hours)", nullable=False),
    col(
        "updated_at",
        Kind.TIMESTAMP,
        "last modification instant (drives incremental sync)",
        nullable=False,
    ),
    col("sync_version", Kind.INT, "edit counter (QBO SyncToken)", nullable=False),
    col(
        "truth_duplicate_of",
        T,
        "for migration overlap: on the copy that is not the book of record, the id of its twin (the book-of-record copy) in the other provider; null on book-of-record documents",
    ),
    key=("provider", "document_id"),
)

WORLD_DOCUMENT_LINES = _world(
    "document_lines",
    "Line items of documents, with the account each line posts to.",
    col("provider", T, "quickbooks | xero", nullable=False),
    col("document_id", T, "parent document", nullable=False),
    col("line_no", Kind.INT, "1-based line number", nullable=False),
    col("item_id", T, "item sold or bought"),
    col("account_id", T, "account the line posts to", nullable=False),
    col("description", T, "line description"),
    col("quantity", Kind.DECIMAL, "quantity", precision=18, scale=4),
    col("unit_amount", M, "price per unit, document currency"),
    col(
        "amount",
        M,
        "net line amount, document currency (signed for journals: debit +)",
        nullable=False,
    ),
    col("tax_amount", M, "tax on the line, document currency", nullable=False),
    col("tax_code", T, "tax rate code"),
    key=("provider", "document_id", "line_no"),
)

WORLD_ALLOCATIONS = _world(
    "allocations",
    "Payments and credits applied to invoices and bills (partial, full, over-payment remainder).",
    col("provider", T, "quickbooks | xero", nullable=False),
    col("allocation_id", T, "stable id", nullable=False),
    col("source_document_id", T, "the payment, credit note or vendor credit", nullable=False),
    col("target_document_id", T, "the invoice or bill it settles", nullable=False),
    col("date", Kind.DATE, "application date", nullable=False),
    col("amount", M, "amount applied, document currency", nullable=False),
    key=("provider", "allocation_id"),
)

WORLD_JOURNAL_LINES = _world(
    "journal_lines",
    "The true double-entry books: every document expanded to balanced lines in home currency.",
    col("provider", T, "quickbooks | xero", nullable=False),
    col(
        "entry_id",
        T,
        "journal entry id (one per document, plus FX revaluation entries)",
        nullable=False,
    ),
    col("line_no", Kind.INT, "1-based", nullable=False),
    col("document_id", T, "source document"),
    col("date", Kind.DATE, "posting date", nullable=False),
    col("account_id", T, "provider account id", nullable=False),
    col("amount", M, "home currency, debit positive, credit negative", nullable=False),
    col(
        "currency",
        T,
        "currency of foreign_amount: the document currency (opening and revaluation lines of a foreign-currency bank account: that account's currency)",
        nullable=False,
    ),
    col(
        "foreign_amount",
        M,
        "the same line in that currency (0 on exchange-difference and revaluation lines)",
        nullable=False,
    ),
    col("description", T, "line description"),
    key=("provider", "entry_id", "line_no"),
)

WORLD_BANK_LINES = _world(
    "bank_lines",
    "Statement lines as the bank reports them, with real-world messiness.",
    col("bank_account_id", T, "world_bank_accounts id", nullable=False),
    col(
        "line_id",
        T,
        "the bank's transaction id (OBIE TransactionId, FITID, aggregator transaction_id)",
        nullable=False,
    ),
    col("booked_date", Kind.DATE, "booking date", nullable=False),
    col("value_date", Kind.DATE, "value date"),
    col("amount", M, "signed minor units, money in positive", nullable=False),
    col("currency", T, "ISO 4217", nullable=False),
    col("status", T, "pending | booked", nullable=False),
    col("description", T, "narration as printed, e.g. 'POS 4411 SQ *CAFE'", nullable=False),
    col("counterparty_name", T, "counterparty as the bank reports it"),
    col("counterparty_account", T, "counterparty IBAN / account number"),
    col("reference", T, "remittance reference / end-to-end id / cheque number"),
    col(
        "bank_transaction_code",
        T,
        "ISO 20022 style family code, e.g. PMNT-RCDT-ESCT, or card/fee/interest",
    ),
    col("pending_line_id", T, "for a booked line: the pending line it replaces"),
    col("running_balance", M, "balance after the line where the bank gives it"),
    col("created_at", Kind.TIMESTAMP, "when the bank first reported the line", nullable=False),
    col(
        "truth_kind",
        T,
        "ledger_cash (settles cash documents, see world_truth_matches) | bank_fee | interest (no ledger counterpart): what the line really is",
        nullable=False,
    ),
    key=("line_id",),
)

WORLD_TRUTH_MATCHES = _world(
    "truth_matches",
    "Ground truth: which bank lines settle which cash documents (1:1, 1:n batched deposits, n:1 split payments).",
    col("match_id", T, "one id per match group", nullable=False),
    col("bank_line_id", T, "world_bank_lines.line_id (booked line)", nullable=False),
    col("provider", T, "provider of the document", nullable=False),
    col(
        "document_id",
        T,
        "cash document (payment, bill payment, expense, deposit, transfer, receipt, refund)",
        nullable=False,
    ),
    col("match_type", T, "1:1 | 1:n | n:1", nullable=False),
    col(
        "amount",
        M,
        "part of the bank line explained by this document, bank currency",
        nullable=False,
    ),
    key=("match_id", "bank_line_id", "provider", "document_id"),
)

WORLD_TRUTH_ANOMALIES = _world(
    "truth_anomalies",
    "Ground truth: injected anomalies, one row per document involved.",
    col("anomaly_id", T, "one id per injected anomaly", nullable=False),
    col(
        "line_no",
        Kind.INT,
        "1-based row within the anomaly (one per document involved)",
        nullable=False,
    ),
    col(
        "anomaly_type",
        T,
        "duplicate_payment | split_payment | round_amount | off_hours_posting | new_vendor_large_payment | bank_details_changed | benford_vendor | expense_spike | cash_crunch",
        nullable=False,
    ),
    col("provider", T, "provider of the document"),
    col(
        "document_id", T, "document involved (null for company-level anomalies such as cash_crunch)"
    ),
    col("contact_id", T, "vendor involved, if any"),
    col("month", Kind.DATE, "first day of the month the anomaly is in", nullable=False),
    col("detail", T, "human-readable description of what was injected", nullable=False),
    key=("anomaly_id", "line_no"),
)

WORLD_TRUTH_MONTHLY = _world(
    "truth_monthly",
    "Ground truth: monthly financial statements per company in home currency (from the true books).",
    col("month", Kind.DATE, "first day of the month", nullable=False),
    col("revenue", M, "income for the month", nullable=False),
    col("cost_of_sales", M, "COGS for the month", nullable=False),
    col("operating_expenses", M, "operating expenses for the month", nullable=False),
    col(
        "other_income_expense",
        M,
        "other income less other expense (FX, interest, fees)",
        nullable=False,
    ),
    col(
        "net_income",
        M,
        "revenue - cost_of_sales - operating_expenses + other_income_expense",
        nullable=False,
    ),
    col("cash", M, "cash and bank balances at month end (books)", nullable=False),
    col("accounts_receivable", M, "at month end", nullable=False),
    col("accounts_payable", M, "at month end", nullable=False),
    col("total_assets", M, "at month end", nullable=False),
    col("total_liabilities", M, "at month end", nullable=False),
    col("total_equity", M, "at month end, including the year's earnings", nullable=False),
    key=("month",),
)

TABLES = (
    WORLD_COMPANIES,
    WORLD_ACCOUNTS,
    WORLD_CONTACTS,
    WORLD_ITEMS,
    WORLD_BANK_ACCOUNTS,
    WORLD_DOCUMENTS,
    WORLD_DOCUMENT_LINES,
    WORLD_ALLOCATIONS,
    WORLD_JOURNAL_LINES,
    WORLD_BANK_LINES,
    WORLD_TRUTH_MATCHES,
    WORLD_TRUTH_ANOMALIES,
    WORLD_TRUTH_MONTHLY,
)
