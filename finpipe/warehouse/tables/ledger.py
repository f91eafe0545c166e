"""Schema ``ledger``: the canonical, source-independent books and bank data.

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

TABLES: tuple[Table, ...] = (BANK_ACCOUNTS, BANK_LINES)
