"""Renderers that draw computed frames on a matplotlib Axes, and a byte-stable PNG saver."""

from __future__ import annotations

import io
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from alseg.report.compute import METRICS, REFERENCE, with_regime

DPI = 120
CURVE_SIZE = (7.0, 4.5)  # inches → 840 × 540 px at 120 dpi
MATRIX_SIZE = (6.0, 5.0)  # inches → 720 × 600 px at 120 dpi
_PNG_METADATA = {"Software": None}  # no version string, so the same data gives the same bytes
TITLE_SIZE = 10  # points: a title with the label schedule still fits the 7-inch curve figure


def new_figure(size: tuple[float, float] = CURVE_SIZE) -> tuple[Figure, Axes]:
    """A pyplot-free Agg figure with one Axes (no global backend switch, nothing to close)."""
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes at the fixed size (no tight bbox, which would change the pixels)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return buf.getvalue()


def strategy_colors(order: list[str]) -> dict[str, tuple[float, ...]]:
    """One tab10 colour per strategy, by its place in the report order (the same in every figure)."""
    palette = matplotlib.colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(order)}


def render_curves(
    curves: pd.DataFrame, metric: str, ax: Axes, ceiling: float | None = None,
    colors: dict[str, tuple[float, ...]] | None = None, ceiling_seeds: int | None = None,
    title: str | None = None,
) -> Axes:
    """Mean curve ± std band per strategy against labeled images; Random dashed, ceiling dotted; optional title.

    When the lines average different numbers of seeds, each legend entry says how many ("(n=3)"),
    so a reader does not compare a 3-seed band with a 5-seed one unawares.
    """
    names = [str(n) for n in dict.fromkeys(curves["strategy"])]
    colors = {**strategy_colors(names), **(colors or {})}
    seeds = curves.groupby("strategy", sort=False)["n_seeds"].max().astype(int).to_dict() if len(curves) else {}
    shown_ceiling = ceiling is not None and np.isfinite(ceiling)
    counts = set(seeds.values()) | ({int(ceiling_seeds)} if shown_ceiling and ceiling_seeds else set())

    def legend(text: str, n: int | None) -> str:
        return f"{text} (n={n})" if len(counts) > 1 and n else text

    for name, g in curves.groupby("strategy", sort=False):
        g = g.sort_values("n_labeled")
        x = g["n_labeled"].to_numpy(dtype=float)
        mean = g[f"{metric}_mean"].to_numpy(dtype=float)
        std = np.nan_to_num(g[f"{metric}_std"].to_numpy(dtype=float))
        color = colors[str(name)]
        style = "--" if name == REFERENCE else "-"
        text = legend(str(g["label"].iloc[0]), seeds.get(name))
        ax.plot(x, mean, style, marker="o", ms=3.5, color=color, label=text)
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    if shown_ceiling:
        ax.axhline(ceiling, linestyle=":", color="black", linewidth=1.2,
                   label=legend("Full supervision", ceiling_seeds))
        low, high = ax.get_ylim()  # axhline does not autoscale: keep the ceiling off the frame
        pad = 0.04 * (max(high, ceiling) - low)
        ax.set_ylim(low, max(high, ceiling + pad))
    label = METRICS[metric].label if metric in METRICS else metric
    ax.set_xlabel("Labeled images")
    ax.set_ylabel(f"{label} (test)")
    if len(curves):
        ax.set_xticks(sorted({int(n) for n in curves["n_labeled"]}))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    return ax


def tick_label(name: object, width: int = 20) -> str:
    """A strategy label wrapped onto lines of about `width` characters, so long variant names fit."""
    return textwrap.fill(str(name), width=width, break_long_words=False)


def _heatmap(matrix: pd.DataFrame, ax: Axes, fmt: str, vmax: float) -> None:
    """A labelled heat map with each cell's value written in it."""
    values = matrix.to_numpy(dtype=float)
    ax.imshow(values, cmap="viridis", vmin=0.0, vmax=vmax)
    ax.set_xticks(range(matrix.shape[1]), [tick_label(c) for c in matrix.columns], rotation=45, ha="right",
                  rotation_mode="anchor", fontsize=7)
    ax.set_yticks(range(matrix.shape[0]), [tick_label(i) for i in matrix.index], fontsize=7)
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(
                c,
                r,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v < 0.6 * vmax else "black",
            )


def render_penalty(matrix: pd.DataFrame, ax: Axes, regime: str | None = None) -> Axes:
    """Heat map of the penalty matrix (row beats column), numbers in the cells, the label schedule in the title."""
    _heatmap(matrix, ax, ".2f", vmax=1.0)
    ax.set_xlabel("loser")
    ax.set_ylabel("winner")
    ax.set_title(with_regime("Pairwise penalty matrix", regime), fontsize=TITLE_SIZE)
    return ax


def overlap_matrix(overlap: pd.DataFrame, order: list[str], rnd: int | None = None) -> pd.DataFrame:
    """Symmetric matrix of mean Jaccard at one round (default: the last selection round)."""
    m = pd.DataFrame(np.nan, index=order, columns=order)
    if overlap.empty:
        return m
    rnd = int(overlap["round"].max()) if rnd is None else rnd
    for r in overlap[overlap["round"] == rnd].itertuples(index=False):
        m.loc[r.strategy_a, r.strategy_b] = m.loc[r.strategy_b, r.strategy_a] = r.jaccard
    for name in order:
        m.loc[name, name] = 1.0
    return m


def render_overlap(
    overlap: pd.DataFrame, ax: Axes, labels: dict[str, str] | None = None, rnd: int | None = None,
    regime: str | None = None,
) -> Axes:
    """Heat map of mean Jaccard between strategies' picks at one round (default: the last), schedule in the title."""
    order = list(dict.fromkeys([*overlap["strategy_a"], *overlap["strategy_b"]]))
    m = overlap_matrix(overlap, order, rnd)
    if labels:
        m.index = m.columns = [labels.get(s, s) for s in order]
    _heatmap(m, ax, ".2f", vmax=1.0)
    shown = int(overlap["round"].max()) if rnd is None and len(overlap) else rnd
    ax.set_title(with_regime(f"Jaccard overlap of selections, round {shown}", regime), fontsize=TITLE_SIZE)
    return ax
