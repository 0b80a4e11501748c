"""Write the report files atomically, render the terminal leaderboard, merge protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from alseg.errors import AlsegUsageError
from alseg.report import figures as fig
from alseg.report.bundle import ReportData, compute_report
from alseg.report.compute import METRICS, REFERENCE
from alseg.report.stats import variant_base
from alseg.report.tables import (
    aubc_csv,
    failed_lines,
    flatten_protocol,
    latex_report,
    leaderboard_csv,
    main_table,
    markdown_report,
    overlap_csv,
)
from alseg.store import atomic_write_bytes


@dataclass(frozen=True)
class ReportFiles:
    """Paths of everything write_report wrote (figures only where there was data to draw)."""

    markdown: Path
    csv: Path
    latex: Path
    aubc_csv: Path
    overlap_csv: Path
    figures: tuple[Path, ...]

    def all(self) -> list[Path]:
        """Every written path, text files first."""
        return [self.markdown, self.csv, self.latex, self.aubc_csv, self.overlap_csv, *self.figures]


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write a report file atomically (readers never see half a file); returns its path."""
    atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data, fault="report-write")
    return path


def _with_order(df: pd.DataFrame, order: Sequence[str] | None) -> pd.DataFrame:
    """Give the strategy column a Categorical order (unlisted strategies follow, sorted)."""
    if not order:
        return df
    rest = sorted(set(df["strategy"].astype(str)) - set(order))
    cats = list(dict.fromkeys([*order, *rest]))
    return df.assign(strategy=pd.Categorical(df["strategy"].astype(str), categories=cats))


def _figures(data: ReportData) -> dict[str, bytes]:
    """PNG bytes of each figure that has data to show."""
    out: dict[str, bytes] = {}
    ceiling = data.ceiling
    names = data.curves["strategy"].astype(str)
    variants = {s for s in names if variant_base(s) is not None}
    ablated = {variant_base(s) for s in variants} | variants | {REFERENCE}
    panels = {"curves": data.curves[~names.isin(variants)], "ablation": data.curves[names.isin(ablated)]}
    for kind, curves in panels.items():
        if kind == "ablation" and not variants:
            continue
        for m in ("dice", "miou"):
            if m not in data.aubc or curves.empty:
                continue
            f, ax = fig.new_figure(fig.CURVE_SIZE)
            c = float(ceiling[f"{m}_mean"].iloc[0]) if len(ceiling) else None
            n = int(ceiling["n_seeds"].iloc[0]) if len(ceiling) else None
            fig.render_curves(curves, m, ax, ceiling=c, colors=fig.strategy_colors(data.order), ceiling_seeds=n)
            out[f"{kind}_{m}.png"] = fig.png_bytes(f)
    labels = dict(zip(data.curves["strategy"], data.curves["label"], strict=True))
    if len(data.penalty) > 1:
        f, ax = fig.new_figure(fig.MATRIX_SIZE)
        p = data.penalty.rename(index=labels, columns=labels)
        fig.render_penalty(p, ax)
        out["penalty.png"] = fig.png_bytes(f)
    if len(data.overlap):
        f, ax = fig.new_figure(fig.MATRIX_SIZE)
        fig.render_overlap(data.overlap, ax, labels=labels)
        out["overlap.png"] = fig.png_bytes(f)
    return out


def write_report(
    df: pd.DataFrame,
    out_dir: Path,
    runs: pd.DataFrame | None = None,
    title: str = "alseg leaderboard",
    protocol: dict | None = None,
    *,
    metric: str = "dice",
    order: Sequence[str] | None = None,
) -> ReportFiles:
    """Compute everything once and write leaderboard.{md,csv,tex}, aubc.csv, overlap.csv, PNGs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = compute_report(_with_order(df, order), runs, metric)
    pngs = _figures(data)
    captions = {
        "curves_dice.png": "Dice curves",
        "curves_miou.png": "mIoU curves",
        "ablation_dice.png": "Dice curves of the variants (ablations) and their base",
        "ablation_miou.png": "mIoU curves of the variants (ablations) and their base",
        "penalty.png": "Penalty matrix",
        "overlap.png": "Selection overlap",
    }
    links = [(captions[name], name) for name in pngs]
    paths = []
    for name, blob in pngs.items():
        paths.append(atomic_write(out_dir / name, blob))
    return ReportFiles(
        markdown=atomic_write(out_dir / "leaderboard.md", markdown_report(data, title, protocol, links)),
        csv=atomic_write(out_dir / "leaderboard.csv", leaderboard_csv(data)),
        latex=atomic_write(out_dir / "leaderboard.tex", latex_report(data)),
        aubc_csv=atomic_write(out_dir / "aubc.csv", aubc_csv(data)),
        overlap_csv=atomic_write(out_dir / "overlap.csv", overlap_csv(data)),
        figures=tuple(paths),
    )


def render_terminal(df: pd.DataFrame, runs: pd.DataFrame | None = None, metric: str = "dice") -> Table:
    """The leaderboard as a rich Table: final-budget metric, best in bold green, * / ** vs Random."""
    data = compute_report(df, runs, metric)
    headers, rows = main_table(data, budgets="final")
    table = Table(
        title=f"alseg leaderboard — {data.dataset or 'results'} ({METRICS[metric].label})",
        title_justify="left",
    )
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[Text(c.text, style="bold green" if c.best else "") for c in row])
    notes = ["* p<0.05, ** p<0.01 vs Random (paired by seed on AUBC); bold green = best in column"]
    notes += failed_lines(data)
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table


_MISSING = "<missing>"


def merge_protocols(protocols: Mapping[str, Mapping], ignore: Sequence[str] = ()) -> dict:
    """The common (flattened, dotted keys) protocol of experiments; refuse when settings differ.

    `ignore` names settings allowed to differ (e.g. "seeds"); their merged value is
    {experiment: value}. Any other difference raises AlsegUsageError naming every differing
    setting and its value in each experiment.
    """
    if not protocols:
        return {}
    flat = {str(exp): flatten_protocol(p) for exp, p in protocols.items()}
    exps = sorted(flat)
    keys = list(dict.fromkeys(k for e in exps for k in flat[e]))
    merged: dict[str, object] = {}
    problems = []
    for key in keys:
        values = {e: flat[e].get(key, _MISSING) for e in exps}
        if all(v == values[exps[0]] for v in values.values()):
            merged[key] = values[exps[0]]
        elif key in ignore:
            merged[key] = values
        else:
            shown = ", ".join(
                f"{e}={values[e]!r}" if values[e] != _MISSING else f"{e}={_MISSING}" for e in exps
            )
            problems.append(f"'{key}' ({shown})")
    if problems:
        raise AlsegUsageError(
            "cannot merge experiments with different protocols: "
            + "; ".join(problems)
            + ". Rerun them with matching settings or report them separately."
        )
    return merged
