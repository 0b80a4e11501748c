"""An installable alseg plugin: margin sampling, registered through the `alseg.strategies` entry point.

It proves that a third party can add a strategy without touching alseg: it declares no pool signal
and instead runs its own pass over the pool with the current model (`needs_model = True`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from alseg.strategies.base import SelectionContext, Strategy, check_scores
from alseg.strategies.selection import top_k
from alseg.train import to_tensor


def mean_margin(prob: torch.Tensor) -> torch.Tensor:
    """Per image, the mean over pixels of |p − (1 − p)| = |2p − 1|: 0 is a coin flip, 1 is certain."""
    return (2 * prob - 1).abs().flatten(1).mean(1)


class MarginStrategy(Strategy):
    """The `budget` pool images with the smallest mean pixel margin between the two classes."""

    name = "margin"
    description = "smallest mean pixel margin |2p-1| (example plugin, own pool pass)"
    label = "Margin (plugin)"
    needs_model = True

    @torch.no_grad()
    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        """Negative mean margin per pool image (higher = more uncertain)."""
        assert ctx.model is not None and ctx.images is not None and ctx.device is not None
        ctx.model.eval()
        scores = []
        for start in range(0, len(ctx.pool), ctx.batch_size):
            x = to_tensor(ctx.images, ctx.pool[start : start + ctx.batch_size], ctx.device)
            scores.append(-mean_margin(torch.sigmoid(ctx.model(x).logits.float())).cpu().numpy())
        return check_scores(self.name, np.concatenate(scores), "margins")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """The least confident images, ties to the lowest id."""
        return ctx.pool[top_k(self.selection_scores(ctx), budget)]
