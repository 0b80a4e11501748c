"""An installable alseg plugin: margin sampling, registered through the `alseg.strategies` entry point.

It proves that a third party can add a strategy without touching alseg: it imports only `alseg.api`,
declares the need 'model' and scores the pool with `ctx.predict_scores`, which runs the current model
batch by batch and keeps one number per image (never the N·H·W probability maps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from alseg.api import SelectionContext, Strategy, check_scores, top_k

if TYPE_CHECKING:
    from torch import Tensor


def mean_margin(prob: Tensor) -> Tensor:
    """Per image, the mean over pixels of |p − (1 − p)| = |2p − 1|: 0 is a coin flip, 1 is certain.

    `prob` is (B, ...): a batch of probabilities as ctx.predict_scores hands it (a numpy array works too).
    """
    return abs(2 * prob - 1).reshape(len(prob), -1).mean(1)


class MarginStrategy(Strategy):
    """The `budget` pool images with the smallest mean pixel margin between the two classes."""

    name = "margin"
    description = "smallest mean pixel margin |2p-1| (example plugin, scores the pool with ctx.predict_scores)"
    label = "Margin (plugin)"
    needs = frozenset({"model"})

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        """Negative mean margin per pool image (higher = more uncertain)."""
        return check_scores(self.name, -ctx.predict_scores(ctx.pool, mean_margin), "margins")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """The least confident images, ties to the lowest id."""
        return ctx.pool[top_k(self.selection_scores(ctx), budget)]
