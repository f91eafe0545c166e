"""``finpipe demo``: the end-to-end demo on the embedded default.

Sandbox world → warehouse (DuckDB unless configured) → Dagster runs recorded on the local
SQLite instance, so ``finpipe ui`` shows every run the demo made. Every figure printed is
read back from the warehouse, never taken from what the demo meant to write.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from finpipe.cli.progress import StepPrinter
from finpipe.config import Settings, load_settings
from finpipe.errors import FinpipeError
from finpipe.sandbox.world import WorldSpec, generate_world

if TYPE_CHECKING:
    import polars as pl


class DemoError(FinpipeError):
    """A demo step failed; the message names the step, company and where to look."""


def _world_is_current(world_dir: Path, spec: WorldSpec) -> bool:
    manifest = world_dir / "manifest.json"
    if not manifest.exists():
        return False
    recorded = json.loads(manifest.read_text()).get("spec", {})
    return (
        recorded.get("companies") == spec.companies
        and recorded.get("months") == spec.months
        and recorded.get("seed") == spec.seed
    )


def _ensure_world(settings: Settings, spec: WorldSpec, regenerate: bool) -> None:
    if not regenerate and _world_is_current(settings.world_dir, spec):
        click.echo(f"1/6 world: reusing {settings.world_dir} (seed {spec.seed})")
        return
    click.echo(
        f"1/6 world: generating {spec.companies} companies x {spec.months} months "
        f"(seed {spec.seed}) into {settings.world_dir}"
    )
    generate_world(spec, settings.world_dir, progress=StepPrinter("world"))


def _run_job(defs, instance, job_name: str, partition_key: str | None = None) -> float:
    started = time.monotonic()
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        raise_on_error=False,
        # Step-by-step event logs belong in the UI; the console keeps the demo's own lines.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        failures = [
            f"{event.step_key}: {event.event_specific_data.error.message.strip()}"
            for event in result.all_events
            if event.is_step_failure and event.event_specific_data is not None
        ]
        where = f" for company {partition_key}" if partition_key else ""
        raise DemoError(
            f"run {result.run_id} of job {job_name}{where} failed: "
            + ("; ".join(failures) or "see the run in the Dagster UI (finpipe ui)")
        )
    return time.monotonic() - started


def _sandbox_environment(
    settings: Settings, base_url: str, client_id: str, secret: str
) -> Settings:
    """Point every connector at the in-process sandbox (unless the user chose otherwise)."""
    os.environ["FINPIPE_SANDBOX_URL"] = base_url
    for provider in ("QUICKBOOKS", "XERO", "OPENBANKING", "BERLINGROUP", "AGGREGATOR"):
        os.environ.setdefault(f"FINPIPE_{provider}_CLIENT_ID", client_id)
        os.environ.setdefault(f"FINPIPE_{provider}_CLIENT_SECRET", secret)
    return load_settings()


def _connect_accounting(settings: Settings) -> int:
    """Authorise every QuickBooks/Xero connection through OAuth against the sandbox
    (auto-approved). All of them, every run: the demo's sandbox lives only as long as the
    demo, so grants made by an earlier run mean nothing to this one."""
    from finpipe.connectors.connect import connect
    from finpipe.connectors.oauth import TokenStore
    from finpipe.connectors.providers import accounting_providers
    from finpipe.secrets import SecretBox
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables.ops import CONNECTIONS

    providers = accounting_providers()
    connected = 0
    with Warehouse.from_settings(settings) as wh:
        pending = wh.read(
            CONNECTIONS,
            where="status <> 'removed' AND provider IN ('quickbooks', 'xero')",
            order_by=["company_id", "provider"],
        )
        store = TokenStore(wh, SecretBox.from_settings(settings))
        for company_id, provider_name in (
            pending.select("company_id", "provider").unique(maintain_order=True).iter_rows()
        ):
            provider = providers[provider_name]
            name = provider_name.upper()
            client_id = os.environ[f"FINPIPE_{name}_CLIENT_ID"]
            client_secret = os.environ[f"FINPIPE_{name}_CLIENT_SECRET"]
            api_base = provider.api_base(settings)
            connect(
                lambda redirect, p=provider, i=client_id, c=client_secret: p.make_app(
                    p.sandbox_base(settings), i, c, redirect
                ),
                store,
                company_id,
                lambda tokens, params, p=provider, base=api_base: p.discover(base, tokens, params),
                auto_approve=True,
                announce=lambda _: None,
            )
            connected += 1
    return connected


def _connect_banks(settings: Settings) -> int:
    """Create every bank consent / aggregator item against the sandbox (auto-approved),
    for the companies whose bank is one of the API providers. Like the accounting grants,
    every run: the sandbox's consents live only as long as the demo."""
    import polars as pl

    from finpipe.connectors.banks import bank_providers
    from finpipe.sandbox.world import load_world
    from finpipe.warehouse import Warehouse

    providers = bank_providers()
    companies = (
        load_world(settings.world_dir)
        .table("companies")
        .filter(pl.col("bank_provider").is_in(list(providers)))
        .select("company_id", "bank_provider")
        .collect()
        .sort("company_id")
    )
    connected = 0
    with Warehouse.from_settings(settings) as wh:
        for company_id, provider_name in companies.iter_rows():
            provider = providers[provider_name]
            provider.connect(provider.context(wh, settings, company_id), True, lambda _: None)
            connected += 1
    return connected


def _drop_statements(settings: Settings) -> int:
    """Export the statement files a bank would let each statement-only company download
    into its drop folder inbox (files already imported are recognised by content and
    change nothing)."""
    import polars as pl

    from finpipe.connectors.statements.dropfolder import SETTLE_SECONDS, inbox_dir
    from finpipe.sandbox.statements import export_statements
    from finpipe.sandbox.world import load_world

    world = load_world(settings.world_dir)
    companies = (
        world.table("companies")
        .filter(pl.col("bank_provider") == "statement")
        .select("company_id")
        .collect()
        .to_series()
        .sort()
    )
    files = 0
    for company_id in companies:
        files += len(export_statements(world, company_id, inbox_dir(settings.home, company_id)))
    if files:
        time.sleep(SETTLE_SECONDS)  # the importer leaves files younger than this alone
    return files


def _summary(settings: Settings) -> None:
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.tables.compliance import AUDIT_LOG
    from finpipe.warehouse.tables.ledger import (
        BANK_ACCOUNTS,
        BANK_LINES,
        CASH_MOVEMENTS,
        DOCUMENTS,
        JOURNAL_LINES,
    )
    from finpipe.warehouse.tables.mapping import ACCOUNT_MAP, STANDARD_ACCOUNTS
    from finpipe.warehouse.tables.ops import COMPANIES, CONNECTIONS
    from finpipe.warehouse.tables.raw import (
        BANK_SOURCE_TABLES,
        QUICKBOOKS_TABLES,
        STATEMENT_FILES,
        STATEMENT_LINES,
        XERO_TABLES,
    )
    from finpipe.warehouse.tables.recon import (
        CONFLICTS,
        INVOICE_MATCHES,
        MATCHES,
        OPEN_ITEMS,
        SUGGESTIONS,
    )
    from finpipe.warehouse.tables.world import TABLES as WORLD_TABLES
    from finpipe.warehouse.tables.world import WORLD_BANK_LINES, WORLD_DOCUMENTS

    def company_counts(wh: Warehouse, tables) -> dict[str, int]:
        union = " UNION ALL ".join(f"SELECT company_id FROM {t.qualified_name}" for t in tables)
        frame = wh.query(f"SELECT company_id, count(*) AS n FROM ({union}) x GROUP BY company_id")
        return dict(frame.iter_rows())

    with Warehouse.from_settings(settings) as wh:
        registry = wh.read(COMPANIES)
        counts = {
            t.qualified_name: wh.count(t)
            for t in (
                COMPANIES,
                CONNECTIONS,
                *WORLD_TABLES,
                BANK_ACCOUNTS,
                BANK_LINES,
                STANDARD_ACCOUNTS,
                ACCOUNT_MAP,
                DOCUMENTS,
                JOURNAL_LINES,
                CASH_MOVEMENTS,
                MATCHES,
                SUGGESTIONS,
                OPEN_ITEMS,
                INVOICE_MATCHES,
                CONFLICTS,
                AUDIT_LOG,
            )
        }
        for tables in (*BANK_SOURCE_TABLES.values(), {"files": STATEMENT_FILES}):
            for table in tables.values():
                counts[table.qualified_name] = wh.count(table)
        counts[STATEMENT_LINES.qualified_name] = wh.count(STATEMENT_LINES)
        counts["marts.dim_company"] = int(wh.query("SELECT count(*) FROM marts.dim_company").item())
        docs = company_counts(wh, [WORLD_DOCUMENTS])
        bank = company_counts(wh, [WORLD_BANK_LINES])
        qbo = company_counts(wh, QUICKBOOKS_TABLES.values())
        xero = company_counts(wh, XERO_TABLES.values())
        canonical = wh.query(
            "SELECT company_id, string_agg(DISTINCT source, ',') AS source, count(*) AS n, "
            "sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, "
            "count(DISTINCT bank_account_id) AS accounts "
            "FROM ledger.bank_lines GROUP BY company_id"
        )
        ledger_bank = {row[0]: row[1:] for row in canonical.iter_rows()}
        active = wh.query(
            "SELECT provider, count(*) AS n FROM ops.connections WHERE status = 'active' "
            "GROUP BY provider ORDER BY provider"
        )
        recon = wh.query(
            "SELECT company_id, currency, bank_lines_booked, bank_lines_matched, "
            "matched_share, auto_reconciled_amount_share, bank_lines_suggested, "
            "bank_lines_unmatched, bank_unmatched_amount, movements_unmatched, "
            "bank_unmatched_over_90 + movement_unmatched_over_90 AS over_90 "
            "FROM recon.summary ORDER BY company_id, currency"
        )
        rules = wh.query(
            "SELECT company_id, rule, count(DISTINCT bank_line_id) AS n FROM recon.matches "
            "GROUP BY company_id, rule ORDER BY company_id, n DESC"
        )
        by_rule: dict[str, str] = {}
        for cid, rule, n in rules.iter_rows():
            by_rule[cid] = (by_rule[cid] + ", " if cid in by_rule else "") + f"{rule} {n}"
    click.echo("\nWhat was built (read back from the warehouse):")
    for name, rows in counts.items():
        click.echo(f"  {name:<28} {rows:>10,} rows")
    click.echo(
        f"  {'raw.quickbooks_* (18 tables)':<28} {sum(qbo.values()):>10,} rows"
        f"\n  {'raw.xero_* (14 tables)':<28} {sum(xero.values()):>10,} rows"
    )
    click.echo("  active connections: " + ", ".join(f"{p} {n}" for p, n in active.iter_rows()))
    click.echo(
        "\nPer company (world documents and bank lines; records landed from each accounting "
        "API; canonical ledger.bank_lines and where they came from):"
    )
    click.echo(
        f"  {'company':<15} {'name':<26} {'NAICS':<7} {'ccy':<4} {'docs':>6} "
        f"{'world bank':>10} {'QuickBooks':>10} {'Xero':>6} {'bank lines':>10} "
        f"{'pending':>7} {'accts':>5}  bank source"
    )
    for row in registry.iter_rows(named=True):
        cid = row["company_id"]
        source, lines, pending, accounts = ledger_bank.get(cid, ("-", 0, 0, 0))
        click.echo(
            f"  {cid:<15} {row['name'][:26]:<26} {row['naics_code']:<7} "
            f"{row['home_currency']:<4} {docs.get(cid, 0):>6,} {bank.get(cid, 0):>10,} "
            f"{qbo.get(cid, 0):>10,} {xero.get(cid, 0):>6,} {lines:>10,} {pending:>7,} "
            f"{accounts:>5}  {source}"
        )
    click.echo(
        "\nReconciliation per company and currency (booked bank lines matched automatically, "
        "share of the amount, suggestions for a person, what is left; money in minor units):"
    )
    click.echo(
        f"  {'company':<15} {'ccy':<4} {'booked':>7} {'matched':>8} {'lines %':>8} "
        f"{'amount %':>8} {'suggest':>7} {'open':>5} {'open amount':>12} {'ledger open':>11} "
        f"{'>90d':>10}  matched by rule"
    )
    for row in recon.iter_rows(named=True):
        share = row["matched_share"] or 0.0
        amount_share = row["auto_reconciled_amount_share"] or 0.0
        click.echo(
            f"  {row['company_id']:<15} {row['currency']:<4} {row['bank_lines_booked']:>7,} "
            f"{row['bank_lines_matched']:>8,} {share:>8.1%} {amount_share:>8.1%} "
            f"{row['bank_lines_suggested']:>7,} {row['bank_lines_unmatched']:>5,} "
            f"{row['bank_unmatched_amount']:>12,} {row['movements_unmatched']:>11,} "
            f"{row['over_90']:>10,}  {by_rule.get(row['company_id'], '-')}"
        )
    _analytics_summary(settings, registry)
    click.echo(f"\nWarehouse: {settings.warehouse.redacted()}")
    click.echo(f"Dagster instance: {settings.dagster_home} (open it with `make ui`)")


def _analytics_summary(settings: Settings, registry: pl.DataFrame) -> None:
    """Each company's health score, benchmark position, top anomaly flags and top insights.
    The insights are re-verified against the warehouse as they are read: one number that
    does not recompute fails the demo (UnverifiedInsightsError names it)."""
    from finpipe.analytics.report import company_report
    from finpipe.warehouse import Warehouse

    click.echo(
        "\nAnalytics per company (latest month; every insight's numbers recomputed from the "
        "warehouse before it is printed):"
    )
    with Warehouse.from_settings(settings) as wh:
        for row in registry.iter_rows(named=True):
            click.echo(f"  {row['company_id']} {row['name']}")
            for line in company_report(wh, row["company_id"]):
                click.echo(f"    {line}")


@click.command()
@click.option("--companies", default=12, show_default=True, help="Companies in the demo world.")
@click.option("--months", default=24, show_default=True, help="Months of history.")
@click.option("--seed", default=42, show_default=True, help="World seed.")
@click.option("--regenerate", is_flag=True, help="Generate the world again even if current.")
def demo(companies: int, months: int, seed: int, regenerate: bool) -> None:
    """Generate the demo world, run the main job for every company, build the marts."""
    settings = load_settings()
    started = time.monotonic()
    click.echo(f"finpipe demo: state in {settings.home}")
    _ensure_world(settings, WorldSpec(companies=companies, months=months, seed=seed), regenerate)

    from finpipe.companies import partition_changes
    from finpipe.definitions import defs as load_defs
    from finpipe.defs.partitions import company_partitions
    from finpipe.instance import open_instance
    from finpipe.sandbox.server import SandboxServer, build_sandbox
    from finpipe.warehouse import Warehouse
    from finpipe.warehouse.backends import keep_duckdb_open
    from finpipe.warehouse.tables.ops import COMPANIES

    click.echo(f"2/6 Dagster instance: {settings.dagster_home}")
    instance = open_instance(settings)
    defs = load_defs()

    click.echo(
        "3/6 starting the provider sandbox (QuickBooks, Xero, Open Banking, Berlin Group, "
        "aggregator) on loopback"
    )
    sandbox = build_sandbox(settings.world_dir)
    server = SandboxServer(sandbox).start()
    # Every run below is in this process and makes a few hundred warehouse calls per
    # company: keep the DuckDB file loaded meanwhile (in slices that let a running UI's
    # sensors in) instead of opening it for each call, which was a third of the demo's
    # time. dbt (step 6) opens it from its own process, so it runs after the block.
    try:
        with keep_duckdb_open(settings.warehouse):
            creds = sandbox.credentials
            settings = _sandbox_environment(
                settings, server.base_url, creds.client_id, creds.client_secret
            )
            click.echo(f"  sandbox on {server.base_url}")

            click.echo(
                "4/6 registering companies, connecting their accounting files (OAuth) and banks "
                "(consents), dropping statement files"
            )
            _run_job(defs, instance, "register_companies")
            with Warehouse.from_settings(settings) as wh:
                registry = wh.read(COMPANIES)
            assert company_partitions.name is not None
            existing = instance.get_dynamic_partitions(company_partitions.name)
            changes = partition_changes(existing, registry)
            if changes.add:
                instance.add_dynamic_partitions(company_partitions.name, list(changes.add))
            for key in changes.delete:
                instance.delete_dynamic_partition(company_partitions.name, key)
            keys = sorted(instance.get_dynamic_partitions(company_partitions.name))
            click.echo(f"  {_connect_accounting(settings)} connection(s) authorised")
            click.echo(f"  {_connect_banks(settings)} bank consent(s) / item(s) created")
            click.echo(f"  {_drop_statements(settings)} statement file(s) dropped into the inbox")

            click.echo(
                f"5/6 running finpipe_main for {len(keys)} companies (Xero allows 60 calls a "
                "minute per organisation: a Xero company takes about a minute)"
            )
            for index, key in enumerate(keys, start=1):
                seconds = _run_job(defs, instance, "finpipe_main", partition_key=key)
                click.echo(f"  [{index}/{len(keys)}] {key} done in {seconds:.1f}s")
    finally:
        server.stop()

    click.echo(
        "6/6 peer benchmarks across the companies, then the BI marts (dbt), then each "
        "company's insights again with this run's peer positions"
    )
    seconds = _run_job(defs, instance, "build_marts")
    click.echo(f"  marts built in {seconds:.1f}s")

    with keep_duckdb_open(settings.warehouse):
        # The insights of step 5 were built before the peer benchmarks they cite (those span
        # companies, so they come after every company's run): rebuild them on the benchmarks
        # just written. A failing insights_verified check fails the run, hence the demo.
        seconds = sum(
            _run_job(defs, instance, "refresh_insights", partition_key=key) for key in keys
        )
        click.echo(f"  insights of {len(keys)} companies rebuilt in {seconds:.1f}s")
        _summary(settings)
    click.echo(f"\nDemo finished in {time.monotonic() - started:.0f}s.")
