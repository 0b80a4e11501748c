"""Terminal side of `alseg bench`: a live rich progress display, then the leaderboard and the paths."""

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
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from alseg.bench import dataset_summary, load_data, resolve_strategies, run_benchmark
from alseg.config import BenchConfig
from alseg.progress import ProgressHooks


class RichHooks(ProgressHooks):
    """Three bars: runs (strategy x seed), rounds of the current run, epochs of the current round."""

    def __init__(self, progress: Progress, n_runs: int) -> None:
        self.p = progress
        self.runs = progress.add_task("runs", total=n_runs)
        self.rounds = progress.add_task("rounds", total=1)
        self.epochs = progress.add_task("epochs", total=1)
        self._ended = 0

    def run_started(self, run: str, seed: int, rounds_total: int, rounds_done: int) -> None:
        self.p.update(self.runs, description=f"[bold]{escape(run)}[/] seed {seed}")
        self.p.reset(self.rounds, total=rounds_total, completed=rounds_done, description="rounds")

    def round_started(self, run: str, seed: int, round_: int, n_labeled: int, epochs: int) -> None:
        self.p.update(self.rounds, description=f"round {round_} ({n_labeled} labeled)")
        self.p.reset(self.epochs, total=epochs, completed=0, description="train")

    def epoch_done(self, epoch: int, loss: float) -> None:
        self.p.update(self.epochs, completed=epoch, description=f"train loss {loss:.3f}")

    def phase(self, text: str) -> None:
        self.p.update(self.epochs, description=text)

    def round_done(self, run: str, seed: int, round_: int, record: dict) -> None:
        self.p.advance(self.rounds)
        self.p.console.print(
            f"  {escape(run)} seed {seed} round {round_}: {record['n_labeled']} labeled, "
            f"Dice {record['dice']:.4f}, mIoU {record['miou']:.4f} "
            f"(train {record['t_train']:.1f}s, pool {record['t_pool']:.1f}s, select {record['t_select']:.2f}s)",
            highlight=False,
        )

    def run_done(self, run: str, seed: int, status: str, message: str) -> None:
        self.p.advance(self.runs)
        if status != "done":
            self.p.console.print(f"  [red]{escape(run)} seed {seed}: {status}[/] {escape(message)}")


def fresh_name(cfg: BenchConfig) -> BenchConfig:
    """--new: the first NAME, NAME-2, NAME-3 ... that does not exist yet."""
    base, k = cfg.experiment_name, 1
    name = base
    while (Path(cfg.out) / name).exists():
        k += 1
        name = f"{base}-{k}"
    return replace(cfg, name=name)


def run_bench_command(cfg: BenchConfig, out: Console, err: Console, new: bool = False, quiet: bool = False) -> int:
    """Run the benchmark with a live display, write and print the leaderboard; returns the exit code."""
    from alseg.reporting import report_experiments

    if new:
        cfg = fresh_name(cfg)
    specs = resolve_strategies(cfg)
    n_runs = cfg.seeds * (len(specs) + int(cfg.full))
    columns = [SpinnerColumn(), TextColumn("{task.description}", justify="left"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=out, disable=quiet, transient=False) as progress:
        load = progress.add_task(f"loading {cfg.dataset}", total=None)

        def data_progress(done: int, total: int) -> None:
            progress.update(load, completed=done, total=total)

        data = load_data(cfg, data_progress)
        progress.remove_task(load)
        out.print(dataset_summary(data), highlight=False)
        out.print(f"strategies: {', '.join(s.run_name for s in specs)}; seeds: {cfg.seeds}; "
                  f"experiment: {cfg.experiment_dir}", highlight=False)
        hooks = RichHooks(progress, n_runs) if not quiet else ProgressHooks()
        result = run_benchmark(cfg, hooks, data=data)
    files, tables = report_experiments([cfg.experiment_dir], cfg.experiment_dir)
    for table in tables:
        out.print(table)
    out.print(f"results: [bold]{cfg.experiment_dir}[/] ({', '.join(p.name for p in files)})")
    if result.failed:
        for run in result.failed:
            err.print(f"[red]{run.status}:[/] {escape(run.message)}", highlight=False)
        err.print(f"{len(result.failed)} run(s) did not finish; the leaderboard marks them")
        return 1
    return 0
