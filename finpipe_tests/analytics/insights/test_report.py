"""What the demo prints per company: health, benchmark position, flags, verified insights."""

from __future__ import annotations

import polars as pl
import pytest

from finpipe.analytics.insights.build import (
    UnverifiedInsightsError,
    build_insights,
    read_insights,
    write_insights,
)
from finpipe.analytics.report import company_report
from finpipe.warehouse import Warehouse
from finpipe.warehouse.tables.analytics_financials import HEALTH_SCORES
from finpipe.warehouse.tables.analytics_insights import INSIGHTS
from finpipe_tests.analytics.insights.seed import CID


def test_report_lines_come_from_the_tables(seeded: Warehouse) -> None:
    write_insights(seeded, build_insights(seeded, CID))
    lines = company_report(seeded, CID, insights=2)
    scores = seeded.read(HEALTH_SCORES, company_id=CID).sort("month")
    latest = scores.row(scores.height - 1, named=True)
    assert lines[0].startswith(f"health {latest['month']:%Y-%m}: {latest['composite']:.0f}/100")
    assert latest["altman_zone"] in lines[0]
    assert lines[1].startswith("benchmark: ")
    flags_line = next(i for i, line in enumerate(lines) if line.startswith("anomaly flags: "))
    assert lines[flags_line] == "anomaly flags: 3, top ones:"
    # Highest score first (the seed's flags score 0.93, 0.75 and 0.5).
    assert lines[flags_line + 1].startswith("  [") and " 0.93] " in lines[flags_line + 1]
    assert " 0.75] " in lines[flags_line + 2] and " 0.50] " in lines[flags_line + 3]
    assert lines[-3] == "insights (verified against the warehouse): 2"
    assert lines[-2].startswith("  1. ") and lines[-1].startswith("  2. ")


def test_an_unverified_insight_fails_the_report(seeded: Warehouse) -> None:
    write_insights(seeded, build_insights(seeded, CID))
    stored = read_insights(seeded, CID)
    first = stored.sort("rank").row(0, named=True)
    changed = first["text"].replace("38 %", "37 %")
    assert changed != first["text"], "the seeded top insight cites 38 %"
    rows = [
        {**row, "text": changed} if row["insight_id"] == first["insight_id"] else row
        for row in stored.iter_rows(named=True)
    ]
    seeded.replace_partition(INSIGHTS, CID, pl.DataFrame(rows, schema=INSIGHTS.polars_schema()))
    with pytest.raises(UnverifiedInsightsError, match="37"):
        company_report(seeded, CID)
