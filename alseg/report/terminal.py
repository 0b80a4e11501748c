"""The leaderboard in the terminal: the final-budget view of the report's Leaderboard as a rich Table."""

from __future__ import annotations

import pandas as pd
from rich.table import Table
from rich.text import Text

from alseg.report.bundle import compute_report
from alseg.report.compute import METRICS
from alseg.report.stats import ALPHA, POWER
from alseg.report.tables import Leaderboard, build_leaderboard


def terminal_table(board: Leaderboard) -> Table:
    """The final-budget leaderboard: best in bold green, * / ** vs Random (raw and Holm), failed runs in the caption."""
    data = board.data
    headers, rows = board.final
    schedule = f", labels {board.regime}" if board.regime else ""
    table = Table(
        title=f"alseg leaderboard — {data.dataset or 'results'} ({METRICS[data.metric].label}{schedule})",
        title_justify="left",
    )
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[Text(c.text, style="bold green" if c.best else "") for c in row])
    notes = ["* p<0.05, ** p<0.01 vs Random (paired by seed on AUBC); Holm p: step-down over the tests vs Random;"
             f" MDE: AUBC difference found with {POWER:.0%} power at α = {ALPHA}; seeds needed: for {POWER:.0%} power"
             " at the observed difference; bold green = best in column"]
    notes += board.failed
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table


def render_terminal(df: pd.DataFrame, runs: pd.DataFrame | None = None, metric: str = "dice") -> Table:
    """The terminal leaderboard of a round table (computes the report; reuse a Leaderboard when you have one)."""
    return terminal_table(build_leaderboard(compute_report(df, runs, metric)))
