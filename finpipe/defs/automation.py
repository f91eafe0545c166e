"""The sensor that evaluates every asset's ``AutomationCondition`` (the ledger, bank lines,
reconciliation and analytics follow their upstream partitions with ``eager()``).

Dagster creates a ``default_automation_condition_sensor`` when none is defined, but it
starts stopped and ticks every 30 s. finpipe's promise is that a webhook ends in a fresh
reconciled ledger without a person, so this one runs by default and ticks every 5 s (an
evaluation with nothing to do costs the daemon a few milliseconds per asset partition).
"""

from __future__ import annotations

import dagster as dg

# Analytics (statements, anomaly models, forecast fits, peer ranks, insights) need not follow
# every webhook within seconds: they rebuild after their inputs change, at most once per this
# many minutes per company, so a stream of webhooks keeps the two cores for syncs and ledgers.
ANALYTICS_REFRESH_MINUTES = 10


def ledger_condition() -> dg.AutomationCondition:
    """Rebuild as soon as an upstream partition changed (ledger, bank lines, reconciliation)."""
    return dg.AutomationCondition.eager()


def analytics_condition(minutes: int = ANALYTICS_REFRESH_MINUTES) -> dg.AutomationCondition:
    """``eager()``, but not again within the same ``minutes``-long window of the clock: a
    change inside the window is picked up when the next one starts."""
    requested_this_window = dg.AutomationCondition.newly_requested().since(
        dg.AutomationCondition.cron_tick_passed(f"*/{minutes} * * * *")
    )
    return (dg.AutomationCondition.eager() & ~requested_this_window).with_label(
        f"eager, at most once every {minutes} minutes"
    )


finpipe_automation = dg.AutomationConditionSensorDefinition(
    "finpipe_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Evaluates every finpipe asset's automation condition (eager for the ledger, "
    "bank lines, reconciliation and analytics; a cron condition for integration health) and "
    "launches what is due: after a webhook-driven or scheduled sync of a company's raw "
    "tables, its ledger and reconciliation rebuild without anyone pressing a button. Stop it "
    "in the UI to hold every downstream rebuild.",
)
