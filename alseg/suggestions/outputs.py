"""What suggest writes into --out: suggestions.csv, suggestions.png, suggestions.html and suggest.json.

The suggestions table has one row per pick, in the order the strategy returned them: `rank`, `file`,
`score` (the strategy's own ranking score, `Strategy.selection_scores`, where it has one and it needs
nothing beyond the pool signals; empty otherwise), `entropy` (computed for every strategy), every other
per-image pool signal the strategy declared, and `predicted_foreground`. Every file is written atomically,
suggest.json after the others (and model.pt, by `alseg.suggestions.run`, after suggest.json).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alseg.round import DIAGNOSTIC_SIGNAL
from alseg.store import atomic_write_bytes, atomic_write_text
from alseg.strategies.needs import Needs
from alseg.strategies.signals import SIGNALS
from alseg.suggestions.sheet import contact_sheet, html_page, png_bytes

CSV_NAME, SHEET_NAME, HTML_NAME, SUMMARY_NAME, MODEL_NAME = (
    "suggestions.csv", "suggestions.png", "suggestions.html", "suggest.json", "model.pt")
PREDICTED = "predicted_foreground"
DIGITS = 6  # significant digits of the numbers in suggestions.csv (the returned frame holds the same values)


def signal_keys(needs: Needs, arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The per-image signals shown for each pick: entropy, then the strategy's declared 1-D pool keys (table order)."""
    wanted = {DIAGNOSTIC_SIGNAL} | {k for k in needs.pool_keys if np.asarray(arrays[k]).ndim == 1}
    return [k for s in SIGNALS for k in s.keys if k in wanted]


def rounded(value: float) -> float:
    """A number with DIGITS significant digits (NaN stays NaN)."""
    return value if not math.isfinite(value) else float(f"{value:.{DIGITS}g}")


def suggestions_frame(files: Sequence[str], chosen: np.ndarray, pool: np.ndarray, scores: np.ndarray | None,
                      arrays: Mapping[str, np.ndarray], keys: Sequence[str], predicted: np.ndarray) -> pd.DataFrame:
    """One row per pick (in the strategy's order): rank, file, score, the signals and the predicted foreground."""
    pos = np.searchsorted(pool, chosen)
    columns: dict[str, list[Any]] = {
        "rank": list(range(1, len(chosen) + 1)),
        "file": [files[i] for i in chosen],
        "score": [rounded(float(scores[p])) if scores is not None else math.nan for p in pos],
    }
    for key in keys:
        columns[key] = [rounded(float(arrays[key][p])) for p in pos]
    columns[PREDICTED] = [rounded(float(v)) for v in predicted]
    return pd.DataFrame(columns)


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def captions(frame: pd.DataFrame) -> list[list[str]]:
    """Caption lines of each pick for the sheet and the page: rank and file, score and entropy, predicted area."""
    return [[f"#{row['rank']} {row['file']}",
             f"score {_number(row['score'])}, entropy {_number(row[DIAGNOSTIC_SIGNAL])}",
             f"predicted foreground {row[PREDICTED]:.1%}"] for row in frame.to_dict("records")]


def write_outputs(out: Path, frame: pd.DataFrame, tiles: Sequence[np.ndarray], title: str,
                  paragraphs: Sequence[str], summary: Mapping[str, Any]) -> list[Path]:
    """Write the CSV, the contact sheet, the HTML page and then suggest.json; return their paths."""
    lines = captions(frame)
    paths = [out / CSV_NAME, out / SHEET_NAME, out / HTML_NAME, out / SUMMARY_NAME]
    atomic_write_text(paths[0], frame.to_csv(index=False))
    atomic_write_bytes(paths[1], png_bytes(contact_sheet(tiles, lines)))
    atomic_write_text(paths[2], html_page(title, paragraphs, tiles, lines))
    atomic_write_text(paths[3], json.dumps(summary, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return paths
