"""The active-learning loop of one (dataset, strategy, seed) run: it yields round results, it writes nothing.

Per round r: train on L_r (fine-tune from round r−1 or reset to the seed's initial weights), evaluate on
the test split and, unless r is the last round, run the pool pass for the signals the strategy declared,
let the strategy select and validate the selection. The loop never names a strategy. The caller (the
runner) stores each result before asking for the next, so a run resumes from any stored round.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from alseg import __version__
from alseg.events import Emit, RoundStarted
from alseg.experiment import FULL_RUN, RunSetup, init_seed, initial_labeled, new_model
from alseg.models import SegModel
from alseg.records import RoundRecord, stored_metrics
from alseg.round import RunPlan, extra_test_fields, run_round
from alseg.steps import evaluate_step, train_step

if TYPE_CHECKING:
    from alseg.shared_round import SharedRound


@dataclass(frozen=True)
class RoundResult:
    """A finished round: its record and the model trained in it (for the next round's fine-tuning)."""

    record: RoundRecord
    model: SegModel


def indices(index: dict[str, int], ids: list[str]) -> np.ndarray:
    """Dataset indices of stored ids, as int64."""
    return np.array([index[i] for i in ids], dtype=np.int64)


def labeled_after(plan: RunPlan, records: list[RoundRecord], index: dict[str, int]) -> np.ndarray:
    """The labeled set (dataset indices) for the round after the stored ones: L0 plus every selection."""
    if not records:
        return initial_labeled(plan.setup.data, plan.setup.cfg.initial, plan.seed)
    return np.sort(indices(index, [i for rec in records for i in rec.added] + records[-1].selected))


def run_rounds(plan: RunPlan, records: list[RoundRecord], model: SegModel | None,
               shared: SharedRound | None = None) -> Iterator[RoundResult]:
    """Run the rounds after the stored `records`, starting from `model` (None: the seed's initial weights).

    `shared` is the seed's shared round 0, used when the run starts at round 0.
    """
    data, total = plan.setup.data, plan.setup.cfg.rounds + 1
    index = {id_: i for i, id_ in enumerate(data.ids)}
    labeled = labeled_after(plan, records, index)
    previous = records[-1] if records else None
    for r in range(len(records), total):
        added = labeled if previous is None else indices(index, previous.selected)
        record, model = run_round(plan, r, labeled, model, np.sort(added), shared if r == 0 else None)
        yield RoundResult(record, model)
        labeled = np.sort(np.concatenate([labeled, indices(index, record.selected)]))
        previous = record


def full_supervision(setup: RunSetup, seed: int, emit: Emit) -> Iterator[RoundResult]:
    """The ceiling: train once on the whole training pool from the seed's initial weights and evaluate.

    Same recipe as the AL runs (loss, optimiser, batch size, learning rate); it trains for
    `initial_epochs`, the epochs of a from-start round.
    """
    cfg, data = setup.cfg, setup.data
    model = new_model(cfg, init_seed(data, seed), setup.device)
    emit(RoundStarted(FULL_RUN, seed, 0, len(data.train), cfg.initial_epochs))
    t_train = train_step(setup, model, data.train, cfg.initial_epochs, seed, "full", emit,
                         f"full supervision seed {seed}")
    evaluation = evaluate_step(setup, model, emit)
    record = RoundRecord(
        strategy=FULL_RUN, name=FULL_RUN, params={}, label="Full supervision", provider=f"alseg=={__version__}",
        alseg_version=__version__, dataset=data.name, seed=seed, round=0, n_labeled=len(data.train),
        **stored_metrics(evaluation.metrics), added=[], selected=[], picked_entropy=None,
        pool_entropy=None, t_train=round(t_train, 3), t_eval=round(evaluation.seconds, 3), t_pool=0.0,
        t_select=0.0, extra=extra_test_fields(evaluation),
    )
    yield RoundResult(record, model)
