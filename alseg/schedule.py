"""Which runs a benchmark executes, in which order, and which of them start from the seed's shared round 0.

`plan_jobs` turns (strategies × seeds [+ ceiling]) into jobs and decides the sharing once; `execute_jobs`
runs them in this process, one after another, storing each round as it finishes (`--workers N` hands the same
jobs to `alseg.workers`). Only this process writes the experiment folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from alseg.errors import AlsegError
from alseg.events import Emit, Note, RunDone
from alseg.experiment import FULL_RUN, RunSetup
from alseg.round import DIAGNOSTIC_SIGNAL, RunPlan
from alseg.runner import RunStatus, execute_full, execute_isolated, execute_run
from alseg.shared_round import SharedRound, can_share, load_shared_round, save_shared_round
from alseg.store import atomic_write_text
from alseg.strategies.needs import needs_of
from alseg.strategies.registry import StrategySpec
from alseg.tasks import SharedTask, run_shared_task


@dataclass(frozen=True)
class Job:
    """One (strategy, seed) run, or the ceiling of a seed (spec None); `shares` when it starts from round 0."""

    spec: StrategySpec | None
    seed: int
    shares: bool = False

    @property
    def name(self) -> str:
        return self.spec.run_name if self.spec is not None else FULL_RUN


@dataclass
class JobPlan:
    """The jobs in order, and per seed the shared round 0 to compute or complete (absent: no sharing)."""

    jobs: list[Job]
    shared: dict[int, SharedTask] = field(default_factory=dict)


def plan_jobs(setup: RunSetup, specs: list[StrategySpec], share: bool) -> JobPlan:
    """Seed by seed: the strategies, then the ceiling; a seed shares round 0 when two or more runs can use it.

    A run can use it when its training has no unlabeled term and it has no stored round yet. A seed whose
    shared round is stored already serves even a single new run (it costs nothing more).
    """
    cfg, store = setup.cfg, setup.store
    jobs: list[Job] = []
    shared: dict[int, SharedTask] = {}
    for seed in range(cfg.seeds):
        sharers: list[StrategySpec] = []
        if share:
            for spec in specs:
                if can_share(needs_of(spec.build())) and not store.run_file(spec.run_name, seed).round_records():
                    sharers.append(spec)
        stored = load_shared_round(store.root, seed) if sharers else None
        use = len(sharers) >= 2 or (len(sharers) == 1 and stored is not None)
        if use:
            needs = [needs_of(spec.build()) for spec in sharers]
            shared[seed] = SharedTask(seed, set().union(*(n.pool_signals for n in needs)) | {DIAGNOSTIC_SIGNAL},
                                      set().union(*(n.labeled_signals for n in needs)), stored)
        jobs += [Job(spec, seed, use and spec in sharers) for spec in specs]
        if cfg.full:
            jobs.append(Job(None, seed))
    return JobPlan(jobs, shared)


def record_shared(setup: RunSetup, shared: SharedRound, users: list[str]) -> None:
    """Store the shared round (weights and signals under .shared/) and its cost and users in shared-round0.json."""
    shared.users = sorted(set(shared.users) | set(users))
    save_shared_round(setup.store.root, shared)
    path = setup.store.root / "shared-round0.json"
    try:
        summary = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        summary = {}
    summary[str(shared.seed)] = shared_entry(shared, summary.get(str(shared.seed)))
    atomic_write_text(path, json.dumps(summary, sort_keys=True, indent=1) + "\n")


def shared_entry(shared: SharedRound, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The seed's entry in shared-round0.json: cost, users, test Dice and where it was computed.

    A shared round 0 whose weights were lost (`.shared/` is not committed) is recomputed when a later run of the
    seed needs it; on another kind of CPU or thread count its model differs in the last bits and so, after
    training, in its Dice. Its users then are not the earlier ones: the earlier computation's entry is kept under
    `earlier`, so that its cost still counts and its users are still named.
    """
    entry: dict[str, Any] = {"t_train": round(shared.t_train, 3), "t_eval": round(shared.t_eval, 3),
                             "t_pool": round(shared.t_pool, 3), "users": shared.users}
    if "dice" in shared.metrics:
        entry["dice"] = shared.metrics["dice"]
    if shared.computed_on:
        entry["computed_on"] = shared.computed_on
    if stored:
        earlier = list(stored.get("earlier", []))
        previous = {k: v for k, v in stored.items() if k != "earlier"}
        if not set(previous.get("users", [])) <= set(shared.users):  # recomputed: the stored entry was another
            earlier.append(previous)
        if earlier:
            entry["earlier"] = earlier
    return entry


def ensure_shared(setup: RunSetup, task: SharedTask, users: list[str], emit: Emit) -> SharedRound | None:
    """The seed's shared round 0 with every signal its users need (computed here when missing), or None on failure.

    A failure (a diverging round 0, say) is not hidden: the runs then compute round 0 themselves and fail with
    their own message and status.
    """
    try:
        shared = run_shared_task(setup, task, emit)
    except AlsegError as err:
        emit(Note(f"the shared round 0 of seed {task.seed} failed ({err}); its runs compute round 0 themselves"))
        return None
    record_shared(setup, shared, users)
    return shared


def execute_jobs(setup: RunSetup, plan: JobPlan, emit: Emit, debug: bool) -> list[RunStatus]:
    """Run every job in this process in order, each isolated from the others' failures."""
    statuses: list[RunStatus] = []
    ready: dict[int, SharedRound | None] = {}
    for job in plan.jobs:
        shared = None
        if job.shares:
            if job.seed not in ready:
                users = [j.name for j in plan.jobs if j.seed == job.seed and j.shares]
                ready[job.seed] = ensure_shared(setup, plan.shared[job.seed], users, emit)
            shared = ready[job.seed]
        if job.spec is None:
            status = execute_isolated(FULL_RUN, job.seed, lambda w, seed=job.seed: execute_full(setup, seed, emit),
                                      setup.store, debug)
        else:
            status = execute_isolated(job.name, job.seed, lambda w, job=job, shared=shared: execute_run(
                RunPlan(setup, job.spec, job.seed, emit), w, shared), setup.store, debug)
        emit(RunDone(job.name, job.seed, status.status, status.message))
        statuses.append(status)
    return statuses
