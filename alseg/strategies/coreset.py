"""Coreset (Sener & Savarese 2018): cover the pool's embedding space with as few images as possible."""

from __future__ import annotations

from collections.abc import Sequence

from alseg.api import SelectionContext, Strategy, k_center_greedy


class CoresetStrategy(Strategy):
    """k-center greedy on F(x): repeatedly take the pool image farthest from everything labeled so far.

    max_x min_{l ∈ L ∪ picks} ||F(x) − F(l)||₂, running-minimum update, ties to the lowest id.
    Time O(budget · N · D), memory O(N · D) (no N×N matrix).
    """

    name = "coreset"
    description = "k-center greedy on encoder embeddings (Sener & Savarese 2018)"
    label = "Coreset"
    needs = frozenset({"embedding", "labeled:embedding"})

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Farthest-first traversal starting from the labeled set's embeddings."""
        picks = k_center_greedy(ctx.signals["embedding"], ctx.labeled_signals["embedding"], budget)
        return ctx.pool[picks]
