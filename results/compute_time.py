"""Print the compute an experiment's finished runs took: per strategy, and in all.

Usage: python results/compute_time.py results/cvc-clinicdb-cpu

For every finished run (as `alseg report` counts them: `alseg.report.load.load_experiment`), it sums
the wall-clock seconds stored with each round (`t_train + t_eval + t_pool + t_select`). Times are wall
clock, so a run paused while it trained (a CI check on the same machine, say) stores the pause too:
docs/results.md names those runs. It then prints the same seconds by phase and, when the experiment shared its
first rounds, their cost from `shared-round0.json` (counted once there, stored as 0 in the sharers' round 0).
Last, the cost of a selection per strategy: the mean pool pass + select seconds over the rounds that made their
own pool pass (t_pool > 0: the rounds that selected, less a shared round 0, whose pool pass is stored once).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from alseg.errors import AlsegError
from alseg.report.load import load_experiment

TIME_KEYS = ["t_train", "t_eval", "t_pool", "t_select"]


def _phase_seconds(experiment: Path) -> pd.DataFrame:
    """The stored seconds of every round of the finished runs, one column per phase, with strategy and seed."""
    rounds = load_experiment(experiment)[0]
    times = rounds[TIME_KEYS].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    return pd.concat([rounds[["strategy", "seed"]], times], axis=1)


def finished_runs(experiment: Path) -> dict[str, list[tuple[int, float]]]:
    """(seed, seconds) of every finished run, by strategy name."""
    return _per_run(_phase_seconds(experiment))


def _per_run(rounds: pd.DataFrame) -> dict[str, list[tuple[int, float]]]:
    seconds = rounds[TIME_KEYS].sum(axis=1)
    per_run = seconds.groupby([rounds["strategy"], rounds["seed"].astype(int)]).sum()
    out: dict[str, list[tuple[int, float]]] = {}
    for (name, seed), total in per_run.items():
        out.setdefault(str(name), []).append((int(seed), float(total)))
    return out


def shared_round_seconds(experiment: Path) -> dict[str, float]:
    """Seconds by phase of the shared first rounds in `shared-round0.json`, summed over seeds ({} when none)."""
    path = experiment / "shared-round0.json"
    if not path.is_file():
        return {}
    try:
        seeds = json.loads(path.read_text()).values()
    except (json.JSONDecodeError, AttributeError) as err:
        sys.exit(f"{path} is not the shared-round record alseg writes ({err}): restore it from git or delete it")
    entries = [e for entry in seeds for e in [entry, *entry.get("earlier", [])]]  # recomputed ones keep their cost
    return {key: sum(float(e.get(key, 0.0)) for e in entries) for key in ("t_train", "t_pool", "t_eval")}


def selection_seconds(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean t_pool, t_select and their sum per strategy over the rounds with a pool pass of their own."""
    own = rounds[rounds["t_pool"] > 0]
    table = own.groupby("strategy")[["t_pool", "t_select"]].mean()
    table["per_round"] = table["t_pool"] + table["t_select"]
    table["rounds"] = own.groupby("strategy").size()
    return table


def _phases_line(seconds: dict[str, float]) -> str:
    return ", ".join(f"{key[2:]} {value:.0f} s" for key, value in seconds.items())


def main(experiment: Path) -> None:
    try:
        rounds = _phase_seconds(experiment)
    except AlsegError as err:  # not an experiment folder, or a damaged experiment.json
        sys.exit(f"no finished runs under {experiment}: {err}")
    runs = _per_run(rounds)
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
    by_phase = rounds[TIME_KEYS].sum()
    print(f"By phase: {_phases_line({key: float(by_phase[key]) for key in TIME_KEYS})}.")
    shared = shared_round_seconds(experiment)
    if shared:
        print(f"Shared first rounds (shared-round0.json, not in the figures above): {_phases_line(shared)}.")
    print("\n| strategy | rounds with their own pool pass | s pool pass | s select | s per round |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in selection_seconds(rounds).iterrows():
        print(f"| {name} | {int(row['rounds'])} | {row['t_pool']:.1f} | {row['t_select']:.1f} | "
              f"{row['per_round']:.1f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python results/compute_time.py RESULTS_DIR")
    main(Path(sys.argv[1]))
