"""Random: the baseline every other strategy has to beat."""

from __future__ import annotations

from collections.abc import Sequence

from alseg.api import SelectionContext, Strategy


class RandomStrategy(Strategy):
    """Uniform sampling without replacement from the unlabeled pool."""

    name = "random"
    description = "uniform sampling without replacement from the pool"
    label = "Random"

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Draw `budget` pool ids with the strategy's seeded generator."""
        return ctx.rng.choice(ctx.pool, size=min(budget, len(ctx.pool)), replace=False)
