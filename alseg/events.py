"""What a benchmark tells the outside world while it runs: plain event records, no rendering.

The orchestrator (`alseg.bench.run_benchmark`) and the loop emit these to one callable; the terminal UI
(`alseg.ui`) draws them, tests collect them, a Python caller may ignore them. Nothing here drives work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataLoading:
    """Decoding the dataset: `done` of `total` files (total None while unknown)."""

    dataset: str
    done: int = 0
    total: int | None = None


@dataclass(frozen=True)
class DataLoaded:
    """The dataset is in memory; `summary` is one line describing it."""

    summary: str


@dataclass(frozen=True)
class Note:
    """Something the user should read (a detected dataset, a decoded-with-care file, a restarted run)."""

    text: str


@dataclass(frozen=True)
class BenchPlanned:
    """The runs this invocation will visit, in order, and where the experiment lives."""

    experiment_dir: Path
    runs: tuple[tuple[str, int], ...]
    strategies: tuple[str, ...]
    seeds: int


@dataclass(frozen=True)
class RunStarted:
    """A (strategy, seed) run starts or resumes with `rounds_done` of `rounds_total` rounds stored."""

    run: str
    seed: int
    rounds_total: int
    rounds_done: int


@dataclass(frozen=True)
class RoundStarted:
    """A round's training starts."""

    run: str
    seed: int
    round: int
    n_labeled: int
    epochs: int


@dataclass(frozen=True)
class EpochDone:
    """One training epoch finished with this mean loss."""

    epoch: int
    loss: float


@dataclass(frozen=True)
class Phase:
    """A named phase of a round starts: evaluate, pool pass, select."""

    text: str


@dataclass(frozen=True)
class RoundDone:
    """A round record was stored."""

    run: str
    seed: int
    round: int
    record: Any  # alseg.records.RoundRecord


@dataclass(frozen=True)
class RunDone:
    """A run ended in this invocation: done, error, timeout or skip, with a message."""

    run: str
    seed: int
    status: str
    message: str = ""


@dataclass(frozen=True)
class ReportWritten:
    """The leaderboard files were written; `tables` are renderables for a terminal."""

    experiment_dir: Path
    files: tuple[Path, ...]
    tables: tuple[Any, ...] = field(default=())


Event = DataLoading | DataLoaded | Note | BenchPlanned | RunStarted | RoundStarted | EpochDone | Phase | RoundDone \
    | RunDone | ReportWritten
Emit = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: drop every event."""


class Collect(list):
    """A sink that keeps every event (tests, notebooks)."""

    def __call__(self, event: Event) -> None:
        self.append(event)
