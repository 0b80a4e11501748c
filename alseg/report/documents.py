"""The text files of a report (leaderboard.md, leaderboard.tex, the CSVs), each rendered from one Leaderboard."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pandas as pd

from alseg.report.compute import METRICS, REFERENCE, with_regime
from alseg.report.format import latex_table, markdown_table
from alseg.report.stats import TEST_COLUMNS, VARIANT_COLUMNS
from alseg.report.tables import TIMES_MARKS, Leaderboard


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
    extra_tests: Sequence[str] = (),
) -> str:
    """The whole leaderboard.md text: tables, verdicts, notes, figures (relative links), protocol.

    `extra_tests` names the --extra-test datasets, whose own leaderboards (extra-test-NAME/) are linked.

    Every table heading names the label schedule ("labels 30 + 5 × 30"): it is part of what a number means.
    """
    data = board.data
    md = lambda t: markdown_table(*t)  # noqa: E731
    h2 = lambda text: f"## {with_regime(text, board.regime)}\n"  # noqa: E731
    out = [f"# {title}\n"]
    if data.dataset:
        schedule = f" · labels: {board.regime}" if board.regime else ""
        out.append(f"Dataset: `{data.dataset}` · strategies: {len(data.order)}{schedule}\n")
    out += [h2("Leaderboard"), md(board.main), board.legend + "\n"]
    if board.verdicts:
        out += [f"### {with_regime(f'Verdicts against Random on {METRICS[data.metric].label} AUBC', board.regime)}\n",
                "".join(f"- {line}\n" for line in board.verdicts)]
    if extra_tests:
        out.append("The same models on other datasets' test splits (--extra-test, never trained or selected on): "
                   + ", ".join(f"[{name}](extra-test-{name}/leaderboard.md)" for name in extra_tests) + ".\n")
    if board.failed:
        out.append("Runs left out of the numbers (failed, interrupted or still running):\n\n"
                   + "".join(f"- {line}\n" for line in board.failed))
    for name, path in figures:
        out.append(f"![{name}]({path})\n")
    for m, table in board.metrics.items():
        out += [h2(f"{METRICS[m].label} by labeled images"), md(table)]
    out += [
        h2("Time per round"),
        md(board.times),
        "Pool pass and selection are averaged over rounds that ended in a selection.\n",
        *(f"{mark} {text}.\n" for mark, text in TIMES_MARKS.items()
          if any(mark in row[0].text for row in board.times[1])),
    ]
    if board.variants[1]:
        out += [
            h2("Variants against their base strategy"),
            md(board.variants),
            "Δ AUBC: mean over paired seeds of the variant's AUBC minus its base strategy's (negative ="
            " the variant is worse); p: the same seed-paired test as 'p vs Random'; MDE and seeds needed as"
            " in the leaderboard, for the variant's differences from its base. For ablations this says"
            " whether removing a component costs more than the seed-to-seed spread, and how small a cost"
            " these seeds could have shown.\n",
        ]
    if len(data.penalty) > 1:
        out += [
            h2("Pairwise penalty matrix"),
            md(board.penalty),
            f"Entry (i, j): share of labeled counts (rounds ≥ 1; round 0 is shared) at which"
            f" i beats j on {METRICS[data.metric].label} (two-sided one-sample t-test on"
            " seed-paired differences, p < 0.05, mean > 0; BADGE).\n",
        ]
    if len(data.overlap):
        out += [
            h2("Overlap of selections"),
            md(board.overlap),
            "Mean over seeds of the Jaccard index of the two strategies' picks.\n",
        ]
    if len(data.picked):
        out += [h2("Predictive entropy of picked images"), md(board.picked)]
    if protocol:
        out += ["## Protocol\n", _protocol_md(protocol)]
    return "\n".join(out)


def latex_report(board: Leaderboard) -> str:
    """leaderboard.tex: the main, mIoU and variants tables as booktabs tables, the label schedule in each caption."""
    name = METRICS[board.data.metric].label
    schedule = f"; labels {board.regime}" if board.regime else ""
    parts = [latex_table(*board.main, f"Leaderboard ({name}, mean ± std over seeds{schedule})", "tab:leaderboard")]
    if "miou" in board.metrics:
        parts.append(latex_table(*board.metrics["miou"], with_regime("mIoU by labeled images", board.regime),
                                 "tab:miou"))
    if board.variants[1]:
        parts.append(latex_table(*board.variants, f"Variants against their base strategy (AUBC{schedule})",
                                 "tab:variants"))
    return "\n".join(parts)


def _csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV text (6 significant digits, Unix newlines)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    return buf.getvalue()


BOARD_TEST_COLUMNS = ("test", "p_value", "p_holm", "mde", "seeds_needed")  # leaderboard.csv's test columns


def leaderboard_csv(board: Leaderboard) -> str:
    """leaderboard.csv: one row per strategy and labeled count (the ceiling as 'full').

    After the curves, the strategy's AUBC test against Random on the headline metric (the same on each of its
    rows; empty for Random and the ceiling): `<metric>_aubc_test`, `_p_value`, `_p_holm`, `_mde`, `_seeds_needed`.
    """
    data = board.data
    frames = [f for f in (data.curves, data.ceiling) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else data.curves
    frame = frame.reindex(columns=data.curves.columns)
    tests = data.tests.get(data.metric, pd.DataFrame(columns=TEST_COLUMNS))
    tests = tests[tests["strategy"] != REFERENCE][["strategy", *BOARD_TEST_COLUMNS]]
    tests = tests.rename(columns={c: f"{data.metric}_aubc_{c}" for c in BOARD_TEST_COLUMNS})
    return _csv(frame.merge(tests, on="strategy", how="left"))


def aubc_csv(board: Leaderboard) -> str:
    """aubc.csv: one row per strategy and metric: AUBC, rank, the test vs Random and, for a variant, vs its base."""
    data = board.data
    frames = []
    for m, a in data.aubc.items():
        t = data.tests.get(m, pd.DataFrame(columns=["strategy"]))
        v = data.variants.get(m, pd.DataFrame(columns=VARIANT_COLUMNS))
        v = v.rename(columns={c: f"{c}_vs_base" for c in VARIANT_COLUMNS if c not in ("strategy", "base")})
        frames.append(a.merge(t, on="strategy", how="left").merge(v, on="strategy", how="left"))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return _csv(frame)


def overlap_csv(board: Leaderboard) -> str:
    """overlap.csv: mean Jaccard per pair of strategies and round."""
    return _csv(board.data.overlap)
