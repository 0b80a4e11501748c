"""BALD and MC entropy score the pool from ctx.predict_scores' MC-dropout passes exactly as the math says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from alseg_baselines.bald import BaldStrategy
from alseg_baselines.maths import mutual_information, predictive_entropy
from alseg_baselines.mc_entropy import McEntropyStrategy

from alseg.testing import make_context


@pytest.mark.parametrize(("strategy", "pixel_map", "reduce"), [
    (BaldStrategy(passes=3), mutual_information, lambda m: m.mean((1, 2))),
    (BaldStrategy(passes=4, aggregate="max"), mutual_information, lambda m: m.max((1, 2))),
    (McEntropyStrategy(passes=3, aggregate="sum"), predictive_entropy, lambda m: m.sum((1, 2))),
], ids=["bald", "bald-max", "mc_entropy-sum"])
def test_scores_are_the_reduced_map_of_the_mc_dropout_passes(strategy, pixel_map, reduce) -> None:
    ctx = make_context(strategy)
    torch.manual_seed(11)
    scores = strategy.selection_scores(ctx)
    torch.manual_seed(11)  # the same dropout masks, held in full this time
    probs = ctx.predict(ctx.pool, mc_dropout=True, passes=strategy.passes).probs
    assert probs.shape[0] == strategy.passes and not np.allclose(probs[0], probs[1])  # dropout is on
    np.testing.assert_allclose(scores, reduce(pixel_map(probs)), rtol=1e-5, atol=1e-7)
    picks = strategy.select(ctx, 5)
    assert len(set(picks.tolist())) == 5


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="passes must be an integer >= 2"):
        BaldStrategy(passes=1)
    with pytest.raises(ValueError, match="passes must be an integer >= 2"):
        McEntropyStrategy(passes=2.5)
    with pytest.raises(ValueError, match="aggregate must be one of mean, sum, max"):
        BaldStrategy(aggregate="median")
