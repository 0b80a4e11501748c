"""`--replay FOLDER`: rerun an experiment's runs on their stored selections instead of selecting again.

What it is for: adding an evaluation (`--extra-test`) to finished runs. The stored run files hold every round's
selection but no model weights, so a round's model is trained again: same seed, same initial weights, same labeled
set, same training streams, the strategy's own training term included. On the machine and software that made the
source this gives the same model; elsewhere floating point may differ in the last bits and the models (and their
test metrics) slightly, but the labeled sets are exactly the source's. The pool pass computes only the diagnostic
entropy and `select()` is never called (t_select is 0). A replay writes a folder of its own (experiment.json says
`replay_of`); the source is only read.
"""

from __future__ import annotations

from pathlib import Path

from alseg.errors import AlsegUsageError
from alseg.experiment import RunSetup, experiment_protocol, stored_protocol
from alseg.store import ExperimentStore
from alseg.strategies.registry import StrategySpec


def source_store(setup: RunSetup) -> ExperimentStore:
    """The --replay source's store (read only)."""
    assert setup.replay_from is not None
    return ExperimentStore(setup.replay_from)


def check_replay(setup: RunSetup, specs: list[StrategySpec]) -> None:
    """Refuse a source of another protocol, the experiment itself, or one lacking a finished run to replay."""
    root = setup.replay_from
    assert root is not None
    if Path(root).resolve() == setup.store.root.resolve():
        raise AlsegUsageError(f"--replay {root}: that is the experiment being written; a replay needs a folder of its "
                              "own (--name)")
    source = ExperimentStore(root)
    info = source.read_experiment()
    if info is None:
        raise AlsegUsageError(f"--replay {root}: not an alseg experiment folder (no experiment.json)")
    want = experiment_protocol(setup.cfg, setup.data, setup.device, setup.precision)
    have = stored_protocol(source, info)
    diffs = [k for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)]
    if diffs:
        detail = "; ".join(f"{k}: source {have.get(k)!r}, now {want.get(k)!r}" for k in diffs)
        raise AlsegUsageError(f"--replay {root}: the source was run under another protocol ({detail}); replay with "
                              f"its settings: alseg bench --config {Path(root) / 'config.toml'} --replay {root} "
                              "--name NEW")
    total = setup.cfg.rounds + 1
    missing = [f"{spec.run_name} seed {seed}" for spec in specs for seed in range(setup.cfg.seeds)
               if len(source.run_file(spec.run_name, seed).round_records()) < total]
    if missing:
        raise AlsegUsageError(f"--replay {root}: no finished run to replay for {', '.join(missing[:6])}"
                              + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
                              + "; replay only finished runs (--strategies, --seeds)")


def replay_selections(setup: RunSetup, name: str, seed: int) -> list[list[str]]:
    """The source run's selected ids of every round (the last round's is empty)."""
    return [list(rec.selected) for rec in source_store(setup).run_file(name, seed).round_records()]
