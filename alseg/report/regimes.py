"""The regime summary: one dataset and training recipe under several budget regimes, side by side.

Each regime (initial, budget, rounds) is one experiment folder. For each regime and strategy: the AUBC and the
seed-paired test against Random with its Holm correction, computed exactly as that experiment's leaderboard
computes them (`compute_aubc`, `compute_paired_tests`); then who wins in each regime, and each strategy's rank in
every regime. `alseg report --regimes A B --out DIR`, `alseg report GRID` and the end of a grid `alseg bench`
write regimes.md and regimes.csv; like every report file they are a pure function of the run files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.table import Table as RichTable
from rich.text import Text

from alseg.errors import AlsegUsageError
from alseg.regimes import regime_dirs
from alseg.report.compute import METRICS, REFERENCE, REGIME_KEYS, al_rows, compute_aubc, get_metric, resolve_regime
from alseg.report.documents import _csv, _protocol_md, flatten_protocol
from alseg.report.format import DASH, Cell, best_flags, fmt_mean_std, fmt_p, markdown_table, stars
from alseg.report.load import Experiments, NothingToReport, load_experiments, report_experiments
from alseg.report.stats import ALPHA, compute_paired_tests
from alseg.report.tables import Table
from alseg.report.write import atomic_write
from alseg.store import ExperimentStore

MARKDOWN, CSV = "regimes.md", "regimes.csv"
COLUMNS = ["regime", "initial", "budget", "rounds", "experiment", "strategy", "label", "metric", "n_seeds",
           "aubc_mean", "aubc_std", "rank", "test", "n_pairs", "mean_diff", "p_value", "p_holm"]
_MISSING = "<missing>"


@dataclass(frozen=True)
class Regime:
    """One experiment folder as a regime: its label schedule, finished rounds and protocol (completed as stored)."""

    root: Path
    initial: int
    budget: int
    rounds: int
    text: str  # the label schedule, "30 + 5 × 30"
    exps: Experiments
    protocol: dict

    @property
    def key(self) -> tuple[int, int, int]:
        return self.initial, self.budget, self.rounds

    @property
    def folder(self) -> str:
        """The folder's own name, the regime's name in the summary (never the path it was given by)."""
        return Path(self.root).resolve().name


def load_regime(root: Path) -> Regime:
    """An experiment folder as a regime; its schedule read from the protocol and checked against its runs."""
    from alseg.experiment import stored_protocol

    exps = load_experiments([root])
    store = ExperimentStore(Path(root))
    protocol = stored_protocol(store, store.read_experiment() or {})
    missing = [k for k in REGIME_KEYS if k not in protocol]
    if missing:
        raise AlsegUsageError(f"{root}: its experiment.json names no {', '.join(missing)}, so its budget regime is "
                              "unknown; report it on its own with `alseg report`")
    text = resolve_regime(al_rows(exps.rounds)["n_labeled"], protocol)
    initial, budget, rounds = (int(protocol[k]) for k in REGIME_KEYS)
    return Regime(Path(root), initial, budget, rounds, text or "", exps, protocol)


def load_regimes(roots: Sequence[Path], skip_empty: bool = False) -> list[Regime]:
    """Regimes of the folders, in (initial, budget, rounds) order; refuse two folders of the same regime.

    `skip_empty` leaves out folders without a finished run (a grid mid-way); NothingToReport if none is left.
    """
    regimes: list[Regime] = []
    for root in roots:
        try:
            regimes.append(load_regime(Path(root)))
        except NothingToReport:
            if not skip_empty:
                raise
    if not regimes:
        raise NothingToReport(f"no finished run in {', '.join(map(str, roots))}: no regime to summarise yet")
    seen: dict[tuple[int, int, int], Regime] = {}
    for r in regimes:
        if r.key in seen:
            raise AlsegUsageError(f"{seen[r.key].root} and {r.root} are both the regime {r.text}: merge them into one "
                                  f"report (`alseg report {seen[r.key].root} {r.root} --out DIR`) or pass one of them")
        seen[r.key] = r
    return sorted(regimes, key=lambda r: r.key)


def common_protocol(regimes: Sequence[Regime]) -> dict[str, object]:
    """The protocol the regimes share (flattened), without initial/budget/rounds; refuse any other difference."""
    flat = [(r, {k: v for k, v in flatten_protocol(r.protocol).items() if k not in REGIME_KEYS}) for r in regimes]
    keys = list(dict.fromkeys(k for _, f in flat for k in f))
    problems = []
    for key in keys:
        values = [f.get(key, _MISSING) for _, f in flat]
        if any(v != values[0] for v in values):
            shown = ", ".join(f"{r.root}={v!r}" if v != _MISSING else f"{r.root}={_MISSING}"
                              for (r, _), v in zip(flat, values, strict=True))
            problems.append(f"'{key}' ({shown})")
    if problems:
        raise AlsegUsageError("a regime summary compares one dataset and training recipe under several budget "
                              "regimes, so the experiments may differ only in initial, budget and rounds; they "
                              f"differ in {'; '.join(problems)}. Report them separately, or rerun them with the "
                              "same settings")
    return dict(flat[0][1]) if flat else {}


def compute_regimes(regimes: Sequence[Regime], metric: str = "dice") -> pd.DataFrame:
    """One row per (regime, strategy): the leaderboard's AUBC, rank and paired test against Random (Holm within)."""
    get_metric(metric)
    frames = []
    for r in regimes:
        aubc = compute_aubc(r.exps.rounds, metric)
        tests = compute_paired_tests(r.exps.rounds, metric)
        frame = aubc.merge(tests[["strategy", "test", "n_pairs", "mean_diff", "p_value", "p_holm"]], on="strategy",
                           how="left")
        frames.append(frame.assign(regime=r.text, initial=r.initial, budget=r.budget, rounds=r.rounds,
                                   experiment=r.folder)[COLUMNS])
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    out["n_pairs"] = out["n_pairs"].astype("Int64")
    out["rank"] = out["rank"].astype("Int64")
    return out


def _label_list(labels: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + f" and {labels[-1]}"


def winner_line(rows: pd.DataFrame, alpha: float = ALPHA) -> str:
    """Who wins one regime: the highest mean AUBC, and which strategies differ from Random after Holm."""
    regime = str(rows["regime"].iloc[0])
    best = rows[(rows["rank"] == 1).fillna(False)]
    if best.empty:
        return f"{regime}: no strategy has a seed with every budget yet."
    tie = " (tie)" if len(best) > 1 else ""
    first = best.iloc[0]
    top = f"highest AUBC {_label_list(list(best['label']))}{tie}, {fmt_mean_std(first['aubc_mean'], first['aubc_std'])}"
    if REFERENCE not in set(rows["strategy"]):
        return f"{regime}: {top}; no Random runs, so nothing is tested against Random."
    tested = rows[rows["p_value"].notna()]
    if tested.empty:
        return f"{regime}: {top}; not tested against Random (fewer than 2 paired seeds)."
    family = f"after Holm over {len(tested)} test{'s' if len(tested) > 1 else ''} at α = {alpha}"
    found = tested[tested["p_holm"] < alpha]
    if found.empty:
        low = tested.loc[tested["p_holm"].idxmin()]
        return (f"{regime}: {top}; no strategy differs from Random {family} (smallest Holm p = "
                f"{fmt_p(low['p_holm'])}, {low['label']}).")
    parts = [f"{t['label']} {'better' if t['mean_diff'] > 0 else 'worse'} than Random (Δ {t['mean_diff']:+.4f}, "
             f"Holm p = {fmt_p(t['p_holm'])})" for t in found.to_dict("records")]
    return f"{regime}: {top}; {family}: {'; '.join(parts)}."


def winner_lines(frame: pd.DataFrame) -> list[str]:
    """The who-wins line of every regime, in regime order."""
    return [winner_line(g) for _, g in frame.groupby(["initial", "budget", "rounds"], sort=True)]


def _strategies(frame: pd.DataFrame) -> dict[str, str]:
    """Every strategy of the summary (Random first, then in order of appearance) with its display label."""
    names = dict(zip(frame["strategy"], frame["label"], strict=True))
    if REFERENCE in names:
        names = {REFERENCE: names[REFERENCE], **names}
    return names


def main_table(frame: pd.DataFrame, metric: str = "dice") -> Table:
    """One row per (regime, strategy): seeds, AUBC (best of its regime bold), rank, Δ, p and Holm p vs Random."""
    name = METRICS[metric].label
    headers = ["Regime", "Strategy", "Seeds", f"AUBC ({name})", "Rank", "Δ vs Random", "p vs Random", "Holm p"]
    rows: list[list[Cell]] = []
    for _, g in frame.groupby(["initial", "budget", "rounds"], sort=True):
        best = best_flags(list(g["aubc_mean"]), METRICS[metric].higher_is_better)
        for r, bold in zip(g.to_dict("records"), best, strict=True):
            if r["strategy"] == REFERENCE:
                tested = [Cell("ref."), Cell(DASH), Cell(DASH)]
            elif pd.isna(r["p_value"]):
                tested = [Cell(DASH), Cell("n/a"), Cell("n/a")]
            else:
                tested = [Cell(f"{r['mean_diff']:+.4f}"), Cell(f"{fmt_p(r['p_value'])}{stars(r['p_value'])} "
                                                              f"({r['test']})"),
                          Cell(f"{fmt_p(r['p_holm'])}{stars(r['p_holm'])}")]
            rank = DASH if pd.isna(r["rank"]) else str(int(r["rank"]))
            rows.append([Cell(r["regime"]), Cell(r["label"]), Cell(str(int(r["n_seeds"]))),
                         Cell(fmt_mean_std(r["aubc_mean"], r["aubc_std"]), bold), Cell(rank), *tested])
    return headers, rows


def rank_table(frame: pd.DataFrame) -> Table:
    """Each strategy's rank in every regime (columns in regime order; rank 1 bold)."""
    regimes = frame.drop_duplicates(["initial", "budget", "rounds"]).sort_values(["initial", "budget", "rounds"])
    headers = ["Strategy", *regimes["regime"]]
    ranks = {(r["strategy"], r["initial"], r["budget"], r["rounds"]): r["rank"] for r in frame.to_dict("records")}
    rows = []
    for strategy, label in _strategies(frame).items():
        cells = [Cell(label)]
        for reg in regimes.to_dict("records"):
            rank = ranks.get((strategy, reg["initial"], reg["budget"], reg["rounds"]))
            cells.append(Cell(DASH) if rank is None or pd.isna(rank) else Cell(str(int(rank)), int(rank) == 1))
        rows.append(cells)
    return headers, rows


def regimes_table(regimes: Sequence[Regime]) -> Table:
    """The regimes: label schedule, initial labels, labels per round, rounds, final labels and experiment folder."""
    headers = ["Regime", "Initial", "Per round", "Rounds", "Final labels", "Experiment"]
    rows = [[Cell(r.text), Cell(str(r.initial)), Cell(str(r.budget)), Cell(str(r.rounds)),
             Cell(str(r.initial + r.rounds * r.budget)), Cell(r.folder)] for r in regimes]
    return headers, rows


def legend(metric: str = "dice") -> str:
    """The text under the main table explaining every column."""
    name = METRICS[metric].label
    return (f"AUBC ({name}): per seed, the trapezoid area under the {name} curve / (n_R − n_0), then mean ± std over "
            "the seeds with every budget: the number of the regime's own leaderboard (its aubc.csv). Rank 1 = best "
            "mean AUBC within the regime; bold: best AUBC of its regime. Δ vs Random: mean over paired seeds of the "
            "strategy's AUBC minus Random's. p vs Random: two-sided test on per-seed AUBC paired by seed (Wilcoxon "
            "signed-rank with ≥ 6 pairs, else paired t); Holm p: Holm–Bonferroni step-down over the tests against "
            "Random within the regime, as its leaderboard corrects them; * p<0.05, ** p<0.01.")


def regimes_markdown(regimes: Sequence[Regime], frame: pd.DataFrame, protocol: Mapping[str, object],
                     metric: str = "dice") -> str:
    """The whole regimes.md text: the regimes, the per-regime table, who wins, ranks across regimes, protocol."""
    md = lambda t: markdown_table(*t)  # noqa: E731
    dataset = protocol.get("dataset", "results")
    out = [f"# alseg regime summary: {dataset}\n",
           f"Dataset: `{dataset}` · regimes: {len(regimes)} · strategies: {len(_strategies(frame))} · metric: "
           f"{METRICS[metric].label} AUBC\n",
           "## Regimes\n", md(regimes_table(regimes)),
           "Each regime is its own experiment folder with its own leaderboard; labels: initial + rounds × per "
           "round.\n",
           f"## AUBC ({METRICS[metric].label}) in each regime\n", md(main_table(frame, metric)), legend(metric) + "\n",
           "## Who wins in each regime\n", "".join(f"- {line}\n" for line in winner_lines(frame)),
           "## Rank in each regime\n", md(rank_table(frame)),
           "Rank by mean AUBC within each regime (1 = best; – = no seed with every budget, or not run there).\n"]
    if protocol:
        out += ["## Protocol (every regime; initial, budget and rounds as above)\n", _protocol_md(protocol)]
    return "\n".join(out)


def terminal_table(frame: pd.DataFrame, metric: str = "dice") -> RichTable:
    """The per-regime table for the terminal, the who-wins lines as its caption."""
    headers, rows = main_table(frame, metric)
    table = RichTable(title=f"alseg regime summary ({METRICS[metric].label} AUBC)", title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*[Text(c.text, style="bold green" if c.best else "") for c in row])
    table.caption = "\n".join(winner_lines(frame))
    table.caption_justify = "left"
    return table


def report_regimes(roots: Sequence[Path], out_dir: Path, metric: str = "dice",
                   skip_empty: bool = False) -> tuple[list[Path], list[RichTable]]:
    """Write regimes.md and regimes.csv for experiment folders that differ only in their budget regime."""
    regimes = load_regimes(roots, skip_empty)
    protocol = common_protocol(regimes)
    frame = compute_regimes(regimes, metric)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [atomic_write(out_dir / MARKDOWN, regimes_markdown(regimes, frame, protocol, metric)),
             atomic_write(out_dir / CSV, _csv(frame))]
    return files, [terminal_table(frame, metric)]


def report_grid(root: Path, html: bool = False, data_dir: Path | None = None) -> tuple[list[Path], list[RichTable]]:
    """Rebuild every regime's report of a grid folder (those with a finished run), then its regime summary."""
    dirs = regime_dirs(root)
    if not dirs:
        raise AlsegUsageError(f"{root} is not a grid of regimes (no initial-I-budget-B-rounds-R/ experiment folders "
                              "and no experiment.json of its own)")
    files: list[Path] = []
    tables: list[RichTable] = []
    for folder in dirs:
        try:
            if html:
                from alseg.report.html import report_experiments_html

                written, shown = report_experiments_html([folder], folder, data_dir=data_dir)
            else:
                written, shown = report_experiments([folder], folder)
        except NothingToReport:
            continue
        files += written
        tables += shown
    written, shown = report_regimes(dirs, root, skip_empty=True)
    return files + written, tables + shown


def report_regimes_command(experiments: Sequence[Path], out_dir: Path | None, regimes: bool, html: bool,
                           data_dir: Path | None) -> tuple[Path, list[Path], list[RichTable]]:
    """`alseg report` on regimes: --regimes A B --out DIR (a grid folder counts as its regimes), or one grid folder.

    Returns where the files went, the files and the tables to print.
    """
    if regimes:
        if out_dir is None:
            raise AlsegUsageError("--regimes: choose where regimes.md and regimes.csv go with --out DIR")
        if html:
            raise AlsegUsageError("--regimes writes regimes.md and regimes.csv only: drop --html (and --data-dir), "
                                  "and write each experiment's report.html with `alseg report --html FOLDER`")
        roots = [d for p in experiments for d in (regime_dirs(p) or [p])]
        files, tables = report_regimes(roots, Path(out_dir))
        return Path(out_dir), files, tables
    if len(experiments) != 1:
        grids = ", ".join(str(p) for p in experiments if regime_dirs(p))
        raise AlsegUsageError(f"{grids}: a grid of regimes is reported on its own (`alseg report GRID`), or compared "
                              "with other experiments by `alseg report --regimes ... --out DIR`")
    grid = experiments[0]
    if out_dir is not None and Path(out_dir).resolve() != Path(grid).resolve():
        raise AlsegUsageError(f"--out {out_dir}: a grid folder's reports are rebuilt in place (each regime's in its "
                              f"folder, regimes.md in {grid}); drop --out, or write the summary elsewhere with "
                              f"`alseg report --regimes {grid} --out {out_dir}`")
    files, tables = report_grid(grid, html=html, data_dir=data_dir)
    return Path(grid), files, tables
