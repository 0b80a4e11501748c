"""Deterministic crash points for fault-injection tests: `ALSEG_FAULT=name:N` SIGKILLs the process.

A fault point is a named place in the code (`fault_point("train-step")`). With the environment variable
`ALSEG_FAULT=train-step:3` the process kills itself with SIGKILL the 3rd time it reaches that point, so a
test can crash a real `alseg bench` at an exact moment and check that rerunning the same command
repairs everything. The variable is read once, at the first fault point reached; unset, a fault point
costs one global lookup and a comparison.

Points (see docs/reliability.md):

- `train-step`: after each optimiser step (alseg/train.py `fit`);
- `pool-batch`: after each batch of the pool pass (alseg/pool.py `pool_pass`);
- `record-write`: in the middle of appending a round record: the first half of the line is written,
  flushed and fsynced, then the point is hit, so a real torn line is left behind (alseg/store.py);
- `checkpoint-write`: after a checkpoint's temporary file is written and fsynced, before its rename;
- `report-write`: after a report file's temporary file is written, before its rename
  (alseg/report/write.py `atomic_write`; the N-th report file written).
"""

from __future__ import annotations

import os
import signal

ENV = "ALSEG_FAULT"
POINTS = frozenset({"train-step", "pool-batch", "record-write", "checkpoint-write", "report-write"})

_UNREAD = object()
_target: object = _UNREAD  # _UNREAD, None (no fault armed) or (name, n)
_hits = 0


def _parse(text: str) -> tuple[str, int] | None:
    """'name:N' -> (name, N); empty -> None; anything else is a ValueError naming the format."""
    text = text.strip()
    if not text:
        return None
    name, _, count = text.rpartition(":")
    if name not in POINTS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV}={text!r}: expected NAME:N with N >= 1 and NAME one of {', '.join(sorted(POINTS))}")
    return name, int(count)


def _armed() -> tuple[str, int] | None:
    global _target
    if _target is _UNREAD:
        _target = _parse(os.environ.get(ENV, ""))
    return _target  # type: ignore[return-value]


def armed(name: str) -> bool:
    """True when ALSEG_FAULT targets this point (callers may then split a write to make it tearable)."""
    target = _target if _target is not _UNREAD else _armed()
    return target is not None and target[0] == name  # type: ignore[index]


def fault_point(name: str) -> None:
    """SIGKILL this process the N-th time point `name` is reached when ALSEG_FAULT=name:N."""
    global _hits
    target = _target if _target is not _UNREAD else _armed()
    if target is None or target[0] != name:  # type: ignore[index]
        return
    _hits += 1
    if _hits >= target[1]:  # type: ignore[index]
        os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget the parsed variable and the hit count (tests that change ALSEG_FAULT in-process)."""
    global _target, _hits
    _target, _hits = _UNREAD, 0
