"""alseg: an honest benchmark harness for active learning in medical image segmentation.

Strategies and plugins import from `alseg.api` (loaded on first use, so `import alseg` stays cheap).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    """`alseg.api` on first access, without importing torch for `import alseg` alone."""
    if name == "api":
        import importlib

        return importlib.import_module("alseg.api")
    raise AttributeError(f"module 'alseg' has no attribute {name!r}")
