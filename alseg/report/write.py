"""Write a report's files atomically: the text files and the figures of one Leaderboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alseg.report import figures as fig
from alseg.report.bundle import ReportData, compute_report
from alseg.report.compute import REFERENCE
from alseg.report.documents import aubc_csv, latex_report, leaderboard_csv, markdown_report, overlap_csv
from alseg.report.stats import variant_base
from alseg.report.tables import Leaderboard, build_leaderboard, with_protocol
from alseg.store import atomic_write_bytes


@dataclass(frozen=True)
class ReportFiles:
    """Paths of everything write_files wrote (figures only where there was data to draw)."""

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


def _figures(data: ReportData, regime: str | None = None) -> dict[str, bytes]:
    """PNG bytes of each figure that has data to show, the label schedule (`regime`) in every title."""
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
            fig.render_curves(curves, m, ax, ceiling=c, colors=fig.strategy_colors(data.order), ceiling_seeds=n,
                              title=fig.with_regime(CAPTIONS[f"{kind}_{m}.png"], regime))
            out[f"{kind}_{m}.png"] = fig.png_bytes(f)
    labels = dict(zip(data.curves["strategy"], data.curves["label"], strict=True))
    if len(data.penalty) > 1:
        f, ax = fig.new_figure(fig.MATRIX_SIZE)
        p = data.penalty.rename(index=labels, columns=labels)
        fig.render_penalty(p, ax, regime=regime)
        out["penalty.png"] = fig.png_bytes(f)
    if len(data.overlap):
        f, ax = fig.new_figure(fig.MATRIX_SIZE)
        fig.render_overlap(data.overlap, ax, labels=labels, regime=regime)
        out["overlap.png"] = fig.png_bytes(f)
    return out


CAPTIONS = {
    "curves_dice.png": "Dice curves",
    "curves_miou.png": "mIoU curves",
    "ablation_dice.png": "Dice curves of the variants (ablations) and their base",
    "ablation_miou.png": "mIoU curves of the variants (ablations) and their base",
    "penalty.png": "Penalty matrix",
    "overlap.png": "Selection overlap",
}


def write_files(
    board: Leaderboard, out_dir: Path, title: str = "alseg leaderboard", protocol: Mapping | None = None,
    extra_tests: Sequence[str] = (),
) -> ReportFiles:
    """Write the figures, then leaderboard.{md,csv,tex}, aubc.csv and overlap.csv, all from one Leaderboard."""
    out_dir = Path(out_dir)
    board = with_protocol(board, protocol)  # the label schedule from the protocol, checked before writing anything
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = _figures(board.data, board.regime)
    links = [(CAPTIONS[name], name) for name in pngs]
    paths = [atomic_write(out_dir / name, blob) for name, blob in pngs.items()]
    return ReportFiles(
        markdown=atomic_write(out_dir / "leaderboard.md", markdown_report(board, title, protocol, links, extra_tests)),
        csv=atomic_write(out_dir / "leaderboard.csv", leaderboard_csv(board)),
        latex=atomic_write(out_dir / "leaderboard.tex", latex_report(board)),
        aubc_csv=atomic_write(out_dir / "aubc.csv", aubc_csv(board)),
        overlap_csv=atomic_write(out_dir / "overlap.csv", overlap_csv(board)),
        figures=tuple(paths),
    )


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
    """Compute the report of a round table and write its files (write_files when a Leaderboard exists)."""
    board = build_leaderboard(compute_report(_with_order(df, order), runs, metric))
    return write_files(board, out_dir, title, protocol)
