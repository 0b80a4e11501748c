"""What a worker does with one task, the same in a local worker process and in a Ray task: the messages it sends.

A run task yields ("round", RoundOut) per finished round, then ("end", (status, message)); a shared round 0 task
yields ("shared", SharedRound), or ("end", (status, message)) when it fails. Every failure is a message, never an
exception, so the driver stores it as that run's status and the other runs go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alseg.datasets.base import SegDataset
from alseg.experiment import RunSetup
from alseg.precision import Precision
from alseg.runner import failure_status
from alseg.tasks import RunTask, SharedTask, run_shared_task, run_task

Task = RunTask | SharedTask


def task_key(task: Task) -> tuple[str, int]:
    """(name, seed) of a task, as status messages name it."""
    return task.name, task.seed


def worker_setup(cfg: Any, data: SegDataset, device: str, precision: str, threads: int,
                 extra_tests: tuple[Any, ...] = ()) -> RunSetup:
    """The RunSetup a worker computes with (no store: the driver writes), after setting torch's threads."""
    import torch

    from alseg.environment import configure_torch

    dev = torch.device(device)
    configure_torch(dev, threads, cfg.deterministic)
    return RunSetup(cfg, data, dev, None, Precision(precision), tuple(extra_tests))  # type: ignore[arg-type]


def work(setup: RunSetup, task: Task) -> Iterator[tuple[str, Any]]:
    """Compute one task, yielding each message for the driver as soon as it exists."""
    name, seed = task_key(task)
    try:
        if isinstance(task, SharedTask):
            yield "shared", run_shared_task(setup, task, _ignore)
            return
        for out in run_task(setup, task, _ignore):
            yield "round", out
        yield "end", ("done", "")
    except GeneratorExit:  # the driver closed or cancelled this task: nothing more to send
        raise
    except BaseException as err:  # every failure is reported to the driver, which stores it
        try:
            yield "end", failure_status(name, seed, err)
        except BaseException as unexpected:  # failure_status re-raises KeyboardInterrupt only
            yield "end", ("error", f"{name} seed {seed}: {type(unexpected).__name__}: {unexpected}")


def _ignore(event: object) -> None:
    """Workers send rounds, not progress events: the driver draws its bars from the rounds it stores."""
