"""Leaderboard tables (cells, Markdown, LaTeX, CSV) built from one ReportData."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import pandas as pd

from alseg.report.bundle import ReportData
from alseg.report.compute import METRICS, REFERENCE, percent_of_full
from alseg.report.format import (
    DASH,
    Cell,
    best_flags,
    fmt_mean_std,
    fmt_num,
    fmt_p,
    latex_table,
    markdown_table,
    stars,
)
from alseg.report.stats import VARIANT_COLUMNS

Table = tuple[list[str], list[list[Cell]]]


def _by_strategy(frame: pd.DataFrame) -> dict[str, dict]:
    """Rows of a per-strategy frame as {strategy: row dict}."""
    return {str(r["strategy"]): r for r in frame.to_dict("records")} if len(frame) else {}


def _column(values: list[object], texts: list[str], higher: bool = True) -> list[Cell]:
    """Cells of one column with the best value flagged."""
    return [Cell(t, b) for t, b in zip(texts, best_flags(values, higher), strict=True)]


def _labels(data: ReportData) -> dict[str, str]:
    """Display label per strategy."""
    return dict(zip(data.curves["strategy"], data.curves["label"], strict=True))


def _metric_columns(data: ReportData, metric: str, budgets: Sequence[int]) -> tuple[list, list]:
    """Headers and cell columns of 'metric at n' for each budget plus its AUBC."""
    higher = METRICS[metric].higher_is_better
    name = METRICS[metric].label
    curves = data.curves.set_index(["strategy", "n_labeled"])
    headers, columns = [], []
    for n in budgets:
        rows = [curves.loc[(s, n)] if (s, n) in curves.index else None for s in data.order]
        means = [r[f"{metric}_mean"] if r is not None else None for r in rows]
        texts = [
            fmt_mean_std(r[f"{metric}_mean"], r[f"{metric}_std"]) if r is not None else DASH for r in rows
        ]
        headers.append(f"{name}@{n}")
        columns.append(_column(means, texts, higher))
    aubc = _by_strategy(data.aubc.get(metric, pd.DataFrame()))
    rows = [aubc.get(s) for s in data.order]
    means = [r["aubc_mean"] if r else None for r in rows]
    texts = [fmt_mean_std(r["aubc_mean"], r["aubc_std"]) if r else DASH for r in rows]
    headers.append(f"AUBC ({name})")
    columns.append(_column(means, texts, higher))
    return headers, columns


def main_table(data: ReportData, budgets: str = "all") -> Table:
    """The leaderboard: seeds, metric per budget ('all' or 'final'), AUBC, rank, p, efficiency."""
    m = data.metric
    labels = _labels(data)
    aubc = _by_strategy(data.aubc.get(m, pd.DataFrame()))
    tests = _by_strategy(data.tests.get(m, pd.DataFrame()))
    eff = _by_strategy(data.efficiency)
    max_seeds = data.curves.groupby("strategy")["n_seeds"].max().to_dict()
    grid = data.budgets if budgets == "all" else data.budgets[-1:]
    headers, metric_cols = _metric_columns(data, m, grid)
    seeds, rank, pval, effc = [], [], [], []
    for s in data.order:
        a = aubc.get(s) or {}
        full, partial = int(a.get("n_seeds", 0)), int(max_seeds.get(s, 0)) - int(a.get("n_seeds", 0))
        seeds.append(Cell(f"{full}" + (f" (+{partial} partial)" if partial > 0 else "")))
        r = a.get("rank")
        rank.append(None if r is None or pd.isna(r) else int(r))
        t = tests.get(s)
        if s == REFERENCE:
            pval.append(Cell("ref."))
        elif t is None or t["test"] == "n/a":
            pval.append(Cell("n/a"))
        else:
            pval.append(Cell(f"{fmt_p(t['p_value'])}{stars(t['p_value'])} ({t['test']})"))
        e = eff.get(s)
        if e is None:
            effc.append(None)
        elif not e["reached"]:
            effc.append("not reached")
        else:
            saving = int(e["saving"])
            effc.append(f"{int(e['n_to_target'])}" + (f" (−{saving})" if saving > 0 else ""))
    n_eff = [int(eff[s]["n_to_target"]) if s in eff and eff[s]["reached"] else None for s in data.order]
    rank_cells = _column(rank, [DASH if r is None else str(r) for r in rank], higher=False)
    columns = [[Cell(labels[s]) for s in data.order], seeds, *metric_cols, rank_cells, pval]
    headers = ["Strategy", "Seeds", *headers, "Rank", "p vs Random"]
    if eff:
        columns.append(_column(n_eff, [t or DASH for t in effc], higher=False))
        headers.append("Labels to Random's final")
    pct = percent_of_full(data.curves, data.ceiling, m)
    if len(pct):
        vals = [pct.get(s) for s in data.order]
        columns.append(_column(vals, [fmt_num(v, 1) for v in vals]))
        headers.append("% of full")
    return headers, [list(row) for row in zip(*columns, strict=True)]


def metric_table(data: ReportData, metric: str) -> Table:
    """One metric's mean ± std at every labeled count, plus its AUBC."""
    labels = _labels(data)
    headers, cols = _metric_columns(data, metric, data.budgets)
    names = [Cell(labels[s]) for s in data.order]
    return ["Strategy", *headers], [list(r) for r in zip(names, *cols, strict=True)]


def times_table(data: ReportData) -> Table:
    """Mean seconds per round of training, pool pass and selection, and total per seed."""
    headers = ["Strategy", "Rounds", "Train s/round", "Pool pass s/round", "Select s/round", "Total s/seed"]
    rows = [
        [Cell(r["label"]), Cell(str(r["rounds"]))]
        + [Cell(fmt_num(r[c], 2)) for c in ("t_train", "t_pool", "t_select", "total_per_seed")]
        for r in data.times.to_dict("records")
    ]
    return headers, rows


def variants_table(data: ReportData) -> Table:
    """Each ablation (parameterised run) against its base: AUBC difference and paired p, Dice and mIoU."""
    labels = _labels(data)
    metrics = [m for m in dict.fromkeys((data.metric, "miou")) if m in data.variants]
    headers = ["Variant", "Base", "Seeds"]
    for m in metrics:
        headers += [f"Δ AUBC ({METRICS[m].label})", "p"]
    first = data.variants[metrics[0]] if metrics else pd.DataFrame()
    by_variant = {m: data.variants[m].set_index("strategy") for m in metrics}  # match rows by name, not position
    rows = []
    for r in first.to_dict("records"):
        row = [Cell(labels[r["strategy"]]), Cell(labels[r["base"]]), Cell(str(r["n_pairs"]))]
        for m in metrics:
            v = by_variant[m].loc[r["strategy"]]
            row += [Cell(f"{v['mean_diff']:+.4f}" if v["n_pairs"] else DASH),
                    Cell(fmt_p(v["p_value"]) + stars(v["p_value"]))]
        rows.append(row)
    return headers, rows


def penalty_table(data: ReportData) -> Table:
    """The penalty matrix with labels: row = winner, column = loser."""
    labels = _labels(data)
    p = data.penalty
    headers = ["winner \\ loser", *[labels[c] for c in p.columns]]
    rows = [[Cell(labels[i])] + [Cell(fmt_num(v, 2)) for v in p.loc[i]] for i in p.index]
    return headers, rows


def overlap_table(data: ReportData) -> Table:
    """Mean Jaccard of the selections of each pair of strategies, one column per round."""
    ov, labels = data.overlap, _labels(data)
    if ov.empty:
        return [], []
    rounds = sorted(ov["round"].unique())
    n_at = dict(zip(ov["round"], ov["n_labeled"], strict=True))
    headers = ["Pair", *[f"round {r} (n={n_at[r]})" for r in rounds]]
    rows = []
    for (a, b), g in ov.groupby(["strategy_a", "strategy_b"], sort=False):
        vals = dict(zip(g["round"], g["jaccard"], strict=True))
        rows.append([Cell(f"{labels[a]} vs {labels[b]}")] + [Cell(fmt_num(vals.get(r), 3)) for r in rounds])
    return headers, rows


def picked_table(data: ReportData) -> Table:
    """Mean predictive entropy of the picked images per strategy and round."""
    pk, labels = data.picked, _labels(data)
    if pk.empty:
        return [], []
    rounds = sorted(pk["round"].unique())
    headers = ["Strategy", *[f"round {r}" for r in rounds]]
    rows = []
    for s, g in pk.groupby("strategy", sort=False):
        vals = dict(zip(g["round"], g["picked_entropy"], strict=True))
        rows.append([Cell(labels[s])] + [Cell(fmt_num(vals.get(r), 4)) for r in rounds])
    return headers, rows


def failed_lines(data: ReportData) -> list[str]:
    """One '⚠ strategy seed s: status — message' line per failed run."""
    out = []
    for r in data.failed.to_dict("records"):
        msg = f" — {r['message']}" if r["message"] else ""
        out.append(f"⚠ {r['strategy']} seed {r['seed']}: {r['status']}{msg}")
    return out


def legend(data: ReportData) -> str:
    """The text under the main table explaining every column."""
    name = METRICS[data.metric].label
    parts = [
        f"{name}: mean ± std over seeds of the test-set mean ('–' std with one seed).",
        f"AUBC: trapezoid area under the {name} curve / (n_R − n_0), per seed, then mean ± std;"
        " only seeds with every budget count. Rank 1 = best mean AUBC.",
        "p vs Random: two-sided test on per-seed AUBC paired by seed (Wilcoxon signed-rank with"
        " ≥ 6 pairs, else paired t); * p<0.05, ** p<0.01.",
    ]
    if len(data.efficiency):
        e = data.efficiency.iloc[0]
        parts.append(
            f"Labels to Random's final: fewest labeled images whose mean {name} reaches Random's"
            f" at {e['final_budget']} ({fmt_num(e['target'])}); (−k) = labels saved."
        )
    if len(data.ceiling):
        c = data.ceiling.iloc[0]
        parts.append(
            f"% of full: final mean {name} / full supervision"
            f" ({fmt_mean_std(c[f'{data.metric}_mean'], c[f'{data.metric}_std'])},"
            f" n={c['n_labeled']}, {c['n_seeds']} seeds) × 100."
        )
    parts.append("Bold: best in column.")
    return " ".join(parts)


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
    data: ReportData,
    title: str,
    protocol: Mapping[str, object] | None = None,
    figures: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole leaderboard.md text: tables, notes, figures (relative links), protocol."""
    md = lambda t: markdown_table(*t)  # noqa: E731
    out = [f"# {title}\n"]
    if data.dataset:
        out.append(f"Dataset: `{data.dataset}` · strategies: {len(data.order)}\n")
    out += ["## Leaderboard\n", md(main_table(data)), legend(data) + "\n"]
    failed = failed_lines(data)
    if failed:
        out.append("Runs left out of the numbers (failed, interrupted or still running):\n\n"
                   + "".join(f"- {line}\n" for line in failed))
    for name, path in figures:
        out.append(f"![{name}]({path})\n")
    for m in ("miou", "iou"):
        if m in data.aubc:
            out += [f"## {METRICS[m].label} by labeled images\n", md(metric_table(data, m))]
    out += [
        "## Time per round\n",
        md(times_table(data)),
        "Pool pass and selection are averaged over rounds that ended in a selection.\n",
    ]
    variants = variants_table(data)
    if variants[1]:
        out += [
            "## Variants against their base strategy\n",
            md(variants),
            "Δ AUBC: mean over paired seeds of the variant's AUBC minus its base strategy's (negative ="
            " the variant is worse); p: the same seed-paired test as 'p vs Random'. For ablations this"
            " says whether removing a component costs more than the seed-to-seed spread.\n",
        ]
    if len(data.penalty) > 1:
        out += [
            "## Pairwise penalty matrix\n",
            md(penalty_table(data)),
            f"Entry (i, j): share of labeled counts (rounds ≥ 1; round 0 is shared) at which"
            f" i beats j on {METRICS[data.metric].label} (two-sided one-sample t-test on"
            " seed-paired differences, p < 0.05, mean > 0; BADGE).\n",
        ]
    if len(data.overlap):
        out += [
            "## Overlap of selections\n",
            md(overlap_table(data)),
            "Mean over seeds of the Jaccard index of the two strategies' picks.\n",
        ]
    if len(data.picked):
        out += ["## Predictive entropy of picked images\n", md(picked_table(data))]
    if protocol:
        out += ["## Protocol\n", _protocol_md(protocol)]
    return "\n".join(out)


def latex_report(data: ReportData) -> str:
    """leaderboard.tex: the main table and the mIoU table as booktabs tables."""
    name = METRICS[data.metric].label
    parts = [
        latex_table(*main_table(data), f"Leaderboard ({name}, mean ± std over seeds)", "tab:leaderboard")
    ]
    if "miou" in data.aubc:
        parts.append(latex_table(*metric_table(data, "miou"), "mIoU by labeled images", "tab:miou"))
    variants = variants_table(data)
    if variants[1]:
        parts.append(latex_table(*variants, "Variants against their base strategy (AUBC)", "tab:variants"))
    return "\n".join(parts)


def _csv(frame: pd.DataFrame) -> str:
    """Deterministic CSV text (6 significant digits, Unix newlines)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    return buf.getvalue()


def leaderboard_csv(data: ReportData) -> str:
    """leaderboard.csv: one row per strategy and labeled count (the ceiling as 'full')."""
    frames = [f for f in (data.curves, data.ceiling) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else data.curves
    return _csv(frame.reindex(columns=data.curves.columns))


def aubc_csv(data: ReportData) -> str:
    """aubc.csv: one row per strategy and metric: AUBC, rank, the test vs Random and, for a variant, vs its base."""
    frames = []
    for m, a in data.aubc.items():
        t = data.tests.get(m, pd.DataFrame(columns=["strategy"]))
        v = data.variants.get(m, pd.DataFrame(columns=VARIANT_COLUMNS))
        v = v.rename(columns={c: f"{c}_vs_base" for c in ("n_pairs", "test", "mean_diff", "p_value")})
        frames.append(a.merge(t, on="strategy", how="left").merge(v, on="strategy", how="left"))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return _csv(frame)


def overlap_csv(data: ReportData) -> str:
    """overlap.csv: mean Jaccard per pair of strategies and round."""
    return _csv(data.overlap)
