"""What a worker executes: one run's missing rounds, or one seed's shared round 0, from picklable inputs.

The same functions run in-process, in a local worker process and in a Ray task. They read and write no store:
the stored state comes in (records, the last checkpoint's bytes, the shared round 0) and each finished round goes
out as a `RoundOut` for the one writer (the runner in the parent) to store before the next is computed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from alseg.environment import computed_on
from alseg.events import Emit
from alseg.experiment import RunSetup, init_seed, new_model
from alseg.loop import full_supervision, run_rounds
from alseg.models import SegModel
from alseg.records import RoundRecord
from alseg.round import RunPlan
from alseg.shared_round import SharedRound, add_extra_tests, add_signals, compute_shared_round
from alseg.strategies.registry import StrategySpec


def state_bytes(model: SegModel, round_: int) -> bytes:
    """A model's weights in the checkpoint format, {"round": r, "state_dict": ...} saved by torch."""
    buf = io.BytesIO()
    torch.save({"round": round_, "state_dict": model.state_dict()}, buf)
    return buf.getvalue()


def model_from_bytes(setup: RunSetup, seed: int, data: bytes) -> SegModel:
    """The config's model with the weights of a checkpoint's bytes, on the setup's device."""
    model = new_model(setup.cfg, init_seed(setup.data, seed), setup.device)
    model.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)["state_dict"])
    return model


@dataclass
class RunTask:
    """The missing rounds of one run: its strategy (None: the full-supervision ceiling) and stored state."""

    spec: StrategySpec | None
    seed: int
    records: list[dict[str, Any]] = field(default_factory=list)  # stored round records, as JSON objects
    checkpoint: bytes | None = None  # weights after the last stored round (fine-tuning)
    shared: SharedRound | None = None  # the seed's shared round 0, when the run starts there and can use it
    workers: int = 1  # how many runs were computed side by side on this machine (stored when > 1)
    replay: list[list[str]] | None = None  # --replay: the source run's selection of every round

    @property
    def name(self) -> str:
        from alseg.experiment import FULL_RUN

        return self.spec.run_name if self.spec is not None else FULL_RUN


@dataclass(frozen=True)
class RoundOut:
    """One finished round for the writer: the record and, when the next round fine-tunes from it, the weights."""

    record: RoundRecord
    state: bytes | None = None


@dataclass
class SharedTask:
    """Compute (or complete with missing signals) the shared round 0 of one seed."""

    seed: int
    pool_keys: set[str]
    labeled_keys: set[str]
    existing: SharedRound | None = None

    @property
    def name(self) -> str:
        return "shared round 0"


def run_task(setup: RunSetup, task: RunTask, emit: Emit) -> Iterator[RoundOut]:
    """Compute the task's missing rounds, yielding each as it finishes (nothing is written here)."""
    if task.spec is None:
        for result in full_supervision(setup, task.seed, emit):
            yield RoundOut(_timed(result.record, task.workers, setup.device))
        return
    plan = RunPlan(setup, task.spec, task.seed, emit, replay=task.replay)
    records = [RoundRecord.from_json(obj) for obj in task.records]
    model = model_from_bytes(setup, task.seed, task.checkpoint) if task.checkpoint is not None else None
    last = setup.cfg.rounds
    shared = task.shared if not records else None  # only a run that starts at round 0 starts from it
    for result in run_rounds(plan, records, model, shared):
        r = result.record.round
        keep = r < last and setup.cfg.train_mode == "finetune"
        yield RoundOut(_timed(result.record, task.workers, setup.device, shared),
                       state_bytes(result.model, r) if keep else None)


def run_shared_task(setup: RunSetup, task: SharedTask, emit: Emit) -> SharedRound:
    """The seed's shared round 0 with every requested signal: completed if stored, else computed."""
    if task.existing is not None:
        add_signals(task.existing, setup, task.pool_keys, task.labeled_keys, emit)
        add_extra_tests(task.existing, setup, emit)
        return task.existing
    return compute_shared_round(setup, task.seed, task.pool_keys, task.labeled_keys, emit)


def _timed(record: RoundRecord, workers: int, device: torch.device,
           shared: SharedRound | None = None) -> RoundRecord:
    """The record, saying where it was computed and how many runs shared the machine (only when more than one).

    A round 0 taken from the seed's shared first round says where that one was computed, when it is known.
    """
    from_shared = shared is not None and record.round == 0 and shared.computed_on
    extra = {**record.extra, "computed_on": shared.computed_on if from_shared else computed_on(device)}
    if workers > 1:
        extra["workers"] = workers
    return replace(record, extra=extra)
