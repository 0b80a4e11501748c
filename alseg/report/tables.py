"""The report's tables as cells, built once from one ReportData into a Leaderboard that every view shares."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from alseg.report.bundle import ReportData
from alseg.report.compute import METRICS, REFERENCE, percent_of_full, resolve_regime
from alseg.report.format import (
    DASH,
    Cell,
    best_flags,
    fmt_mean_std,
    fmt_num,
    fmt_p,
    stars,
)
from alseg.report.stats import ALPHA, POWER, SEEDS_CAP

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


def _missing(x: object) -> bool:
    """True for None, NaN and pandas NA."""
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def fmt_seeds(n: object, mean_diff: object, cap: int = SEEDS_CAP) -> str:
    """Seeds needed for 80 % power as shown: the number, '∞' for a zero difference, '> cap' beyond the search."""
    if _missing(mean_diff):
        return "n/a"
    if not _missing(n):
        return str(int(n))  # type: ignore[call-overload]
    return "∞" if float(mean_diff) == 0 else f"> {cap}"  # type: ignore[arg-type]


def _test_cells(t: Mapping | None, reference: bool) -> list[Cell]:
    """The p, Holm p, MDE and seeds-needed cells of one strategy's test against Random."""
    if reference:
        return [Cell("ref."), Cell(DASH), Cell(DASH), Cell(DASH)]
    if t is None or t["test"] == "n/a":
        return [Cell("n/a"), Cell("n/a"), Cell(DASH), Cell(DASH)]
    return [
        Cell(f"{fmt_p(t['p_value'])}{stars(t['p_value'])} ({t['test']})"),
        Cell(f"{fmt_p(t['p_holm'])}{stars(t['p_holm'])}"),
        Cell(fmt_num(t["mde"])),
        Cell(fmt_seeds(t["seeds_needed"], t["mean_diff"])),
    ]


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
    seeds, rank, tested, effc = [], [], [], []
    for s in data.order:
        a = aubc.get(s) or {}
        full, partial = int(a.get("n_seeds", 0)), int(max_seeds.get(s, 0)) - int(a.get("n_seeds", 0))
        seeds.append(Cell(f"{full}" + (f" (+{partial} partial)" if partial > 0 else "")))
        r = a.get("rank")
        rank.append(None if r is None or pd.isna(r) else int(r))
        tested.append(_test_cells(tests.get(s), s == REFERENCE))
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
    test_cols = [list(col) for col in zip(*tested, strict=True)] if tested else [[], [], [], []]
    columns = [[Cell(labels[s]) for s in data.order], seeds, *metric_cols, rank_cells, *test_cols]
    headers = ["Strategy", "Seeds", *headers, "Rank", "p vs Random", "Holm p", "MDE", "Seeds needed"]
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
        [Cell(r["label"] + times_marks(r)), Cell(str(r["rounds"]))]
        + [Cell(fmt_num(r[c], 2)) for c in ("t_train", "t_pool", "t_select", "total_per_seed")]
        for r in data.times.to_dict("records")
    ]
    return headers, rows


#: The marks of the times table and what they mean (shown under it when used).
TIMES_MARKS = {
    "‡": "round 0 came from the seed's shared first round: its cost is in shared-round0.json, counted once, and "
         "left out of the per-round means",
    "†": "timed while other runs computed side by side (--workers); the most at once is in the records' workers",
}


def times_marks(row: dict) -> str:
    """The marks a times-table row carries: ‡ shared round 0, † timed under parallelism."""
    return ("‡" if row.get("shared_round0") else "") + ("†" if int(row.get("workers", 1) or 1) > 1 else "")


def variants_table(data: ReportData) -> Table:
    """Each ablation against its base: AUBC difference, paired p, MDE and seeds needed, for Dice and mIoU."""
    labels = _labels(data)
    metrics = [m for m in dict.fromkeys((data.metric, "miou")) if m in data.variants]
    headers = ["Variant", "Base", "Seeds"]
    for m in metrics:
        headers += [f"Δ AUBC ({METRICS[m].label})", "p", "MDE", "Seeds needed"]
    first = data.variants[metrics[0]] if metrics else pd.DataFrame()
    by_variant = {m: data.variants[m].set_index("strategy") for m in metrics}  # match rows by name, not position
    rows = []
    for r in first.to_dict("records"):
        row = [Cell(labels[r["strategy"]]), Cell(labels[r["base"]]), Cell(str(r["n_pairs"]))]
        for m in metrics:
            v = by_variant[m].loc[r["strategy"]]
            row += [Cell(f"{v['mean_diff']:+.4f}" if v["n_pairs"] else DASH),
                    Cell(fmt_p(v["p_value"]) + stars(v["p_value"])),
                    Cell(fmt_num(v["mde"])),
                    Cell(fmt_seeds(v["seeds_needed"], v["mean_diff"]) if v["n_pairs"] >= 2 else DASH)]
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


def _need(n_seeds: int, needed: object, mean_diff: float) -> str:
    """How many seeds the observed difference would need for 80 % power, in words."""
    if _missing(needed):
        return "no number of seeds resolves a zero difference" if mean_diff == 0 else f"would need > {SEEDS_CAP} seeds"
    k = int(needed)  # type: ignore[call-overload]
    return f"would need ~{k} seeds" if k > n_seeds else f"~{k} seeds give {POWER:.0%} power at this difference"


def _tests(k: int) -> str:
    """'1 test', '7 tests'."""
    return f"{k} test" if k == 1 else f"{k} tests"


def verdict(label: str, t: Mapping, family: int, alpha: float = ALPHA) -> str:
    """One line on what the seeds resolve about a strategy against Random: a Holm-corrected finding, or the MDE.

    `t` is the strategy's row of compute_paired_tests; `family` the number of tests Holm corrected over.
    """
    n = int(t["n_pairs"])
    if t["test"] == "n/a":
        return f"{label}: not tested against Random (fewer than 2 paired seeds)."
    d, p, h, m = float(t["mean_diff"]), float(t["p_value"]), float(t["p_holm"]), float(t["mde"])
    if d == 0 and float(t["sd_diff"]) == 0:
        return f"{label}: the same AUBC as Random on each of the {n} paired seeds."
    if h < alpha:
        side = "better" if d > 0 else "worse"
        return f"{label}: {side} than Random ({d:+.4f} AUBC, Holm p = {fmt_p(h)} over {_tests(family)}, {n} seeds)."
    need = _need(n, t["seeds_needed"], d)
    if p < alpha:
        return (f"{label}: {d:+.4f} AUBC at p = {fmt_p(p)}, but Holm p = {fmt_p(h)} over {_tests(family)} against"
                f" Random: no finding; with {n} seeds the test resolves differences from {fmt_num(m)} AUBC ({need}).")
    return (f"{label}: no difference from Random resolvable below {fmt_num(m)} AUBC with {n} seeds"
            f" (observed {d:+.4f}, p = {fmt_p(p)}; {need}).")


def verdict_lines(data: ReportData) -> list[str]:
    """The verdict of every strategy against Random on the headline metric's AUBC, in the report order."""
    tests = data.tests.get(data.metric, pd.DataFrame(columns=["strategy", "p_value"]))
    family = int(tests["p_value"].notna().sum())
    labels = _labels(data)
    rows = _by_strategy(tests)
    return [verdict(labels[s], rows[s], family) for s in data.order if s in rows]


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
        "Holm p: the same p after Holm–Bonferroni step-down over every test against Random.",
        f"MDE: the AUBC difference this test detects with {POWER:.0%} power at α = {ALPHA} (two-sided), given the"
        " paired seeds and the observed std of their differences (noncentral t; Wilcoxon as the t-test at"
        f" n·3/π pairs). Seeds needed: fewest seeds with {POWER:.0%} power for the observed mean difference and"
        f" std (> {SEEDS_CAP}: beyond the search; ∞: a zero difference).",
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
    verdicts: list[str]  # one line per strategy: what its seeds resolve against Random
    regime: str | None  # the label schedule, "30 + 5 × 30", shown in every title


def with_protocol(board: Leaderboard, protocol: Mapping[str, object] | None) -> Leaderboard:
    """The board with its label schedule read from the experiment's protocol (checked against the runs)."""
    return replace(board, regime=resolve_regime(board.data.budgets, protocol))


def final_view(table: Table, data: ReportData) -> Table:
    """The main table without the metric columns of budgets before the final one."""
    label = METRICS[data.metric].label
    earlier = {f"{label}@{n}" for n in data.budgets[:-1]}
    headers, rows = table
    keep = [i for i, h in enumerate(headers) if h not in earlier]
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in rows]


def build_leaderboard(data: ReportData, protocol: Mapping[str, object] | None = None) -> Leaderboard:
    """Build every table of a report from its computed frames, once; the protocol (if any) gives the schedule."""
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
        verdicts=verdict_lines(data),
        regime=resolve_regime(data.budgets, protocol),
    )
