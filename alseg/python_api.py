"""alseg from Python, one call each: `run_benchmark`, `load_experiment` and `suggest`, exactly what the CLI does.

`run_benchmark` resolves its options as `alseg bench` resolves flags (preset < config file < options) and runs
`alseg.bench.run_benchmark` (for a grid of budget regimes, `initial=[10, 30]`, once per regime, then the regime
summary); `load_experiment` reads a finished folder: the leaderboard.csv the report wrote,
and the run files through the report loader (`alseg.report.load`); `suggest` runs
`alseg.suggestions.run.run_suggest`, the code of `alseg suggest`. The package re-exports all three lazily
(`alseg.run_benchmark`, ...), so `import alseg` stays cheap. docs/python-api.md shows them at work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alseg.config import OPTION_NAMES, BenchConfig, resolve_config
from alseg.errors import AlsegUsageError
from alseg.events import Emit, Note, ignore
from alseg.regimes import check_target, prepare_grid, regime_dirs, regime_lists, regime_note
from alseg.report.compute import METRICS
from alseg.report.load import NothingToReport, load_experiments
from alseg.report.load import load_experiment as load_one
from alseg.store import ExperimentStore

__all__ = ["BenchmarkResult", "RegimesResult", "load_experiment", "run_benchmark", "suggest"]

#: The kinds of file a report is made of (tables, documents, figures); an experiment's records are TOML, JSON, JSONL.
REPORT_SUFFIXES = (".md", ".csv", ".tex", ".html", ".png", ".svg", ".pdf")
ROUND_KEYS = ["dataset", "strategy", "label", "seed", "round", "n_labeled"]


@dataclass(frozen=True)
class BenchmarkResult:
    """A benchmark as data: the leaderboard table, the tidy round table, run statuses, files and warnings.

    `leaderboard` is leaderboard.csv as a DataFrame: one row per strategy and labeled count with the mean and
    std over seeds of each metric (the full-supervision ceiling as strategy 'full'). `rounds` is tidy: one row
    per strategy x seed x labeled count x metric (`metric`, `value`). `runs` has one row per (strategy, seed)
    run with its status and message. `files` are the report files, by name; `warnings` the data and config notes
    stored with the experiment, then the message of every run that did not finish.
    """

    experiment_dir: Path
    leaderboard: pd.DataFrame
    rounds: pd.DataFrame
    runs: pd.DataFrame
    files: tuple[Path, ...]
    warnings: tuple[str, ...]
    protocol: dict[str, Any]

    @property
    def failed(self) -> pd.DataFrame:
        """The runs that did not finish (status other than done)."""
        return self.runs[self.runs["status"] != "done"]


@dataclass(frozen=True)
class RegimesResult:
    """A grid of budget regimes as data: one BenchmarkResult per regime, in run order, and the regime summary.

    `summary` is regimes.csv as a DataFrame: one row per regime and strategy with the AUBC, rank and the paired
    test against Random (Holm-corrected within the regime); `files` are regimes.md and regimes.csv.
    """

    root: Path
    experiments: tuple[BenchmarkResult, ...]
    summary: pd.DataFrame
    files: tuple[Path, ...]

    @property
    def failed(self) -> pd.DataFrame:
        """The runs of every regime that did not finish (status other than done)."""
        return pd.concat([e.failed for e in self.experiments], ignore_index=True)


def resolve(config: BenchConfig | Mapping[str, Any] | str | Path | None, options: Mapping[str, Any]) -> BenchConfig:
    """The config of a Python call, by the CLI's rule: preset < config (a TOML file or a mapping) < options."""
    if isinstance(config, BenchConfig):
        if not options:
            return config
        given = {name: getattr(config, name) for name in OPTION_NAMES if name != "name" or config.name}
        return resolve_config({**given, **regime_lists(config), **options})  # name '' is the default, not a name
    if config is None:
        return resolve_config(dict(options))
    if isinstance(config, Mapping):
        return resolve_config({**config, **options})
    if isinstance(config, (str, Path)):
        return resolve_config(dict(options), Path(config))
    raise AlsegUsageError(f"config must be a BenchConfig, a mapping of options, the path of a TOML file or None, "
                          f"got {type(config).__name__}")


def tidy_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """The round table in long form: one row per strategy x seed x round (labeled count) x metric."""
    metrics = [m for m in METRICS if m in rounds.columns]
    long = rounds[[*ROUND_KEYS, *metrics]].melt(id_vars=ROUND_KEYS, value_vars=metrics, var_name="metric")
    return long.sort_values(["strategy", "seed", "round", "metric"], kind="stable").reset_index(drop=True)


def report_files(root: Path) -> tuple[Path, ...]:
    """The report files of an experiment folder, sorted by name: its top-level tables, documents and figures."""
    return tuple(sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")
                        and p.suffix.lower() in REPORT_SUFFIXES))


def _result(root: Path, files: tuple[Path, ...] | None, allow_empty: bool) -> BenchmarkResult:
    """An experiment folder as a BenchmarkResult: its leaderboard.csv, and its run files via the report loader."""
    try:
        exps = load_experiments([root])
    except NothingToReport:
        if not allow_empty:
            raise
        _, runs, info = load_one(root)
        return BenchmarkResult(root, pd.DataFrame(), pd.DataFrame(columns=[*ROUND_KEYS, "metric", "value"]), runs,
                               files or (), _warnings(info, runs), dict(info.get("protocol", {})))
    board = root / "leaderboard.csv"
    if not board.is_file():
        raise AlsegUsageError(f"{root} has finished runs but no leaderboard.csv (the benchmark stopped before its "
                              f"report): write it with `alseg report {root}`")
    info = ExperimentStore(root).read_experiment() or {}
    return BenchmarkResult(root, pd.read_csv(board), tidy_rounds(exps.rounds), exps.runs.reset_index(drop=True),
                           report_files(root) if files is None else files, _warnings(info, exps.runs),
                           dict(info.get("protocol", {})))


def _warnings(info: Mapping[str, Any], runs: pd.DataFrame) -> tuple[str, ...]:
    """The experiment's stored warnings, then the message of each run that did not finish."""
    failed = runs[runs["status"] != "done"]
    return (*map(str, info.get("warnings", [])), *(str(m) for m in failed["message"]))


def run_benchmark(config: BenchConfig | Mapping[str, Any] | str | Path | None = None, *, emit: Emit | None = None,
                  **options: Any) -> BenchmarkResult | RegimesResult:
    """Run (or resume) a benchmark as `alseg bench` does and return its result; options are bench's, by field name.

    `config` is a BenchConfig, a mapping of options, a TOML file (a stored config.toml) or None; `options`
    override it (image_size=32, strategies="random,entropy", ...). `emit` receives the progress events.
    Runs that fail are reported in `runs` and `warnings`, as the CLI reports them, rather than raised.
    Lists of initial, budget or rounds values (budget=[10, 30]) run a grid of regimes, each its own experiment
    in OUT/NAME/initial-I-budget-B-rounds-R, and return a RegimesResult.
    """
    from alseg.bench import run_benchmark as bench_run

    cfg = resolve(config, options)
    emit = ignore if emit is None else emit
    check_target(cfg)
    if cfg.regimes:
        return _run_grid(cfg, emit)
    done = bench_run(cfg, emit)
    return _result(cfg.experiment_dir, tuple(sorted(done.report_files)) or None, allow_empty=True)


def _run_grid(cfg: BenchConfig, emit: Emit) -> RegimesResult:
    """Every regime of a grid in turn (budgets checked first, data loaded once), then the regime summary."""
    from alseg.bench import run_benchmark as bench_run
    from alseg.report.regimes import CSV, report_regimes

    configs, data = prepare_grid(cfg, emit)
    results = []
    for index, one in enumerate(configs, 1):
        emit(Note(regime_note(index, len(configs), one)))
        done = bench_run(one, emit, data=data)
        results.append(_result(one.experiment_dir, tuple(sorted(done.report_files)) or None, allow_empty=True))
    try:
        files, _ = report_regimes(regime_dirs(cfg.experiment_dir), cfg.experiment_dir, skip_empty=True)
    except NothingToReport as stop:
        emit(Note(f"no regime summary: {stop}"))
        return RegimesResult(cfg.experiment_dir, tuple(results), pd.DataFrame(), ())
    return RegimesResult(cfg.experiment_dir, tuple(results), pd.read_csv(cfg.experiment_dir / CSV), tuple(files))


def load_experiment(path: str | Path) -> BenchmarkResult:
    """The BenchmarkResult of a finished experiment folder, from its run files alone (as `alseg report` reads it)."""
    return _result(Path(path), None, allow_empty=False)


def suggest(data_dir: str | Path, *, budget: int, strategy: str, out: str | Path, labeled: str | Path = "masked",
            preset: str | None = None, model: str | Path | None = None, seed: int = 0, emit: Emit | None = None,
            **options: Any) -> pd.DataFrame:
    """Run `alseg suggest` and return its picks (the suggestions.csv table); options are BenchConfig field names.

    `labeled` is a list file of image names or 'masked' (every image with a mask); the outputs go to `out`, and
    a second call with the same `out` after adding masks continues the loop (docs/suggest.md).
    """
    from alseg.suggestions.run import SuggestRequest, run_suggest

    request = SuggestRequest(Path(data_dir), str(labeled), budget, strategy, Path(out), preset,
                             Path(model) if model is not None else None, seed, options)
    return run_suggest(request, ignore if emit is None else emit).frame
