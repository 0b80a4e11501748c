"""The round record: one finished round of one (strategy, seed) run, as written, read and reported.

One type for the writer (the runner appends it to the store), the reader (`alseg.report.load`) and the
report. On disk it is one JSON line with sorted keys; `to_json` gives exactly the keys alseg has always
written, so run files of earlier versions read back unchanged and new ones compare byte for byte.
Keys this version does not know (written by a newer alseg) are kept in `extra` and written back.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

TIMING_FIELDS = ("t_train", "t_eval", "t_pool", "t_select")
#: Where and beside what a round was computed (CPU model and threads; how many runs shared the machine): facts
#: about the run, not results, so two runs that must agree may differ in them.
CONTEXT_FIELDS = ("computed_on", "workers")
METRIC_FIELDS = ("dice", "iou", "miou")


@dataclass(frozen=True)
class RoundRecord:
    """Metrics, labeled count, selected ids and times of one round (ids are dataset ids, as strings)."""

    strategy: str  # canonical run name, e.g. proposed(discrepancy=false)
    name: str  # registry name, e.g. proposed
    params: dict[str, Any]
    label: str
    provider: str
    alseg_version: str
    dataset: str
    seed: int
    round: int
    n_labeled: int
    dice: float
    iou: float
    miou: float
    added: list[str]  # images whose masks were revealed for this round's training
    selected: list[str]  # images this round's model selected for the next round ([] in the last round)
    picked_entropy: float | None
    pool_entropy: float | None
    t_train: float
    t_eval: float
    t_pool: float
    t_select: float
    status: str = "done"
    kind: str = "round"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object stored on disk (extra keys inlined)."""
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    def to_line(self) -> bytes:
        """One JSON line with sorted keys, as the store appends it."""
        return (json.dumps(self.to_json(), sort_keys=True, allow_nan=True) + "\n").encode()

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RoundRecord:
        """Read a stored record; keys this version does not know go to `extra`."""
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = sorted(k for k in known if k not in obj and k not in ("status", "kind"))
        if missing:
            raise ValueError(f"round record lacks {', '.join(missing)}")
        values = {k: obj[k] for k in known if k in obj}
        return cls(**values, extra={k: v for k, v in obj.items() if k not in known})

    def without_timing(self) -> dict[str, Any]:
        """The record minus wall-clock and context fields: what two runs with the same seed must agree on."""
        return {k: v for k, v in self.to_json().items() if k not in TIMING_FIELDS + CONTEXT_FIELDS}

    def with_changes(self, **changes: Any) -> RoundRecord:
        """A copy with some fields changed."""
        return replace(self, **changes)


def rounded(value: float, digits: int = 8) -> float | None:
    """A metric as stored: rounded, and None for NaN (JSON has no NaN)."""
    return None if value is None or math.isnan(value) else round(float(value), digits)


def stored_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """Test-split metrics as a record stores them: rounded to 8 digits."""
    return {k: round(v, 8) for k, v in metrics.items()}
