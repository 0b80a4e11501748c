"""Entropy: label the images whose predicted masks are most uncertain, pixel by pixel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alseg.api import SelectionContext, Strategy, check_scores, require_choice, top_k

AGGREGATES = ("mean", "sum", "max")


class EntropyStrategy(Strategy):
    """Top-`budget` images by binary pixel entropy h = −p ln p − (1−p) ln(1−p), reduced per image."""

    name = "entropy"
    description = "top images by per-pixel binary entropy of the prediction (mean over pixels)"
    label = "Entropy"
    needs = frozenset({"entropy"})

    def __init__(self, aggregate: str = "mean") -> None:
        self.aggregate = require_choice("aggregate", aggregate, AGGREGATES, "the reduction over pixels")

    @property
    def signal(self) -> str:
        """The pool signal key of the chosen reduction: 'entropy' (mean), 'entropy:sum' or 'entropy:max'."""
        return "entropy" if self.aggregate == "mean" else f"entropy:{self.aggregate}"

    def declared_needs(self) -> frozenset[str]:
        return frozenset({self.signal})

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        """Per-image entropy reduced over pixels by `aggregate` (sum ranks like mean at a fixed size)."""
        return check_scores(self.name, ctx.signals[self.signal], "entropy scores")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """The most uncertain images, ties to the lowest id."""
        return ctx.pool[top_k(self.selection_scores(ctx), min(budget, len(ctx.pool)))]
