"""Stochastic batches (Kirsch et al., TMLR 2023): sample the batch from any scored strategy instead of its top-k.

`power(base=NAME)` draws `budget` pool images without replacement with probability ∝ s^β (power),
∝ exp(β·s) (softmax) or ∝ rank^−β (softrank), s the base's per-image scores (its `selection_scores`),
by the Gumbel-top-k trick with the context's generator. power(base=bald) is PowerBALD.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alseg.api import (
    SelectionContext,
    Strategy,
    StrategyContractError,
    build_strategy,
    check_scores,
    require_choice,
    require_number,
)
from alseg_baselines.maths import MODES, gumbel_top_k, log_weights

DEFAULT_BASE = "mc_entropy"


def scored_base(spec: str) -> Strategy:
    """The registered strategy `spec` names, refused unless it exposes per-image scores (selection_scores)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"base must name a registered strategy, e.g. base=entropy or base='bald(passes=20)', "
                         f"got {spec!r}")
    base = build_strategy(spec)
    if type(base).selection_scores is Strategy.selection_scores:
        raise ValueError(f"base={spec}: strategy '{type(base).name}' exposes no per-image scores (it does not "
                         "implement selection_scores), so there is nothing to sample by; choose a scored strategy "
                         "such as entropy, asa, bald or mc_entropy")
    return base


class PowerStrategy(Strategy):
    """The stochastic-batch version of a scored strategy: Gumbel-top-k sampling ∝ a power of its scores."""

    name = "power"
    description = "stochastic batch of a scored strategy: sample ∝ score^beta (Kirsch et al. 2023), base=NAME"
    label = "Power"
    needs = frozenset({"model"})  # the needs of the default base, mc_entropy; an instance has its base's

    def __init__(self, base: str = DEFAULT_BASE, beta: float = 1.0, mode: str = "power") -> None:
        self.beta = require_number("beta", beta, low=0, low_open=True,
                                   why="the inverse temperature; beta -> 0 is uniform sampling")
        self.mode = require_choice("mode", mode, MODES, "how scores become sampling weights")
        self._base = scored_base(base)
        self.base = base

    def declared_needs(self) -> frozenset[str]:
        """Exactly what the base declares: the base computes the scores from the same context."""
        return self._base.declared_needs()

    def sampling_log_weights(self, ctx: SelectionContext) -> np.ndarray:
        """log of the sampling weight of every pool image, from the base's scores."""
        scores = self._base.selection_scores(ctx)
        if scores is None:
            raise StrategyContractError(f"strategy '{ctx.strategy or self.name}': its base '{self.base}' returned "
                                        "no scores from selection_scores; power needs one score per pool image")
        s = check_scores(ctx.strategy or self.name, scores, f"scores of base '{self.base}'")
        if s.shape != (len(ctx.pool),):
            raise StrategyContractError(f"strategy '{ctx.strategy or self.name}': base '{self.base}' returned scores "
                                        f"of shape {s.shape} for {len(ctx.pool)} pool images")
        lw = log_weights(s, self.beta, self.mode)
        if not np.all(np.isfinite(lw)):
            raise StrategyContractError(f"strategy '{ctx.strategy or self.name}': beta={self.beta:g} makes the "
                                        f"{self.mode} log-weights overflow (scores up to {np.abs(s).max():.3g}); "
                                        "use a smaller beta")
        return lw

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """`budget` pool ids sampled without replacement ∝ exp(log-weight), Gumbel noise from ctx.rng."""
        return ctx.pool[gumbel_top_k(self.sampling_log_weights(ctx), min(budget, len(ctx.pool)), ctx.rng)]
