"""Shape the generated world into the declared ``raw.world_*`` tables.

This is the only place numbers become strings: provider ids, enum labels, narrations and
names are gathered from small lookup tables into full columns with Polars kernels.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from finpipe.sandbox.world import book as bk
from finpipe.sandbox.world import reference as ref
from finpipe.sandbox.world.anomalies import ANOMALY_TYPES, AnomalyLog
from finpipe.sandbox.world.bank import BOOKED, TEMPLATES, TRUTH_KINDS, Statement
from finpipe.sandbox.world.bank_accounts import BankAccounts, alnum_ids
from finpipe.sandbox.world.chart import ROLE, Accounts
from finpipe.sandbox.world.columns import (
    choose,
    dates,
    decimal,
    gather,
    keep,
    lookup,
    nullable_dates,
    nullable_money,
    prefixed,
    rank_in_runs,
    run_starts,
    stamps,
)
from finpipe.sandbox.world.companies import PROCESSOR_NAMES
from finpipe.sandbox.world.contacts import CONTACT_KINDS, PAYMENT_METHODS, special_vendor
from finpipe.sandbox.world.context import Ctx
from finpipe.sandbox.world.fx import convert
from finpipe.sandbox.world.items import ITEM_TYPES
from finpipe.sandbox.world.journal import BANK_ROLE
from finpipe.sandbox.world.narration import describe, transaction_codes
from finpipe.sandbox.world.providers import US_PER_DAY, US_PER_HOUR, DocRows
from finpipe.sandbox.world.rng import hex_strings, uuid4_strings

PROVIDERS = pl.Series(ref.PROVIDER_NAMES)


class Output:
    """Builds every output frame; holds the id tables the frames share."""

    def __init__(
        self,
        ctx: Ctx,
        accounts: Accounts,
        banks: BankAccounts,
        rows: DocRows,
        numbers: tuple[pl.Series, pl.Series],
        edits: dict[str, np.ndarray],
    ) -> None:
        self.ctx = ctx
        self.accounts = accounts
        self.banks = banks
        self.rows = rows
        self.number, self.reference = numbers
        self.edits = edits
        self.rng = ctx.streams.get("output")
        self.docs = ctx.book.docs()
        self.company_id = ctx.co.company_id
        self._contacts()
        self._items()

    # ---------------------------------------------------------------- helpers
    def cid(self, ci: np.ndarray) -> pl.Series:
        return self.company_id.gather(pl.Series(np.asarray(ci, dtype=np.int64)))

    def account_ids(self, ci: np.ndarray, p: np.ndarray, role: np.ndarray) -> pl.Series:
        tmpl = self.accounts.roles[ci, p, role]
        row = self.accounts.lookup[ci, p, tmpl]
        if (row < 0).any():
            bad = np.flatnonzero(row < 0)[0]
            raise RuntimeError(
                f"company {ci[bad]} provider {p[bad]} has no account for template {tmpl[bad]}"
            )
        return self.accounts.frame["account_id"].gather(pl.Series(row))

    def company_providers(self, ci: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index, provider) pairs: one per provider file of each company in ``ci``."""
        prov = self.ctx.co.provider[ci]
        q = np.flatnonzero(prov != ref.XERO)
        x = np.flatnonzero(prov != ref.QBO)
        return (np.r_[q, x], np.r_[np.zeros(len(q), np.int8), np.ones(len(x), np.int8)])

    def _provider_ids(self, ci: np.ndarray, p: np.ndarray, order_key: np.ndarray) -> pl.Series:
        """QBO: counting per (company, provider) in ``order_key`` order; Xero: UUIDs."""
        k = len(ci)
        order = np.lexsort((order_key, p, ci))
        key = ci[order].astype(np.int64) * 2 + p[order]
        rank = np.empty(k, dtype=np.int64)
        rank[order] = rank_in_runs(key) + 1
        return choose(p == 0, pl.Series(rank).cast(pl.String), uuid4_strings(self.rng, k))

    # ---------------------------------------------------------------- contacts
    def _contacts(self) -> None:
        ctx, docs = self.ctx, self.docs
        c = ctx.contacts
        cal = ctx.cal
        n = len(c.ci)
        first_use = np.full(n, cal.start, dtype=np.int64)  # never used: existed all along
        first_use[np.unique(docs["contact"][docs["contact"] >= 0])] = cal.end
        has = docs["contact"] >= 0
        np.minimum.at(first_use, docs["contact"][has], docs["day"][has].astype(np.int64))
        lag_max = c.created_lag if c.created_lag is not None else np.full(n, 45)
        # contacts first used early in the window existed before it (anomalies: "just created")
        early = (first_use - cal.start < 90) & (lag_max > 5)
        created_day = np.where(
            early,
            cal.start - self.rng.integers(10, 700, n),
            first_use - self.rng.integers(0, np.maximum(lag_max, 1) + 1, n),
        )
        created_day = np.minimum(created_day, first_use)
        idx, p = self.company_providers(c.ci)
        cut = ctx.co.cutover[c.ci[idx]]
        both = ctx.co.provider[c.ci[idx]] == ref.BOTH
        mig_day = np.maximum(cut - 30, created_day[idx])
        day = np.where(
            both & (p == 1),
            np.minimum(mig_day, np.maximum(first_use[idx], cut - 30)),
            created_day[idx],
        )
        created_us = day.astype(np.int64) * US_PER_DAY + self.rng.integers(
            8 * US_PER_HOUR, 18 * US_PER_HOUR, len(idx)
        )
        changed = c.bank_changed_day[idx].astype(np.int64)
        changed_us = changed * US_PER_DAY + 11 * US_PER_HOUR
        updated_us = np.where(changed >= 0, np.maximum(changed_us, created_us), created_us)
        ids = self._provider_ids(c.ci[idx], p, created_us)
        self.contact_row = np.full((n, 2), -1, dtype=np.int64)
        self.contact_row[idx, p] = np.arange(len(idx))
        self.contact_id = ids
        f = c.frame
        self.contacts_frame = pl.DataFrame(
            {
                "company_id": self.cid(c.ci[idx]),
                "provider": PROVIDERS.gather(pl.Series(p.astype(np.int64))),
                "contact_id": ids,
                "kind": lookup(CONTACT_KINDS, c.kind[idx]),
                "name": f["name"].gather(pl.Series(idx)),
                "email": f["email"].gather(pl.Series(idx)),
                "country": f["country"].gather(pl.Series(idx)),
                "currency": lookup(ref.CURRENCIES, c.ccy[idx]),
                "bank_account_number": f["account"].gather(pl.Series(idx)),
                "bank_details_changed_at": keep(stamps(np.maximum(changed_us, 0)), changed >= 0),
                "created_at": stamps(created_us),
                "updated_at": stamps(updated_us),
            }
        )
        # For narrations: how banks abbreviate the contact, and its account over time.
        name = f["name"].str.to_uppercase().str.replace_all(r"[^A-Z0-9 &*.'-]", "")
        small = f["local"].to_numpy() & (np.arange(n) % 3 == 0)
        self.descriptor = (pl.Series(np.where(small, "SQ *", "")) + name).str.slice(0, 22)
        self.bank_name = name.str.slice(0, 35)

    # ---------------------------------------------------------------- items
    def _items(self) -> None:
        ctx = self.ctx
        it = ctx.items.frame
        ci = it["ci"].to_numpy()
        idx, p = self.company_providers(ci)
        n = len(idx)
        created_us = (
            ctx.cal.start - self.rng.integers(30, 600, n)
        ) * US_PER_DAY + self.rng.integers(8 * US_PER_HOUR, 18 * US_PER_HOUR, n)
        cut = ctx.co.cutover[ci[idx]]
        created_us = np.where(
            p == 1,
            np.where(
                ctx.co.provider[ci[idx]] == ref.BOTH,
                (cut.astype(np.int64) - 30) * US_PER_DAY + 10 * US_PER_HOUR,
                created_us,
            ),
            created_us,
        )
        ids = self._provider_ids(ci[idx], p, created_us)
        self.item_row = np.full((it.height, 2), -1, dtype=np.int64)
        self.item_row[idx, p] = np.arange(n)
        self.item_id = ids
        role = it["role"].to_numpy()[idx]
        cost = it["cost"].to_numpy()[idx]
        expense = np.full(n, ROLE["cogs_main"])
        has_cost = cost >= 0
        self.items_frame = pl.DataFrame(
            {
                "company_id": self.cid(ci[idx]),
                "provider": PROVIDERS.gather(pl.Series(p.astype(np.int64))),
                "item_id": ids,
                "name": it["name"].gather(pl.Series(idx)),
                "sku": it["sku"].gather(pl.Series(idx)),
                "item_type": lookup(ITEM_TYPES, it["kind"].to_numpy()[idx]),
                "unit_price": it["price"].gather(pl.Series(idx)).cast(pl.Int64),
                "unit_cost": nullable_money(np.maximum(cost, 0), has_cost),
                "income_account_id": self.account_ids(ci[idx], p, role),
                "expense_account_id": gather(
                    self.account_ids(ci[idx], p, expense), np.where(has_cost, np.arange(n), -1)
                ),
                "created_at": stamps(created_us),
                "updated_at": stamps(created_us),
            }
        )

    # ---------------------------------------------------------------- tables
    def companies(self) -> pl.DataFrame:
        return self.ctx.co.frame

    def accounts_table(self) -> pl.DataFrame:
        f = self.accounts.frame
        return f.with_columns(
            self.cid(f["ci"].to_numpy()).alias("company_id"),
            PROVIDERS.gather(f["p"].cast(pl.Int64)).alias("provider"),
        )

    def contacts(self) -> pl.DataFrame:
        return self.contacts_frame

    def items(self) -> pl.DataFrame:
        return self.items_frame

    def bank_accounts(self, opening: np.ndarray) -> pl.DataFrame:
        ctx = self.ctx
        f = self.banks.frame
        ci = f["ci"].to_numpy()
        kind = f["kind"].to_numpy()
        p = np.where(ctx.co.provider[ci] == ref.QBO, 0, 1).astype(np.int8)
        return f.with_columns(
            self.cid(ci).alias("company_id"),
            pl.Series("opening_balance", opening[ci, kind], dtype=pl.Int64),
            pl.lit(ctx.cal.start_date).alias("opening_date"),
            self.account_ids(ci, p, BANK_ROLE[kind]).alias("ledger_account_id"),
        )

    def documents(self) -> pl.DataFrame:
        rows, docs = self.rows, self.docs
        d = rows.doc
        p = rows.p
        ci = docs["ci"][d]
        contact = docs["contact"][d]
        contact_row = np.where(contact >= 0, self.contact_row[np.maximum(contact, 0), p], -1)
        bank_row = np.where(
            docs["bank"][d] >= 0, self.banks.row_of[ci, np.maximum(docs["bank"][d], 0)], -1
        )
        from_row = np.where(
            docs["from_bank"][d] >= 0,
            self.banks.row_of[ci, np.maximum(docs["from_bank"][d], 0)],
            -1,
        )
        bank_ids = self.banks.frame["bank_account_id"]
        user_names = self._user_names(ci, rows.user)
        status = self._provider_status(d, docs["status"][d], docs["total"][d])
        cash_like = ~np.isin(
            docs["doc_type"][d], (bk.INVOICE, bk.BILL, bk.CREDIT_NOTE, bk.VENDOR_CREDIT)
        )
        status_label = np.where(
            cash_like & ~np.isin(status, (bk.VOID, bk.DELETED)), bk.POSTED, status
        )
        status_label = np.where(
            np.isin(docs["doc_type"][d], (bk.CREDIT_NOTE, bk.VENDOR_CREDIT))
            & ~np.isin(status, (bk.VOID, bk.DELETED)),
            bk.PAID,
            status_label,
        )
        return pl.DataFrame(
            {
                "company_id": self.cid(ci),
                "provider": PROVIDERS.gather(pl.Series(p.astype(np.int64))),
                "document_id": rows.document_id,
                "doc_type": lookup(bk.DOC_TYPES, docs["doc_type"][d]),
                "number": self.number.gather(pl.Series(d)),
                "reference": self.reference.gather(pl.Series(d)),
                "contact_id": gather(self.contact_id, contact_row),
                "issue_date": dates(docs["day"][d]),
                "due_date": nullable_dates(docs["due"][d]),
                "currency": lookup(ref.CURRENCIES, docs["ccy"][d]),
                "fx_rate": decimal(docs["rate"][d], 18, 8),
                "subtotal": docs["subtotal"][d],
                "tax": docs["tax"][d],
                "total": docs["total"][d],
                "home_total": convert(docs["total"][d], docs["rate"][d]),
                "status": lookup(bk.STATUSES, status_label),
                "bank_account_id": gather(bank_ids, bank_row),
                "from_bank_account_id": gather(bank_ids, from_row),
                "payment_method": lookup(PAYMENT_METHODS, docs["method"][d]),
                "created_by": user_names,
                "created_at": stamps(rows.created_us),
                "updated_at": stamps(rows.updated_us),
                "sync_version": self.edits["edits"][d],
                "truth_duplicate_of": gather(rows.document_id, rows.twin_row),
            }
        ).with_columns(pl.col("home_total").cast(pl.Int64))

    def _provider_status(self, d: np.ndarray, status: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Invoice / bill status as each file sees it (an abandoned QuickBooks file never
        receives the payments keyed into Xero after a migration)."""
        al = self.ctx.book.allocs()
        rows = self.rows
        applied = np.zeros(len(d), dtype=np.int64)
        for p in (0, 1):
            s = rows.row_of[al["source"], p]
            t = rows.row_of[al["target"], p]
            ok = (s >= 0) & (t >= 0)
            np.add.at(applied, t[ok], al["amount"][ok])
        settle = np.isin(status, (bk.OPEN, bk.PARTIALLY_PAID, bk.PAID))
        return np.where(
            settle,
            np.where(applied >= total, bk.PAID, np.where(applied > 0, bk.PARTIALLY_PAID, bk.OPEN)),
            status,
        ).astype(np.int8)

    def _user_names(self, ci: np.ndarray, user: np.ndarray) -> pl.Series:
        co = self.ctx.co
        per_company = np.array([u for users in co.users for u in users], dtype=object)
        base = ci.astype(np.int64) * len(co.users[0])
        human = user < bk.AUTOMATED_BASE
        unusual = user == bk.UNUSUAL_USER
        names = np.where(
            unusual,
            np.array(co.unusual_user, dtype=object)[ci],
            np.where(
                human,
                per_company[base + np.minimum(user, len(co.users[0]) - 1)],
                np.array(bk.AUTOMATED, dtype=object)[
                    np.clip(user - bk.AUTOMATED_BASE, 0, len(bk.AUTOMATED) - 1)
                ],
            ),
        )
        return pl.Series(names.tolist(), dtype=pl.String)

    def document_lines(self) -> pl.DataFrame:
        ctx, rows = self.ctx, self.rows
        lines = ctx.book.lines()
        parts = []
        for p in (0, 1):
            row = rows.row_of[lines["doc"], p]
            sel = np.flatnonzero(row >= 0)
            parts.append((sel, np.full(len(sel), p, np.int8), row[sel]))
        sel = np.concatenate([x[0] for x in parts])
        p = np.concatenate([x[1] for x in parts])
        row = np.concatenate([x[2] for x in parts])
        doc = lines["doc"][sel]
        ci = self.docs["ci"][doc]
        item = lines["item"][sel]
        item_row = np.where(item >= 0, self.item_row[np.maximum(item, 0), p], -1)
        qty = lines["qty4"][sel]
        unit = lines["unit"][sel]
        return pl.DataFrame(
            {
                "company_id": self.cid(ci),
                "provider": PROVIDERS.gather(pl.Series(p.astype(np.int64))),
                "document_id": self.rows.document_id.gather(pl.Series(row)),
                "line_no": lines["line_no"][sel].astype(np.int64),
                "item_id": gather(self.item_id, item_row),
                "account_id": self.account_ids(ci, p, lines["role"][sel]),
                "description": lookup(ctx.book.descriptions, lines["desc"][sel]),
                "quantity": keep(decimal(np.maximum(qty, 0), 18, 4), qty >= 0),
                "unit_amount": nullable_money(unit, unit >= 0),
                "amount": lines["amount"][sel],
                "tax_amount": lines["tax"][sel],
                "tax_code": self._tax_codes(ci, p, lines["tax_kind"][sel]),
            }
        )

    def _tax_codes(self, ci: np.ndarray, p: np.ndarray, kind: np.ndarray) -> pl.Series:
        co = self.ctx.co
        us = co.country[ci] == ref.US_
        pct = pl.Series(np.rint(co.sales_tax[ci] * 1000) / 10).cast(pl.String)
        qbo_vat = pl.select(
            pl.when(pl.Series(kind == bk.TAX_ZERO))
            .then(pl.lit("0.0% Z"))
            .when(pl.Series(kind == bk.TAX_EXEMPT))
            .then(pl.lit("Exempt"))
            .when(pl.Series(kind == bk.TAX_NONE))
            .then(pl.lit("No VAT"))
            .otherwise(pct + "% S")
        ).to_series()
        qbo_us = lookup(("NON", "TAX", "TAX", "NON", "NON"), kind)
        xero = lookup(("NONE", "OUTPUT2", "INPUT2", "ZERORATEDOUTPUT", "EXEMPTOUTPUT"), kind)
        xero_us = lookup(("NONE", "TAX001", "INPUT", "NONE", "NONE"), kind)
        return pl.select(
            pl.when(pl.Series(p == 0) & pl.Series(us))
            .then(qbo_us)
            .when(pl.Series(p == 0))
            .then(qbo_vat)
            .when(pl.Series(us))
            .then(xero_us)
            .otherwise(xero)
        ).to_series()

    def allocations(self) -> pl.DataFrame:
        ctx, rows = self.ctx, self.rows
        al = ctx.book.allocs()
        parts = []
        for p in (0, 1):
            s = rows.row_of[al["source"], p]
            t = rows.row_of[al["target"], p]
            sel = np.flatnonzero((s >= 0) & (t >= 0))
            parts.append((sel, np.full(len(sel), p, np.int8)))
        sel = np.concatenate([x[0] for x in parts])
        p = np.concatenate([x[1] for x in parts])
        ci = self.docs["ci"][al["source"][sel]]
        day = al["day"][sel]
        ids = self._provider_ids(ci, p, day.astype(np.int64) * 10_000_000 + sel)
        return pl.DataFrame(
            {
                "company_id": self.cid(ci),
                "provider": PROVIDERS.gather(pl.Series(p.astype(np.int64))),
                "allocation_id": ids,
                "source_document_id": rows.document_id.gather(
                    pl.Series(rows.row_of[al["source"][sel], p])
                ),
                "target_document_id": rows.document_id.gather(
                    pl.Series(rows.row_of[al["target"][sel], p])
                ),
                "date": dates(day),
                "amount": al["amount"][sel],
            }
        )

    def journal_lines(self, jl: dict[str, np.ndarray]) -> pl.DataFrame:
        ctx, rows = self.ctx, self.rows
        co = ctx.co
        doc = jl["doc"]
        has_doc = doc >= 0
        parts = []
        for p in (0, 1):
            row = np.where(has_doc, rows.row_of[np.maximum(doc, 0), p], -1)
            sel = np.flatnonzero(row >= 0)
            parts.append((sel, np.full(len(sel), p, np.int8), row[sel]))
        # Revaluations live in the book-of-record file of their month.
        rsel = np.flatnonzero(~has_doc)
        rci = jl["ci"][rsel]
        rp = np.where(
            co.provider[rci] == ref.BOTH,
            (jl["day"][rsel] >= co.cutover[rci]).astype(np.int8),
            co.provider[rci],
        ).astype(np.int8)
        parts.append((rsel, rp, np.full(len(rsel), -1, np.int64)))
        sel = np.concatenate([x[0] for x in parts])
        p = np.concatenate([x[1] for x in parts])
        row = np.concatenate([x[2] for x in parts])
        ci = jl["ci"][sel]
        reval_id = prefixed("FXREVAL-", dates(jl["day"][sel]).dt.strftime("%Y-%m"))
        entry = gather(rows.document_id, row).fill_null(reval_id)
        return pl.DataFrame(
            {
                "company_id": self.cid(ci),
                "provider": PROVIDERS.gather(pl.Series(p.astype(np.int64))),
                "entry_id": entry,
                "line_no": jl["line_no"][sel].astype(np.int64),
                "document_id": gather(rows.document_id, row),
                "date": dates(jl["day"][sel]),
                "account_id": self.account_ids(ci, p, jl["role"][sel]),
                "amount": jl["home"][sel],
                "currency": lookup(ref.CURRENCIES, jl["ccy"][sel]),
                "foreign_amount": jl["foreign"][sel],
                "description": lookup(ctx.book.descriptions, jl["desc"][sel]),
            }
        )

    def bank_lines(self, st: Statement) -> tuple[pl.DataFrame, pl.Series]:
        ctx = self.ctx
        co = ctx.co
        c = st.cols
        n = len(c["ci"])
        ci, kind = c["ci"], c["kind"]
        acc_row = self.banks.row_of[ci, kind]
        bf = self.banks.frame
        provider = co.bank_provider[ci]
        rng = self.rng
        # Line ids in each bank API's style; statement files use date + sequence (FITID).
        seq = np.arange(n)
        fitid = dates(c["booked"]).dt.strftime("%Y%m%d") + pl.Series(seq).cast(pl.String).str.zfill(
            8
        )
        ids = pl.select(
            pl.when(pl.Series(provider == ref.AGGREGATOR))
            .then(alnum_ids(rng, n))
            .when(pl.Series(provider == ref.STATEMENT))
            .then(fitid)
            .when(pl.Series(provider == ref.OPENBANKING))
            .then(hex_strings(rng.integers(0, 256, (n, 16), dtype=np.uint8), upper=True))
            .otherwise(hex_strings(rng.integers(0, 256, (n, 12), dtype=np.uint8)))
        ).to_series()
        doc = c["doc"]
        has_doc = doc >= 0
        d = np.maximum(doc, 0)
        docs = self.docs
        contact = np.where(has_doc, docs["contact"][d], -1)
        # payroll leaves through the payroll provider, not "the employees"
        payroll = np.isin(
            c["template"], (TEMPLATES.index("payroll_net"), TEMPLATES.index("payroll_tax"))
        )
        contact = np.where(payroll, special_vendor(ctx.contacts, ci, "payroll"), contact)
        names = gather(self.bank_name, contact)
        card = np.isin(c["template"], (0, 1))
        descriptor = gather(self.descriptor, contact)
        template_names = TEMPLATES
        tname = np.array(template_names)[c["template"]]
        own = np.isin(
            tname,
            (
                "own_transfer_out",
                "own_transfer_in",
                "card_payment_in",
                "card_payment_out",
                "fx_out",
                "fx_in",
            ),
        )
        # the other own account of a transfer
        other_kind = np.where(
            has_doc, np.where(docs["bank"][d] == kind, docs["from_bank"][d], docs["bank"][d]), -1
        )
        other_row = np.where(
            own & (other_kind >= 0), self.banks.row_of[ci, np.maximum(other_kind, 0)], -1
        )
        other_l4 = gather(
            pl.Series(self.banks.last4[bf["ci"].to_numpy(), bf["kind"].to_numpy()].astype(str)),
            other_row,
        )
        processor = np.where(co.processor[ci] >= 0, co.processor[ci], 0)
        proc = lookup([x.upper() for x in PROCESSOR_NAMES], processor)
        fields = pl.DataFrame(
            {
                "cp": pl.select(
                    pl.when(pl.Series(card)).then(descriptor).otherwise(names)
                ).to_series(),
                "ref": keep(self.reference.gather(pl.Series(d)), has_doc),
                "num": keep(self.number.gather(pl.Series(d)), has_doc),
                "l4": pl.Series(self.banks.last4[ci, kind].astype(str)),
                "o4": other_l4,
                "mmdd": dates(c["value"]).dt.strftime("%m/%d"),
                "ddmm": dates(c["value"]).dt.strftime("%d.%m"),
                "e2e": hex_strings(rng.integers(0, 256, (n, 6), dtype=np.uint8), upper=True),
                "mref": pl.Series(
                    np.where(contact >= 0, contact * 7919 % 999_983, doc % 99_991)
                ).cast(pl.String),
                "proc": proc,
                "ccy": lookup(
                    ref.CURRENCIES,
                    np.where(kind == ref.FX_CHECKING, co.foreign_ccy[ci], co.home_ccy[ci]),
                ),
            }
        )
        region = np.select([co.country[ci] == ref.US_, co.country[ci] == ref.GB_], [0, 1], 2)
        style = (ci * 7 + kind) % 2
        description = describe(
            fields, c["template"], region, style, template_names, provider == ref.STATEMENT
        )
        # Counterparty details as the bank reports them.
        transferish = np.isin(
            tname,
            (
                "transfer_in",
                "transfer_out",
                "wire_in",
                "wire_out",
                "direct_debit",
                "loan",
                "tax",
                "owner",
                "refund",
            ),
        )
        contacts = ctx.contacts
        changed = np.where(contact >= 0, contacts.bank_changed_day[np.maximum(contact, 0)], -1)
        use_old = (changed >= 0) & (c["booked"] < changed)
        acct_now = gather(contacts.frame["account"], np.where(transferish, contact, -1))
        acct_old = gather(
            contacts.frame["old_account"], np.where(transferish & use_old, contact, -1)
        )
        own_acct = gather(bf["iban"].fill_null(bf["account_number"]), other_row)
        cp_account = pl.select(
            pl.when(pl.Series(use_old & transferish))
            .then(acct_old)
            .when(pl.Series(own))
            .then(own_acct)
            .otherwise(acct_now)
        ).to_series()
        cp_name = pl.select(
            pl.when(pl.Series(own))
            .then(pl.lit(None, pl.String))
            .when(pl.Series(card))
            .then(descriptor)
            .otherwise(names)
        ).to_series()
        reference = pl.select(
            pl.when(pl.Series(np.isin(tname, ("check_out",))))
            .then(fields["num"])
            .when(
                pl.Series(
                    np.isin(tname, ("transfer_in", "transfer_out", "wire_in", "wire_out", "payout"))
                )
            )
            .then(fields["ref"])
            .when(pl.Series(np.isin(tname, ("direct_debit", "loan", "tax"))))
            .then(fields["mref"])
            .otherwise(pl.lit(None, pl.String))
        ).to_series()
        has_balance = (provider != ref.AGGREGATOR) & (c["status"] == BOOKED)
        created = c["booked"].astype(np.int64) * US_PER_DAY + rng.integers(
            5 * US_PER_HOUR, 23 * US_PER_HOUR, n
        )
        pending_of = c["pending_of"]
        frame = pl.DataFrame(
            {
                "company_id": self.cid(ci),
                "bank_account_id": bf["bank_account_id"].gather(pl.Series(acc_row)),
                "line_id": ids,
                "booked_date": dates(c["booked"]),
                "value_date": dates(c["value"]),
                "amount": c["amount"],
                "currency": bf["currency"].gather(pl.Series(acc_row)),
                "status": lookup(("booked", "pending"), c["status"]),
                "description": description,
                "counterparty_name": cp_name,
                "counterparty_account": cp_account,
                "reference": reference,
                "bank_transaction_code": transaction_codes(c["template"], template_names),
                "pending_line_id": gather(ids, pending_of),
                "running_balance": nullable_money(c["running"], has_balance),
                "created_at": stamps(created),
                "truth_kind": lookup(TRUTH_KINDS, c["truth"]),
            }
        )
        return frame, ids

    def truth_matches(self, st: Statement, line_ids: pl.Series) -> pl.DataFrame:
        ctx, rows = self.ctx, self.rows
        co = ctx.co
        doc = st.match_doc
        day = self.docs["day"][doc]
        ci = self.docs["ci"][doc]
        primary_p = np.where(
            co.provider[ci] == ref.BOTH, (day >= co.cutover[ci]).astype(np.int8), co.provider[ci]
        ).astype(np.int8)
        row = rows.row_of[doc, primary_p]
        group = st.match_group
        order = np.lexsort((doc, st.match_line, group, ci))
        g = group[order]
        gid = np.cumsum(run_starts(g))
        match_no = np.empty(len(order), dtype=np.int64)
        match_no[order] = gid
        return pl.DataFrame(
            {
                "company_id": self.cid(ci),
                "match_id": prefixed("m-", pl.Series(match_no).cast(pl.String).str.zfill(7)),
                "bank_line_id": line_ids.gather(pl.Series(st.match_line)),
                "provider": PROVIDERS.gather(pl.Series(primary_p.astype(np.int64))),
                "document_id": rows.document_id.gather(pl.Series(row)),
                "match_type": lookup(("1:1", "1:n", "n:1"), st.match_type),
                "amount": st.match_amount,
            }
        )

    def truth_anomalies(
        self, log: AnomalyLog, crunch: tuple[np.ndarray, np.ndarray, list[str]]
    ) -> pl.DataFrame:
        ctx, rows = self.ctx, self.rows
        co, cal = ctx.co, ctx.cal
        a = log.columns()
        doc = a["doc"]
        ci = a["ci"]
        day = a["day"]
        primary_p = np.where(
            co.provider[ci] == ref.BOTH, (day >= co.cutover[ci]).astype(np.int8), co.provider[ci]
        ).astype(np.int8)
        # The book-of-record copy of the document (its own date decides the file).
        doc_day = self.docs["day"][np.maximum(doc, 0)]
        primary_p = np.where(
            co.provider[ci] == ref.BOTH, (doc_day >= co.cutover[ci]).astype(np.int8), primary_p
        )
        row = rows.row_of[doc, primary_p]
        contact = a["contact"]
        contact_row = np.where(
            contact >= 0, self.contact_row[np.maximum(contact, 0), primary_p], -1
        )
        crunch_ci, crunch_month, crunch_detail = crunch
        k = len(crunch_ci)
        anomaly = np.r_[a["anomaly"], log.n + np.arange(k)]
        details = log.details + crunch_detail
        ci_all = np.r_[ci, crunch_ci].astype(np.int32)
        month_day = np.r_[cal.month_starts[cal.month_of(day)], cal.month_starts[crunch_month]]
        kinds = np.r_[a["kind"], np.full(k, ANOMALY_TYPES.index("cash_crunch"))]
        order = np.lexsort((np.r_[doc, np.full(k, -1)], anomaly, ci_all))
        # anomaly ids count per company; line_no counts documents within an anomaly
        an = anomaly[order]
        cs = ci_all[order]
        new_anomaly = run_starts(an)
        new_company = run_starts(cs)
        seq = np.cumsum(new_anomaly)
        company_base = np.maximum.accumulate(np.where(new_company, seq - 1, 0))
        number = seq - company_base
        line_start = np.maximum.accumulate(np.where(new_anomaly, np.arange(len(an)), 0))
        line_no = np.arange(len(an)) - line_start + 1
        doc_ids = gather(rows.document_id, np.r_[row, np.full(k, -1)][order])
        return pl.DataFrame(
            {
                "company_id": self.cid(cs),
                "anomaly_id": prefixed("anm-", pl.Series(number).cast(pl.String).str.zfill(4)),
                "line_no": line_no.astype(np.int64),
                "anomaly_type": lookup(ANOMALY_TYPES, kinds[order]),
                "provider": keep(
                    lookup(ref.PROVIDER_NAMES, np.r_[primary_p, np.full(k, -1)][order]),
                    doc_ids.is_not_null(),
                ),
                "document_id": doc_ids,
                "contact_id": gather(self.contact_id, np.r_[contact_row, np.full(k, -1)][order]),
                "month": dates(month_day[order]),
                "detail": pl.Series([details[i] for i in anomaly[order]], dtype=pl.String),
            }
        )
