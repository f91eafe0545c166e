"""The automation conditions: the ledger follows every change, analytics at most once per
window of the clock (a change inside the window is picked up when the next one starts)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finpipe.defs.automation import analytics_condition, ledger_condition

T0 = dt.datetime(2026, 12, 7, 12, 0, 30, tzinfo=dt.UTC)


@dg.asset
def upstream() -> None:
    """Stands in for a company's books."""


@dg.asset(deps=[upstream], automation_condition=analytics_condition(10))
def analytics() -> None:
    """Stands in for the forecast."""


@dg.asset(deps=[upstream], automation_condition=ledger_condition())
def ledger() -> None:
    """Stands in for the reconciliation."""


def _requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    return {k.path[-1] for k in (analytics.key, ledger.key) if result.get_num_requested(k)}


def test_analytics_refresh_at_most_once_per_window_ledger_every_time() -> None:
    # Dagster's own clock is frozen at each step (its test helper), so materializations and
    # evaluations agree on the time the windows are cut by.
    from dagster._core.test_utils import freeze_time

    assets = [upstream, analytics, ledger]
    cursor = None

    def step(at: dt.datetime, materialize: list | None = None) -> set[str]:
        nonlocal cursor
        with freeze_time(at):
            if materialize:
                dg.materialize(materialize, instance=instance, selection=materialize)
            result = dg.evaluate_automation_conditions(
                assets, instance, evaluation_time=at, cursor=cursor
            )
        cursor = result.cursor
        return _requested(result)

    with dg.instance_for_test() as instance:
        # Everything exists and is current: nothing to do.
        assert step(T0, [upstream, analytics, ledger]) == set()
        # The upstream changes: both follow (analytics: the first time in this window).
        assert step(T0 + dt.timedelta(seconds=30), [upstream]) == {"analytics", "ledger"}
        assert step(T0 + dt.timedelta(seconds=60), [analytics, ledger]) == set()
        # It changes again inside the same 10-minute window: only the ledger follows.
        assert step(T0 + dt.timedelta(minutes=3), [upstream]) == {"ledger"}
        assert step(T0 + dt.timedelta(minutes=4), [ledger]) == set()
        # The next window starts (12:10): analytics catch up with the change they skipped.
        assert step(T0 + dt.timedelta(minutes=10)) == {"analytics"}
