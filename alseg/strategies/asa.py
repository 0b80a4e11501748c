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
import torch

from alseg.models import SegModel
from alseg.strategies.base import SelectionContext, Strategy, check_scores
from alseg.strategies.scores import tta_variance
from alseg.strategies.selection import mmd_greedy, top_k, unit_normalise
from alseg.train import to_tensor

VIEWS = ("tta", "mcdropout", "ensemble")


@torch.no_grad()
def prediction_variance(models: list[SegModel], images: np.ndarray, idx: np.ndarray, batch_size: int,
                        device: torch.device, mc_dropout: bool = False, passes: int = 1) -> np.ndarray:
    """Per image, the pixel-mean variance of foreground probabilities over models × passes."""
    for m in models:
        m.eval()
    out = []
    for start in range(0, len(idx), batch_size):
        x = to_tensor(images, idx[start : start + batch_size], device)
        probs = [torch.sigmoid(m(x, mc_dropout=mc_dropout).logits.float()) for m in models for _ in range(passes)]
        out.append(tta_variance(torch.stack(probs)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


class AsaStrategy(Strategy):
    """Uncertainty filter (variance over K predictions) + greedy linear-MMD distribution matching."""

    name = "asa"
    description = "ASA re-implementation: top uncertain (TTA variance), then greedy MMD distribution matching"
    label = "ASA (re-impl.)"
    needs = frozenset({"tta_variance", "embedding"})
    needs_labeled = frozenset({"embedding"})

    def __init__(self, views: str = "tta", passes: int = 8, candidates: float = 2.0) -> None:
        if views not in VIEWS:
            raise ValueError(f"views must be one of {', '.join(VIEWS)}, got {views!r}")
        if passes < 2:
            raise ValueError("passes must be at least 2 (a variance needs two predictions)")
        if candidates < 1:
            raise ValueError("candidates must be at least 1 (a multiple of the budget)")
        self.views, self.passes, self.candidates = views, passes, candidates
        # Only the TTA variant uses the pool pass's tta_variance; the others run their own passes.
        self.needs = frozenset({"embedding", "tta_variance"} if views == "tta" else {"embedding"})
        self.needs_model = views != "tta"

    def uncertainty(self, ctx: SelectionContext) -> np.ndarray:
        """u(x): TTA variance from the pool pass, or variance over MC-dropout passes / ensemble members."""
        if self.views == "tta":
            return ctx.signals["tta_variance"]
        assert ctx.model is not None and ctx.images is not None and ctx.device is not None
        if self.views == "mcdropout":
            return prediction_variance([ctx.model], ctx.images, ctx.pool, ctx.batch_size, ctx.device,
                                       mc_dropout=True, passes=self.passes)
        assert ctx.train_member is not None
        members = [ctx.train_member(k) for k in range(self.passes)]
        return prediction_variance(members, ctx.images, ctx.pool, ctx.batch_size, ctx.device)

    def selection_scores(self, ctx: SelectionContext) -> np.ndarray:
        return check_scores(self.name, self.uncertainty(ctx), "uncertainty scores")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Top `candidates × budget` by u(x), then pick `budget` of them by greedy MMD matching."""
        u = self.selection_scores(ctx)
        cand = top_k(u, min(len(ctx.pool), max(budget, round(self.candidates * budget))))
        emb = unit_normalise(ctx.signals["embedding"])
        picks = mmd_greedy(emb[cand], emb.mean(axis=0), unit_normalise(ctx.labeled_signals["embedding"]), budget)
        return ctx.pool[cand[picks]]
