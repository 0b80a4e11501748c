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

from alseg.api import (
    ForwardOutput,
    SelectionContext,
    Strategy,
    check_scores,
    discrepancy_loss,
    fg_bg_similarity,
    nearest_to_centroids,
    require_bool,
    require_choice,
    require_number,
    similarity_weight,
    top_k,
    weighted_kmeans,
)

WEIGHTS = ("shift", "clip")


class ProposedStrategy(Strategy):
    """Uncertainty-weighted k-means on encoder embeddings + feature discrepancy loss on unlabeled images.

    Ablations: uncertainty=false (plain k-means), clustering=false (top-I), discrepancy=false (no loss).
    """

    name = "proposed"
    description = "uncertainty-weighted k-means + feature discrepancy learning (Huang et al., the paper)"
    label = "Proposed (UWC+FDL)"
    needs = frozenset({"fg_bg_similarity", "embedding", "unlabeled_loss"})

    def __init__(self, uncertainty: bool = True, clustering: bool = True, discrepancy: bool = True,
                 lam: float = 0.1, delta: float = 0.2, weight: str = "shift", tol: float = 1e-4) -> None:
        self.uncertainty = require_bool("uncertainty", uncertainty, "weight k-means by I(x)")
        self.clustering = require_bool("clustering", clustering, "k-means, else the top-I images")
        self.discrepancy = require_bool("discrepancy", discrepancy, "add the loss of Eq. 5 in training")
        if not (uncertainty or clustering):
            raise ValueError("uncertainty=false and clustering=false together leave no selection rule")
        self.lam = require_number("lam", lam, low=0, why="λ weighs the discrepancy loss; a negative λ rewards "
                                  "similar foreground and background features")
        self.delta = require_number("delta", delta, low=-1, high=1, high_open=True,
                                    why="δ is a margin on cos(F1, F0) ∈ [-1, 1]; at δ >= 1 the loss is always 0")
        self.weight = require_choice("weight", weight, WEIGHTS, "how I(x) becomes a non-negative k-means weight")
        self.tol = require_number("tol", tol, low=0, high=1, low_open=True, high_open=True,
                                  why="the relative centroid shift at which k-means stops")

    def declared_needs(self) -> frozenset[str]:
        """F(x) for clustering, I(x) for weights or top-I, the unlabeled loss for FDL."""
        needs = {"embedding"} if self.clustering else set()
        if self.uncertainty or not self.clustering:
            needs.add("fg_bg_similarity")
        if self.discrepancy:
            needs.add("unlabeled_loss")
        return frozenset(needs)

    def similarity(self, ctx: SelectionContext) -> np.ndarray:
        """I(x) = cos(F1(x), F0(x)) per pool image (Eq. 2), refused when not finite."""
        return check_scores(self.name, ctx.signals["fg_bg_similarity"], "foreground/background similarities")

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Cluster centres of the I-weighted k-means (or the top-I images without clustering)."""
        if not self.clustering:
            return ctx.pool[top_k(self.similarity(ctx), budget)]
        emb = ctx.signals["embedding"]
        weights = similarity_weight(self.similarity(ctx), self.weight) if self.uncertainty else None
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
