"""Print the compute an experiment's finished runs took: per strategy, and in all.

Usage: python results/compute_time.py results/cvc-clinicdb-cpu

For every finished run (as `alseg report` counts them: `alseg.report.load.load_experiment`), it sums
the wall-clock seconds stored with each round (`t_train + t_eval + t_pool + t_select`). Times are wall
clock, so a run paused while it trained (a CI check on the same machine, say) stores the pause too:
docs/results.md names those runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from alseg.errors import AlsegError
from alseg.report.load import load_experiment

TIME_KEYS = ["t_train", "t_eval", "t_pool", "t_select"]


def finished_runs(experiment: Path) -> dict[str, list[tuple[int, float]]]:
    """(seed, seconds) of every finished run, by strategy name."""
    rounds = load_experiment(experiment)[0]
    seconds = rounds[TIME_KEYS].apply(pd.to_numeric, errors="coerce").fillna(0.0).sum(axis=1)
    per_run = seconds.groupby([rounds["strategy"], rounds["seed"].astype(int)]).sum()
    out: dict[str, list[tuple[int, float]]] = {}
    for (name, seed), total in per_run.items():
        out.setdefault(str(name), []).append((int(seed), float(total)))
    return out


def main(experiment: Path) -> None:
    try:
        runs = finished_runs(experiment)
    except AlsegError as err:  # not an experiment folder, or a damaged experiment.json
        sys.exit(f"no finished runs under {experiment}: {err}")
    if not runs:
        sys.exit(f"no finished runs under {experiment / 'runs'}: run `alseg bench` into it first")
    print("| strategy | runs | seeds | min per run | min in all |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, items in sorted(runs.items()):
        total = sum(t for _, t in items)
        seeds = ",".join(str(s) for s, _ in sorted(items))
        print(f"| {name} | {len(items)} | {seeds} | {total / 60 / len(items):.1f} | {total / 60:.1f} |")
    grand = sum(t for items in runs.values() for _, t in items)
    print(f"\nAll finished runs: {sum(len(v) for v in runs.values())}, {grand / 3600:.2f} h recorded.")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python results/compute_time.py RESULTS_DIR")
    main(Path(sys.argv[1]))
