"""`--executor ray`: every run a Ray task, on a private local Ray or a cluster; the driver alone writes the store.

Each task asks Ray for `--threads` CPUs (and one GPU on a GPU device); the dataset is put in Ray's object store
once and passed by reference. A task is a streaming generator (`num_returns="streaming"`): each finished round
comes back to the driver as soon as it exists, in order, and the driver stores it (`runner.store_round`) before
it reads the next, so workers need no shared disk. Streaming generators need no extra actor (a queue actor would
be one more process to place, to keep alive and to lose), keep one run's rounds in order, and a dead worker shows
up as an error on the next item of its own stream.

Ray's task retry is off on purpose (`max_retries=0`): Ray would rerun the generator from its original arguments,
that is from round 0. The scheduler resubmits a run whose worker died from its last stored round instead, up to
`RETRIES` times, exactly as for local worker processes.

Security: a Ray head runs whatever code a client submits, and its dashboard / job API has no authentication
(CVE-2023-48022). A private local Ray started here binds every port to 127.0.0.1 and has no dashboard; a cluster
(`--address`) is the user's to keep on a private network (docs/scaling.md).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from alseg.errors import AlsegError, AlsegUsageError
from alseg.events import Emit, Note
from alseg.executors.scheduler import Message, Task, schedule
from alseg.executors.work import work, worker_setup
from alseg.experiment import RunSetup
from alseg.faults import ENV as FAULT_ENV
from alseg.faults import reset as reset_faults
from alseg.runner import RunStatus
from alseg.schedule import JobPlan

INSTALL_HINT = 'pip install "alseg[ray]"'
# Ray on Linux resolves 127.0.0.1 to the machine's reachable address and listens on every interface; with this
# switch off (as on macOS and Windows) a local Ray uses 127.0.0.1 for its node and binds its servers to it.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
WAIT_STEP_S = 0.02  # how often poll() looks for a ready stream while it waits


def require_ray() -> ModuleType:
    """The ray module, or a usage error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AlsegUsageError(f"--executor ray needs the ray package, which is not installed: {INSTALL_HINT} "
                              "(or use --executor local)") from None
    return ray


def ray_threads(threads: int) -> int:
    """CPUs each Ray task asks for (and the torch threads it runs): --threads, or 1 when it is 0."""
    return threads if threads > 0 else 1


@contextmanager
def _loopback_only(ray: ModuleType) -> Iterator[None]:
    """While a local Ray starts: make it use 127.0.0.1 as its node address; the previous settings afterwards.

    The environment variable reaches the processes Ray starts; the module constant is what the driver reads, and
    it may have imported ray before (a test, a notebook), so both are set.
    """
    env = os.environ.get(LOOPBACK_ENV)
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    old = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[LOOPBACK_ENV] = "0"
    if old is not None:
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[union-attr]
    try:
        yield
    finally:
        if env is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = env
        if old is not None:
            constants.ENABLE_RAY_CLUSTER = old  # type: ignore[union-attr]


def gcs_host(ray: ModuleType) -> str:
    """The host part of the connected Ray's GCS address (where its head listens)."""
    address = ray.get_runtime_context().gcs_address
    return address.rsplit(":", 1)[0].strip("[]")


def start_local_ray(ray: ModuleType, num_cpus: int) -> None:
    """A private single-machine Ray: every port on 127.0.0.1, no dashboard; refused if it bound elsewhere."""
    with _loopback_only(ray):
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 logging_level=logging.WARNING, log_to_driver=False)
    host = gcs_host(ray)
    if host not in LOOPBACK:
        ray.shutdown()
        raise AlsegError(f"the private local Ray listens on {host}, not 127.0.0.1 (this ray version ignores the "
                         "loopback setting); stopped it. Start a Ray yourself on a private network and pass "
                         "--address (docs/scaling.md)")


def connect_ray(ray: ModuleType, address: str) -> None:
    """Join a running Ray cluster ('auto': the one started on this machine, or $RAY_ADDRESS)."""
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise AlsegUsageError(f"--address {address}: cannot connect to a Ray cluster ({err}); start one with "
                              "`ray start --head --node-ip-address=<private IP>`, or leave --address out for a "
                              "private local Ray") from None


@contextmanager
def _keep_sigterm() -> Iterator[None]:
    """Keep this process's SIGTERM handler across ray.init, which replaces it with one that exits at once.

    alseg's handler (bench.stop_signals) marks the runs in flight interrupted; ray_session then shuts Ray down.
    """
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if main and handler is not None:  # None: a handler not set from Python, nothing to restore
            signal.signal(signal.SIGTERM, handler)


@contextmanager
def ray_session(address: str, num_cpus: int) -> Iterator[ModuleType]:
    """Ray for one benchmark: this process's connection, else the cluster at `address`, else a private local Ray.

    A Ray started or joined here (`num_cpus` CPUs when local) is shut down, or left, at the end.
    """
    ray = require_ray()
    if ray.is_initialized():  # the caller's own Ray (a notebook, the tests): use it, leave it running
        yield ray
        return
    with _keep_sigterm():
        if address:
            connect_ray(ray, address)
        else:
            start_local_ray(ray, num_cpus)
    try:
        yield ray
    finally:
        ray.shutdown()


def check_resources(ray: ModuleType, cpus: int, gpus: int) -> str:
    """Refuse a task no node can ever run (it would wait forever); returns the cluster in words."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((r.get("CPU", 0) for r in nodes), default=0)
    most_gpus = max((r.get("GPU", 0) for r in nodes), default=0)
    if most_cpus < cpus:
        raise AlsegUsageError(f"--threads {cpus}: each Ray task asks for {cpus} CPUs, but no node of the Ray cluster "
                              f"has more than {most_cpus:g}; lower --threads")
    if most_gpus < gpus:
        raise AlsegUsageError("--device cuda: each Ray task asks for 1 GPU, but no node of the Ray cluster has one; "
                              "add GPU nodes or use --device cpu")
    total_cpus = sum(r.get("CPU", 0) for r in nodes)
    total_gpus = sum(r.get("GPU", 0) for r in nodes)
    return f"{len(nodes)} node(s), {total_cpus:g} CPUs" + (f", {total_gpus:g} GPUs" if total_gpus else "")


def _ray_task(cfg: Any, data: Any, device: str, precision: str, threads: int, task: Task,
              fault: str | None, extra_tests: Any = ()) -> Iterator[tuple[str, Any]]:
    """The body of every Ray task: compute one task, yielding each message (Ray streams them to the driver).

    `fault` is the driver's ALSEG_FAULT for a first attempt and None for a resubmission (tests: the injected crash
    hits each run's first attempt only); its hit count starts at 0 in each task, whichever worker process runs it.
    """
    if fault:
        os.environ[FAULT_ENV] = fault
    else:
        os.environ.pop(FAULT_ENV, None)
    reset_faults()
    setup = worker_setup(cfg, data, device, precision, threads, extra_tests)
    yield from work(setup, task)


class RayBackend:
    """Tasks as Ray streaming-generator tasks; at most `slots` in flight, each with its resource request."""

    def __init__(self, ray: ModuleType, setup: RunSetup, slots: int, cpus: int, gpus: int) -> None:
        self.ray, self.slots = ray, slots
        self.data = ray.put(setup.data)  # shipped once; every task gets it by reference
        self.extra_tests = ray.put(setup.extra_tests)  # --extra-test splits, likewise
        self.remote = ray.remote(num_returns="streaming", max_retries=0)(_ray_task).options(
            num_cpus=cpus, num_gpus=gpus)
        device = "cuda" if gpus else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES to the GPU it gives the task
        self.args = (setup.cfg, self.data, device, setup.precision.name, cpus)
        self.fault = os.environ.get(FAULT_ENV)
        self.flights: dict[int, Any] = {}  # ticket -> its ObjectRefGenerator

    def submit(self, ticket: int, task: Task, attempt: int) -> None:
        """Submit the task; a resubmission runs without the injected fault."""
        self.flights[ticket] = self.remote.remote(*self.args, task, self.fault if attempt == 0 else None,
                                                  self.extra_tests)

    def poll(self, timeout: float) -> list[Message]:
        """The next message of every stream that has one (waiting up to `timeout` s for the first)."""
        if not self.flights:
            return []
        streams = list(self.flights.items())
        deadline = time.monotonic() + timeout
        while True:  # short non-blocking waits: a signal then raises alseg's own exception (Ray's blocking wait
            # turns SIGTERM's Terminated into a plain KeyboardInterrupt)
            ready, _ = self.ray.wait([gen for _, gen in streams], num_returns=1, timeout=0)
            if ready or time.monotonic() >= deadline:
                break
            time.sleep(WAIT_STEP_S)
        ready_ids = {id(gen) for gen in ready}
        messages: list[Message] = []
        for ticket, gen in streams:
            if id(gen) in ready_ids:
                messages.extend(self._next(ticket, gen))
        return messages

    def _next(self, ticket: int, gen: Any) -> list[Message]:
        """Read one item of a ready stream: a message, or 'died' / 'end' when its task failed."""
        from ray.exceptions import RayError, RayTaskError

        try:
            ref = next(gen)
        except StopIteration:  # the stream ended (its last message was read already)
            del self.flights[ticket]
            return []
        try:
            kind, payload = self.ray.get(ref)
        except RayTaskError as err:  # the task itself raised (e.g. alseg missing on a node): no retry helps
            del self.flights[ticket]
            cause = err.cause if getattr(err, "cause", None) is not None else err
            return [Message("end", ticket, ("error", f"the Ray task failed: {type(cause).__name__}: {cause} (is the "
                                                     "same alseg, with the same strategies, installed on every "
                                                     "node?)"))]
        except RayError as err:  # the worker or its node vanished: the scheduler resubmits
            del self.flights[ticket]
            return [Message("died", ticket, type(err).__name__)]
        if kind in ("shared", "end"):
            del self.flights[ticket]
        return [Message(kind, ticket, payload)]

    def close(self) -> None:
        """Cancel the tasks still in flight (Ctrl-C, an error in the driver)."""
        for gen in self.flights.values():
            try:
                self.ray.cancel(gen, force=True)
            except Exception:  # already finished, or this Ray cannot cancel it: nothing left to stop
                pass
        self.flights.clear()


def execute_ray(setup: RunSetup, plan: JobPlan, emit: Emit, debug: bool) -> list[RunStatus]:
    """Run the plan's jobs as Ray tasks, at most `cfg.workers` at once; returns the statuses as the runs ended."""
    from alseg.workers import machine_cores

    cfg = setup.cfg
    cpus, gpus = ray_threads(cfg.threads), int(setup.device.type == "cuda")
    with ray_session(cfg.address, machine_cores()) as ray:
        where = check_resources(ray, cpus, gpus)
        slots = min(cfg.workers, max(1, len(plan.jobs)))
        emit(Note(f"Ray ({where}): up to {slots} run(s) at once, each a task of {cpus} CPU(s)"
                  + (" and 1 GPU" if gpus else "")))
        return schedule(setup, plan, RayBackend(ray, setup, slots, cpus, gpus), emit)
