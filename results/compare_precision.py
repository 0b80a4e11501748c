"""Set a reduced-precision experiment beside an fp32 one of the same protocol: paired Δ AUBC, p, and time.

Usage: python results/compare_precision.py results/cvc-clinicdb-cpu results/cvc-clinicdb-cpu-bf16

For every strategy finished in both, over the seeds finished in both: the per-seed Dice AUBC of each, the mean
paired difference (other − fp32) with the paired t-test's p (alseg's own test), the seed-to-seed standard
deviation of the fp32 AUBC (the spread the difference is to be read against), and the stored compute seconds
per run (training + pool pass + evaluation + selection) of each, with their ratio. The output is Markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from alseg.report.compute import compute_aubc_per_seed
from alseg.report.load import load_experiment
from alseg.report.stats import paired_p

TIMES = ["t_train", "t_pool", "t_eval", "t_select"]


def main(reference: Path, other: Path) -> str:
    """The Markdown table comparing `other` against the fp32 `reference`."""
    ref_df, _, _ = load_experiment(reference)
    new_df, _, info = load_experiment(other)
    precision = info.get("protocol", {}).get("precision", "?")
    ref_aubc, new_aubc = compute_aubc_per_seed(ref_df), compute_aubc_per_seed(new_df)
    lines = [f"| strategy | seeds | AUBC fp32 | AUBC {precision} | Δ AUBC | p | fp32 seed sd | "
             "compute min/run fp32 | compute min/run other | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in sorted(set(new_aubc["strategy"]) & set(ref_aubc["strategy"])):
        a = ref_aubc[ref_aubc["strategy"] == name].set_index("seed")["aubc"]
        b = new_aubc[new_aubc["strategy"] == name].set_index("seed")["aubc"]
        seeds = sorted(set(a.index) & set(b.index))
        if not seeds:
            continue
        x, y = a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy()
        test, p = paired_p(y - x) if len(seeds) >= 2 else ("", float("nan"))
        t_ref = ref_df[(ref_df["strategy"] == name) & ref_df["seed"].isin(seeds)][TIMES].to_numpy().sum() / len(seeds)
        t_new = new_df[(new_df["strategy"] == name) & new_df["seed"].isin(seeds)][TIMES].to_numpy().sum() / len(seeds)
        lines.append(f"| {name} | {','.join(map(str, seeds))} | {x.mean():.4f} | {y.mean():.4f} | "
                     f"{(y - x).mean():+.4f} | {p:.3f} ({test}) | {np.std(a.to_numpy(), ddof=1):.4f} | "
                     f"{t_ref / 60:.1f} | {t_new / 60:.1f} | {t_new / t_ref:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(main(Path(sys.argv[1]), Path(sys.argv[2])), end="")
