"""finpipe's Dagster code location: every module under ``finpipe/defs`` is loaded."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        # Steps run one after another in the run's own process: a DuckDB file takes one
        # writer process at a time, pools admit one step each anyway, and the multiprocess
        # executor's process per step would load the code location again for every step
        # (seconds each, which is most of a webhook-driven sync's latency).
        dg.Definitions(executor=dg.in_process_executor),
    )
