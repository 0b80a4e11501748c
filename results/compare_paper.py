"""Print the paper's Table 1 and Table 2 beside a reference leaderboard's numbers.

Usage: python results/compare_paper.py results/cvc-clinicdb-cpu > /tmp/compare.md

Table 1: ours come from the experiment's `leaderboard.csv` (written by `alseg report`). The paper's
column set is picked by the experiment's dataset (`experiment.json`, protocol.dataset): CVC-ClinicDB
gets the paper's CVC-ClinicDB columns, any other dataset the paper's second-dataset ("Anon Dataset",
an in-house 1000/100 set, not Kvasir-SEG) columns, since that is the regime it mirrors. Table 2: ours
are computed from the run files, every row over the same seeds (those that the full method and all
three ablations have finished), so that a 5-seed full method is not set beside 3-seed ablations. The
paper's numbers are transcribed from its Tables 1 and 2 (../shared/paper/annotation-efficient-polyp-al.md).
The output is the Markdown that docs/results.md quotes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from alseg.report import compute_curves
from alseg.report.load import load_experiment

# Table 1, CVC-ClinicDB columns: labels -> method -> (mIoU, Dice)
PAPER_TABLE1_CVC = {
    90: {"random": (0.8388, 0.8225), "entropy": (0.8293, 0.8103), "asa": (0.8307, 0.8157),
         "coreset": (0.8252, 0.8099), "proposed": (0.8561, 0.8466)},
    120: {"random": (0.8610, 0.8517), "entropy": (0.8622, 0.8562), "asa": (0.8438, 0.8319),
          "coreset": (0.8452, 0.8299), "proposed": (0.8697, 0.8630)},
    180: {"random": (0.8709, 0.8636), "entropy": (0.8810, 0.8753), "asa": (0.8703, 0.8740),
          "coreset": (0.8537, 0.8410), "proposed": (0.8922, 0.8891)},
}
# Table 1, "Anon Dataset" columns (the paper's in-house 1000/100 second dataset)
PAPER_TABLE1_SECOND = {
    90: {"random": (0.7986, 0.7963), "entropy": (0.8034, 0.8023), "asa": (0.7964, 0.7974),
         "coreset": (0.8038, 0.8028), "proposed": (0.8088, 0.8681)},
    120: {"random": (0.8170, 0.8182), "entropy": (0.8180, 0.8198), "asa": (0.8133, 0.8151),
          "coreset": (0.8165, 0.8182), "proposed": (0.8213, 0.8220)},
    180: {"random": (0.8306, 0.8355), "entropy": (0.8295, 0.8340), "asa": (0.8178, 0.8185),
          "coreset": (0.8313, 0.8366), "proposed": (0.8303, 0.8359)},
}
PAPER_TABLE1 = {"cvc-clinicdb": ("CVC-ClinicDB", PAPER_TABLE1_CVC),
                "second": ("the paper's second dataset, in-house 1000/100; ours is Kvasir-SEG", PAPER_TABLE1_SECOND)}
# Table 2, mIoU (%) at 30..180 labels
PAPER_TABLE2 = {
    "proposed(uncertainty=false)": ("w/o UNC", [75.75, 82.63, 85.04, 85.11, 86.73, 87.61]),
    "proposed(clustering=false)": ("w/o CLU", [75.75, 79.31, 80.46, 83.70, 85.92, 88.48]),
    "proposed(discrepancy=false)": ("w/o DIS", [75.75, 81.86, 85.03, 85.93, 86.12, 86.51]),
    "proposed": ("Ours (full method)", [75.75, 83.08, 85.62, 86.97, 87.94, 89.22]),
}
NAMES = {"random": "Random", "entropy": "Entropy", "asa": "ASA", "coreset": "Coreset", "proposed": "Proposed"}
BUDGETS = [30, 60, 90, 120, 150, 180]


def mean_std(row: pd.Series, metric: str, scale: float = 1.0, digits: int = 4) -> str:
    """'mean ± std' of one leaderboard row ('–' for the std of a single seed)."""
    mean, std = row[f"{metric}_mean"] * scale, row[f"{metric}_std"] * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if pd.notna(std) else f"{mean:.{digits}f} ± –"


def paper_columns(dataset: str) -> str:
    """Which of the paper's Table 1 column sets an experiment on `dataset` is set beside."""
    return "cvc-clinicdb" if dataset == "cvc-clinicdb" else "second"


def table1(board: pd.DataFrame, columns: str = "cvc-clinicdb") -> str:
    """Paper Table 1 rows (the `columns` set) beside ours (mean ± std over our seeds)."""
    lines = ["| labels | method | paper mIoU | paper Dice | ours mIoU | ours Dice | our seeds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for n, methods in PAPER_TABLE1[columns][1].items():
        for name, (miou, dice) in methods.items():
            hit = board[(board["strategy"] == name) & (board["n_labeled"] == n)]
            ours = ("–", "–", "0") if hit.empty else (
                mean_std(hit.iloc[0], "miou"), mean_std(hit.iloc[0], "dice"), str(int(hit.iloc[0]["n_seeds"])))
            lines.append(f"| {n} | {NAMES[name]} | {miou:.4f} | {dice:.4f} | {ours[0]} | {ours[1]} | {ours[2]} |")
    return "\n".join(lines)


def shared_seeds(rounds: pd.DataFrame, names: list[str]) -> list[int]:
    """Seeds that every named strategy has finished (empty when one of them has none)."""
    sets = [set(rounds.loc[rounds["strategy"] == n, "seed"].astype(int)) for n in names]
    return sorted(set.intersection(*sets)) if sets else []


def table2_board(rounds: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """Curves (mean ± std) of the Table 2 strategies over the seeds they all share, and those seeds."""
    names = list(PAPER_TABLE2)
    seeds = shared_seeds(rounds, names)
    picked = rounds[rounds["strategy"].isin(names) & rounds["seed"].astype(int).isin(seeds)]
    return compute_curves(picked), seeds


def table2(board: pd.DataFrame) -> str:
    """Paper Table 2 (mIoU %) beside ours (mean ± std over our seeds, in %)."""
    header = "| method | source | " + " | ".join(map(str, BUDGETS)) + " | our seeds |"
    lines = [header, "| --- | --- |" + " --- |" * (len(BUDGETS) + 1)]
    for name, (label, paper) in PAPER_TABLE2.items():
        lines.append(f"| {label} | paper | " + " | ".join(f"{v:.2f}" for v in paper) + " | |")
        rows = board[board["strategy"] == name].set_index("n_labeled")
        cells = [mean_std(rows.loc[n], "miou", 100.0, 2) if n in rows.index else "–" for n in BUDGETS]
        seeds = str(int(rows["n_seeds"].min())) if len(rows) else "0"
        lines.append(f"| {label} | ours | " + " | ".join(cells) + f" | {seeds} |")
    return "\n".join(lines)


def main(experiment: str) -> None:
    board_file = Path(experiment) / "leaderboard.csv"
    if not board_file.is_file():
        sys.exit(f"{board_file} not found: pass an experiment folder, e.g. results/cvc-clinicdb-cpu, "
                 f"and run `alseg report {experiment}` first if it has run files but no report")
    board = pd.read_csv(board_file)
    rounds, _, info = load_experiment(Path(experiment))
    columns = paper_columns(info["protocol"]["dataset"])
    print(f"### Table 1 ({PAPER_TABLE1[columns][0]})\n")
    print(table1(board, columns))
    if not rounds["strategy"].isin([n for n in PAPER_TABLE2 if n != "proposed"]).any():
        return  # no ablation runs: Table 2 has nothing of ours to set beside the paper's
    ablations, seeds = table2_board(rounds)
    print(f"\n### Table 2 (ablations, mIoU %, every row over seeds {', '.join(map(str, seeds)) or 'none'})\n")
    print(table2(ablations))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/cvc-clinicdb-cpu")
