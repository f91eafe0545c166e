"""Run every benchmark script in this folder, one after another; exit non-zero if any
missed its goal. Used by `make bench`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.name}", flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(script.name)
    if failed:
        print(f"\nmissed goals: {', '.join(failed)}")
        return 1
    print("\nall benchmarks met their goals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
