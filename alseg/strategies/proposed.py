"""Huang et al.: uncertainty-weighted clustering (UWC) with feature discrepancy learning (FDL).

I(x) = cos(F1(x), F0(x)), F_c = Avg(ŷ_c ⊗ f_E(x)) (Eq. 1–2); weighted k-means on F(x) = Avg(f_E(x))
with K = budget and weights w(I(x)) (Eq. 4); from each cluster the pool image nearest its centroid.
Training adds λ · E_{x∈U} max(0, cos(F1, F0) − δ) on unlabeled batches (Eq. 5, λ = 0.1, δ = 0.2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from alseg.models import ForwardOutput
from alseg.strategies.base import SelectionContext, Strategy, check_scores
from alseg.strategies.scores import discrepancy_loss, fg_bg_similarity, similarity_weight
from alseg.strategies.selection import nearest_to_centroids, top_k, weighted_kmeans


class ProposedStrategy(Strategy):
    """Uncertainty-weighted k-means on encoder embeddings + feature discrepancy loss on unlabeled images.

    Ablations: uncertainty=false (plain k-means), clustering=false (top-I), discrepancy=false (no loss).
    """

    name = "proposed"
    description = "uncertainty-weighted k-means + feature discrepancy learning (Huang et al., the paper)"
    label = "Proposed (UWC+FDL)"
    needs = frozenset({"fg_bg_similarity", "embedding"})

    def __init__(self, uncertainty: bool = True, clustering: bool = True, discrepancy: bool = True,
                 lam: float = 0.1, delta: float = 0.2, weight: str = "shift", tol: float = 1e-4) -> None:
        similarity_weight(np.zeros(1), weight)  # raises ValueError naming the valid mappings
        for key, value in (("uncertainty", uncertainty), ("clustering", clustering), ("discrepancy", discrepancy)):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false, got {value!r}")
        if not (uncertainty or clustering):
            raise ValueError("uncertainty=false and clustering=false together leave no selection rule")
        self.uncertainty, self.clustering, self.discrepancy = uncertainty, clustering, discrepancy
        self.lam, self.delta, self.weight, self.tol = lam, delta, weight, tol
        self.trains_on_unlabeled = discrepancy

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Cluster centres of the I-weighted k-means (or the top-I images without clustering)."""
        cos = check_scores(self.name, ctx.signals["fg_bg_similarity"], "foreground/background similarities")
        if not self.clustering:
            return ctx.pool[top_k(cos, budget)]
        emb = ctx.signals["embedding"]
        weights = similarity_weight(cos, self.weight) if self.uncertainty else None
        if weights is not None and not np.any(weights > 0):
            weights = None  # every image equally (un)certain: plain k-means is the weighted one
        km = weighted_kmeans(emb, budget, weights, seed=int(ctx.rng.integers(2**32)), tol=self.tol)
        return ctx.pool[nearest_to_centroids(emb, km.centroids, km.labels)]

    def extra_loss(self, out: ForwardOutput, labeled: bool) -> Tensor | None:
        """λ · mean(max(0, cos(F1, F0) − δ)) on unlabeled batches (Eq. 5); nothing on labeled ones."""
        if labeled or not self.discrepancy:
            return None
        cos = fg_bg_similarity(torch.sigmoid(out.logits.float()), out.features.float())
        return self.lam * discrepancy_loss(cos, self.delta)
