"""Bank data end to end through Dagster: the sandbox's bank APIs over HTTP, statement files
through the drop folder, the canonical bank tables and their continuity check."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finpipe.companies import partition_changes
from finpipe.config import generate_secret_key, load_settings
from finpipe.connectors.banks import bank_providers
from finpipe.connectors.statements.dropfolder import inbox_dir
from finpipe.definitions import defs as load_defs
from finpipe.sandbox.bank_view import BankView
from finpipe.sandbox.server import Sandbox, SandboxServer, build_sandbox
from finpipe.sandbox.statements import export_statements
from finpipe.sandbox.world import WorldSpec, generate_world
from finpipe.warehouse import Warehouse
from finpipe.warehouse.backends import keep_duckdb_open
from finpipe.warehouse.tables.ledger import BANK_ACCOUNTS, BANK_LINES
from finpipe.warehouse.tables.ops import COMPANIES
from finpipe.warehouse.tables.raw import STATEMENT_LINES
from finpipe.warehouse.tables.raw import TABLES as RAW_TABLES

# Six companies whose banks cover every source: Open Banking, Berlin Group, the aggregator
# and statement files.
BANK_WORLD = WorldSpec(companies=6, months=3, seed=4)


@pytest.fixture(scope="module")
def bank_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bank_world") / "world"
    generate_world(BANK_WORLD, out)
    return out


@pytest.fixture
def bank_home(
    tmp_path: Path, bank_world_dir: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Sandbox]]:
    """FINPIPE_HOME with the bank world, every connector pointed at a running sandbox."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "world").symlink_to(bank_world_dir)
    monkeypatch.setenv("FINPIPE_HOME", str(home))
    monkeypatch.setenv("FINPIPE_WAREHOUSE_URL", warehouse_url)
    # Consent tokens are encrypted at rest; PostgreSQL deployments must name their key.
    monkeypatch.setenv("FINPIPE_SECRET_KEY", generate_secret_key().decode())
    monkeypatch.delenv("FINPIPE_DAGSTER_POSTGRES_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    sandbox = build_sandbox(bank_world_dir)
    with SandboxServer(sandbox) as server:
        monkeypatch.setenv("FINPIPE_SANDBOX_URL", server.base_url)
        for name in bank_providers():
            monkeypatch.setenv(f"FINPIPE_{name.upper()}_CLIENT_ID", sandbox.credentials.client_id)
            monkeypatch.setenv(
                f"FINPIPE_{name.upper()}_CLIENT_SECRET", sandbox.credentials.client_secret
            )
        yield home, sandbox


def _settled(files: list[Path]) -> list[Path]:
    """As if dropped a while ago: the importer leaves files younger than a second alone."""
    past = time.time() - 60
    for path in files:
        os.utime(path, (past, past))
    return files


def _booked(frame: pl.DataFrame) -> list[tuple[str, int, int]]:
    return (
        frame.filter(pl.col("status") == "booked")
        .group_by("bank_account_id")
        .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("amount").sum().alias("sum"))
        .sort("bank_account_id")
        .rows()
    )


@pytest.mark.slow
def test_every_bank_source_lands_and_matches_the_world(bank_home: tuple[Path, Sandbox]) -> None:
    home, sandbox = bank_home
    world = sandbox.world
    settings = load_settings()
    companies = world.table("companies").collect().sort("company_id")
    # About twenty in-process runs: an in-memory instance (the SQLite and PostgreSQL
    # instances are what test_materialize and the demo test cover) and the DuckDB file kept
    # loaded between calls, as the demo does; the bank logic under test is the same.
    with dg.DagsterInstance.ephemeral() as instance, keep_duckdb_open(settings.warehouse):
        defs = load_defs()
        assert (
            defs.resolve_job_def("register_companies").execute_in_process(instance=instance).success
        )
        with Warehouse.from_settings(settings) as wh:
            registry = wh.read(COMPANIES)
            changes = partition_changes(instance.get_dynamic_partitions("company"), registry)
            instance.add_dynamic_partitions("company", list(changes.add))
            for company_id, source in companies.select("company_id", "bank_provider").rows():
                if source == "statement":
                    _settled(export_statements(world, company_id, inbox_dir(home, company_id)))
                else:
                    provider = bank_providers()[source]
                    provider.connect(provider.context(wh, settings, company_id), True, print)

        job = defs.resolve_job_def("sync_banks")
        for company_id in companies.get_column("company_id"):
            result = job.execute_in_process(instance=instance, partition_key=company_id)
            assert result.success, company_id
            checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
            assert checks["bank_balance_continuity"], company_id
            assert checks["no_rejected_files"], company_id

        with Warehouse.from_settings(settings) as wh:
            lines = wh.read(BANK_LINES)
            accounts = wh.read(BANK_ACCOUNTS)
            raw_before = {t.name: wh.count(t) for t in RAW_TABLES}
        world_lines = pl.concat(
            [
                BankView(world, source).lines()
                for source in companies.get_column("bank_provider").unique()
            ]
        )
        # Per account, booked counts and sums equal the world's; every account is there.
        world_accounts = world.table("bank_accounts").collect()
        ids = dict(
            world_accounts.select(
                "bank_account_id",
                pl.when(pl.col("bank_provider") == "statement")
                .then(pl.coalesce("iban", "account_number"))
                .otherwise(pl.col("bank_account_id")),
            ).iter_rows()
        )
        expected = world_lines.with_columns(pl.col("bank_account_id").replace_strict(ids))
        assert _booked(lines) == _booked(expected)
        assert accounts.height == world_accounts.height
        # Lines still pending at an API bank are pending once (statement files carry booked
        # lines only); none of them twice.
        statement_accounts = world_accounts.filter(pl.col("bank_provider") == "statement")
        api_pending = world_lines.filter(
            (pl.col("status") == "pending")
            & ~pl.col("bank_account_id").is_in(statement_accounts["bank_account_id"].implode())
        )
        assert lines.filter(pl.col("status") == "pending").height == api_pending.height
        assert lines.get_column("line_id").n_unique() == lines.height
        assert set(lines.get_column("source")) == {
            "openbanking",
            "berlingroup",
            "aggregator",
            "statement",
        }

        # A second run finds nothing new: raw and canonical tables are unchanged.
        for company_id in companies.get_column("company_id"):
            assert job.execute_in_process(instance=instance, partition_key=company_id).success
        with Warehouse.from_settings(settings) as wh:
            assert {t.name: wh.count(t) for t in RAW_TABLES} == raw_before
            again = wh.read(BANK_LINES)
        key = ["company_id", "line_id"]
        assert again.sort(key).drop("extracted_at").equals(lines.sort(key).drop("extracted_at"))

        # The bank's own statement file of an API account: the same transactions, once.
        api_company, api_source = (
            companies.filter(pl.col("bank_provider") != "statement")
            .select("company_id", "bank_provider")
            .row(0)
        )
        files = _settled(export_statements(world, api_company, inbox_dir(home, api_company)))
        assert files
        result = job.execute_in_process(instance=instance, partition_key=api_company)
        assert result.success
        with Warehouse.from_settings(settings) as wh:
            after = wh.read(BANK_LINES, company_id=api_company)
            statement_lines = wh.count(STATEMENT_LINES, api_company)
        before = lines.filter(pl.col("company_id") == api_company)
        assert statement_lines > 0
        assert after.height == before.height
        assert set(after.get_column("source")) == {api_source}
        booked = after.filter(pl.col("status") == "booked")
        assert booked.get_column("also_reported_by").str.starts_with("statement:").all()

        # A consent the person revoked: the run still succeeds and rebuilds the ledger from
        # what is landed, and the connections check says a person must reconnect.
        ob_company = companies.filter(pl.col("bank_provider") == "openbanking").item(
            0, "company_id"
        )
        with Warehouse.from_settings(settings) as wh:
            consent = wh.query(
                "SELECT external_id FROM ops.connections WHERE company_id = %s "
                "AND provider = 'openbanking' AND status = 'active'",
                [ob_company],
            ).item()
        ob = sandbox.provider("openbanking")
        ob.oauth.revoke(consent)
        ob.oauth.expire_access_tokens()
        revoked = job.execute_in_process(instance=instance, partition_key=ob_company)
        assert revoked.success
        checks = {c.check_name: c.passed for c in revoked.get_asset_check_evaluations()}
        assert checks["connections_active"] is False
        assert checks["bank_balance_continuity"]
        with Warehouse.from_settings(settings) as wh:
            status = wh.query(
                "SELECT status FROM ops.connections WHERE external_id = %s", [consent]
            ).item()
            kept = wh.count(BANK_LINES, ob_company)
        assert status == "needs_reauth"
        assert kept == lines.filter(pl.col("company_id") == ob_company).height

        # The audit chain holds every sync batch; an edited entry fails the blocking check.
        main = defs.resolve_job_def("finpipe_main")
        first = main.execute_in_process(instance=instance, partition_key=ob_company)
        assert first.success
        checks = {c.check_name: c.passed for c in first.get_asset_check_evaluations()}
        assert checks["audit_chain_intact"]
        with Warehouse.from_settings(settings) as wh:
            entries = wh.query(
                "SELECT count(*) FROM compliance.audit_log WHERE company_id = %s", [ob_company]
            ).item()
            assert entries >= 2  # the first sync and the re-sync at least
            wh.execute(
                "UPDATE compliance.audit_log SET actor = 'someone' "
                "WHERE company_id = %s AND sequence = 2",
                [ob_company],
            )
        tampered = main.execute_in_process(
            instance=instance, partition_key=ob_company, raise_on_error=False
        )
        verdicts = [
            c
            for c in tampered.get_asset_check_evaluations()
            if c.check_name == "audit_chain_intact"
        ]
        assert [c.passed for c in verdicts] == [False]
        assert verdicts[0].metadata["broken_at"].value == 2
