"""Whether another process can open a DuckDB file right now (its lock is free)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = (
    "import sys, duckdb\n"
    "try:\n"
    "    duckdb.connect(sys.argv[1]).close()\n"
    "except duckdb.IOException:\n"
    "    sys.exit(3)\n"
)


def other_process_can_open(path: Path) -> bool:
    """Open ``path`` from a fresh interpreter: True if it could, False if the lock is held."""
    code = subprocess.run([sys.executable, "-c", PROBE, str(path)], timeout=60).returncode
    assert code in (0, 3), f"the probe failed with exit code {code}"
    return code == 0
