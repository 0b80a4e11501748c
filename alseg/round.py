"""One round of one run: train on L_r, evaluate on the test split, then pool pass and selection.

Nothing here writes to disk: `run_round` returns the round record and the trained model, and the
runner decides what to store. What is computed follows from the strategy's declared needs only.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from alseg import __version__
from alseg.errors import AlsegError
from alseg.events import Emit, Phase, RoundStarted
from alseg.experiment import RunSetup, init_seed, new_model, train_settings
from alseg.extra_test import EXTRA_TEST_KEY
from alseg.models import SegModel
from alseg.pool import pool_pass
from alseg.records import RoundRecord, rounded, stored_metrics
from alseg.seeding import derive_seed, numpy_rng, torch_generator
from alseg.steps import Evaluation, evaluate_step, train_step
from alseg.strategies.base import Strategy, StrategyContractError, validate_selection
from alseg.strategies.context import Predictor, SelectionContext
from alseg.strategies.needs import Needs, needs_of
from alseg.strategies.registry import StrategySpec
from alseg.train import NonFiniteLossError, fit

if TYPE_CHECKING:
    from alseg.shared_round import SharedRound

DIAGNOSTIC_SIGNAL = "entropy"  # computed for every strategy so that picks can be compared (report)


class SelectionTimeout(AlsegError):
    """select() ran past --selection-timeout."""


@dataclass
class RunPlan:
    """One (strategy, seed) run: its setup, the strategy instance and what it declared it needs."""

    setup: RunSetup
    spec: StrategySpec
    seed: int
    emit: Emit
    replay: list[list[str]] | None = None  # --replay: the stored selection of every round, instead of select()

    def __post_init__(self) -> None:
        self.strategy: Strategy = self.spec.build()
        self.needs: Needs = needs_of(self.strategy)

    @property
    def where(self) -> str:
        return f"{self.spec.run_name} seed {self.seed}"

    def fresh_model(self) -> SegModel:
        """The seed's initial weights (the same for every strategy of the seed)."""
        return new_model(self.setup.cfg, init_seed(self.setup.data, self.seed), self.setup.device)


@dataclass(frozen=True)
class Selection:
    """The ids picked for the next round and what it cost."""

    chosen: np.ndarray
    t_pool: float = 0.0
    t_select: float = 0.0
    picked_entropy: float = float("nan")
    pool_entropy: float = float("nan")


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
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


def train(plan: RunPlan, r: int, labeled: np.ndarray, model: SegModel | None) -> tuple[SegModel, float]:
    """Round r's training: fine-tune the previous model (or start from the seed's weights) on L_r; its seconds."""
    cfg, data = plan.setup.cfg, plan.setup.data
    if model is None or cfg.train_mode == "reset":
        model = plan.fresh_model()
    epochs = cfg.initial_epochs if r == 0 else cfg.epochs
    plan.emit(RoundStarted(plan.spec.run_name, plan.seed, r, len(labeled), epochs))
    unlabeled_term = plan.needs.unlabeled_loss
    seconds = train_step(plan.setup, model, labeled, epochs, plan.seed, r, plan.emit, f"{plan.where}, round {r}",
                         extra_loss=plan.strategy.extra_loss if unlabeled_term else None,
                         unlabeled=np.setdiff1d(data.train, labeled) if unlabeled_term else None)
    return model, seconds


def check_finite(plan: RunPlan, r: int, signals: dict[str, np.ndarray]) -> None:
    """Non-finite pool signals mean the model diverged (not the strategy's fault): stop the run saying so."""
    for key, value in signals.items():
        bad = int(np.count_nonzero(~np.isfinite(value)))
        if bad:
            raise NonFiniteLossError(
                f"{plan.where}, round {r}: the trained model gives non-finite outputs ({bad} NaN or infinite "
                f"values of pool signal '{key}' over {len(value)} images): training diverged. Lower the "
                "learning rate (--lr); finished rounds are kept (a new --lr needs a new --name)."
            )


def member_trainer(plan: RunPlan, labeled: np.ndarray, r: int) -> Callable[[int], SegModel]:
    """A function that trains ensemble member k from scratch on the labeled set (seeded by member)."""
    setup = plan.setup
    cfg, data, device = setup.cfg, setup.data, setup.device

    def train_member(k: int) -> SegModel:
        seed = derive_seed(plan.seed, data.name, plan.spec.run_name, "member", k)
        model = new_model(cfg, seed, device)
        settings = train_settings(cfg, cfg.initial_epochs + r * cfg.epochs)
        fit(model, setup.images, setup.masks, labeled, settings, torch_generator(seed, "member-train", r), device,
            where=f"{plan.where}, ensemble member {k}", precision=setup.precision)
        return model

    return train_member


def select_next(plan: RunPlan, r: int, model: SegModel, labeled: np.ndarray,
                shared: SharedRound | None = None) -> Selection:
    """Pool pass for the declared signals (or the shared round 0's), then the strategy's selection, validated."""
    setup = plan.setup
    cfg, data, device, needs = setup.cfg, setup.data, setup.device, plan.needs
    pool = np.setdiff1d(data.train, labeled)
    budget = min(cfg.budget, len(pool))
    t0 = time.perf_counter()
    precision = plan.setup.precision
    if shared is not None:  # computed once for the seed, by the same pass over the same model
        signals = shared.pool_signals(needs.pool_signals | {DIAGNOSTIC_SIGNAL})
        labeled_signals = shared.labeled_pool_signals(needs.labeled_signals)
        t_pool = 0.0
    else:
        plan.emit(Phase("pool pass"))
        signals = pool_pass(model, setup.images, pool, needs.pool_signals | {DIAGNOSTIC_SIGNAL}, setup.infer_batch,
                            device, precision=precision)
        labeled_signals = pool_pass(model, setup.images, labeled, needs.labeled_signals, setup.infer_batch, device,
                                    precision=precision)
        t_pool = time.perf_counter() - t0
    check_finite(plan, r, {**signals, **labeled_signals})
    entropy = signals[DIAGNOSTIC_SIGNAL]
    if plan.replay is not None:
        chosen = replayed_selection(plan, r, pool, budget)
        return Selection(chosen, t_pool, 0.0, float(entropy[np.searchsorted(pool, chosen)].mean()),
                         float(entropy.mean()))
    ctx = SelectionContext(
        pool=pool, labeled=labeled, signals=signals, labeled_signals=labeled_signals,
        rng=numpy_rng(plan.seed, data.name, plan.spec.run_name, "select", r), round=r,
        predictor=Predictor(model, setup.images, setup.infer_batch, device, precision) if needs.model else None,
        train_member=member_trainer(plan, labeled, r) if needs.ensemble else None,
        strategy=plan.spec.run_name, needs=needs,
    )
    plan.emit(Phase("select"))
    t0 = time.perf_counter()
    with time_limit(cfg.selection_timeout, f"strategy '{plan.spec.run_name}' select() in round {r}"), \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(plan.seed, data.name, plan.spec.run_name, "select-torch", r))
        chosen = plan.strategy.select(ctx, budget)
    t_select = time.perf_counter() - t0
    try:
        chosen = validate_selection(plan.spec.run_name, chosen, pool, budget)
    except StrategyContractError as err:
        raise StrategyContractError(f"{plan.where}, round {r}: {err}") from None
    picked = float(entropy[np.searchsorted(pool, chosen)].mean())
    return Selection(chosen, t_pool, t_select, picked, float(entropy.mean()))


def run_round(plan: RunPlan, r: int, labeled: np.ndarray, model: SegModel | None,
              added: np.ndarray, shared: SharedRound | None = None) -> tuple[RoundRecord, SegModel]:
    """Train, evaluate, and (unless it is the last round) select; returns the record and the model.

    With `shared` (round 0 only), training, evaluation and the pool pass are the seed's shared round 0:
    same model, metrics and signals; the record's times are 0 (the cost is counted once, with the shared round).
    """
    cfg, data = plan.setup.cfg, plan.setup.data
    if shared is not None:
        plan.emit(RoundStarted(plan.spec.run_name, plan.seed, r, len(labeled), 0))
        model, t_train = shared.model(plan.setup), 0.0
        evaluation = Evaluation(shared.metrics, shared.extra_metrics(plan.setup))
    else:
        model, t_train = train(plan, r, labeled, model)
        evaluation = evaluate_step(plan.setup, model, plan.emit)
    last = r >= cfg.rounds
    sel = Selection(np.array([], dtype=np.int64)) if last else select_next(plan, r, model, labeled, shared)
    spec = plan.spec
    record = RoundRecord(
        strategy=spec.run_name, name=spec.name, params=dict(spec.params), label=spec.label, provider=spec.provider,
        alseg_version=__version__, dataset=data.name, seed=plan.seed, round=r, n_labeled=len(labeled),
        **stored_metrics(evaluation.metrics),
        added=[data.ids[i] for i in added], selected=[data.ids[i] for i in sel.chosen],
        picked_entropy=rounded(sel.picked_entropy), pool_entropy=rounded(sel.pool_entropy),
        t_train=round(t_train, 3), t_eval=round(evaluation.seconds, 3), t_pool=round(sel.t_pool, 3),
        t_select=round(sel.t_select, 3), extra=extra_test_fields(evaluation),
    )
    return record, model


def extra_test_fields(evaluation: Evaluation) -> dict[str, Any]:
    """The record's `extra_test` entry ({NAME: metrics}, rounded as stored), or nothing without --extra-test."""
    if not evaluation.extra:
        return {}
    return {EXTRA_TEST_KEY: {name: stored_metrics(m) for name, m in sorted(evaluation.extra.items())}}


def replayed_selection(plan: RunPlan, r: int, pool: np.ndarray, budget: int) -> np.ndarray:
    """Round r's stored selection (--replay) as dataset indices, checked against this run's pool and budget."""
    assert plan.replay is not None
    data = plan.setup.data
    index = {id_: i for i, id_ in enumerate(data.ids)}
    ids = plan.replay[r] if r < len(plan.replay) else []
    unknown = [i for i in ids if i not in index]
    chosen = np.array([index[i] for i in ids if i in index], dtype=np.int64)  # in the stored (the strategy's) order
    outside = np.setdiff1d(chosen, pool)
    if unknown or outside.size or len(np.unique(chosen)) != budget:
        why = (f"ids {unknown[:3]} are not in {data.name}" if unknown else
               f"{outside.size} image(s) are not in this run's pool" if outside.size else
               f"it holds {len(chosen)} images, not the budget {budget}")
        raise AlsegError(f"{plan.where}, round {r}: the replayed selection does not fit ({why}): the source "
                         "experiment was not made on this data and protocol")
    return chosen
