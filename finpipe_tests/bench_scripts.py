"""Load a benchmark script (``finpipe_tests/benchmarks/<name>.py``) as a module, for tests
that exercise its functions at a small size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).parent / "benchmarks"


def load_bench(name: str) -> ModuleType:
    """The benchmark script ``<name>.py`` loaded by path and registered in ``sys.modules``
    under ``name`` (dataclasses look their module up there while the class is built)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"no benchmark script {name}.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
