"""Terminal side of `alseg bench`: draws the orchestrator's events with rich, then the leaderboard.

It does no work of its own: `run_benchmark` resolves, loads, runs and reports; this module only renders
what it hears (`alseg.events`). A grid of budget regimes (`alseg.regimes`) runs as one experiment per regime,
each drawn and reported in turn, then the regime summary (`alseg.report.regimes`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from alseg.bench import run_benchmark
from alseg.config import BenchConfig
from alseg.datasets.base import SegDataset
from alseg.events import (
    BenchPlanned,
    DataLoaded,
    DataLoading,
    EpochDone,
    Event,
    Note,
    Phase,
    ReportWritten,
    RoundDone,
    RoundStarted,
    RunDone,
    RunStarted,
)
from alseg.regimes import check_target, prepare_grid, regime_dirs, regime_note


class RichRenderer:
    """Bars for data loading, runs (strategy x seed), rounds of the current run and epochs of the round."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.load: TaskID | None = None
        self.runs = self.rounds = self.epochs = None
        self.report: ReportWritten | None = None

    def __call__(self, event: Event) -> None:
        """Draw one event."""
        p = self.p
        if isinstance(event, DataLoading):
            if self.load is None:
                self.load = p.add_task(f"loading {event.dataset}", total=None)
            p.update(self.load, completed=event.done, total=event.total)
        elif isinstance(event, DataLoaded):
            if self.load is not None:
                p.remove_task(self.load)
            p.console.print(event.summary, highlight=False)
        elif isinstance(event, Note):
            p.console.print(f"[yellow]note:[/] {escape(event.text)}", highlight=False)
        elif isinstance(event, BenchPlanned):
            p.console.print(plan_line(event), highlight=False)
            self.runs = p.add_task("runs", total=len(event.runs))
            self.rounds = p.add_task("rounds", total=1)
            self.epochs = p.add_task("epochs", total=1)
        elif isinstance(event, RunStarted):
            p.update(self.runs, description=f"[bold]{escape(event.run)}[/] seed {event.seed}")
            p.reset(self.rounds, total=event.rounds_total, completed=event.rounds_done, description="rounds")
        elif isinstance(event, RoundStarted):
            p.update(self.rounds, description=f"round {event.round} ({event.n_labeled} labeled)")
            p.reset(self.epochs, total=event.epochs, completed=0, description="train")
        elif isinstance(event, EpochDone):
            p.update(self.epochs, completed=event.epoch, description=f"train loss {event.loss:.3f}")
        elif isinstance(event, Phase):
            p.update(self.epochs, description=event.text)
        elif isinstance(event, RoundDone):
            p.advance(self.rounds)
            rec = event.record
            p.console.print(
                f"  {escape(event.run)} seed {event.seed} round {event.round}: {rec.n_labeled} labeled, "
                f"Dice {rec.dice:.4f}, mIoU {rec.miou:.4f} "
                f"(train {rec.t_train:.1f}s, pool {rec.t_pool:.1f}s, select {rec.t_select:.2f}s)",
                highlight=False,
            )
        elif isinstance(event, RunDone):
            p.advance(self.runs)
            if event.status != "done":
                p.console.print(f"  [red]{escape(event.run)} seed {event.seed}: {event.status}[/] "
                                f"{escape(event.message)}")
        elif isinstance(event, ReportWritten):
            self.report = event


def plan_line(event: BenchPlanned) -> str:
    """One line naming the strategies, seeds and experiment folder of a benchmark."""
    return f"strategies: {', '.join(event.strategies)}; seeds: {event.seeds}; experiment: {event.experiment_dir}"


def fresh_name(cfg: BenchConfig) -> BenchConfig:
    """--new: the first NAME, NAME-2, NAME-3 ... that does not exist yet."""
    base, k = cfg.experiment_name, 1
    name = base
    while (Path(cfg.out) / name).exists():
        k += 1
        name = f"{base}-{k}"
    return replace(cfg, name=name)


def progress_columns() -> list:
    """The columns of every live display (bench, suggest): spinner, what, bar, done/total, elapsed, eta."""
    return [SpinnerColumn(), TextColumn("{task.description}", justify="left"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]


def run_bench_command(cfg: BenchConfig, out: Console, err: Console, new: bool = False, quiet: bool = False) -> int:
    """Run the benchmark with a live display, then print the leaderboard and the paths; returns the exit code.

    A grid of regimes runs each regime as its own experiment, one after another, then writes the regime summary.
    """
    if new:
        cfg = fresh_name(cfg)
    check_target(cfg)
    if cfg.regimes:
        return run_grid_command(cfg, out, err, quiet)
    return run_experiment_command(cfg, out, err, quiet)


def run_grid_command(cfg: BenchConfig, out: Console, err: Console, quiet: bool = False) -> int:
    """Every regime of a grid (data loaded and budgets checked once, before any runs), then regimes.md/csv."""
    from alseg.report.load import NothingToReport
    from alseg.report.regimes import report_regimes

    with Progress(*progress_columns(), console=out, disable=quiet, transient=True) as progress:
        renderer = RichRenderer(progress) if not quiet else QuietRenderer(out, err)
        configs, data = prepare_grid(cfg, renderer)
    codes = [run_experiment_command(one, out, err, quiet, data=data, note=regime_note(i, len(configs), one))
             for i, one in enumerate(configs, 1)]
    try:
        files, tables = report_regimes(regime_dirs(cfg.experiment_dir), cfg.experiment_dir, skip_empty=True)
    except NothingToReport as stop:
        err.print(f"no regime summary: {escape(str(stop))}", highlight=False)
        return max(codes)
    for table in tables:
        out.print(table)
    out.print(f"regime summary: [bold]{cfg.experiment_dir}[/] ({', '.join(p.name for p in files)})")
    return max(codes)


def run_experiment_command(cfg: BenchConfig, out: Console, err: Console, quiet: bool = False,
                           data: SegDataset | None = None, note: str = "") -> int:
    """One experiment (one regime) with a live display, then its leaderboard and paths; returns the exit code."""
    with Progress(*progress_columns(), console=out, disable=quiet, transient=False) as progress:
        renderer = RichRenderer(progress) if not quiet else QuietRenderer(out, err)
        if note:
            renderer(Note(note))
        result = run_benchmark(cfg, renderer, data=data)
    if renderer.report is not None:
        for table in renderer.report.tables:
            out.print(table)
    out.print(f"results: [bold]{cfg.experiment_dir}[/] ({', '.join(p.name for p in result.report_files)})")
    if result.failed:
        for run in result.failed:
            err.print(f"[red]{run.status}:[/] {escape(run.message)}", highlight=False)
        err.print(f"{len(result.failed)} run(s) did not finish; the leaderboard marks them")
        return 1
    return 0


class QuietRenderer:
    """--quiet: no progress bars or round lines; the data summary, the plan and notes are still printed."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out, self.err = out, err
        self.report: ReportWritten | None = None

    def __call__(self, event: Event) -> None:
        """Keep the report; print the summary lines and notes."""
        if isinstance(event, Note):
            self.err.print(f"note: {escape(event.text)}", highlight=False)
        elif isinstance(event, DataLoaded):
            self.out.print(event.summary, highlight=False)
        elif isinstance(event, BenchPlanned):
            self.out.print(plan_line(event), highlight=False)
        elif isinstance(event, ReportWritten):
            self.report = event
