"""The text files of a report (leaderboard.md, leaderboard.tex, the CSVs), each rendered from one Leaderboard."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pandas as pd

from alseg.report.compute import METRICS
from alseg.report.format import latex_table, markdown_table
from alseg.report.stats import VARIANT_COLUMNS
from alseg.report.tables import Leaderboard


def flatten_protocol(protocol: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested settings as one level with dotted keys, in the given order."""
    out: dict[str, object] = {}
    for key, value in protocol.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_protocol(value, name + "."))
        else:
            out[name] = value
    return out


def _protocol_md(protocol: Mapping[str, object]) -> str:
    """Protocol settings as a Markdown bullet list."""

    def show(v: object) -> str:
        return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    return "".join(f"- `{k}`: {show(v)}\n" for k, v in flatten_protocol(protocol).items())


def markdown_report(
    board: Leaderboard,
    title: str,
    protocol: Mapping[str, object] | None = None,
    figures: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole leaderboard.md text: tables, notes, figures (relative links), protocol."""
    data = board.data
    md = lambda t: markdown_table(*t)  # noqa: E731
    out = [f"# {title}\n"]
    if data.dataset:
        out.append(f"Dataset: `{data.dataset}` · strategies: {len(data.order)}\n")
    out += ["## Leaderboard\n", md(board.main), board.legend + "\n"]
    if board.failed:
        out.append("Runs left out of the numbers (failed, interrupted or still running):\n\n"
                   + "".join(f"- {line}\n" for line in board.failed))
    for name, path in figures:
        out.append(f"![{name}]({path})\n")
    for m, table in board.metrics.items():
        out += [f"## {METRICS[m].label} by labeled images\n", md(table)]
    out += [
        "## Time per round\n",
        md(board.times),
        "Pool pass and selection are averaged over rounds that ended in a selection.\n",
    ]
    if board.variants[1]:
        out += [
            "## Variants against their base strategy\n",
            md(board.variants),
            "Δ AUBC: mean over paired seeds of the variant's AUBC minus its base strategy's (negative ="
            " the variant is worse); p: the same seed-paired test as 'p vs Random'. For ablations this"
            " says whether removing a component costs more than the seed-to-seed spread.\n",
        ]
    if len(data.penalty) > 1:
        out += [
            "## Pairwise penalty matrix\n",
            md(board.penalty),
            f"Entry (i, j): share of labeled counts (rounds ≥ 1; round 0 is shared) at which"
            f" i beats j on {METRICS[data.metric].label} (two-sided one-sample t-test on"
            " seed-paired differences, p < 0.05, mean > 0; BADGE).\n",
        ]
    if len(data.overlap):
        out += [
            "## Overlap of selections\n",
            md(board.overlap),
            "Mean over seeds of the Jaccard index of the two strategies' picks.\n",
        ]
    if len(data.picked):
        out += ["## Predictive entropy of picked images\n", md(board.picked)]
    if protocol:
        out += ["## Protocol\n", _protocol_md(protocol)]
    return "\n".join(out)


def latex_report(board: Leaderboard) -> str:
    """leaderboard.tex: the main table and the mIoU table as booktabs tables."""
    name = METRICS[board.data.metric].label
    parts = [latex_table(*board.main, f"Leaderboard ({name}, mean ± std over seeds)", "tab:leaderboard")]
    if "miou" in board.metrics:
        parts.append(latex_table(*board.metrics["miou"], "mIoU by labeled images", "tab:miou"))
    if board.variants[1]:
        parts.append(latex_table(*board.variants, "Variants against their base strategy (AUBC)", "tab:variants"))
    return "\n".join(parts)


def _csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV text (6 significant digits, Unix newlines)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    return buf.getvalue()


def leaderboard_csv(board: Leaderboard) -> str:
    """leaderboard.csv: one row per strategy and labeled count (the ceiling as 'full')."""
    data = board.data
    frames = [f for f in (data.curves, data.ceiling) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else data.curves
    return _csv(frame.reindex(columns=data.curves.columns))


def aubc_csv(board: Leaderboard) -> str:
    """aubc.csv: one row per strategy and metric: AUBC, rank, the test vs Random and, for a variant, vs its base."""
    data = board.data
    frames = []
    for m, a in data.aubc.items():
        t = data.tests.get(m, pd.DataFrame(columns=["strategy"]))
        v = data.variants.get(m, pd.DataFrame(columns=VARIANT_COLUMNS))
        v = v.rename(columns={c: f"{c}_vs_base" for c in ("n_pairs", "test", "mean_diff", "p_value")})
        frames.append(a.merge(t, on="strategy", how="left").merge(v, on="strategy", how="left"))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return _csv(frame)


def overlap_csv(board: Leaderboard) -> str:
    """overlap.csv: mean Jaccard per pair of strategies and round."""
    return _csv(board.data.overlap)
