"""`alseg bench` as a function: resolve strategies, load data, open the store, run every (strategy, seed).

Returns data (the experiment folder and each run's status); the CLI only draws it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from alseg import __version__
from alseg.config import BenchConfig, protocol_hash, protocol_of, to_toml
from alseg.datasets import load_dataset
from alseg.datasets.base import SegDataset
from alseg.environment import configure_torch, environment_record, resolve_device
from alseg.errors import AlsegError, AlsegUsageError, Terminated
from alseg.experiment import FULL_RUN, Run, RunSetup, SelectionTimeout, run_full
from alseg.locking import experiment_lock
from alseg.models import build_model
from alseg.progress import ProgressHooks
from alseg.store import ExperimentStore
from alseg.strategies.registry import StrategySpec, discover, resolve


@dataclass
class RunStatus:
    """How one (strategy, seed) run ended in this invocation."""

    strategy: str
    seed: int
    status: str
    message: str = ""


@dataclass
class BenchResult:
    """What a benchmark produced: where it lives and how each run ended."""

    experiment_dir: Path
    runs: list[RunStatus] = field(default_factory=list)

    @property
    def failed(self) -> list[RunStatus]:
        return [r for r in self.runs if r.status not in ("done", "skip")]


def resolve_strategies(cfg: BenchConfig) -> list[StrategySpec]:
    """The strategies named by --strategies / --exclude, checked against the registry."""
    return resolve(cfg.strategies, discover(plugins=cfg.plugins), cfg.exclude)


def load_data(cfg: BenchConfig, progress=None) -> SegDataset:
    """Load the dataset the config names (decoded once, cached)."""
    data_dir = Path(cfg.data_dir) if cfg.data_dir else None
    return load_dataset(cfg.dataset, data_dir=data_dir, image_size=cfg.image_size, cache_dir=Path(cfg.cache_dir),
                        seed=0, split_file=Path(cfg.split_file) if cfg.split_file else None, progress=progress)


def check_budget(cfg: BenchConfig, data: SegDataset) -> None:
    """initial + rounds x budget must fit in the pool (the test split never counts)."""
    need = cfg.initial + cfg.rounds * cfg.budget
    if need > len(data.train):
        raise AlsegUsageError(
            f"--initial {cfg.initial} + --rounds {cfg.rounds} x --budget {cfg.budget} = {need} labels, but the "
            f"{cfg.dataset} training pool has only {len(data.train)} images; lower --rounds or --budget"
        )


def weights_sha(cfg: BenchConfig) -> str:
    """SHA-256 of a local encoder weights file (part of the protocol), '' otherwise."""
    if cfg.encoder_weights in ("imagenet", "none"):
        return ""
    path = Path(cfg.encoder_weights)
    if not path.is_file():
        raise AlsegUsageError(f"--encoder-weights: '{path}' is neither 'imagenet', 'none' nor an existing file")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_model(cfg: BenchConfig) -> None:
    """Build the model once before anything is written: a bad encoder or weights file fails early."""
    build_model(cfg.encoder, cfg.encoder_weights, 0)


def open_store(cfg: BenchConfig, data: SegDataset, specs: list[StrategySpec], device: torch.device) -> ExperimentStore:
    """Create or reopen the experiment folder; refuse one made under another protocol."""
    store = ExperimentStore(cfg.experiment_dir)
    protocol = protocol_of(cfg, data.fingerprint, weights_sha(cfg))
    manifest = dict(getattr(data, "manifest", {}) or {})
    store.check_protocol(protocol, manifest)
    store.remove_stale_temps()  # left by a writer killed between writing a temp file and renaming it
    old = store.read_experiment() or {}
    runs = sorted(set(old.get("strategies", [])) | {s.run_name for s in specs})
    seeds = max(int(old.get("seeds", 0)), cfg.seeds)
    info = {
        "protocol": protocol,
        "protocol_hash": protocol_hash(protocol),
        "strategies": runs,
        "providers": {**old.get("providers", {}), **{s.run_name: s.provider for s in specs}},
        "labels": {**old.get("labels", {}), **{s.run_name: s.label for s in specs}},
        "seeds": seeds,
        "full": bool(old.get("full")) or cfg.full,
        "split_source": data.split_source,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "alseg_version": __version__,
        "data_manifest": manifest,
    }
    store.write_experiment(info, to_toml(cfg))
    store.write_environment(environment_record(device))
    return store


def run_benchmark(cfg: BenchConfig, hooks: ProgressHooks | None = None, data: SegDataset | None = None,
                  debug: bool | None = None) -> BenchResult:
    """Run every (strategy, seed) of the config that is not finished yet; resumable at round granularity."""
    hooks = hooks or ProgressHooks()
    specs = resolve_strategies(cfg)
    device = resolve_device(cfg.device)
    configure_torch(device, cfg.threads, cfg.deterministic)
    data = data if data is not None else load_data(cfg)
    check_budget(cfg, data)
    check_model(cfg)
    cfg.experiment_dir.mkdir(parents=True, exist_ok=True)
    with stop_signals(), experiment_lock(cfg.experiment_dir):
        store = open_store(cfg, data, specs, device)
        setup = RunSetup(cfg, data, device, store, hooks)
        result = BenchResult(cfg.experiment_dir)
        for seed in range(cfg.seeds):
            jobs = [(s.run_name, lambda s=s, seed=seed: Run(setup, s, seed).execute()) for s in specs]
            if cfg.full:
                jobs.append((FULL_RUN, lambda seed=seed: run_full(setup, seed)))
            for name, job in jobs:
                status = execute_isolated(name, seed, job, store, debug)
                hooks.run_done(name, seed, status.status, status.message)
                result.runs.append(status)
    return result


@contextmanager
def stop_signals() -> Iterator[None]:
    """While a benchmark runs, SIGTERM raises Terminated and SIGINT raises KeyboardInterrupt.

    Both end in the Ctrl-C path: the run in progress is marked `interrupted`, stored rounds stay.
    SIGINT is set explicitly because a shell starts `alseg bench ... &` with SIGINT ignored.
    Only the main thread can own signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _terminate(signum: int, frame: object) -> None:
        raise Terminated()

    old = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def debug_mode() -> bool:
    """ALSEG_DEBUG=1: let a run's unexpected exception escape with its traceback instead of isolating it."""
    return os.environ.get("ALSEG_DEBUG", "") not in ("", "0")


def execute_isolated(name: str, seed: int, job, store: ExperimentStore, debug: bool | None = None) -> RunStatus:
    """Run one job; a failure ends only this run, is stored with its status, and the others go on.

    Every global check (strategies, data, model, protocol) runs before the first job, so any exception
    out of a job, usage errors and SystemExit from strategy code included, belongs to that run alone.
    Only Ctrl-C or SIGTERM stops the benchmark (after marking the run interrupted).
    """
    debug = debug_mode() if debug is None else debug
    file = store.run_file(name, seed)
    try:
        status, message = job()
    except KeyboardInterrupt as stop:
        how = "SIGTERM" if isinstance(stop, Terminated) else "the user (Ctrl-C)"
        file.set_status("interrupted", f"stopped by {how}; rerun the same command to resume",
                        strategy=name, seed=seed)
        raise
    except SelectionTimeout as err:
        status, message = "timeout", str(err)
    except AlsegError as err:  # StrategyContractError, NonFiniteLossError, a usage error raised inside a run
        status, message = "error", str(err)
    except (Exception, SystemExit) as err:  # a strategy (or plugin) may fail in any way; keep the others going
        if debug:
            raise
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
        status = "error"
        message = (f"{name} seed {seed}: {type(err).__name__}: {err}{where}; "
                   "rerun with ALSEG_DEBUG=1 for the traceback")
    if isinstance(message, str) and status != "done" and not message.startswith(name):
        message = f"{name} seed {seed}: {message}"
    file.set_status(status, message, strategy=name, seed=seed, rounds=len(file.records()))
    return RunStatus(name, seed, status, message)


def dataset_summary(data: SegDataset) -> str:
    """One line describing the loaded data."""
    fg = float(np.mean(data.masks[data.train[: min(64, len(data.train))]]))
    return (f"{data.name}: {len(data.train)} train / {len(data.test)} test images at "
            f"{data.images.shape[1]} px, foreground {fg:.1%}; split: {data.split_source}")


__all__ = ["AlsegError", "BenchResult", "RunStatus", "run_benchmark"]
