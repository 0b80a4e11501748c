"""ASA (re-impl.): uncertain candidates, then greedy matching of the labeled set's feature distribution.

Li & Yin 2020 published no code and we know only the abstract and footnotes (an ensemble of networks,
pixel-wise uncertainty, a "distribution discrepancy" between labeled and unlabeled sets on averaged
encoder features). Everything concrete below is our choice, documented in docs/strategies.md:
uncertainty u(x) = mean over pixels of the variance of the foreground probability over K predictions;
candidates = the `candidates × budget` most uncertain pool images; then greedy distribution matching
on unit-normalised embeddings (the greedy step of minimising the linear-kernel MMD between the labeled
set plus picks and the pool).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alseg.api import (
    SelectionContext,
    Strategy,
    check_scores,
    mmd_greedy,
    require_choice,
    require_int,
    require_number,
    top_k,
    tta_variance,
    unit_normalise,
)

VIEWS = ("tta", "mcdropout", "ensemble")


class AsaStrategy(Strategy):
    """Uncertainty filter (variance over K predictions) + greedy linear-MMD distribution matching."""

    name = "asa"
    description = "ASA re-implementation: top uncertain (TTA variance), then greedy MMD distribution matching"
    label = "ASA (re-impl.)"
    needs = frozenset({"tta_variance", "embedding", "labeled:embedding"})

    def __init__(self, views: str = "tta", passes: int = 8, candidates: float = 2.0) -> None:
        self.views = require_choice("views", views, VIEWS, "where the K predictions come from")
        self.passes = require_int("passes", passes, low=2, why="a variance needs two predictions")
        self.candidates = require_number("candidates", candidates, low=1, why="a multiple of the budget")

    def declared_needs(self) -> frozenset[str]:
        """TTA reads the pool pass's tta_variance; MC dropout runs the model, an ensemble trains members."""
        if self.views == "tta":
            return type(self).needs
        return frozenset({"embedding", "labeled:embedding", "model" if self.views == "mcdropout" else "ensemble"})

    def uncertainty(self, ctx: SelectionContext) -> np.ndarray:
        """u(x): TTA variance from the pool pass, or variance over MC-dropout passes / ensemble members."""
        if self.views == "tta":
            return ctx.signals["tta_variance"]
        if self.views == "mcdropout":
            return ctx.predict_scores(ctx.pool, tta_variance, mc_dropout=True, passes=self.passes)
        members = [ctx.train_member(k) for k in range(self.passes)]
        return ctx.predict_scores(ctx.pool, tta_variance, models=members)

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        return check_scores(self.name, self.uncertainty(ctx), "uncertainty scores")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Top `candidates × budget` by u(x), then pick `budget` of them by greedy MMD matching."""
        u = self.selection_scores(ctx)
        cand = top_k(u, min(len(ctx.pool), max(budget, round(self.candidates * budget))))
        emb = unit_normalise(ctx.signals["embedding"])
        picks = mmd_greedy(emb[cand], emb.mean(axis=0), unit_normalise(ctx.labeled_signals["embedding"]), budget)
        return ctx.pool[cand[picks]]
