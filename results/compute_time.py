"""Print the compute an experiment's finished runs took: per strategy, and in all.

Usage: python results/compute_time.py results/cvc-clinicdb-cpu

For every run whose status file says `done`, it sums the wall-clock seconds stored with each round
(`t_train + t_eval + t_pool + t_select`). Times are wall clock, so a run paused while it trained
(a CI check on the same machine, say) stores the pause too: docs/results.md names those runs.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

TIME_KEYS = ("t_train", "t_eval", "t_pool", "t_select")


def run_seconds(run_file: Path) -> float:
    """Sum of the stored round times of one run file (JSON lines)."""
    lines = [json.loads(line) for line in run_file.read_text().splitlines() if line.strip()]
    return sum(float(row.get(key) or 0.0) for row in lines for key in TIME_KEYS)


def finished_runs(experiment: Path) -> dict[str, list[tuple[int, float]]]:
    """(seed, seconds) of every finished run, by strategy name."""
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for status_file in sorted(experiment.glob("runs/*/seed-*.status.json")):
        status = json.loads(status_file.read_text())
        run_file = status_file.with_name(status_file.name.replace(".status.json", ".jsonl"))
        if status.get("status") == "done" and run_file.is_file():
            out[str(status["strategy"])].append((int(status["seed"]), run_seconds(run_file)))
    return out


def main(experiment: Path) -> None:
    runs = finished_runs(experiment)
    if not runs:
        sys.exit(f"no finished runs under {experiment / 'runs'}: is this an experiment folder?")
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
