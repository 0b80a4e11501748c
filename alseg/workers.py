"""`--workers N`: independent runs in N local worker processes; this process alone writes the store.

Each worker is a fresh interpreter (spawn: no forked OpenMP or CUDA state) that receives the config and the
loaded dataset once, then computes tasks (`alseg.tasks`) and sends every finished round back. The parent
keeps at most N tasks in flight, in the jobs' order (a seed's shared round 0 before the runs that start from
it), stores each round as it arrives, and writes each run's status. A worker that dies (killed, out of memory)
is replaced and its run resubmitted from the rounds already stored, up to `RETRIES` times.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from dataclasses import dataclass, field
from typing import Any

from alseg.errors import AlsegUsageError
from alseg.events import Emit, Note, RunDone
from alseg.experiment import FULL_RUN, RunSetup
from alseg.faults import ENV as FAULT_ENV
from alseg.precision import Precision
from alseg.round import RunPlan
from alseg.runner import (
    RunStatus,
    failure_status,
    finish_status,
    mark_interrupted,
    prepare_task,
    store_round,
)
from alseg.schedule import Job, JobPlan, record_shared
from alseg.shared_round import SharedRound
from alseg.tasks import RunTask, SharedTask, run_shared_task, run_task

RETRIES = 2  # resubmissions of a run whose worker process died
POLL_S = 1.0  # how often the parent checks that its workers are alive while it waits


def machine_cores() -> int:
    """CPU cores this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def worker_threads(workers: int, threads: int, cores: int, device_type: str) -> int:
    """torch threads per worker: the given --threads, or cores // workers; refuses N × threads > cores on a CPU.

    Two processes that each spin two OpenMP threads on two cores slow each other down 10–50× (threads busy-wait
    for a core the other process holds), so the product never exceeds the cores.
    """
    if threads == 0:
        threads = max(1, cores // workers)
    if device_type == "cpu" and workers * threads > cores:
        raise AlsegUsageError(
            f"--workers {workers} × --threads {threads} = {workers * threads} threads on {cores} CPU core(s): "
            f"oversubscribed OpenMP threads slow every worker down 10-50x; use --threads {max(1, cores // workers)}"
            + (f" or --workers {cores}" if workers > cores else ""))
    return threads


def worker_devices(devices: str, workers: int, device: str) -> list[str]:
    """The device of each worker: --devices cuda:0,cuda:1 round-robin, else every worker on the run's device."""
    names = [d.strip() for d in devices.split(",") if d.strip()] if devices else [device]
    return [names[i % len(names)] for i in range(workers)]


@dataclass
class _Worker:
    """One worker process, its device, and the task it is computing (None when idle)."""

    process: Any
    device: str
    job: Job | None = None
    task: RunTask | SharedTask | None = None


@dataclass
class _State:
    """The parent's bookkeeping: jobs waiting, shared rounds ready, retries used, statuses written."""

    waiting: list[Job]
    shared: dict[int, SharedRound | None] = field(default_factory=dict)
    pending_shared: set[int] = field(default_factory=set)
    retries: dict[tuple[str, int], int] = field(default_factory=dict)
    warnings: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    statuses: list[RunStatus] = field(default_factory=list)


def _worker_main(index: int, generation: int, cfg: Any, data: Any, device: str, precision: str, threads: int,
                 tasks: Any, results: Any) -> None:
    """A worker's loop: take a task, compute it, send each finished round back; None ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    if generation:  # a replacement worker: an injected crash (ALSEG_FAULT, tests) hits the first one only
        os.environ.pop(FAULT_ENV, None)
    import torch

    from alseg.environment import configure_torch

    dev = torch.device(device)
    configure_torch(dev, threads, cfg.deterministic)
    setup = RunSetup(cfg, data, dev, None, Precision(precision))  # type: ignore[arg-type]  # no store here
    while True:
        item = tasks.get()
        if item is None:
            return
        key, task = item
        try:
            if isinstance(task, SharedTask):
                results.put(("shared", index, key, run_shared_task(setup, task, _ignore)))
                continue
            for out in run_task(setup, task, _ignore):
                results.put(("round", index, key, out))
            results.put(("end", index, key, ("done", "")))
        except BaseException as err:  # every failure is reported to the parent, which stores it
            try:
                results.put(("end", index, key, failure_status(key[0], key[1], err)))
            except BaseException as unexpected:  # failure_status re-raises in debug paths only
                results.put(("end", index, key, ("error", f"{key[0]} seed {key[1]}: {unexpected}")))


def _ignore(event: object) -> None:
    """Workers send rounds, not progress events: the parent draws its bars from the rounds it stores."""


def execute_parallel(setup: RunSetup, plan: JobPlan, emit: Emit, debug: bool) -> list[RunStatus]:
    """Run the plan's jobs in `cfg.workers` processes; returns the statuses in the order the runs ended."""
    cfg = setup.cfg
    n = min(cfg.workers, max(1, len(plan.jobs)))
    threads = worker_threads(cfg.workers, cfg.threads, machine_cores(), setup.device.type)
    devices = worker_devices(cfg.devices, n, str(setup.device))
    emit(Note(f"{n} worker processes, {threads} torch thread(s) each, on {', '.join(sorted(set(devices)))}"))
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()

    generations = [0] * n

    def start(i: int) -> _Worker:
        proc = ctx.Process(target=_worker_main, daemon=True, name=f"alseg-worker-{i}",
                           args=(i, generations[i], cfg, setup.data, devices[i], setup.precision.name, threads,
                                 tasks, results))
        generations[i] += 1
        proc.start()
        return _Worker(proc, devices[i])

    workers = [start(i) for i in range(n)]
    state = _State(list(plan.jobs))
    try:
        _dispatch(setup, plan, state, workers, tasks, n, emit)
        while any(w.job is not None or w.task is not None for w in workers):
            try:
                kind, index, key, payload = results.get(timeout=POLL_S)
            except queue.Empty:
                _replace_dead(setup, state, workers, start, emit)
            else:
                _receive(setup, plan, state, workers[index], kind, key, payload, emit)
            _dispatch(setup, plan, state, workers, tasks, n, emit)
    except KeyboardInterrupt as stop:
        for w in workers:
            if w.job is not None:
                mark_interrupted(setup.store, w.job.name, w.job.seed, stop)
        raise
    finally:
        for _ in workers:
            tasks.put(None)
        for w in workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
    return state.statuses


def _dispatch(setup: RunSetup, plan: JobPlan, state: _State, workers: list[_Worker], tasks: Any, n: int,
              emit: Emit) -> None:
    """Hand the next ready tasks to idle workers (a sharing run waits for its seed's shared round)."""
    for w in workers:
        if w.job is not None or w.task is not None:
            continue
        task = _next_task(setup, plan, state, emit)
        if task is None:
            return
        job, item = task
        w.job, w.task = job, item
        tasks.put(((job.name if job else "shared round 0", job.seed if job else item.seed), item))


def _next_task(setup: RunSetup, plan: JobPlan, state: _State, emit: Emit
               ) -> tuple[Job | None, RunTask | SharedTask] | None:
    """The first job whose inputs are ready (preparing its stored state now), or a shared round to compute."""
    for i, job in enumerate(state.waiting):
        if job.shares and job.seed not in state.shared:
            if job.seed not in state.pending_shared:
                state.pending_shared.add(job.seed)
                return None, plan.shared[job.seed]
            continue  # its shared round is being computed; later jobs may be ready
        del state.waiting[i]
        key = (job.name, job.seed)
        warnings = state.warnings.setdefault(key, [])
        if job.spec is None:
            done = setup.store.run_file(FULL_RUN, job.seed).records()
            task: RunTask | None = None if done else RunTask(None, job.seed, workers=setup.cfg.workers)
        else:
            try:
                task = prepare_task(RunPlan(setup, job.spec, job.seed, emit), warnings,
                                    state.shared.get(job.seed) if job.shares else None, setup.cfg.workers)
            except Exception as err:  # a run that cannot even start is that run's failure
                _finish(setup, state, job, *failure_status(job.name, job.seed, err), emit)
                return _next_task(setup, plan, state, emit)
        if task is None:  # every round is stored already
            _finish(setup, state, job, "done", "", emit)
            return _next_task(setup, plan, state, emit)
        return job, task
    return None


def _receive(setup: RunSetup, plan: JobPlan, state: _State, worker: _Worker, kind: str, key: tuple[str, int],
             payload: Any, emit: Emit) -> None:
    """Store what a worker sent: a shared round, a finished round, or the end of its run."""
    if kind == "shared":
        seed = payload.seed
        users = [j.name for j in plan.jobs if j.seed == seed and j.shares]
        record_shared(setup, payload, users)
        state.shared[seed] = payload
        worker.job = worker.task = None
    elif kind == "end" and worker.job is None:  # the shared round failed: its runs compute round 0 themselves
        seed = worker.task.seed  # type: ignore[union-attr]
        emit(Note(f"the shared round 0 of seed {seed} failed ({payload[1]}); its runs compute round 0 themselves"))
        state.shared[seed] = None
        worker.task = None
    elif kind == "round":
        store_round(setup, key[0], key[1], payload, emit)
    else:
        status, message = payload
        if status == "done":
            setup.store.remove_checkpoints(key[0], key[1])
        _finish(setup, state, worker.job, status, message, emit)  # type: ignore[arg-type]
        worker.job = worker.task = None


def _finish(setup: RunSetup, state: _State, job: Job, status: str, message: str, emit: Emit) -> None:
    """Write a run's status and tell the listeners it ended."""
    warnings = state.warnings.get((job.name, job.seed), [])
    run = finish_status(setup.store, job.name, job.seed, status, message, warnings)
    state.statuses.append(run)
    emit(RunDone(job.name, job.seed, status, message))


def _replace_dead(setup: RunSetup, state: _State, workers: list[_Worker], start: Any, emit: Emit) -> None:
    """Replace workers that died; resubmit their run from its stored rounds, or fail it after RETRIES tries."""
    for i, w in enumerate(workers):
        if w.process.is_alive():
            continue
        code = w.process.exitcode
        job, task = w.job, w.task
        workers[i] = start(i)
        if job is None and task is None:
            continue
        if job is None:  # a shared round: compute it again (same seeds, same result)
            state.pending_shared.discard(task.seed)  # type: ignore[union-attr]
            continue
        key = (job.name, job.seed)
        state.retries[key] = state.retries.get(key, 0) + 1
        if state.retries[key] > RETRIES:
            _finish(setup, state, job, "error", f"{job.name} seed {job.seed}: its worker process died "
                    f"{state.retries[key]} times (last exit code {code}); stored rounds are kept", emit)
        else:
            emit(Note(f"{job.name} seed {job.seed}: its worker process died (exit code {code}); resubmitted from "
                      "its stored rounds"))
            state.waiting.insert(0, job)
