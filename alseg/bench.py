"""The orchestrator: `alseg bench` as one function that the CLI and a Python caller run alike.

It resolves the strategies (once), loads and checks the data, opens the experiment under its lock,
hands every (strategy, seed) run to the runner, and writes the report once at the end. It renders
nothing: progress goes out as events (`alseg.events`) to whoever listens.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alseg.config import BenchConfig
from alseg.datasets import load_dataset
from alseg.datasets.base import SegDataset
from alseg.datasets.checks import check_masks
from alseg.environment import configure_torch, resolve_device
from alseg.errors import AlsegError, AlsegUsageError, Terminated, debug_mode
from alseg.events import BenchPlanned, DataLoaded, DataLoading, Emit, Note, ReportWritten, ignore
from alseg.experiment import RunSetup, open_experiment
from alseg.extra_test import ExtraTest, load_extra_tests, parse_extra_tests
from alseg.locking import experiment_lock
from alseg.models import build_model
from alseg.precision import resolve_precision
from alseg.runner import RunStatus
from alseg.schedule import execute_jobs, plan_jobs
from alseg.store import ExperimentStore
from alseg.strategies.registry import StrategySpec, discover, resolve


@dataclass
class BenchResult:
    """What a benchmark produced: where it lives, how each run ended, and the report files."""

    experiment_dir: Path
    runs: list[RunStatus] = field(default_factory=list)
    report_files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[RunStatus]:
        return [r for r in self.runs if r.status not in ("done", "skip")]


def resolve_strategies(cfg: BenchConfig) -> list[StrategySpec]:
    """The strategies named by --strategies / --exclude, checked against the registry."""
    return resolve(cfg.strategies, discover(plugins=cfg.plugins), cfg.exclude)


def load_data(cfg: BenchConfig, emit: Emit = ignore) -> SegDataset:
    """Load the dataset the config names (decoded once, cached), reporting progress as events."""
    data_dir = Path(cfg.data_dir) if cfg.data_dir else None
    emit(DataLoading(cfg.dataset))
    return load_dataset(cfg.dataset, data_dir=data_dir, image_size=cfg.image_size, cache_dir=Path(cfg.cache_dir),
                        seed=0, split_file=Path(cfg.split_file) if cfg.split_file else None,
                        progress=lambda done, total: emit(DataLoading(cfg.dataset, done, total)))


def check_budget(cfg: BenchConfig, data: SegDataset) -> None:
    """initial + rounds x budget must fit in the pool (the test split never counts)."""
    need = cfg.initial + cfg.rounds * cfg.budget
    if need > len(data.train):
        raise AlsegUsageError(
            f"--initial {cfg.initial} + --rounds {cfg.rounds} x --budget {cfg.budget} = {need} labels, but the "
            f"{cfg.dataset} training pool has only {len(data.train)} images; lower --rounds or --budget"
        )


def dataset_summary(data: SegDataset) -> str:
    """One line describing the loaded data."""
    fg = float(np.mean(data.masks[data.train[: min(64, len(data.train))]]))
    return (f"{data.name}: {len(data.train)} train / {len(data.test)} test images at "
            f"{data.images.shape[1]} px, foreground {fg:.1%}; split: {data.split_source}")


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


def prepare(cfg: BenchConfig, emit: Emit, data: SegDataset | None = None
            ) -> tuple[list[StrategySpec], SegDataset, list[str]]:
    """Every check that needs no experiment folder: strategies, data, masks, budget, model."""
    specs = resolve_strategies(cfg)
    for note in cfg.notes:
        emit(Note(note))
    data = data if data is not None else load_data(cfg, emit)
    data_warnings = [*data.warnings, *check_masks(data, allow_empty=cfg.allow_empty_masks,
                                                  allow_majority_foreground=cfg.allow_majority_foreground)]
    emit(DataLoaded(dataset_summary(data)))
    for text in data_warnings:
        emit(Note(text))
    check_budget(cfg, data)
    build_model(cfg.encoder, cfg.encoder_weights, 0)  # a bad encoder or weights file fails before any write
    return specs, data, [*cfg.notes, *data_warnings]


def load_extra(cfg: BenchConfig, data: SegDataset, emit: Emit) -> tuple[ExtraTest, ...]:
    """The --extra-test datasets' test splits at the experiment's image size (none without the option)."""
    if not cfg.extra_test:
        return ()
    tests = load_extra_tests(parse_extra_tests(cfg.extra_test), data, cfg.image_size, Path(cfg.cache_dir),
                             progress=lambda name, done, total: emit(DataLoading(name, done, total)))
    for test in tests:
        emit(DataLoaded(f"extra test {test.name}: {len(test.images)} test images at {cfg.image_size} px "
                        "(evaluated every round, used for nothing else)"))
    return tests


def run_benchmark(cfg: BenchConfig, emit: Emit = ignore, debug: bool | None = None,
                  data: SegDataset | None = None) -> BenchResult:
    """Run every (strategy, seed) of the config that is not finished yet, then write the report.

    `data` is an already loaded dataset (tests, notebooks); by default the config's dataset is loaded.
    """
    from alseg.report.html import report_experiments_html
    from alseg.report.load import NothingToReport

    debug = debug_mode() if debug is None else debug
    if cfg.regimes:  # a grid is several experiments: alseg.regimes expands it (the CLI and alseg.run_benchmark do)
        raise AlsegUsageError(f"a grid of {len(cfg.regimes)} budget regimes is several experiments: expand it with "
                              "alseg.regimes.expand_regimes and run each config (alseg.run_benchmark does)")
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if cfg.workers > 1:  # refuse an oversubscribed split before any data loads or folder is made
        from alseg.workers import machine_cores, worker_threads

        worker_threads(cfg.workers, cfg.threads, machine_cores(), device.type)
    configure_torch(device, cfg.threads, cfg.deterministic)
    if cfg.executor == "ray":  # a missing ray package is refused before anything loads or is written
        from alseg.executors.ray import require_ray

        require_ray()
    specs, data, warnings = prepare(cfg, emit, data)
    extra_tests = load_extra(cfg, data, emit)
    if cfg.precision == "auto":
        emit(Note(f"--precision auto: {precision.name} on this {device.type} (stored in the protocol)"))
    cfg.experiment_dir.mkdir(parents=True, exist_ok=True)
    result = BenchResult(cfg.experiment_dir, warnings=warnings)
    with stop_signals(), experiment_lock(cfg.experiment_dir):
        store = ExperimentStore(cfg.experiment_dir)
        setup = RunSetup(cfg, data, device, store, precision, extra_tests,
                         Path(cfg.replay).expanduser() if cfg.replay else None)
        if setup.replay_from is not None:
            from alseg.replay import check_replay

            check_replay(setup, specs)
        open_experiment(setup, specs, warnings)
        plan = plan_jobs(setup, specs, cfg.share_round0)
        emit(BenchPlanned(cfg.experiment_dir, tuple((job.name, job.seed) for job in plan.jobs),
                          tuple(s.run_name for s in specs), cfg.seeds))
        if cfg.executor == "ray":
            from alseg.executors.ray import execute_ray

            result.runs.extend(execute_ray(setup, plan, emit, debug))
        elif cfg.workers > 1:
            from alseg.workers import execute_parallel

            result.runs.extend(execute_parallel(setup, plan, emit, debug))
        else:
            result.runs.extend(execute_jobs(setup, plan, emit, debug))
        try:
            files, tables = report_experiments_html([cfg.experiment_dir], cfg.experiment_dir, data=data)
        except NothingToReport as err:  # every run failed before finishing: say so, the statuses are stored
            emit(Note(f"{err}; the failed runs are listed above and in their status files"))
            return result
    result.report_files = list(files)
    emit(ReportWritten(cfg.experiment_dir, tuple(files), tuple(tables)))
    return result


__all__ = ["AlsegError", "BenchResult", "RunStatus", "run_benchmark"]
