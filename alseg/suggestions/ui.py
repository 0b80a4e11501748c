"""Terminal side of `alseg suggest`: progress bars for loading, training and the pool pass, then the picks.

It does no work of its own: `run_suggest` trains and selects; this module draws what it hears (the events of
`alseg.events` plus `PoolProgress`) and prints the table of suggestions.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    Progress,
    TaskID,
)
from rich.table import Table

from alseg.events import DataLoaded, DataLoading, EpochDone, Note, Phase, RoundStarted
from alseg.suggestions.events import PoolProgress
from alseg.suggestions.outputs import PREDICTED
from alseg.suggestions.run import SuggestRequest, SuggestResult, run_suggest
from alseg.ui import progress_columns


class SuggestRenderer:
    """Bars for decoding the folder, the training epochs and the pool pass; notes and the summary line."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.load: TaskID | None = None
        self.epochs: TaskID | None = None
        self.pool: TaskID | None = None

    def __call__(self, event: Any) -> None:
        """Draw one event."""
        p = self.p
        if isinstance(event, DataLoading):
            if self.load is None:
                self.load = p.add_task("decoding images and masks", total=None)
            p.update(self.load, completed=event.done, total=event.total)
        elif isinstance(event, DataLoaded):
            if self.load is not None:
                p.remove_task(self.load)
                self.load = None
            p.console.print(event.summary, highlight=False)
        elif isinstance(event, Note):
            p.console.print(f"[yellow]note:[/] {escape(event.text)}", highlight=False)
        elif isinstance(event, RoundStarted):
            self.epochs = p.add_task(f"train on {event.n_labeled} labeled (round {event.round})", total=event.epochs)
        elif isinstance(event, EpochDone) and self.epochs is not None:
            p.update(self.epochs, completed=event.epoch, description=f"train loss {event.loss:.3f}")
        elif isinstance(event, PoolProgress):
            if self.pool is None:
                self.pool = p.add_task("pool pass", total=max(event.total, 1))
            p.update(self.pool, completed=event.done)
        elif isinstance(event, Phase) and event.text != "pool pass":
            p.console.print(f"{escape(event.text)} ...", highlight=False)


class QuietRenderer:
    """--quiet: no bars; the summary line and the notes only."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out, self.err = out, err

    def __call__(self, event: Any) -> None:
        """Print the summary line and notes."""
        if isinstance(event, Note):
            self.err.print(f"note: {escape(event.text)}", highlight=False)
        elif isinstance(event, DataLoaded):
            self.out.print(event.summary, highlight=False)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def suggestions_table(result: SuggestResult) -> Table:
    """The picks as a terminal table (every column of suggestions.csv)."""
    frame = result.frame
    table = Table(title=f"annotate next (round {result.round}): {len(frame)} images")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column == "file" else "right")
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            cells.append(f"{value:.1%}" if column == PREDICTED else _cell(value))
        table.add_row(*(escape(c) for c in cells))
    return table


def run_suggest_command(request: SuggestRequest, out: Console, err: Console, quiet: bool = False) -> int:
    """Run suggest with a live display, then print the picks and where they were written; returns the exit code."""
    try:
        with Progress(*progress_columns(), console=out, disable=quiet, transient=False) as progress:
            renderer = QuietRenderer(out, err) if quiet else SuggestRenderer(progress)
            result = run_suggest(request, renderer)
    except KeyboardInterrupt:
        err.print("interrupted: model.pt is written last, so --out still holds the previous round's model; rerun "
                  "the same command to redo this round")
        return 130
    out.print(suggestions_table(result))
    out.print(f"written to [bold]{escape(str(result.out))}[/]: " + ", ".join(p.name for p in result.files),
              highlight=False)
    out.print("next: annotate these images (masks/ under the same file names), then run the same command again",
              highlight=False)
    return 0
