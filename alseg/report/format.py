"""Number formatting and plain Markdown/LaTeX table writers (no jinja2, deterministic text)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DASH = "–"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and whether it holds the best value of its column."""

    text: str
    best: bool = False


def _missing(x: object) -> bool:
    """True for None and NaN (including pandas NA)."""
    if x is None:
        return True
    try:
        return bool(math.isnan(float(x)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def fmt_num(x: object, digits: int = 4) -> str:
    """A metric with fixed decimals, or a dash when missing."""
    return DASH if _missing(x) else f"{float(x):.{digits}f}"  # type: ignore[arg-type]


def fmt_mean_std(mean: object, std: object, digits: int = 4) -> str:
    """'mean ± std' with a dash for a missing std (a single seed)."""
    if _missing(mean):
        return DASH
    return f"{fmt_num(mean, digits)} ± {fmt_num(std, digits)}"


def fmt_p(p: object) -> str:
    """A p-value with 3 decimals, '<0.001' below that, 'n/a' when missing."""
    if _missing(p):
        return "n/a"
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"  # type: ignore[arg-type]


def stars(p: object) -> str:
    """Significance marker: '**' for p < 0.01, '*' for p < 0.05, else ''."""
    if _missing(p):
        return ""
    return "**" if float(p) < 0.01 else "*" if float(p) < 0.05 else ""  # type: ignore[arg-type]


def best_flags(values: Sequence[object], higher_is_better: bool = True) -> list[bool]:
    """Mark the best non-missing values of a column (ties all marked; none if all are equal)."""
    vals = [None if _missing(v) else round(float(v), 12) for v in values]  # type: ignore[arg-type]
    present = [v for v in vals if v is not None]
    if len(set(present)) < 2:
        return [False] * len(values)
    best = max(present) if higher_is_better else min(present)
    return [v is not None and v == best for v in vals]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Cell | str]]) -> str:
    """A GitHub Markdown table; best cells in bold, first column left-aligned, others right."""

    def text(c: Cell | str) -> str:
        cell = c if isinstance(c, Cell) else Cell(str(c))
        body = cell.text.replace("|", "\\|")
        return f"**{body}**" if cell.best else body

    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join([":---"] + ["---:"] * (len(headers) - 1)) + " |")
    lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters and spell ±, – and < in math mode."""
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$").replace(DASH, "--").replace("<", r"$<$")


def latex_table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell | str]], caption: str, label: str
) -> str:
    """A booktabs table (toprule/midrule/bottomrule); best cells in bold."""

    def text(c: Cell | str) -> str:
        cell = c if isinstance(c, Cell) else Cell(str(c))
        body = latex_escape(cell.text)
        return rf"\textbf{{{body}}}" if cell.best else body

    spec = "l" + "r" * (len(headers) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(text(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
