"""The report's tables as cells, built once from one ReportData into a Leaderboard that every view shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    stars,
)

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


@dataclass(frozen=True)
class Leaderboard:
    """Every table of one report, built once: the Markdown, LaTeX and terminal views all read these."""

    data: ReportData
    main: Table  # the leaderboard at every budget
    final: Table  # the same at the final budget only (the terminal's view)
    metrics: dict[str, Table]  # mIoU and IoU by labeled images, where the rounds have them
    times: Table
    variants: Table
    penalty: Table
    overlap: Table
    picked: Table
    failed: list[str]
    legend: str


def final_view(table: Table, data: ReportData) -> Table:
    """The main table without the metric columns of budgets before the final one."""
    label = METRICS[data.metric].label
    earlier = {f"{label}@{n}" for n in data.budgets[:-1]}
    headers, rows = table
    keep = [i for i, h in enumerate(headers) if h not in earlier]
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in rows]


def build_leaderboard(data: ReportData) -> Leaderboard:
    """Build every table of a report from its computed frames, once."""
    main = main_table(data)
    return Leaderboard(
        data=data,
        main=main,
        final=final_view(main, data),
        metrics={m: metric_table(data, m) for m in ("miou", "iou") if m in data.aubc},
        times=times_table(data),
        variants=variants_table(data),
        penalty=penalty_table(data),
        overlap=overlap_table(data),
        picked=picked_table(data),
        failed=failed_lines(data),
        legend=legend(data),
    )
