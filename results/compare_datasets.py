"""Set the same strategies' results on two or more experiments side by side and say which rankings hold on all.

Usage: python results/compare_datasets.py results/cvc-clinicdb-cpu results/kvasir-seg-cpu [--metric dice]
       [--strategies random,entropy,coreset,asa,proposed]

Each argument is a folder with an `aubc.csv` written by `alseg report` (an experiment, or its `extra-test-NAME/`
folder for the generalisation leaderboard). The strategies compared are those every folder has (or
`--strategies`), and within that family, per folder, the rank is recomputed (1 = best mean AUBC) and so is the
Holm correction of the raw p against Random, so that each folder's Holm p covers the same tests (a folder's
own `aubc.csv` corrects over every strategy it holds). Per strategy and folder: Δ AUBC against Random, its raw
and Holm p and the rank. The last column says, per strategy, whether its comparison with Random holds on every
folder, a comparison being resolved where its Holm p < 0.05: "finding on all" (same sign, resolved
everywhere), "same direction, resolved on some", "same direction, unresolved", "reverses" (the sign changes
and some folder resolves it), "direction differs, unresolved", or "–" (missing somewhere). Last, Kendall's τ
between each pair of folders' rank orders over the strategies both have (with five strategies, only τ = ±1
reaches two-sided p < 0.05: a τ is a description here, not a test). The output is Markdown, for
docs/results.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import pandas as pd
from scipy.stats import kendalltau

from alseg.report.stats import holm

ALPHA = 0.05


def load_aubc(folder: Path, metric: str) -> pd.DataFrame:
    """One folder's AUBC rows of `metric`, indexed by strategy."""
    path = folder / "aubc.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass folders that `alseg report` has written (run it first)")
    table = pd.read_csv(path)
    table = table[table["metric"] == metric]
    if table.empty:
        raise SystemExit(f"{path} has no rows of metric '{metric}' (it has: {', '.join(sorted(set(table['metric'])))})")
    return table.set_index("strategy")


def within(table: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """The rows of `strategies` (those the table has), ranked and Holm-corrected within that family."""
    rows = table.loc[[s for s in strategies if s in table.index]].copy()
    rows["rank"] = rows["aubc_mean"].rank(ascending=False, method="min").astype(int)
    tested = rows.index != "random"
    rows.loc[tested, "p_holm"] = holm(rows.loc[tested, "p_value"].astype(float).to_numpy())
    return rows


def agreement(diffs: list[float], holm_p: list[float]) -> str:
    """Whether one strategy's comparison with Random holds in every folder (see the module docstring)."""
    if any(math.isnan(d) for d in diffs):
        return "–"
    resolved = [not math.isnan(p) and p < ALPHA for p in holm_p]
    if len({math.copysign(1.0, d) for d in diffs}) > 1:
        return "reverses" if any(resolved) else "direction differs, unresolved"
    if all(resolved):
        return "finding on all"
    return "same direction, resolved on some" if any(resolved) else "same direction, unresolved"


def _cell(row: pd.Series | None) -> str:
    """'Δ (p, Holm p), rank r' of one strategy in one folder."""
    if row is None:
        return "–"
    rank = f"rank {int(row['rank'])}"  # within the compared family
    if row.name == "random":
        return f"ref. ({row['aubc_mean']:.4f}), {rank}"
    if pd.isna(row["p_value"]):
        return f"{row['mean_diff']:+.4f} (untested, {int(row['n_pairs'])} seed), {rank}"
    return f"{row['mean_diff']:+.4f} (p {row['p_value']:.3f}, Holm {row['p_holm']:.3f}), {rank}"


def compare(tables: dict[str, pd.DataFrame], strategies: list[str] | None = None) -> str:
    """The side-by-side Markdown table and the rank correlations of `tables` (folder name → aubc rows).

    `strategies` defaults to those in every table, in the first table's order.
    """
    names = list(tables)
    if strategies is None:
        strategies = [s for s in next(iter(tables.values())).index if all(s in t.index for t in tables.values())]
    unknown = [s for s in strategies if not any(s in t.index for t in tables.values())]
    if unknown:
        raise SystemExit(f"--strategies: {', '.join(unknown)} in none of the folders")
    tables = {name: within(t, strategies) for name, t in tables.items()}
    lines = ["| strategy | " + " | ".join(f"{n}: Δ AUBC vs Random" for n in names) + " | on all |",
             "| --- |" + " --- |" * (len(names) + 1)]
    for strategy in strategies:
        rows = [t.loc[strategy] if strategy in t.index else None for t in tables.values()]
        label = next(r["label"] for r in rows if r is not None)
        if strategy == "random":
            verdict = "reference"
        else:
            diffs = [float("nan") if r is None else float(r["mean_diff"]) for r in rows]
            holm_p = [float("nan") if r is None else float(r["p_holm"]) for r in rows]
            verdict = agreement(diffs, holm_p)
        lines.append(f"| {label} | " + " | ".join(_cell(r) for r in rows) + f" | {verdict} |")
    lines.append("")
    for a, b in itertools.combinations(names, 2):
        shared = [s for s in tables[a].index if s in tables[b].index]
        tau = kendalltau(tables[a].loc[shared, "rank"], tables[b].loc[shared, "rank"]).statistic
        lines.append(f"Kendall's τ of the ranks, {a} against {b} ({len(shared)} strategies): {tau:+.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders with an aubc.csv (two or more)")
    parser.add_argument("--metric", default="dice", help="the AUBC metric to compare (default: dice)")
    parser.add_argument("--strategies", help="comma-separated strategy names (default: those in every folder)")
    args = parser.parse_args(argv)
    if len(args.folders) < 2:
        raise SystemExit("pass two or more folders to compare")
    tables = {f"{folder.parent.name}/{folder.name}" if folder.name.startswith("extra-test-") else folder.name:
              load_aubc(folder, args.metric) for folder in args.folders}
    print(compare(tables, args.strategies.split(",") if args.strategies else None))


if __name__ == "__main__":
    main()
