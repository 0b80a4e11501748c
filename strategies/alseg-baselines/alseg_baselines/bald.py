"""BALD (Houlsby et al. 2011; Gal et al. 2017) with MC dropout: the images whose pixels the dropout passes disagree on.

The model's MC-dropout forward (`ctx.predict_scores(..., mc_dropout=True)`) applies dropout2d with alseg's
MC_DROPOUT_P = 0.5 to the decoder output before the segmentation head, at selection time only; training is
untouched. Scores stream batch by batch: O(N) memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from torch import Tensor

from alseg.api import SelectionContext, Strategy, check_scores, reduce_pixels, require_choice, require_int, top_k
from alseg_baselines.maths import mutual_information

AGGREGATES = ("mean", "sum", "max")


class MonteCarloDropoutStrategy(Strategy):
    """Top-`budget` images by a per-pixel map of T MC-dropout passes, reduced per image by `aggregate`."""

    needs = frozenset({"model"})
    #: (T, B, H, W) probabilities → (B, H, W) per-pixel uncertainty; set by each subclass.
    pixel_map: Callable[[Tensor], Tensor]
    what = "uncertainty scores"

    def __init__(self, passes: int = 10, aggregate: str = "mean") -> None:
        self.passes = require_int("passes", passes, low=2, why="the Monte-Carlo estimate needs two or more "
                                  "stochastic passes")
        self.aggregate = require_choice("aggregate", aggregate, AGGREGATES, "the reduction over pixels")

    def score(self, probs: Tensor) -> Tensor:
        """One value per image of a batch of T passes (T, B, H, W)."""
        return reduce_pixels(type(self).pixel_map(probs), self.aggregate)

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        """Per pool image, the reduced map over `passes` MC-dropout forwards (higher = picked first)."""
        u = ctx.predict_scores(ctx.pool, self.score, mc_dropout=True, passes=self.passes)
        return check_scores(self.name, u, self.what)

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """The highest-scoring images, ties to the lowest id."""
        return ctx.pool[top_k(self.selection_scores(ctx), min(budget, len(ctx.pool)))]


class BaldStrategy(MonteCarloDropoutStrategy):
    """BALD: per-pixel mutual information I = H[mean_t p_t] − mean_t H[p_t] between prediction and weights."""

    name = "bald"
    description = "MC-dropout BALD: mutual information between prediction and weights (Houlsby 2011, Gal 2017)"
    label = "BALD (MC dropout)"
    pixel_map = staticmethod(mutual_information)
    what = "BALD mutual informations"
