"""One shared first round per seed: round 0 trained, evaluated and pool-passed once for every strategy that can use it.

Round 0 trains on the seed's L0 from the seed's initial weights with the round-0 streams of the seed; none of it
depends on the strategy. A strategy whose training has no unlabeled term (no `unlabeled_loss` need) therefore gets
exactly the round-0 model, metrics and pool signals it would compute itself: they are computed once per
(experiment, seed) with the union of the signals those strategies declared, stored under `.shared/seed-N/`, and
every such run starts from them. Its round-0 record is the same as an unshared one apart from the timing fields
(set to 0: the cost is counted once, in `round-0.json`); its status file says `shared_round0`.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alseg.environment import computed_on
from alseg.events import Emit, Phase, RoundStarted
from alseg.experiment import RunSetup, init_seed, initial_labeled, new_model
from alseg.models import SegModel
from alseg.pool import keys_of, pool_pass
from alseg.round import DIAGNOSTIC_SIGNAL
from alseg.steps import evaluate_extra, evaluate_step, train_step
from alseg.store import atomic_write_bytes, atomic_write_text
from alseg.strategies.needs import Needs

SHARED_DIR = ".shared"


def can_share(needs: Needs) -> bool:
    """Whether a strategy's round 0 is the common one: its training adds no unlabeled term."""
    return not needs.unlabeled_loss


@dataclass
class SharedRound:
    """Round 0 of one seed: the trained weights, test metrics, pool and labeled signals, and what they cost."""

    seed: int
    state: bytes  # torch.save({"round": 0, "state_dict": ...}), the runner's checkpoint format
    metrics: dict[str, float]
    signals: dict[str, np.ndarray]  # pool signals by key, rows in pool order (train minus L0, sorted)
    labeled_signals: dict[str, np.ndarray]  # labeled signals by key, rows in L0 order
    t_train: float
    t_eval: float
    t_pool: float
    users: list[str] = field(default_factory=list)
    extra: dict[str, dict[str, float]] = field(default_factory=dict)  # --extra-test metrics by dataset name
    computed_on: dict[str, Any] = field(default_factory=dict)  # CPU model and threads (environment.computed_on)

    def extra_metrics(self, setup: RunSetup) -> dict[str, dict[str, float]]:
        """The round-0 model's metrics on the setup's extra tests (computed by `add_extra_tests`)."""
        return {t.name: self.extra[t.name] for t in setup.extra_tests}

    def model(self, setup: RunSetup) -> SegModel:
        """A fresh copy of the round-0 model on the setup's device."""
        model = new_model(setup.cfg, init_seed(setup.data, self.seed), setup.device)
        model.load_state_dict(torch.load(io.BytesIO(self.state), map_location="cpu", weights_only=True)["state_dict"])
        return model

    def pool_signals(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """Exactly what `pool_pass` over the pool would return for `wanted` (all keys of each signal)."""
        return {k: self.signals[k] for k in keys_of(wanted)}

    def labeled_pool_signals(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """Exactly what `pool_pass` over L0 would return for `wanted`."""
        return {k: self.labeled_signals[k] for k in keys_of(wanted)}


def _state_bytes(model: SegModel) -> bytes:
    buf = io.BytesIO()
    torch.save({"round": 0, "state_dict": model.state_dict()}, buf)
    return buf.getvalue()


def compute_shared_round(setup: RunSetup, seed: int, pool_keys: set[str], labeled_keys: set[str],
                         emit: Emit) -> SharedRound:
    """Train round 0 of `seed` exactly as every run does, evaluate it and compute the requested signals."""
    cfg, data = setup.cfg, setup.data
    labeled = initial_labeled(data, cfg.initial, seed)
    model = new_model(cfg, init_seed(data, seed), setup.device)
    emit(RoundStarted("shared round 0", seed, 0, len(labeled), cfg.initial_epochs))
    t_train = train_step(setup, model, labeled, cfg.initial_epochs, seed, 0, emit, f"shared round 0 seed {seed}")
    evaluation = evaluate_step(setup, model, emit)
    shared = SharedRound(seed, _state_bytes(model), evaluation.metrics, {}, {}, t_train, evaluation.seconds, 0.0,
                         extra=dict(evaluation.extra), computed_on=computed_on(setup.device))
    add_signals(shared, setup, pool_keys | {DIAGNOSTIC_SIGNAL}, labeled_keys, emit, model)
    return shared


def add_extra_tests(shared: SharedRound, setup: RunSetup, emit: Emit) -> None:
    """Evaluate the stored round-0 model on the extra tests it was not evaluated on yet."""
    missing = [t for t in setup.extra_tests if t.name not in shared.extra]
    if not missing:
        return
    model = shared.model(setup)
    emit(Phase("evaluate"))
    t0 = time.perf_counter()
    shared.extra.update(evaluate_extra(setup, model, missing))
    shared.t_eval += time.perf_counter() - t0


def add_signals(shared: SharedRound, setup: RunSetup, pool_keys: set[str], labeled_keys: set[str], emit: Emit,
                model: SegModel | None = None) -> None:
    """Compute the requested signals that are not stored yet (from the round-0 model) and add them."""
    data, cfg = setup.data, setup.cfg
    labeled = initial_labeled(data, cfg.initial, shared.seed)
    pool = np.setdiff1d(data.train, labeled)
    missing_pool = {k for k in keys_of(pool_keys) if k not in shared.signals}
    missing_labeled = {k for k in keys_of(labeled_keys) if k not in shared.labeled_signals}
    if not missing_pool and not missing_labeled:
        return
    model = model if model is not None else shared.model(setup)
    emit(Phase("pool pass"))
    t0 = time.perf_counter()
    for keys, rows, target in ((missing_pool, pool, shared.signals), (missing_labeled, labeled,
                                                                       shared.labeled_signals)):
        if keys:
            computed = pool_pass(model, setup.images, rows, keys, setup.infer_batch, setup.device,
                                 precision=setup.precision)
            for key, value in computed.items():
                target.setdefault(key, value)
    shared.t_pool += time.perf_counter() - t0


def shared_dir(root: Path, seed: int) -> Path:
    """Where the shared round 0 of `seed` is stored in an experiment folder."""
    return Path(root) / SHARED_DIR / f"seed-{seed}"


def save_shared_round(root: Path, shared: SharedRound) -> None:
    """Write weights, signals and the summary (metrics, times, users) atomically; the summary last."""
    folder = shared_dir(root, shared.seed)
    atomic_write_bytes(folder / "round-0.pt", shared.state)
    buf = io.BytesIO()
    np.savez(buf, **{f"pool/{k}": v for k, v in shared.signals.items()},
             **{f"labeled/{k}": v for k, v in shared.labeled_signals.items()})
    atomic_write_bytes(folder / "signals.npz", buf.getvalue())
    summary = {"seed": shared.seed, "metrics": shared.metrics, "t_train": round(shared.t_train, 3),
               "t_eval": round(shared.t_eval, 3), "t_pool": round(shared.t_pool, 3), "users": sorted(shared.users)}
    if shared.extra:
        summary["extra_test"] = shared.extra
    if shared.computed_on:
        summary["computed_on"] = shared.computed_on
    atomic_write_text(folder / "round-0.json", json.dumps(summary, sort_keys=True, indent=1) + "\n")


def load_shared_round(root: Path, seed: int) -> SharedRound | None:
    """The stored shared round 0 of `seed`, or None when absent or unreadable (it is then recomputed)."""
    folder = shared_dir(root, seed)
    try:
        summary: dict[str, Any] = json.loads((folder / "round-0.json").read_text())
        state = (folder / "round-0.pt").read_bytes()
        with np.load(folder / "signals.npz") as npz:
            pool = {k.removeprefix("pool/"): npz[k] for k in npz.files if k.startswith("pool/")}
            labeled = {k.removeprefix("labeled/"): npz[k] for k in npz.files if k.startswith("labeled/")}
        torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)
    except Exception:  # missing, torn or foreign files: recompute (same seeds, same result)
        return None
    return SharedRound(seed, state, {k: float(v) for k, v in summary["metrics"].items()}, pool, labeled,
                       float(summary["t_train"]), float(summary["t_eval"]), float(summary["t_pool"]),
                       list(summary.get("users", [])),
                       {name: {k: float(v) for k, v in m.items()} for name, m in summary.get("extra_test", {}).items()},
                       dict(summary.get("computed_on", {})))
