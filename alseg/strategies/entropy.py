"""Entropy: label the images whose predicted masks are most uncertain, pixel by pixel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alseg.strategies.base import SelectionContext, Strategy, check_scores
from alseg.strategies.selection import top_k

AGGREGATES = ("mean", "sum", "max")


class EntropyStrategy(Strategy):
    """Top-`budget` images by binary pixel entropy h = −p ln p − (1−p) ln(1−p), reduced per image."""

    name = "entropy"
    description = "top images by per-pixel binary entropy of the prediction (mean over pixels)"
    label = "Entropy"
    needs = frozenset({"entropy"})

    def __init__(self, aggregate: str = "mean") -> None:
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        self.aggregate = aggregate

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        """Per-image entropy reduced over pixels by `aggregate` (sum ranks like mean at a fixed size)."""
        key = "entropy" if self.aggregate == "mean" else f"entropy.{self.aggregate}"
        return check_scores(self.name, ctx.signals[key], "entropy scores")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """The most uncertain images, ties to the lowest id."""
        return ctx.pool[top_k(self.selection_scores(ctx), min(budget, len(ctx.pool)))]
