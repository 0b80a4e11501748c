"""TypiClust (Hacohen et al. 2022): the most typical image of each of the largest clusters no label covers yet.

k-means of labeled ∪ pool embeddings F(x) into |L| + budget clusters (sklearn, seeded from ctx.rng), then
`budget` times the largest uncovered cluster's most typical pool image (smallest mean distance to its
k = min(knn, size − 1) nearest cluster members). Memory O(N·D): distances are computed within one cluster,
in row blocks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from alseg.api import SelectionContext, Strategy, require_int
from alseg_baselines.maths import typiclust_select


class TypiClustStrategy(Strategy):
    """Cover the embedding space cluster by cluster, each time with a dense (typical) point."""

    name = "typiclust"
    description = "TypiClust: most typical image of the largest uncovered k-means cluster (Hacohen et al. 2022)"
    label = "TypiClust"
    needs = frozenset({"embedding", "labeled:embedding"})

    def __init__(self, knn: int = 20, n_init: int = 1) -> None:
        self.knn = require_int("knn", knn, low=1, why="the neighbours that define typicality; the paper uses 20")
        self.n_init = require_int("n_init", n_init, low=1, why="k-means restarts; the best inertia is kept")

    def clusters(self, x: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
        """k-means labels of the rows of x (Lloyd, k-means++ initialisation, sklearn); x is centred in place."""
        with warnings.catch_warnings():
            # Duplicate embeddings give fewer distinct clusters than asked; the rule below copes with that.
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=n_clusters, n_init=self.n_init, random_state=seed, copy_x=False).fit(x)
        return km.labels_

    def select(self, ctx: SelectionContext, budget: int) -> Sequence[int]:
        """Cluster labeled ∪ pool into |L| + budget, then the typical points of the uncovered clusters."""
        budget = min(budget, len(ctx.pool))
        pool, labeled = ctx.signals["embedding"], ctx.labeled_signals["embedding"]
        pool = np.asarray(pool, dtype=np.float32)
        x = np.concatenate([np.asarray(labeled, dtype=np.float32).reshape(-1, pool.shape[1]), pool])
        is_labeled = np.arange(len(x)) < len(ctx.labeled)
        labels = self.clusters(x, len(ctx.labeled) + budget, int(ctx.rng.integers(2**31 - 1)))
        picks = typiclust_select(x, labels, is_labeled, budget, self.knn)
        return ctx.pool[picks - len(ctx.labeled)]
