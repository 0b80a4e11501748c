"""How closely a replay (`alseg bench --replay`) reproduced its source: selections, per-round Dice and AUBC.

Usage: python results/compare_replay.py results/cvc-clinicdb-cpu results/cvc-clinicdb-cpu-on-kvasir

For every run finished in both: whether every round's labeled set is the source's (it must be: the replay takes the
stored selections), the largest per-round |Δ Dice| on the experiment's own test split, and the Dice AUBC of each
with their difference (replay − source). A replay on the machine and software that made the source gives 0
everywhere; elsewhere floating point may move the models slightly (docs/protocol.md, "Replays"). Output: Markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alseg.report.compute import compute_aubc_per_seed
from alseg.report.load import load_experiment


def main(source: Path, replay: Path) -> str:
    """The Markdown table comparing the replay with its source, run by run."""
    src, _, _ = load_experiment(source)
    rep, _, _ = load_experiment(replay)
    keys = ["strategy", "seed", "round"]
    both = src.merge(rep, on=keys, suffixes=("_src", "_rep"))
    src_aubc = compute_aubc_per_seed(src).set_index(["strategy", "seed"])["aubc"]
    rep_aubc = compute_aubc_per_seed(rep).set_index(["strategy", "seed"])["aubc"]
    lines = ["| run | seed | rounds | same selections | max abs Δ Dice | AUBC source | AUBC replay | Δ AUBC |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (name, seed), group in both.groupby(["strategy", "seed"], sort=True):
        same = all(list(a) == list(b) for a, b in zip(group["selected_src"], group["selected_rep"], strict=True))
        delta = (group["dice_rep"] - group["dice_src"]).abs().max()
        if (name, seed) in src_aubc.index and (name, seed) in rep_aubc.index:
            a, b = float(src_aubc[(name, seed)]), float(rep_aubc[(name, seed)])
            aubc = f"{a:.4f} | {b:.4f} | {b - a:+.4f}"
        else:  # the ceiling: one round, no curve
            aubc = "| |"
        lines.append(f"| {name} | {seed} | {len(group)} | {'yes' if same else 'NO'} | {delta:.4f} | {aubc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(main(Path(sys.argv[1]), Path(sys.argv[2])), end="")
