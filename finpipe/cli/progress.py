"""Progress lines for long CLI steps (plain lines: they read well in logs and CI too)."""

from __future__ import annotations

import time

import click


class StepPrinter:
    """Prints ``[label] step done/total (elapsed)`` lines, at most one per step change."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self._last: tuple[str, int] | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if (step, done) == self._last:
            return
        self._last = (step, done)
        elapsed = time.monotonic() - self.started
        click.echo(f"  [{self.label}] {step} {done}/{total} ({elapsed:.1f}s)", err=True)
