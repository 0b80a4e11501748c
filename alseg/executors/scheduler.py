"""The scheduling loop of every out-of-process executor, written once; a backend (processes, Ray) only computes.

The loop keeps at most `backend.slots` tasks in flight, in the jobs' order (a seed's shared round 0 before the
runs that start from it; a run waiting for it lets later ready runs go first), stores each round through the
runner as it arrives (this process alone writes the store), and writes each run's status. A run whose worker
died (killed, out of memory, a lost node) is resubmitted from the rounds stored so far, up to RETRIES times; a
shared round 0 likewise, after which its runs compute round 0 themselves.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

from alseg.events import Emit, Note, RunDone
from alseg.experiment import FULL_RUN, RunSetup
from alseg.round import RunPlan
from alseg.runner import RunStatus, failure_status, finish_status, mark_interrupted, prepare_task, store_round
from alseg.schedule import Job, JobPlan, record_shared
from alseg.shared_round import SharedRound
from alseg.tasks import RunTask, SharedTask

RETRIES = 2  # resubmissions of a run (or shared round 0) whose worker died
POLL_S = 1.0  # how long one poll of the backend waits for a message

Task = RunTask | SharedTask


@dataclass(frozen=True)
class Message:
    """What a backend reports for a ticket.

    kind: 'shared' (payload: the SharedRound), 'round' (a RoundOut), 'end' ((status, message): the task is over)
    or 'died' (payload: why, in words, e.g. 'exit code -9': the worker vanished and the task with it).
    """

    kind: str
    ticket: int
    payload: Any


class Backend(Protocol):
    """Computes submitted tasks somewhere and reports back; stores nothing."""

    slots: int  # the most tasks in flight at once

    def submit(self, ticket: int, task: Task, attempt: int) -> None:
        """Start computing `task` (attempt 0 first, 1, 2, ... when resubmitted after its worker died)."""

    def poll(self, timeout: float) -> list[Message]:
        """The messages that arrived, waiting up to `timeout` seconds for the first."""

    def close(self) -> None:
        """Stop every worker (tasks still in flight are abandoned)."""


@dataclass
class _Flight:
    """A submitted task: the job it computes (None for a seed's shared round 0) and the task itself."""

    job: Job | None
    task: Task


@dataclass
class _State:
    """The driver's bookkeeping: jobs waiting, tasks in flight, shared rounds ready, retries used, statuses."""

    waiting: list[Job]
    flights: dict[int, _Flight] = field(default_factory=dict)
    shared: dict[int, SharedRound | None] = field(default_factory=dict)
    pending_shared: set[int] = field(default_factory=set)
    retries: dict[tuple[str, int], int] = field(default_factory=dict)
    warnings: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    statuses: list[RunStatus] = field(default_factory=list)


def schedule(setup: RunSetup, plan: JobPlan, backend: Backend, emit: Emit) -> list[RunStatus]:
    """Run the plan's jobs on `backend`; returns the statuses in the order the runs ended."""
    return _Scheduler(setup, plan, backend, emit).run()


class _Scheduler:
    """One benchmark's scheduling loop over one backend."""

    def __init__(self, setup: RunSetup, plan: JobPlan, backend: Backend, emit: Emit) -> None:
        self.setup, self.plan, self.backend, self.emit = setup, plan, backend, emit
        self.state = _State(list(plan.jobs))
        self.tickets = itertools.count()

    def run(self) -> list[RunStatus]:
        """Dispatch, receive and store until every job has ended; Ctrl-C marks the runs in flight interrupted."""
        state = self.state
        try:
            self.dispatch()
            while state.flights:
                for message in self.backend.poll(POLL_S):
                    self.receive(message)
                self.dispatch()
        except KeyboardInterrupt as stop:
            for flight in state.flights.values():
                if flight.job is not None:
                    mark_interrupted(self.setup.store, flight.job.name, flight.job.seed, stop)
            raise
        finally:
            self.backend.close()
        return state.statuses

    def dispatch(self) -> None:
        """Submit the next ready tasks while fewer than `slots` are in flight."""
        while len(self.state.flights) < self.backend.slots:
            ready = self.next_task()
            if ready is None:
                return
            job, task = ready
            ticket = next(self.tickets)
            self.state.flights[ticket] = _Flight(job, task)
            key = (job.name, job.seed) if job is not None else (task.name, task.seed)
            self.backend.submit(ticket, task, self.state.retries.get(key, 0))

    def next_task(self) -> tuple[Job | None, Task] | None:
        """The first job whose inputs are ready (its stored state prepared now), or a shared round to compute."""
        state, setup = self.state, self.setup
        for i, job in enumerate(state.waiting):
            if job.shares and job.seed not in state.shared:
                if job.seed not in state.pending_shared:
                    state.pending_shared.add(job.seed)
                    return None, self.plan.shared[job.seed]
                continue  # its shared round is being computed; later jobs may be ready
            del state.waiting[i]
            warnings = state.warnings.setdefault((job.name, job.seed), [])
            if job.spec is None:
                done = setup.store.run_file(FULL_RUN, job.seed).records()
                task: RunTask | None = None if done else RunTask(None, job.seed, workers=setup.cfg.workers)
            else:
                try:
                    task = prepare_task(RunPlan(setup, job.spec, job.seed, self.emit), warnings,
                                        state.shared.get(job.seed) if job.shares else None, setup.cfg.workers)
                except Exception as err:  # a run that cannot even start is that run's failure
                    self.finish(job, *failure_status(job.name, job.seed, err))
                    return self.next_task()
            if task is None:  # every round is stored already
                self.finish(job, "done", "")
                return self.next_task()
            return job, task
        return None

    def receive(self, message: Message) -> None:
        """Store what a task sent: a shared round, a finished round, its end, or that its worker died."""
        flight = self.state.flights.get(message.ticket)
        if flight is None:  # a late message of a task already ended or given up
            return
        if message.kind == "round":
            assert flight.job is not None
            store_round(self.setup, flight.job.name, flight.job.seed, message.payload, self.emit)
            return
        del self.state.flights[message.ticket]
        if message.kind == "died":
            self.died(flight, str(message.payload))
        elif flight.job is None:
            self.shared_ended(flight.task, message)
        else:
            status, text = message.payload
            if status == "done":
                self.setup.store.remove_checkpoints(flight.job.name, flight.job.seed)
            elif not text.startswith(flight.job.name):
                text = f"{flight.job.name} seed {flight.job.seed}: {text}"
            self.finish(flight.job, status, text)

    def shared_ended(self, task: Task, message: Message) -> None:
        """A shared round 0 arrived (stored now), or failed: then its runs compute round 0 themselves."""
        seed = task.seed
        if message.kind == "shared":
            users = [j.name for j in self.plan.jobs if j.seed == seed and j.shares]
            record_shared(self.setup, message.payload, users)
            self.state.shared[seed] = message.payload
        else:
            self.emit(Note(f"the shared round 0 of seed {seed} failed ({message.payload[1]}); its runs compute "
                           "round 0 themselves"))
            self.state.shared[seed] = None

    def died(self, flight: _Flight, why: str) -> None:
        """Resubmit the task of a dead worker (a run from its stored rounds), or give up after RETRIES tries."""
        state = self.state
        job, task = flight.job, flight.task
        key = (job.name, job.seed) if job is not None else (task.name, task.seed)
        state.retries[key] = state.retries.get(key, 0) + 1
        tries = state.retries[key]
        if job is None:  # a shared round 0: compute it again (same seeds, same result), or let its runs do it
            state.pending_shared.discard(task.seed)
            if tries > RETRIES:
                self.emit(Note(f"the shared round 0 of seed {task.seed}: its worker process died {tries} times "
                               f"(last: {why}); its runs compute round 0 themselves"))
                state.shared[task.seed] = None
            return
        if tries > RETRIES:
            self.finish(job, "error", f"{job.name} seed {job.seed}: its worker process died {tries} times "
                        f"(last: {why}); stored rounds are kept")
        else:
            self.emit(Note(f"{job.name} seed {job.seed}: its worker process died ({why}); resubmitted from its "
                           "stored rounds"))
            state.waiting.insert(0, job)

    def finish(self, job: Job, status: str, message: str) -> None:
        """Write a run's status and tell the listeners it ended."""
        warnings = self.state.warnings.get((job.name, job.seed), [])
        run = finish_status(self.setup.store, job.name, job.seed, status, message, warnings)
        self.state.statuses.append(run)
        self.emit(RunDone(job.name, job.seed, status, message))
