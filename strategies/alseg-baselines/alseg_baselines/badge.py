"""BADGE (Ash et al. 2020) for binary segmentation: k-means++ on closed-form gradients of the segmentation head.

Per pool image, the gradient of the pixel-mean BCE loss against the hard predicted mask ŷ = [p > 0.5] with
respect to the head's weights and bias (a 3×3 conv on the 16-channel decoder output in alseg's U-Net), from
the head's input (ctx.predict_scores(..., head_input=True)) and p − ŷ: no autograd, O(N·(C·k²+1)) memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

from alseg.api import SelectionContext, Strategy, check_scores, require_int
from alseg_baselines.maths import head_gradient, kmeans_pp


class BadgeStrategy(Strategy):
    """Diverse and uncertain: k-means++ seeding on per-image gradient embeddings of the segmentation head."""

    name = "badge"
    description = "BADGE: k-means++ on closed-form head gradients vs the hard prediction (Ash et al. 2020)"
    label = "BADGE"
    needs = frozenset({"model"})

    def __init__(self, kernel: int = 3) -> None:
        self.kernel = require_int("kernel", kernel, low=1, why="the head's odd kernel size: alseg's U-Net head "
                                  "is smp's 3×3 conv; 1 keeps only the centre tap")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd integer >= 1 (a 'same'-padded conv head), got {kernel!r}")

    def gradient(self, probs: Tensor, head_input: Tensor) -> Tensor:
        """A batch's gradient embeddings (B, C·k² + 1) from its probabilities and the head's input."""
        return head_gradient(probs, head_input, self.kernel)

    def embeddings(self, ctx: SelectionContext) -> np.ndarray:
        """Gradient embedding of every pool image (N, C·k² + 1), one batch of maps held at a time."""
        g = ctx.predict_scores(ctx.pool, self.gradient, head_input=True)
        return check_scores(self.name, g, "gradient embeddings")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """k-means++ seeds on the gradient embeddings, the first one of largest norm, D² draws from ctx.rng."""
        return ctx.pool[kmeans_pp(self.embeddings(ctx), min(budget, len(ctx.pool)), ctx.rng)]
