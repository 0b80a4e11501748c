"""`--workers N`: independent runs in N local worker processes; this process alone writes the store.

The rules for how many torch threads each worker gets and which device, and `execute_parallel`, which hands the
plan to the shared scheduling loop (`alseg.executors.scheduler`: job order, the shared round 0, storing, retries)
over the local process backend (`alseg.executors.local`). A worker that dies (killed, out of memory) is replaced
and its run resubmitted from the rounds already stored, up to `RETRIES` times.
"""

from __future__ import annotations

import os

from alseg.errors import AlsegUsageError
from alseg.events import Emit, Note
from alseg.executors.local import LocalBackend
from alseg.executors.scheduler import RETRIES, schedule
from alseg.experiment import RunSetup
from alseg.runner import RunStatus
from alseg.schedule import JobPlan

__all__ = ["RETRIES", "execute_parallel", "machine_cores", "worker_devices", "worker_threads"]


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
            "oversubscribed OpenMP threads slow every worker down 10-50x; "
            + (f"use --workers {cores} --threads 1" if workers > cores else f"use --threads {cores // workers}"))
    return threads


def worker_devices(devices: str, workers: int, device: str) -> list[str]:
    """The device of each worker: --devices cuda:0,cuda:1 round-robin, else every worker on the run's device."""
    names = [d.strip() for d in devices.split(",") if d.strip()] if devices else [device]
    return [names[i % len(names)] for i in range(workers)]


def execute_parallel(setup: RunSetup, plan: JobPlan, emit: Emit, debug: bool) -> list[RunStatus]:
    """Run the plan's jobs in `cfg.workers` processes; returns the statuses in the order the runs ended."""
    cfg = setup.cfg
    n = min(cfg.workers, max(1, len(plan.jobs)))
    threads = worker_threads(cfg.workers, cfg.threads, machine_cores(), setup.device.type)
    devices = worker_devices(cfg.devices, n, str(setup.device))
    emit(Note(f"{n} worker processes, {threads} torch thread(s) each, on {', '.join(sorted(set(devices)))}"))
    return schedule(setup, plan, LocalBackend(setup, devices, threads), emit)
