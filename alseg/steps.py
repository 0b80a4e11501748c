"""The two steps every run is made of: train on a labeled set with a seed's streams, and evaluate on the test split(s).

One function each, used by an AL round, the shared round 0 and the full-supervision ceiling alike, so the three
cannot drift apart: the same seeds give the same model wherever it is trained.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from alseg.events import Emit, EpochDone, Phase
from alseg.experiment import RunSetup, train_settings
from alseg.extra_test import ExtraTest
from alseg.models import SegModel
from alseg.seeding import derive_seed, torch_generator
from alseg.train import ExtraLoss, evaluate, fit


def train_step(setup: RunSetup, model: SegModel, labeled: np.ndarray, epochs: int, seed: int, stream: int | str,
               emit: Emit, where: str, extra_loss: ExtraLoss | None = None,
               unlabeled: np.ndarray | None = None) -> float:
    """Train `model` in place on `labeled` with the seed's streams of `stream` (the round, or 'full'); its seconds."""
    data = setup.data
    t0 = time.perf_counter()
    torch.manual_seed(derive_seed(seed, data.name, "torch", stream))
    fit(model, setup.images, setup.masks, labeled, train_settings(setup.cfg, epochs),
        torch_generator(seed, data.name, "train", stream), setup.device,
        extra_loss=extra_loss, unlabeled=unlabeled, on_epoch=lambda epoch, loss: emit(EpochDone(epoch, loss)),
        where=where, precision=setup.precision)
    return time.perf_counter() - t0


@dataclass(frozen=True)
class Evaluation:
    """Test-split metrics, the extra tests' metrics by dataset name, and the seconds both took."""

    metrics: dict[str, float]
    extra: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


def evaluate_step(setup: RunSetup, model: SegModel, emit: Emit) -> Evaluation:
    """Evaluate on the experiment's test split and on every extra test (`--extra-test`)."""
    emit(Phase("evaluate"))
    t0 = time.perf_counter()
    metrics = evaluate(model, setup.images, setup.masks, setup.data.test, setup.infer_batch, setup.device,
                       setup.precision)
    return Evaluation(metrics, evaluate_extra(setup, model, setup.extra_tests), time.perf_counter() - t0)


def evaluate_extra(setup: RunSetup, model: SegModel, tests: Sequence[ExtraTest]) -> dict[str, dict[str, float]]:
    """The model's metrics on each of `tests` (--extra-test splits), by dataset name."""
    extra = {}
    for test in tests:
        images, masks = test.on(setup.device)
        extra[test.name] = evaluate(model, images, masks, test.rows, setup.infer_batch, setup.device, setup.precision)
    return extra
