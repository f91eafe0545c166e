"""Write-back of bank fees and interest: classification, planning, and execution against the
QuickBooks and Xero sandboxes over real HTTP (dry run, create, rerun, retries, stale versions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
import requests

from finpipe.compliance.audit import AuditKind, canonical_json
from finpipe.config import generate_secret_key
from finpipe.connectors import payloads
from finpipe.connectors.http import RetryPolicy
from finpipe.connectors.oauth import TokenManager, TokenStore, exchange_code
from finpipe.connectors.quickbooks import quickbooks_oauth_app
from finpipe.connectors.quickbooks.client import QuickBooksClient
from finpipe.connectors.xero import XeroClient, xero_oauth_app
from finpipe.connectors.xero.parse import parse_endpoint
from finpipe.ledger.account_mapping import ACCOUNT_SCHEMA, map_accounts
from finpipe.reconcile.writeback import (
    PROPOSAL_SCHEMA,
    WRITEBACK_LOG_SCHEMA,
    WritebackConflict,
    WritebackError,
    WritebackResult,
    build_plan,
    classify_unbooked,
    execute_writeback,
    idempotency_keys,
    plan_writeback,
)
from finpipe.sandbox.provider import Limit
from finpipe.sandbox.quickbooks.app import QuickBooksSandbox
from finpipe.sandbox.quickbooks.app import build as build_qbo
from finpipe.sandbox.server import Sandbox, SandboxCredentials, SandboxServer
from finpipe.sandbox.world import World, WorldSpec, generate_world, load_world
from finpipe.sandbox.xero.app import XeroSandbox
from finpipe.sandbox.xero.app import build as build_xero
from finpipe.secrets import SecretBox
from finpipe.warehouse import Warehouse

UTC = dt.UTC
REDIRECT = "http://127.0.0.1:9/callback"  # never listened on: the tests read Location
ROOMY = (Limit("minute", 100_000, 60.0), Limit("day", 1_000_000, 86_400.0))
FAST = RetryPolicy(base_delay=0.01, max_delay=0.02)
SETTINGS_AT = dt.datetime(2026, 11, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("writeback_world") / "world"
    generate_world(WorldSpec(companies=4, months=3, seed=42), out)
    return load_world(Path(out))


@pytest.fixture(scope="module")
def books(world: World) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accounts with standard_code as ledger.account_map gives it, bank account links)."""
    acc = world.table("accounts").collect()
    mapped = map_accounts(acc.select(list(ACCOUNT_SCHEMA)))
    accounts = acc.select(list(ACCOUNT_SCHEMA)).join(
        mapped.select("company_id", "provider", "account_id", "standard_code"),
        on=["company_id", "provider", "account_id"],
    )
    links = acc.filter(pl.col("bank_account_id").is_not_null()).select(
        "company_id",
        "bank_account_id",
        "provider",
        pl.col("account_id").alias("cash_account_id"),
        pl.lit("account_number").alias("method"),
    )
    return accounts, links


def _settings(company_id: str, *, enabled: bool = True, dry_run: bool | None = False):
    return pl.DataFrame(
        {
            "company_id": [company_id],
            "enabled": [enabled],
            "dry_run": [dry_run],
            "updated_at": [SETTINGS_AT],
        },
        schema={
            "company_id": pl.String,
            "enabled": pl.Boolean,
            "dry_run": pl.Boolean,
            "updated_at": pl.Datetime("us", "UTC"),
        },
    )


def _company(world: World, provider: str) -> str:
    companies = world.table("companies").collect()
    return companies.filter(pl.col("accounting_provider") == provider)["company_id"].sort()[0]


def _bank_account(world: World, company_id: str, kind: str) -> str:
    accounts = world.table("bank_accounts").collect()
    row = accounts.filter(
        (pl.col("company_id") == company_id) & (pl.col("account_type") == kind)
    ).sort("bank_account_id")
    return row["bank_account_id"][0]


def _lines(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Hand-built bank lines (BANK_LINE_SCHEMA + bank_transaction_code)."""
    defaults = {
        "source_id": None,
        "value_date": None,
        "currency": "USD",
        "status": "booked",
        "counterparty_name": None,
        "counterparty_account": None,
        "reference": None,
        "bank_transaction_code": None,
        "booked_date": dt.date(2026, 10, 30),
    }
    return pl.DataFrame(
        [{**defaults, **row} for row in rows],
        schema={
            "company_id": pl.String,
            "line_id": pl.String,
            "bank_account_id": pl.String,
            "source_id": pl.String,
            "booked_date": pl.Date,
            "value_date": pl.Date,
            "amount": pl.Int64,
            "currency": pl.String,
            "status": pl.String,
            "description": pl.String,
            "counterparty_name": pl.String,
            "counterparty_account": pl.String,
            "reference": pl.String,
            "bank_transaction_code": pl.String,
        },
    )


def _empty_log() -> pl.DataFrame:
    return pl.DataFrame(schema=WRITEBACK_LOG_SCHEMA)


@dataclass
class Books:
    """Sandboxes served over HTTP and clients connected through the real OAuth flows."""

    server: SandboxServer
    creds: SandboxCredentials
    warehouse: Warehouse

    @property
    def qbo(self) -> QuickBooksSandbox:
        provider = self.server.sandbox.provider("quickbooks")
        assert isinstance(provider, QuickBooksSandbox)
        return provider

    @property
    def xero(self) -> XeroSandbox:
        provider = self.server.sandbox.provider("xero")
        assert isinstance(provider, XeroSandbox)
        return provider

    def _store(self) -> TokenStore:
        return TokenStore(self.warehouse, SecretBox([generate_secret_key()]))

    def qbo_client(self, company_id: str) -> QuickBooksClient:
        base = self.server.url("quickbooks")
        app = quickbooks_oauth_app(base, self.creds.client_id, self.creds.client_secret, REDIRECT)
        url = app.authorization_url("s") + f"&sandbox_company={company_id}"
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        realm = parse_qs(urlparse(location).query)["realmId"][0]
        now = dt.datetime.now(UTC)
        store = self._store()
        store.save(company_id, "quickbooks", exchange_code(app, location, now=now), now)
        tokens = TokenManager(app, store, company_id)
        return QuickBooksClient.connect(tokens, realm, api_base=base, policy=FAST)

    def xero_client(self, company_id: str) -> tuple[XeroClient, str]:
        base = self.server.url("xero")
        app = xero_oauth_app(
            base, self.creds.client_id, self.creds.client_secret, REDIRECT, write=True
        )
        url = app.authorization_url("s") + f"&sandbox_company={company_id}"
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        now = dt.datetime.now(UTC)
        store = self._store()
        store.save(company_id, "xero", exchange_code(app, answer.headers["location"], now), now)
        tenant = self.xero.tenants_of[company_id][0]
        return XeroClient(base, TokenManager(app, store, company_id), policy=FAST), tenant


@pytest.fixture
def sandboxes(world: World, duck: Warehouse) -> Iterator[Books]:
    creds = SandboxCredentials()
    providers = {
        "quickbooks": build_qbo(world, creds),
        "xero": build_xero(world, creds, limits=ROOMY),
    }
    server = SandboxServer(Sandbox(world=world, providers=providers, credentials=creds)).start()
    try:
        yield Books(server, creds, duck)
    finally:
        server.stop()


# ------------------------------------------------------------------------ classification


def test_classify_hand_built_narrations() -> None:
    lines = _lines(
        [
            dict(line_id="fee", amount=-1500, description="MONTHLY ACCOUNT FEE"),
            dict(line_id="int", amount=321, description="INTEREST PAID"),
            dict(line_id="dint", amount=-845, description="DEBIT INTEREST"),
            dict(line_id="habenz", amount=112, description="HABENZINSEN"),
            dict(
                line_id="iso",
                amount=-700,
                description="ACCOUNT FEE",
                bank_transaction_code="ACMT-MDOP-FEES",
            ),
            dict(
                line_id="ofx",
                amount=-900,
                description="SERVICE CHARGE",
                bank_transaction_code="SRVCHG",
            ),
            dict(line_id="mt940", amount=55, description="", bank_transaction_code="NINT"),
            dict(
                line_id="chrg", amount=-300, description="", bank_transaction_code="PMNT-RCDT-CHRG"
            ),
            dict(
                line_id="coffee", amount=-450, description="CARD PAYMENT TO COSTA COFFEE ON 26.09"
            ),
            dict(line_id="payout", amount=98000, description="STRIPE PAYOUT po_fee0b6fde8912d8d"),
            dict(
                line_id="named",
                amount=-50000,
                description="FASTER PAYMENT TO ACME FEES LTD REF 1",
                counterparty_name="ACME FEES LTD",
            ),
            dict(
                line_id="paycode",
                amount=-50000,
                description="LEGAL FEES INV 77",
                bank_transaction_code="PMNT-ICDT-DMCT",
            ),
            dict(line_id="refund", amount=1500, description="ACCOUNT FEE REFUND"),
            dict(
                line_id="disagree",
                amount=-100,
                description="INTEREST",
                bank_transaction_code="ACMT-MDOP-FEES",
            ),
            dict(line_id="pending", amount=-1500, description="ACCOUNT FEE", status="pending"),
            dict(line_id="matched", amount=-1500, description="ACCOUNT FEE"),
        ]
    ).with_columns(company_id=pl.lit("c1"), bank_account_id=pl.lit("b1"))
    out = classify_unbooked(lines, matched_line_ids=pl.Series(["matched"]))
    got = {
        r["line_id"]: (r["kind"], r["rule"], r["confidence"], r["proposed"])
        for r in out.rows(named=True)
    }
    assert got == {
        "fee": ("bank_fee", "narration", 0.85, True),
        "int": ("interest_income", "narration", 0.85, True),
        "dint": ("interest_expense", "narration", 0.85, True),
        "habenz": ("interest_income", "narration", 0.85, True),
        "iso": ("bank_fee", "code+narration", 0.99, True),
        "ofx": ("bank_fee", "code+narration", 0.99, True),
        "mt940": ("interest_income", "code", 0.9, True),
        "chrg": ("bank_fee", "code", 0.9, True),
        "named": ("bank_fee", "narration_named_counterparty", 0.6, False),
        "paycode": ("bank_fee", "narration_payment_code", 0.4, False),
        "refund": ("bank_fee", "fee_refund", 0.3, False),
        "disagree": ("bank_fee", "code_narration_disagree", 0.5, False),
    }
    # The carried-through columns are untouched.
    assert out.filter(pl.col("line_id") == "fee")["amount"].item() == -1500
    # A stricter threshold proposes fewer.
    strict = classify_unbooked(lines, threshold=0.95)
    assert sorted(strict.filter("proposed")["line_id"]) == ["iso", "ofx"]


def _precision_recall(lines: pl.DataFrame) -> dict[str, tuple[float, float, int]]:
    out = classify_unbooked(lines)
    judged = (
        lines.filter(pl.col("status") == "booked")
        .select("line_id", "truth_kind")
        .join(out.select("line_id", "kind", "proposed"), on="line_id", how="left")
    )
    figures = {}
    for truth, kinds in (("bank_fee", ["bank_fee"]), ("interest", ["interest_income"])):
        predicted = judged["kind"].is_in(kinds) & judged["proposed"].fill_null(False)
        actual = judged["truth_kind"] == truth
        hit = int((predicted & actual).sum())
        figures[truth] = (hit / max(int(predicted.sum()), 1), hit / int(actual.sum()), hit)
    return figures


def test_classify_world_lines_against_truth(world: World) -> None:
    lines = world.table("bank_lines").collect()
    with_codes = _precision_recall(lines)
    # Aggregator lines carry no bank code (Plaid does not expose it): narration alone.
    narration_only = _precision_recall(
        lines.with_columns(pl.lit(None, pl.String).alias("bank_transaction_code"))
    )
    print(
        f"\nwrite-back classification vs truth_kind: codes {with_codes}; narration {narration_only}"
    )
    for figures in (with_codes, narration_only):
        for truth, (precision, recall, hits) in figures.items():
            assert precision >= 0.99 and recall >= 0.99 and hits > 0, (truth, figures)


# --------------------------------------------------------------------------------- plan


def test_plan_needs_an_enabled_company_and_defaults_to_dry_run(world: World, books) -> None:
    accounts, links = books
    company = _company(world, "quickbooks")
    lines = _lines(
        [
            dict(
                company_id=company,
                line_id="L1",
                bank_account_id=_bank_account(world, company, "checking"),
                amount=-1250,
                description="MONTHLY SERVICE FEE",
            )
        ]
    )
    assert plan_writeback(lines, links, accounts, _settings(company, enabled=False)).is_empty()
    assert plan_writeback(lines, links, accounts, _settings("someone_else")).is_empty()
    plan = plan_writeback(lines, links, accounts, _settings(company, dry_run=None))
    assert plan.height == 1 and plan["dry_run"].item() is True
    assert plan.schema == PROPOSAL_SCHEMA


def test_plan_payloads_accounts_and_keys(world: World, books) -> None:
    accounts, links = books
    qbo, xero = _company(world, "quickbooks"), _company(world, "xero")
    rows = []
    for company in (qbo, xero):
        checking = _bank_account(world, company, "checking")
        currency = (
            world.table("bank_accounts")
            .collect()
            .filter(pl.col("bank_account_id") == checking)["currency"]
            .item()
        )
        rows += [
            dict(company_id=company, line_id=f"{company}-fee", bank_account_id=checking,
                 amount=-1250, currency=currency, description="MONTHLY SERVICE FEE"),
            dict(company_id=company, line_id=f"{company}-int", bank_account_id=checking,
                 amount=321, currency=currency, description="INTEREST PAYMENT"),
            dict(company_id=company, line_id=f"{company}-dint", bank_account_id=checking,
                 amount=-845, currency=currency, description="OVERDRAFT INTEREST"),
            dict(company_id=company, line_id=f"{company}-orphan", bank_account_id="not-linked",
                 amount=-99, currency=currency, description="ACCOUNT FEE"),
        ]  # fmt: skip
    settings = pl.concat([_settings(qbo), _settings(xero)])
    plan = build_plan(_lines(rows), links, accounts, settings)
    by_line = {r["bank_line_id"]: r for r in plan.proposals.rows(named=True)}
    assert len(by_line) == 6
    target = {
        (r["company_id"], r["standard_code"]): (r["account_id"], r["code"])
        for r in accounts.filter(pl.col("standard_code").is_in(["6600", "7000", "8000"])).rows(
            named=True
        )
    }
    qbo_cash = links.filter(pl.col("bank_account_id") == _bank_account(world, qbo, "checking"))[
        "cash_account_id"
    ].item()

    fee = by_line[f"{qbo}-fee"]
    body = payloads.loads(fee["payload"])
    assert (fee["entity"], fee["transaction_type"]) == ("Purchase", "Cash")
    assert body["PaymentType"] == "Cash" and body["AccountRef"] == {"value": qbo_cash}
    assert body["TxnDate"] == "2026-10-30"
    (line,) = body["Line"]
    assert line["Amount"] == Decimal("12.50") and str(line["Amount"]) == "12.50"
    assert line["DetailType"] == "AccountBasedExpenseLineDetail"
    assert line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] == target[(qbo, "6600")][0]
    assert f"{qbo}-fee" in body["PrivateNote"]

    interest = payloads.loads(by_line[f"{qbo}-int"]["payload"])
    assert by_line[f"{qbo}-int"]["entity"] == "Deposit"
    assert interest["DepositToAccountRef"] == {"value": qbo_cash}
    assert interest["Line"][0]["Amount"] == Decimal("3.21")
    assert (
        interest["Line"][0]["DepositLineDetail"]["AccountRef"]["value"]
        == (target[(qbo, "7000")][0])
    )
    paid = payloads.loads(by_line[f"{qbo}-dint"]["payload"])
    assert by_line[f"{qbo}-dint"]["entity"] == "Purchase"
    assert (
        paid["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["value"]
        == (target[(qbo, "8000")][0])
    )

    spend = payloads.loads(by_line[f"{xero}-fee"]["payload"])
    receive = payloads.loads(by_line[f"{xero}-int"]["payload"])
    assert (spend["Type"], receive["Type"]) == ("SPEND", "RECEIVE")
    assert spend["LineItems"][0]["AccountCode"] == target[(xero, "6600")][1]
    assert receive["LineItems"][0]["AccountCode"] == target[(xero, "7000")][1]
    assert spend["LineItems"][0]["UnitAmount"] == Decimal("12.50")
    assert spend["BankAccount"]["AccountID"] == by_line[f"{xero}-fee"]["cash_account_id"]

    # Not linked: a reject naming the record and the field, the rest planned.
    assert sorted(plan.rejects["bank_line_id"]) == [f"{qbo}-orphan", f"{xero}-orphan"]
    assert set(plan.rejects["field"]) == {"bank_account_id"}
    assert "not linked" in plan.rejects["reason"][0]
    # No interest-expense account in the chart: that line is rejected, naming the code.
    chart = accounts.filter(pl.col("standard_code") != "8000")
    without = build_plan(_lines(rows), links, chart, settings)
    assert f"{qbo}-dint" in without.rejects["bank_line_id"].to_list()
    assert "8000" in without.rejects.filter(pl.col("bank_line_id") == f"{qbo}-dint")["reason"][0]

    # Keys: stable, and a changed amount is another key.
    again = plan_writeback(_lines(rows), links, accounts, settings)
    assert again["idempotency_key"].to_list() == plan.proposals["idempotency_key"].to_list()
    k = idempotency_keys(
        pl.Series(["c", "c"]), pl.Series(["xero", "xero"]), pl.Series(["l", "l"]),
        pl.Series([-100, -101]),
    )  # fmt: skip
    assert k[0] != k[1] and len(k[0]) == 40


def test_plan_jpy_has_no_decimals(world: World, books) -> None:
    accounts, links = books
    company = _company(world, "quickbooks")
    checking = _bank_account(world, company, "checking")
    jpy_accounts = accounts.with_columns(pl.lit("JPY").alias("currency"))
    lines = _lines(
        [dict(company_id=company, line_id="J", bank_account_id=checking, amount=-330,
              currency="JPY", description="ACCOUNT FEE")]
    )  # fmt: skip
    plan = plan_writeback(lines, links, jpy_accounts, _settings(company))
    assert payloads.loads(plan["payload"].item())["Line"][0]["Amount"] == 330


# ------------------------------------------------------------------------------ execute


def _fee_and_interest(world: World, company: str, fee: int = -1250) -> pl.DataFrame:
    checking = _bank_account(world, company, "checking")
    currency = (
        world.table("bank_accounts")
        .collect()
        .filter(pl.col("bank_account_id") == checking)["currency"]
        .item()
    )
    return _lines(
        [
            dict(company_id=company, line_id=f"{company}-fee-1", bank_account_id=checking,
                 amount=fee, currency=currency, description="MONTHLY SERVICE FEE",
                 bank_transaction_code="ACMT-MDOP-FEES", booked_date=dt.date(2026, 10, 30)),
            dict(company_id=company, line_id=f"{company}-int-1", bank_account_id=checking,
                 amount=321, currency=currency, description="INTEREST PAYMENT",
                 bank_transaction_code="ACMT-MDOP-INTR", booked_date=dt.date(2026, 11, 2)),
        ]
    )  # fmt: skip


def _check_audit(result: WritebackResult, company: str, statuses: list[str]) -> None:
    assert [e["details"]["status"] for e in result.audit_events] == statuses
    for event in result.audit_events:
        assert event["kind"] == AuditKind.WRITE_BACK.value and event["company_id"] == company
        canonical_json(event["details"])  # what audit.append accepts: no floats, no secrets
        text = canonical_json(event["details"]).lower()
        assert "bearer" not in text and "access_token" not in text and "secret" not in text


def test_quickbooks_dry_run_create_rerun_and_retry(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "quickbooks")
    client = sandboxes.qbo_client(company)
    realm = client.realm_id
    plan = plan_writeback(_fee_and_interest(world, company), links, accounts, _settings(company))
    counts = lambda: (  # noqa: E731
        len(sandboxes.qbo.records(realm, "Purchase")),
        len(sandboxes.qbo.records(realm, "Deposit")),
    )
    before = counts()

    dry = execute_writeback(
        plan, quickbooks_client=client, already_written=_empty_log(), dry_run=True
    )
    assert dry.log["status"].to_list() == ["would_create", "would_create"]
    assert counts() == before and dry.audit_events == [] and dry.ok

    real = execute_writeback(plan, quickbooks_client=client, already_written=dry.log, dry_run=False)
    assert real.log["status"].to_list() == ["created", "created"], real.log["detail"].to_list()
    assert counts() == (before[0] + 1, before[1] + 1)
    _check_audit(real, company, ["created", "created"])
    fee_id, interest_id = real.log["source_id"].to_list()
    purchase = client.read("Purchase", fee_id).of("Purchase")[0]
    assert purchase.total == Decimal("12.50") and purchase.txn_date == dt.date(2026, 10, 30)
    assert purchase.payment_type == "Cash"
    assert purchase.account is not None
    assert purchase.account.value == plan["cash_account_id"][0]
    assert purchase.lines[0].account is not None
    assert purchase.lines[0].account.value == plan["target_account_id"][0]
    deposit = client.read("Deposit", interest_id).of("Deposit")[0]
    assert deposit.total == Decimal("3.21") and deposit.txn_date == dt.date(2026, 11, 2)
    assert deposit.lines[0].account is not None
    assert deposit.lines[0].account.value == plan["target_account_id"][1]

    # Rerun with the log: nothing new.
    history = pl.concat([dry.log, real.log])
    rerun = execute_writeback(
        plan, quickbooks_client=client, already_written=history, dry_run=False
    )
    assert rerun.log["status"].to_list() == ["skipped_existing", "skipped_existing"]
    assert rerun.log["source_id"].to_list() == [fee_id, interest_id]
    assert counts() == (before[0] + 1, before[1] + 1) and rerun.audit_events == []

    # The log was lost: the retried creates carry the same requestid, QBO answers the same.
    retried = execute_writeback(
        plan, quickbooks_client=client, already_written=_empty_log(), dry_run=False
    )
    assert retried.log["source_id"].to_list() == [fee_id, interest_id]
    assert counts() == (before[0] + 1, before[1] + 1)


def test_xero_dry_run_create_rerun_and_retry(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "xero")
    client, tenant = sandboxes.xero_client(company)
    plan = plan_writeback(_fee_and_interest(world, company), links, accounts, _settings(company))
    count = lambda: len(sandboxes.xero.records(tenant, "BankTransactions"))  # noqa: E731
    before = count()

    dry = execute_writeback(
        plan, xero_client=client, xero_tenant_id=tenant, already_written=_empty_log(), dry_run=True
    )
    assert dry.log["status"].to_list() == ["would_create", "would_create"] and count() == before

    real = execute_writeback(
        plan, xero_client=client, xero_tenant_id=tenant, already_written=dry.log, dry_run=False
    )
    assert real.log["status"].to_list() == ["created", "created"], real.log["detail"].to_list()
    assert count() == before + 2
    _check_audit(real, company, ["created", "created"])
    for source_id, (kind, total, code, day) in zip(
        real.log["source_id"],
        [
            ("SPEND", Decimal("12.50"), plan["target_account_code"][0], dt.date(2026, 10, 30)),
            ("RECEIVE", Decimal("3.21"), plan["target_account_code"][1], dt.date(2026, 11, 2)),
        ],
        strict=True,
    ):
        response = client.get(tenant, f"BankTransactions/{source_id}")
        (record,) = parse_endpoint("BankTransactions", payloads.loads(response.content))
        values = record.values
        assert (values["Type"], values["Total"]) == (kind, total)
        assert values["LineItems"][0]["AccountCode"] == code
        assert values["BankAccount"]["AccountID"] == plan["cash_account_id"][0]
        assert values["Date"].date() == day
        assert values["Contact"]["Name"] == "Bank"

    history = pl.concat([dry.log, real.log])
    rerun = execute_writeback(
        plan, xero_client=client, xero_tenant_id=tenant, already_written=history, dry_run=False
    )
    assert rerun.log["status"].to_list() == ["skipped_existing", "skipped_existing"]
    assert count() == before + 2
    # Log lost: the same Idempotency-Key replays Xero's first answer.
    retried = execute_writeback(
        plan, xero_client=client, xero_tenant_id=tenant, already_written=_empty_log(), dry_run=False
    )
    assert retried.log["source_id"].to_list() == real.log["source_id"].to_list()
    assert count() == before + 2


def test_company_setting_dry_run_wins_over_a_real_run(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "quickbooks")
    client = sandboxes.qbo_client(company)
    plan = plan_writeback(
        _fee_and_interest(world, company), links, accounts, _settings(company, dry_run=True)
    )
    before = len(sandboxes.qbo.records(client.realm_id, "Purchase"))
    result = execute_writeback(
        plan, quickbooks_client=client, already_written=_empty_log(), dry_run=False
    )
    assert set(result.log["status"]) == {"would_create"}
    assert len(sandboxes.qbo.records(client.realm_id, "Purchase")) == before


def test_quickbooks_stale_version_reread_then_conflict(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "quickbooks")
    client = sandboxes.qbo_client(company)
    realm = client.realm_id
    settings = _settings(company)
    first = plan_writeback(_fee_and_interest(world, company), links, accounts, settings)
    created = execute_writeback(
        first, quickbooks_client=client, already_written=_empty_log(), dry_run=False
    )
    fee_id = created.log["source_id"][0]
    purchases = len(sandboxes.qbo.records(realm, "Purchase"))

    # The bank modified the fee (12.50 -> 13.00) and a person edited the Purchase meanwhile.
    changed = plan_writeback(
        _fee_and_interest(world, company, fee=-1300), links, accounts, settings
    ).filter(pl.col("kind") == "bank_fee")
    sandboxes.qbo.update(realm, "Purchase", fee_id, {"PrivateNote": "edited by a person"})
    updated = execute_writeback(
        changed, quickbooks_client=client, already_written=created.log, dry_run=False
    )
    assert updated.log["status"].to_list() == ["updated"]
    assert "re-read" in updated.log["detail"][0] and updated.ok
    assert updated.log["source_id"][0] == fee_id
    purchase = client.read("Purchase", fee_id).of("Purchase")[0]
    assert purchase.total == Decimal("13.00") and purchase.sync_token == "2"
    assert len(sandboxes.qbo.records(realm, "Purchase")) == purchases  # updated, not created
    _check_audit(updated, company, ["updated"])

    # Changed again (13.00 -> 13.40), and someone edits it right after every re-read too.
    history = pl.concat([created.log, updated.log])
    again = plan_writeback(
        _fee_and_interest(world, company, fee=-1340), links, accounts, settings
    ).filter(pl.col("kind") == "bank_fee")
    sandboxes.qbo.update(realm, "Purchase", fee_id, {"PrivateNote": "edited again"})
    read = client.read

    def read_then_meddle(entity: str, entity_id: str):
        answer = read(entity, entity_id)
        sandboxes.qbo.update(realm, entity, entity_id, {"PrivateNote": "and again"})
        return answer

    client.read = read_then_meddle  # type: ignore[method-assign]
    conflict = execute_writeback(
        again, quickbooks_client=client, already_written=history, dry_run=False
    )
    client.read = read  # type: ignore[method-assign]
    assert conflict.log["status"].to_list() == ["stale_conflict"]
    assert not conflict.ok and conflict.conflicts.height == 1
    assert "re-read it and apply the change again" in conflict.log["detail"][0]
    _check_audit(conflict, company, ["stale_conflict"])
    assert client.read("Purchase", fee_id).of("Purchase")[0].total == Decimal("13.00")
    with pytest.raises(WritebackConflict, match="stale_conflict: quickbooks Purchase"):
        conflict.raise_for_problems()
    # The conflict is not a write: the next run tries the update again, and it goes through.
    retry = execute_writeback(
        again,
        quickbooks_client=client,
        already_written=pl.concat([history, conflict.log]),
        dry_run=False,
    )
    assert retry.log["status"].to_list() == ["updated"]
    assert client.read("Purchase", fee_id).of("Purchase")[0].total == Decimal("13.40")


def test_xero_stale_version_reread_then_conflict(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "xero")
    client, tenant = sandboxes.xero_client(company)
    settings = _settings(company)
    kw: dict[str, Any] = {"xero_client": client, "xero_tenant_id": tenant, "dry_run": False}
    first = plan_writeback(_fee_and_interest(world, company), links, accounts, settings)
    created = execute_writeback(first, already_written=_empty_log(), **kw)
    fee_id = created.log["source_id"][0]

    def read_back() -> dict[str, Any]:
        response = client.get(tenant, f"BankTransactions/{fee_id}")
        return parse_endpoint("BankTransactions", payloads.loads(response.content))[0].values

    changed = plan_writeback(
        _fee_and_interest(world, company, fee=-1300), links, accounts, settings
    ).filter(pl.col("kind") == "bank_fee")
    sandboxes.xero.update(tenant, "BankTransactions", fee_id, {"Reference": "edited by a person"})
    updated = execute_writeback(changed, already_written=created.log, **kw)
    assert updated.log["status"].to_list() == ["updated"], updated.log["detail"].to_list()
    assert "re-read" in updated.log["detail"][0]
    assert read_back()["Total"] == Decimal("13.00")

    history = pl.concat([created.log, updated.log])
    again = plan_writeback(
        _fee_and_interest(world, company, fee=-1340), links, accounts, settings
    ).filter(pl.col("kind") == "bank_fee")
    sandboxes.xero.update(tenant, "BankTransactions", fee_id, {"Reference": "edited again"})
    get = client.get

    def get_then_meddle(tenant_id: str, endpoint: str, **kwargs: Any):
        answer = get(tenant_id, endpoint, **kwargs)
        sandboxes.xero.update(tenant_id, "BankTransactions", fee_id, {"Reference": "and again"})
        return answer

    client.get = get_then_meddle  # type: ignore[method-assign]
    conflict = execute_writeback(again, already_written=history, **kw)
    client.get = get  # type: ignore[method-assign]
    assert conflict.log["status"].to_list() == ["stale_conflict"]
    assert conflict.conflicts["bank_line_id"].to_list() == [f"{company}-fee-1"]
    assert read_back()["Total"] == Decimal("13.00")
    _check_audit(conflict, company, ["stale_conflict"])


def test_refused_write_is_failed_and_the_rest_goes_on(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "xero")
    client, tenant = sandboxes.xero_client(company)
    plan = plan_writeback(_fee_and_interest(world, company), links, accounts, _settings(company))
    # A target account code the organisation does not have: Xero refuses that one line.
    broken = plan.with_columns(
        pl.when(pl.col("kind") == "bank_fee")
        .then(pl.col("payload").str.replace('"AccountCode":"[^"]*"', '"AccountCode":"NOPE"'))
        .otherwise(pl.col("payload"))
    )
    result = execute_writeback(
        broken, xero_client=client, xero_tenant_id=tenant, already_written=_empty_log(),
        dry_run=False,
    )  # fmt: skip
    assert result.log["status"].to_list() == ["failed", "created"]
    assert "NOPE" in result.log["detail"][0] and result.failures.height == 1
    _check_audit(result, company, ["failed", "created"])


def test_a_real_run_needs_its_client(world: World, books) -> None:
    accounts, links = books
    company = _company(world, "xero")
    plan = plan_writeback(_fee_and_interest(world, company), links, accounts, _settings(company))
    with pytest.raises(WritebackError, match="pass xero_client"):
        execute_writeback(plan, already_written=_empty_log(), dry_run=False)
    # A dry run needs no client at all.
    dry = execute_writeback(plan, already_written=_empty_log(), dry_run=True)
    assert dry.log.height == 2


def test_company_in_both_books_can_be_restricted_to_one(world: World, books) -> None:
    accounts, links = books
    company = _company(world, "both")
    lines = _fee_and_interest(world, company)
    both = plan_writeback(lines, links, accounts, _settings(company))
    assert sorted(both["provider"].unique()) == ["quickbooks", "xero"]
    only = plan_writeback(
        lines, links, accounts, _settings(company).with_columns(provider=pl.lit("xero"))
    )
    assert only["provider"].to_list() == ["xero", "xero"]
    assert (
        only["bank_line_id"].to_list()
        == both.filter(pl.col("provider") == "xero")["bank_line_id"].to_list()
    )


def test_sign_flip_is_surfaced_not_duplicated(world: World, books) -> None:
    accounts, links = books
    company = _company(world, "quickbooks")
    plan = plan_writeback(_fee_and_interest(world, company), links, accounts, _settings(company))
    interest = plan.filter(pl.col("entity") == "Deposit")
    # The line was written as a Deposit; the bank now reports it as money out (a Purchase).
    flipped = plan_writeback(
        _fee_and_interest(world, company).with_columns(
            pl.when(pl.col("line_id").str.ends_with("int-1"))
            .then(-pl.col("amount"))
            .otherwise(pl.col("amount"))
            .alias("amount"),
            pl.lit("DEBIT INTEREST").alias("description"),
        ),
        links,
        accounts,
        _settings(company),
    ).filter(pl.col("bank_line_id") == interest["bank_line_id"].item())
    assert flipped["entity"].item() == "Purchase"
    log = pl.DataFrame(
        {
            "company_id": [company],
            "provider": ["quickbooks"],
            "bank_line_id": interest["bank_line_id"].to_list(),
            "idempotency_key": interest["idempotency_key"].to_list(),
            "entity": ["Deposit"],
            "source_id": ["901"],
            "source_version": ["0"],
            "amount": [321],
            "status": ["created"],
            "detail": [None],
            "attempted_at": [SETTINGS_AT],
        },
        schema=WRITEBACK_LOG_SCHEMA,
    )
    result = execute_writeback(flipped, already_written=log, dry_run=False)  # no call made
    assert result.log["status"].to_list() == ["failed"]
    assert "Deposit 901" in result.log["detail"][0] and result.failures.height == 1
    assert result.audit_events[0]["details"]["status"] == "failed"


def test_provider_down_fails_the_rest_without_trying(world: World, books, sandboxes) -> None:
    accounts, links = books
    company = _company(world, "xero")
    client, tenant = sandboxes.xero_client(company)
    plan = plan_writeback(_fee_and_interest(world, company), links, accounts, _settings(company))
    before = len(sandboxes.xero.records(tenant, "BankTransactions"))
    sandboxes.xero.faults.configure(error_rate=1.0, seed=1)  # every call answers 503
    result = execute_writeback(
        plan, xero_client=client, xero_tenant_id=tenant, already_written=_empty_log(),
        dry_run=False,
    )  # fmt: skip
    sandboxes.xero.faults.configure(error_rate=0.0)
    assert result.log["status"].to_list() == ["failed", "failed"]
    assert result.log["detail"][1].startswith("not attempted: ProviderUnavailable")
    assert len(sandboxes.xero.records(tenant, "BankTransactions")) == before
    _check_audit(result, company, ["failed", "failed"])
    with pytest.raises(WritebackConflict, match="2 problem"):
        result.raise_for_problems()
