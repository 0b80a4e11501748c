"""The local backend: tasks in N spawned worker processes on this machine, each with its own two pipes.

Each worker is a fresh interpreter (spawn: no forked OpenMP or CUDA state) that receives the config and the loaded
dataset once, then computes the tasks it is sent (`alseg.executors.work`) and sends every message back. Private
pipes (not one shared queue) give each task to the worker the driver chose, and a worker killed mid-send cannot
leave a shared lock held or a torn message for the others. A dead worker is replaced; its task is reported as
'died' for the scheduler to resubmit.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from alseg.executors.scheduler import Message, Task
from alseg.executors.work import work, worker_setup
from alseg.experiment import RunSetup
from alseg.faults import ENV as FAULT_ENV

JOIN_S = 5.0  # how long close() waits for a worker to exit before killing it


@dataclass
class _Worker:
    """One worker process, its pipes (tasks in, messages out) and the ticket it computes (None when idle)."""

    process: Any
    tasks: Connection
    results: Connection
    ticket: int | None = None


def _worker_main(generation: int, cfg: Any, data: Any, device: str, precision: str, threads: int,
                 tasks: Connection, results: Connection, extra_tests: tuple[Any, ...] = ()) -> None:
    """A worker's loop: take a task, compute it, send each message back; None (or a closed pipe) ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    if generation:  # a replacement worker: an injected crash (ALSEG_FAULT, tests) hits the first one only
        os.environ.pop(FAULT_ENV, None)
    setup = worker_setup(cfg, data, device, precision, threads, extra_tests)
    while True:
        try:
            item = tasks.recv()
        except EOFError:
            return
        if item is None:
            return
        ticket, task = item
        for kind, payload in work(setup, task):
            results.send((kind, ticket, payload))


class LocalBackend:
    """`len(devices)` worker processes, worker i on devices[i], each with `threads` torch threads."""

    def __init__(self, setup: RunSetup, devices: list[str], threads: int) -> None:
        self.setup, self.devices, self.threads = setup, devices, threads
        self.slots = len(devices)
        self.ctx = mp.get_context("spawn")
        self.generations = [0] * self.slots
        self.workers = [self._start(i) for i in range(self.slots)]

    def _start(self, i: int) -> _Worker:
        """Start worker i (its next generation)."""
        task_out, task_in = self.ctx.Pipe(duplex=False)
        result_out, result_in = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_worker_main, daemon=True, name=f"alseg-worker-{i}",
                                args=(self.generations[i], self.setup.cfg, self.setup.data, self.devices[i],
                                      self.setup.precision.name, self.threads, task_out, result_in,
                                      self.setup.extra_tests))
        self.generations[i] += 1
        proc.start()
        task_out.close()  # the child's ends: closing ours lets a dead child show as end-of-file
        result_in.close()
        return _Worker(proc, task_in, result_out)

    def submit(self, ticket: int, task: Task, attempt: int) -> None:
        """Send the task to an idle worker (a dead one is found by the next poll, which reports the task)."""
        worker = next(w for w in self.workers if w.ticket is None)
        worker.ticket = ticket
        try:
            worker.tasks.send((ticket, task))
        except OSError:  # BrokenPipeError: it died while idle
            pass

    def poll(self, timeout: float) -> list[Message]:
        """Messages from every worker that sent some (up to `timeout` s), then 'died' for each dead worker."""
        wait([w.results for w in self.workers] + [w.process.sentinel for w in self.workers], timeout)
        messages: list[Message] = []
        for i, w in enumerate(self.workers):
            alive = w.process.is_alive()  # checked first: what a dead worker sent before dying is drained below
            while w.results.poll():
                try:
                    kind, ticket, payload = w.results.recv()
                except (EOFError, OSError):
                    break
                messages.append(Message(kind, ticket, payload))
                if kind in ("shared", "end"):
                    w.ticket = None
            if not alive:
                if w.ticket is not None:
                    messages.append(Message("died", w.ticket, f"exit code {w.process.exitcode}"))
                self._close_worker(w)
                self.workers[i] = self._start(i)
        return messages

    def close(self) -> None:
        """Ask every worker to stop, wait a little, then kill those still running."""
        for w in self.workers:
            try:
                w.tasks.send(None)
            except OSError:
                pass
        for w in self.workers:
            w.process.join(timeout=JOIN_S)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=JOIN_S)
            self._close_worker(w)

    @staticmethod
    def _close_worker(w: _Worker) -> None:
        """Close the driver's ends of a worker's pipes."""
        w.tasks.close()
        w.results.close()
