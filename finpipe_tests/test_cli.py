"""The command line, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.ops import COMPANIES
from finpipe.warehouse.tables.raw import TABLES as RAW_TABLES
from finpipe.warehouse.tables.world import TABLES as WORLD_TABLES

FINPIPE = str(Path(sys.executable).with_name("finpipe"))


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FINPIPE_", "DAGSTER_"))}
    full_env.update({"FINPIPE_HOME": str(home), **env})
    return subprocess.run(
        [FINPIPE, *args], capture_output=True, text=True, env=full_env, timeout=600
    )


def test_bad_warehouse_url_is_one_clear_line(tmp_path: Path) -> None:
    out = run(["warehouse", "init"], tmp_path, FINPIPE_WAREHOUSE_URL="mysql://x/y")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: FINPIPE_WAREHOUSE_URL scheme 'mysql' is not supported: use duckdb:/// or "
        "postgresql://"
    )


def test_world_generate_prints_counts(tmp_path: Path) -> None:
    out = run(
        [
            "world",
            "generate",
            "--companies",
            "3",
            "--months",
            "2",
            "--seed",
            "5",
            "--out",
            str(tmp_path / "w"),
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert f"{manifest['row_counts']['bank_lines']:,} rows" in out.stdout
    assert "[world]" in out.stderr  # progress lines


def test_docs_check_passes_on_the_repo_page() -> None:
    page = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
    out = run(["warehouse", "docs", "--check", str(page)], page.parent)
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_demo_end_to_end_and_rerun(tmp_path: Path) -> None:
    import dagster as dg

    from finpipe.analytics.insights.build import build_insights, read_insights
    from finpipe.config import load_settings
    from finpipe.defs.insights.checks import INSIGHTS_KEY
    from finpipe.instance import open_instance

    home = tmp_path / "state"
    args = ["demo", "--companies", "3", "--months", "2", "--seed", "3"]
    first = run(args, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "5/6 running finpipe_main for 3 companies" in first.stdout
    assert "Demo finished" in first.stdout
    with Warehouse.open(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
        assert wh.count(COMPANIES) == 3
        accounting = wh.query(
            "SELECT provider, status, count(*) AS n FROM ops.connections "
            "WHERE provider IN ('quickbooks', 'xero') GROUP BY 1, 2"
        )
        assert set(accounting["status"]) == {"active"}  # every file authorised over OAuth
        landed = {
            provider: wh.query(f"SELECT count(*) FROM raw.{provider}_invoice{suffix}").item()
            for provider, suffix in (("quickbooks", ""), ("xero", "s"))
        }
        connected = dict(accounting.select("provider", "n").iter_rows())
        for provider, rows in landed.items():
            assert (rows > 0) == (provider in connected), (provider, rows, connected)
        # Every landed account is mapped to the standard chart, almost always as the world's
        # ground truth says; every sync batch is in the companies' audit chains.
        mapped = wh.query(
            "SELECT m.standard_code, w.truth_standard_account FROM ledger.account_map m "
            "JOIN raw.world_accounts w ON w.company_id = m.company_id "
            "AND w.provider = m.provider AND w.account_id = m.account_id"
        )
        assert mapped.height == wh.query("SELECT count(*) FROM ledger.account_map").item() > 0
        right = (mapped["standard_code"] == mapped["truth_standard_account"]).sum()
        assert right / mapped.height >= 0.98
        # The books balance entry by entry; every company is reconciled, most of its booked
        # bank lines automatically; the company on both sources has its duplicates resolved.
        unbalanced = wh.query(
            "SELECT count(*) FROM (SELECT company_id, provider, entry_id FROM "
            "ledger.journal_lines GROUP BY 1, 2, 3 HAVING sum(amount) <> 0) x"
        ).item()
        assert unbalanced == 0
        recon = wh.query(
            "SELECT company_id, sum(bank_lines_booked) AS booked, "
            "sum(bank_lines_matched) AS matched FROM recon.summary GROUP BY 1"
        )
        assert recon.height == 3
        assert (recon["matched"] >= 0.85 * recon["booked"]).all(), recon
        both = wh.query(
            "SELECT count(*) FROM recon.conflicts c JOIN raw.world_companies w "
            "USING (company_id) WHERE w.accounting_provider = 'both'"
        ).item()
        assert both > 0
        assert "Reconciliation per company and currency" in first.stdout
        audit_first = wh.query("SELECT count(*) FROM compliance.audit_log").item()
        assert audit_first > 0
        marts = wh.query("SELECT company_id, connections FROM marts.dim_company ORDER BY 1")
        assert marts.height == 3
        assert (marts["connections"] >= 2).all()  # an accounting file and a bank account each
        counts = {t.name: wh.count(t) for t in WORLD_TABLES}
        # The insights printed were rebuilt on this run's peer benchmarks (cross-company, so
        # built after every company's run): a rebuild from the warehouse now gives the same.
        company_ids = sorted(wh.read(COMPANIES)["company_id"])
        for company_id in company_ids:
            stored = read_insights(wh, company_id).select("insight_id", "title", "text")
            fresh = build_insights(wh, company_id).frame.select("insight_id", "title", "text")
            assert stored.equals(fresh), company_id
            assert read_insights(wh, company_id)["verified"].all()
    assert "insights of 3 companies rebuilt" in first.stdout
    instance = open_instance(load_settings({"FINPIPE_HOME": str(home)}))
    peers = instance.get_latest_materialization_event(  # type: ignore[attr-defined]
        dg.AssetKey(["analytics", "peer_benchmarks"])
    )
    assert peers is not None
    for company_id in company_ids:
        latest = instance.fetch_materializations(  # type: ignore[attr-defined]
            dg.AssetRecordsFilter(asset_key=INSIGHTS_KEY, asset_partitions=[company_id]), limit=1
        ).records
        assert latest and latest[0].timestamp > peers.timestamp, company_id
    manifest = json.loads((home / "world" / "manifest.json").read_text())
    for table, rows in counts.items():
        assert rows == manifest["row_counts"][table.removeprefix("world_")], table
    line = next(x for x in first.stdout.splitlines() if "raw.world_bank_lines" in x)
    assert line.split()[-2] == f"{counts['world_bank_lines']:,}"

    with Warehouse.open(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
        raw_before = {t.name: wh.count(t) for t in RAW_TABLES}

    # A re-run starts a new sandbox: it must authorise again and then land nothing twice.
    second = run(args, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1/6 world: reusing" in second.stdout
    assert f"{sum(connected.values())} connection(s) authorised" in second.stdout
    with Warehouse.open(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
        assert {t.name: wh.count(t) for t in WORLD_TABLES} == counts
        assert {t.name: wh.count(t) for t in RAW_TABLES} == raw_before
        statuses = wh.query(
            "SELECT DISTINCT status FROM ops.connections WHERE provider IN ('quickbooks', 'xero')"
        )
        assert statuses["status"].to_list() == ["active"]
        # The second run's syncs are recorded too, after the first run's.
        assert wh.query("SELECT count(*) FROM compliance.audit_log").item() > audit_first
    assert (home / "dagster" / "dagster.yaml").exists()


@pytest.mark.slow
def test_ui_serves_the_code_location(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINPIPE_", "DAGSTER_"))}
    # As a user would run it: the venv is not activated, so its bin folder is not on PATH.
    env["PATH"] = "/usr/bin:/bin"
    env["FINPIPE_HOME"] = str(tmp_path)
    process = subprocess.Popen(
        [FINPIPE, "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
    jobs: set[str] = set()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not jobs:
            time.sleep(1)
            try:
                answer = requests.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=5
                ).json()
            except requests.RequestException:
                continue
            nodes = answer["data"]["repositoriesOrError"].get("nodes") or []
            jobs = {j["name"] for node in nodes for j in node["jobs"]}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert {"finpipe_main", "register_companies", "build_marts"} <= jobs
    assert (tmp_path / "dagster" / "dagster.yaml").exists()


def test_connect_a_bank_against_the_sandbox(tmp_path: Path) -> None:
    """`finpipe connect openbanking|berlingroup|aggregator --auto-approve` creates and
    authorises the consent (or item) and records the connection as active."""
    import polars as pl

    from finpipe.sandbox.server import SandboxServer, build_sandbox
    from finpipe.sandbox.world import WorldSpec, generate_world, load_world
    from finpipe.warehouse.tables.ops import CONNECTIONS

    world_dir = tmp_path / "world"
    generate_world(WorldSpec(companies=6, months=2, seed=4), world_dir)
    companies = load_world(world_dir).table("companies").collect()
    sandbox = build_sandbox(world_dir, providers=("openbanking", "berlingroup", "aggregator"))
    creds = sandbox.credentials
    home = tmp_path / "state"
    with SandboxServer(sandbox) as server:
        env = {"FINPIPE_SANDBOX_URL": server.base_url}
        for provider in ("openbanking", "berlingroup", "aggregator"):
            env[f"FINPIPE_{provider.upper()}_CLIENT_ID"] = creds.client_id
            env[f"FINPIPE_{provider.upper()}_CLIENT_SECRET"] = creds.client_secret
        for provider in ("openbanking", "berlingroup", "aggregator"):
            company = companies.filter(pl.col("bank_provider") == provider).item(0, "company_id")
            args = ["connect", provider, "--company", company, "--auto-approve"]
            out = run(args, home, **env)
            assert out.returncode == 0, out.stdout + out.stderr
            assert f"connected {provider} " in out.stdout
            assert f" for {company}" in out.stdout
        no_root = run(["connect", "openbanking", "--company", "cmp_x"], home)
        assert no_root.returncode == 1
        assert "set FINPIPE_OPENBANKING_API_BASE" in no_root.stderr
        no_app = run(
            ["connect", "openbanking", "--company", "cmp_x"],
            home,
            FINPIPE_SANDBOX_URL=server.base_url,
        )
        assert no_app.returncode == 1
        assert "FINPIPE_OPENBANKING_CLIENT_ID" in no_app.stderr
    with Warehouse.open(f"duckdb:///{home / 'warehouse.duckdb'}") as wh:
        rows = wh.read(CONNECTIONS).select("provider", "status")
    assert sorted(rows.rows()) == [
        ("aggregator", "active"),
        ("berlingroup", "active"),
        ("openbanking", "active"),
    ]
