"""The runner: the one owner of the store while runs execute.

It restores a run's state from its stored records and checkpoint, consumes the loop's round results,
and writes each one (checkpoint first, then the record line) before the loop computes the next. A run
that fails is stored with its status and message, and the others go on.
"""

from __future__ import annotations

import io
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from alseg.errors import AlsegError, Terminated
from alseg.events import Emit, Note, RoundDone, RunStarted
from alseg.experiment import FULL_RUN, RunSetup
from alseg.models import SegModel
from alseg.records import RoundRecord
from alseg.replay import replay_selections
from alseg.round import RunPlan, SelectionTimeout
from alseg.shared_round import SharedRound
from alseg.store import ExperimentStore, RunFile, atomic_write_bytes
from alseg.tasks import RoundOut, RunTask, run_task, state_bytes


@dataclass
class RunStatus:
    """How one (strategy, seed) run ended in this invocation."""

    strategy: str
    seed: int
    status: str
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def save_checkpoint(model: SegModel, path: Path, round_: int) -> None:
    """Model weights after a round, written atomically."""
    buf = io.BytesIO()
    torch.save({"round": round_, "state_dict": model.state_dict()}, buf)
    atomic_write_bytes(path, buf.getvalue(), fault="checkpoint-write")


def load_checkpoint(plan: RunPlan, path: Path) -> SegModel | None:
    """The model stored at `path`, or None when the file is missing or cannot be read into the model."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = plan.fresh_model()
        model.load_state_dict(state["state_dict"])
    except Exception:  # a torn, truncated or foreign file: any failure means "not usable"
        return None
    return model


def restore(plan: RunPlan, file: RunFile, records: list[RoundRecord],
            warnings: list[str]) -> tuple[list[RoundRecord], SegModel | None]:
    """The stored rounds to continue from and the model after the last of them.

    Fine-tuning needs the checkpoint of the last stored round. When it is missing or corrupt (a run
    file committed half-way, a disk problem), the run restarts from the newest round whose checkpoint
    loads, or from round 0, with a warning; the rounds after it are recomputed (same seeds, same
    streams), never mixed with a model they did not come from.
    """
    if not records or plan.setup.cfg.train_mode == "reset":
        return records, None
    store = plan.setup.store
    for j in range(len(records) - 1, -1, -1):
        model = load_checkpoint(plan, store.checkpoint_path(plan.spec.run_name, plan.seed, j))
        if model is not None:
            break
    else:
        j, model = -1, None
    if j == len(records) - 1:
        return records, model
    last = len(records) - 1
    ckpt = store.checkpoint_path(plan.spec.run_name, plan.seed, last)
    why = "is missing" if not ckpt.exists() else "cannot be read"
    text = (f"{plan.where}: the checkpoint after round {last} ({ckpt}) {why}; restarting from "
            + (f"round {j + 1} (the newest checkpoint that loads)" if j >= 0 else "round 0")
            + f", recomputing {last - j} stored round(s) with the same seeds")
    warnings.append(text)
    plan.emit(Note(text))
    file.keep_first(j + 1)
    return records[: j + 1], model


def prepare_task(plan: RunPlan, warnings: list[str], shared: SharedRound | None = None,
                 workers: int = 1) -> RunTask | None:
    """The stored state of one run as a task for any executor, or None when every round is stored."""
    store = plan.setup.store
    name, seed = plan.spec.run_name, plan.seed
    file = store.run_file(name, seed)
    records = file.round_records()
    total = plan.setup.cfg.rounds + 1
    plan.emit(RunStarted(name, seed, total, len(records)))
    if len(records) >= total:
        store.remove_checkpoints(name, seed)  # a crash may have left one
        return None
    records, model = restore(plan, file, records, warnings)
    replay = replay_selections(plan.setup, name, seed) if plan.setup.replay_from is not None else None
    return RunTask(plan.spec, seed, [rec.to_json() for rec in records],
                   state_bytes(model, len(records) - 1) if model is not None else None,
                   shared if not records else None, workers, replay)


def store_round(setup: RunSetup, name: str, seed: int, out: RoundOut, emit: Emit) -> None:
    """Write one finished round: its checkpoint first (when the next round fine-tunes from it), then the record."""
    store, r = setup.store, out.record.round
    if out.state is not None:
        atomic_write_bytes(store.checkpoint_path(name, seed, r), out.state, fault="checkpoint-write")
    store.run_file(name, seed).append(out.record)
    store.remove_checkpoints(name, seed, keep=r)
    emit(RoundDone(name, seed, r, out.record))


def execute_run(plan: RunPlan, warnings: list[str], shared: SharedRound | None = None) -> tuple[str, str]:
    """Run the missing rounds of one run in this process, storing each; returns (status, message)."""
    task = prepare_task(plan, warnings, shared)
    if task is not None:
        for out in run_task(plan.setup, task, plan.emit):
            store_round(plan.setup, task.name, task.seed, out, plan.emit)
        plan.setup.store.remove_checkpoints(task.name, task.seed)
    return "done", ""


def execute_full(setup: RunSetup, seed: int, emit: Emit) -> tuple[str, str]:
    """The full-supervision ceiling of one seed, stored as a one-round run named 'full'."""
    file = setup.store.run_file(FULL_RUN, seed)
    done = len(file.records())
    emit(RunStarted(FULL_RUN, seed, 1, done))
    if done:
        return "done", ""
    for out in run_task(setup, RunTask(None, seed), emit):
        store_round(setup, FULL_RUN, seed, out, emit)
    return "done", ""


def failure_status(name: str, seed: int, err: BaseException, debug: bool = False) -> tuple[str, str]:
    """(status, message) of a run that raised `err`: timeout, error with its message, or error naming the line.

    KeyboardInterrupt is not a run failure and is re-raised; with `debug`, unexpected exceptions are too.
    """
    if isinstance(err, KeyboardInterrupt):
        raise err
    if isinstance(err, SelectionTimeout):
        status, message = "timeout", str(err)
    elif isinstance(err, AlsegError):  # StrategyContractError, NonFiniteLossError, a usage error inside a run
        status, message = "error", str(err)
    else:  # a strategy (or plugin) may fail in any way; keep the others going
        if debug:
            raise err
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
        status = "error"
        message = (f"{name} seed {seed}: {type(err).__name__}: {err}{where}; "
                   "rerun with ALSEG_DEBUG=1 for the traceback")
    if not message.startswith(name):
        message = f"{name} seed {seed}: {message}"
    return status, message


def execute_isolated(name: str, seed: int, job: Callable[[list[str]], tuple[str, str]], store: ExperimentStore,
                     debug: bool = False) -> RunStatus:
    """Run one job; a failure ends only this run, is stored with its status, and the others go on.

    Every global check (strategies, data, model, protocol) runs before the first job, so any exception
    out of a job, usage errors and SystemExit from strategy code included, belongs to that run alone.
    Only Ctrl-C or SIGTERM stops the benchmark (after marking the run interrupted).
    """
    warnings: list[str] = []
    try:
        status, message = job(warnings)
    except KeyboardInterrupt as stop:
        mark_interrupted(store, name, seed, stop)
        raise
    except (Exception, SystemExit) as err:
        status, message = failure_status(name, seed, err, debug)
    return finish_status(store, name, seed, status, message, warnings)


def mark_interrupted(store: ExperimentStore, name: str, seed: int, stop: BaseException) -> None:
    """Store that a run was stopped by the user or SIGTERM, and how to resume it."""
    how = "SIGTERM" if isinstance(stop, Terminated) else "the user (Ctrl-C)"
    store.run_file(name, seed).set_status("interrupted", f"stopped by {how}; rerun the same command to resume",
                                          strategy=name, seed=seed)


def finish_status(store: ExperimentStore, name: str, seed: int, status: str, message: str, warnings: list[str],
                  **extra: object) -> RunStatus:
    """Write a run's status file (rounds stored, warnings, extra facts such as a shared round 0) and return it."""
    file = store.run_file(name, seed)
    if warnings:
        extra["warnings"] = warnings
    file.set_status(status, message, strategy=name, seed=seed, rounds=len(file.records()), **extra)
    return RunStatus(name, seed, status, message, warnings)
