"""The active-learning loop for one (dataset, strategy, seed) run; resumable round by round.

Per round r: train on L_r (fine-tune from round r−1 or reset to the seed's initial weights), evaluate on
the test split, and, unless r is the last round, run the pool pass for the signals the strategy declared,
let the strategy select, validate the selection, then store the round record. The loop never names a
strategy: what it computes follows from the strategy's declared `needs`.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alseg import __version__
from alseg.config import BenchConfig
from alseg.datasets.base import SegDataset
from alseg.errors import AlsegError
from alseg.models import SegModel, build_model, place
from alseg.pool import pool_pass
from alseg.progress import ProgressHooks
from alseg.seeding import derive_seed, numpy_rng, torch_generator
from alseg.store import ExperimentStore, RunFile, atomic_write_bytes
from alseg.strategies.base import SelectionContext, Strategy, StrategyContractError, validate_selection
from alseg.strategies.registry import StrategySpec
from alseg.train import NonFiniteLossError, TrainSettings, evaluate, fit

DIAGNOSTIC_SIGNAL = "entropy"  # computed for every strategy so picks can be compared (report)


class SelectionTimeout(AlsegError):
    """select() ran past --selection-timeout."""


@dataclass(frozen=True)
class RunSetup:
    """What all runs of an experiment share: config, data, device, store, progress."""

    cfg: BenchConfig
    data: SegDataset
    device: torch.device
    store: ExperimentStore
    hooks: ProgressHooks


def initial_labeled(data: SegDataset, initial: int, seed: int) -> np.ndarray:
    """L0: `initial` pool images drawn with the seed's 'initial' stream (the same for every strategy)."""
    rng = numpy_rng(seed, data.name, "initial")
    return np.sort(rng.choice(data.train, size=initial, replace=False))


def init_seed(data: SegDataset, seed: int) -> int:
    """The seed of the model's initial weights (the same for every strategy of a seed)."""
    return derive_seed(seed, data.name, "init")


def train_settings(cfg: BenchConfig, epochs: int) -> TrainSettings:
    """The config's training recipe for `epochs` epochs (AL rounds, ensemble members and the ceiling)."""
    return TrainSettings(epochs, cfg.batch_size, cfg.lr, cfg.augment, cfg.schedule)


def new_model(cfg: BenchConfig, seed: int, device: torch.device) -> SegModel:
    """The config's U-Net with weights initialised from `seed`, placed on the device."""
    return place(build_model(cfg.encoder, cfg.encoder_weights, seed), device)


@contextmanager
def time_limit(seconds: float, what: str):
    """Raise SelectionTimeout in the main thread after `seconds` (0 = no limit).

    The alarm re-fires every second (at most) until the block ends, and the block is failed afterwards
    if it ever fired, so a strategy that catches the exception and carries on still ends as a timeout.
    A strategy stuck inside one long C call (numpy, BLAS) is interrupted when that call returns.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def _alarm(signum: int, frame: Any) -> None:
        nonlocal fired
        fired = True
        raise SelectionTimeout(f"{what} ran past --selection-timeout {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, min(1.0, seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if fired:
        raise SelectionTimeout(f"{what} ran past --selection-timeout {seconds:g} s (it caught the timeout "
                               "and went on)")


def save_checkpoint(model: SegModel, path: Any, round_: int) -> None:
    """Model weights after a round, written atomically."""
    import io

    buf = io.BytesIO()
    torch.save({"round": round_, "state_dict": model.state_dict()}, buf)
    atomic_write_bytes(path, buf.getvalue(), fault="checkpoint-write")


def _ids(data: SegDataset, idx: np.ndarray) -> list[str]:
    return [data.ids[i] for i in idx]


class Run:
    """One (strategy, seed) run: rebuilds its state from the stored records, then runs the missing rounds."""

    def __init__(self, setup: RunSetup, spec: StrategySpec, seed: int) -> None:
        self.setup, self.spec, self.seed = setup, spec, seed
        self.cfg, self.data = setup.cfg, setup.data
        self.file: RunFile = setup.store.run_file(spec.run_name, seed)
        self.strategy: Strategy = spec.build()
        self.index_of = {id_: i for i, id_ in enumerate(self.data.ids)}
        self.where = f"{spec.run_name} seed {seed}"

    def _restore(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, SegModel | None]:
        """Labeled set and model at the end of the last stored round."""
        if not records:
            return initial_labeled(self.data, self.cfg.initial, self.seed), None
        ids = [i for rec in records for i in rec["added"]] + records[-1]["selected"]
        labeled = np.sort(np.array([self.index_of[i] for i in ids], dtype=np.int64))
        if self.cfg.train_mode == "reset":
            return labeled, None
        ckpt = self.setup.store.checkpoint_path(self.spec.run_name, self.seed, len(records) - 1)
        if not ckpt.exists():
            raise AlsegError(
                f"{self.where}: cannot resume fine-tuning after round {len(records) - 1}: checkpoint "
                f"{ckpt} is missing. Delete {self.file.path} to restart this run"
            )
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model = self._fresh_model()
        model.load_state_dict(state["state_dict"])
        return labeled, model

    def _fresh_model(self) -> SegModel:
        return new_model(self.cfg, init_seed(self.data, self.seed), self.setup.device)

    def execute(self) -> tuple[str, str]:
        """Run the missing rounds; returns (status, message). Errors of the strategy end only this run."""
        records = self.file.records()
        total = self.cfg.rounds + 1
        hooks = self.setup.hooks
        hooks.run_started(self.spec.run_name, self.seed, total, len(records))
        if len(records) >= total:
            self.setup.store.remove_checkpoints(self.spec.run_name, self.seed)  # a crash may have left one
            return "done", ""
        labeled, model = self._restore(records)
        for r in range(len(records), total):
            added = (labeled if r == 0 else np.array([self.index_of[i] for i in records[-1]["selected"]]))
            record = self.run_round(r, labeled, model, np.sort(added))
            model = record.pop("_model")
            next_ids = np.array([self.index_of[i] for i in record["selected"]], dtype=np.int64)
            store = self.setup.store
            if r < total - 1 and self.cfg.train_mode == "finetune":
                save_checkpoint(model, store.checkpoint_path(self.spec.run_name, self.seed, r), r)
            self.file.append(record)
            store.remove_checkpoints(self.spec.run_name, self.seed, keep=r)
            records.append(record)
            hooks.round_done(self.spec.run_name, self.seed, r, record)
            labeled = np.sort(np.concatenate([labeled, next_ids]))
        self.setup.store.remove_checkpoints(self.spec.run_name, self.seed)
        return "done", ""

    def run_round(self, r: int, labeled: np.ndarray, model: SegModel | None, added: np.ndarray) -> dict[str, Any]:
        """Train, evaluate, and select for the next round; returns the round record (+ the model)."""
        cfg, data, device, hooks = self.cfg, self.data, self.setup.device, self.setup.hooks
        if model is None or cfg.train_mode == "reset":
            model = self._fresh_model()
        epochs = cfg.initial_epochs if r == 0 else cfg.epochs
        hooks.round_started(self.spec.run_name, self.seed, r, len(labeled), epochs)
        pool = np.setdiff1d(data.train, labeled)
        t0 = time.perf_counter()
        torch.manual_seed(derive_seed(self.seed, data.name, "torch", r))
        fit(
            model, data.images, data.masks, labeled,
            train_settings(cfg, epochs),
            torch_generator(self.seed, data.name, "train", r), device,
            extra_loss=self.strategy.extra_loss if self.strategy.trains_on_unlabeled else None,
            unlabeled=pool if self.strategy.trains_on_unlabeled else None,
            on_epoch=hooks.epoch_done, where=f"{self.where}, round {r}",
        )
        t_train = time.perf_counter() - t0
        hooks.phase("evaluate")
        t0 = time.perf_counter()
        metrics = evaluate(model, data.images, data.masks, data.test, cfg.batch_size, device)
        t_eval = time.perf_counter() - t0
        selected = np.array([], dtype=np.int64)
        t_pool = t_select = 0.0
        picked_entropy = pool_entropy = float("nan")
        if r < cfg.rounds:
            selected, t_pool, t_select, picked_entropy, pool_entropy = self.select(r, model, labeled, pool)
        return {
            "kind": "round",
            "strategy": self.spec.run_name,
            "name": self.spec.name,
            "params": {k: v for k, v in self.spec.params.items()},
            "label": self.spec.label,
            "provider": self.spec.provider,
            "alseg_version": __version__,
            "dataset": data.name,
            "seed": self.seed,
            "round": r,
            "n_labeled": len(labeled),
            **{k: round(v, 8) for k, v in metrics.items()},
            "added": _ids(data, added),
            "selected": _ids(data, selected),
            "picked_entropy": None if np.isnan(picked_entropy) else round(picked_entropy, 8),
            "pool_entropy": None if np.isnan(pool_entropy) else round(pool_entropy, 8),
            "t_train": round(t_train, 3),
            "t_eval": round(t_eval, 3),
            "t_pool": round(t_pool, 3),
            "t_select": round(t_select, 3),
            "status": "done",
            "_model": model,
        }

    def select(self, r: int, model: SegModel, labeled: np.ndarray, pool: np.ndarray):
        """Pool pass for the declared signals, then the strategy's selection, validated."""
        cfg, data, device, hooks, strategy = self.cfg, self.data, self.setup.device, self.setup.hooks, self.strategy
        budget = min(cfg.budget, len(pool))
        hooks.phase("pool pass")
        t0 = time.perf_counter()
        signals = pool_pass(model, data.images, pool, set(strategy.needs) | {DIAGNOSTIC_SIGNAL},
                            cfg.batch_size, device)
        labeled_signals = pool_pass(model, data.images, labeled, strategy.needs_labeled, cfg.batch_size, device)
        t_pool = time.perf_counter() - t0
        for key, value in {**signals, **labeled_signals}.items():
            bad = int(np.count_nonzero(~np.isfinite(value)))
            if bad:  # the model, not the strategy: training diverged (NaN or huge weights)
                raise NonFiniteLossError(
                    f"{self.where}, round {r}: the trained model gives non-finite outputs ({bad} NaN or infinite "
                    f"values of pool signal '{key}' over {len(value)} images): training diverged. Lower the "
                    "learning rate (--lr); finished rounds are kept (a new --lr needs a new --name)."
                )
        ctx = SelectionContext(
            pool=pool, labeled=labeled, signals=signals, labeled_signals=labeled_signals,
            rng=numpy_rng(self.seed, data.name, self.spec.run_name, "select", r), round=r,
            model=model, images=data.images, device=device, batch_size=cfg.batch_size,
            train_member=self._member_trainer(labeled, r),
        )
        hooks.phase("select")
        t0 = time.perf_counter()
        with time_limit(cfg.selection_timeout, f"strategy '{self.spec.run_name}' select() in round {r}"), \
                torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, data.name, self.spec.run_name, "select-torch", r))
            chosen = strategy.select(ctx, budget)
        t_select = time.perf_counter() - t0
        try:
            chosen = validate_selection(self.spec.run_name, chosen, pool, budget)
        except StrategyContractError as err:
            raise StrategyContractError(f"{self.where}, round {r}: {err}") from None
        pos = np.searchsorted(pool, chosen)
        entropy = signals[DIAGNOSTIC_SIGNAL]
        return chosen, t_pool, t_select, float(entropy[pos].mean()), float(entropy.mean())

    def _member_trainer(self, labeled: np.ndarray, r: int):
        """A function that trains an ensemble member from scratch on the labeled set (seeded by member)."""
        cfg, data, device = self.cfg, self.data, self.setup.device

        def train_member(k: int) -> SegModel:
            seed = derive_seed(self.seed, data.name, self.spec.run_name, "member", k)
            model = new_model(cfg, seed, device)
            epochs = cfg.initial_epochs + r * cfg.epochs
            settings = train_settings(cfg, epochs)
            fit(model, data.images, data.masks, labeled, settings, torch_generator(seed, "member-train", r), device,
                where=f"{self.where}, ensemble member {k}")
            return model

        return train_member


FULL_RUN = "full"


def run_full(setup: RunSetup, seed: int) -> tuple[str, str]:
    """The ceiling: train once on the whole training pool from the seed's initial weights and evaluate.

    Same recipe as the AL runs (loss, optimiser, batch size, learning rate); it trains for
    `initial_epochs`, the epochs of a from-start round.
    """
    cfg, data, hooks = setup.cfg, setup.data, setup.hooks
    file = setup.store.run_file(FULL_RUN, seed)
    hooks.run_started(FULL_RUN, seed, 1, len(file.records()))
    if file.records():
        return "done", ""
    model = new_model(cfg, init_seed(data, seed), setup.device)
    hooks.round_started(FULL_RUN, seed, 0, len(data.train), cfg.initial_epochs)
    t0 = time.perf_counter()
    torch.manual_seed(derive_seed(seed, data.name, "torch", "full"))
    fit(model, data.images, data.masks, data.train,
        train_settings(cfg, cfg.initial_epochs),
        torch_generator(seed, data.name, "train", "full"), setup.device,
        on_epoch=hooks.epoch_done, where=f"full supervision seed {seed}")
    t_train = time.perf_counter() - t0
    hooks.phase("evaluate")
    t0 = time.perf_counter()
    metrics = evaluate(model, data.images, data.masks, data.test, cfg.batch_size, setup.device)
    record = {
        "kind": "round", "strategy": FULL_RUN, "name": FULL_RUN, "params": {}, "label": "Full supervision",
        "provider": f"alseg=={__version__}", "alseg_version": __version__, "dataset": data.name,
        "seed": seed, "round": 0, "n_labeled": len(data.train), **{k: round(v, 8) for k, v in metrics.items()},
        "added": [], "selected": [], "picked_entropy": None, "pool_entropy": None,
        "t_train": round(t_train, 3), "t_eval": round(time.perf_counter() - t0, 3), "t_pool": 0.0,
        "t_select": 0.0, "status": "done",
    }
    file.append(record)
    hooks.round_done(FULL_RUN, seed, 0, record)
    return "done", ""
