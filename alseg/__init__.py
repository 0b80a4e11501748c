"""alseg: an honest benchmark harness for active learning in medical image segmentation."""

from __future__ import annotations

__version__ = "0.1.0"
