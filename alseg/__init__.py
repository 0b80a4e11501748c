"""alseg: an honest benchmark harness for active learning in medical image segmentation.

Strategies and plugins import from `alseg.api`; Python callers use `alseg.run_benchmark`, `alseg.load_experiment`
and `alseg.suggest` (from `alseg.python_api`). Both load on first use, so `import alseg` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

#: Names re-exported from alseg.python_api on first access.
PYTHON_API = ("BenchmarkResult", "load_experiment", "run_benchmark", "suggest")


def __getattr__(name: str) -> Any:
    """`alseg.api` and the Python API on first access, without importing torch for `import alseg` alone."""
    import importlib

    if name == "api":
        return importlib.import_module("alseg.api")
    if name in PYTHON_API:
        return getattr(importlib.import_module("alseg.python_api"), name)
    raise AttributeError(f"module 'alseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names plus the lazily loaded ones (for tab completion)."""
    return sorted([*globals(), "api", *PYTHON_API])
