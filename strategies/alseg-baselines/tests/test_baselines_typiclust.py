"""TypiClust on hand-made clusters: the densest point of the largest uncovered cluster comes first."""

from __future__ import annotations

import numpy as np
import pytest
from alseg_baselines.typiclust import TypiClustStrategy

from alseg.api import SelectionContext

DIM = 8


def blob(centre: int, size: int) -> np.ndarray:
    """`size` points 1 apart on a line through a far-away centre; the median is the most typical (k = size − 1)."""
    x = np.zeros((size, DIM), dtype=np.float32)
    x[:, centre % DIM] = 1000.0 * (1 + centre // DIM)
    x[:, (centre + 1) % DIM] = np.arange(size) - size // 2
    return x


def test_picks_the_densest_point_of_the_largest_uncovered_clusters() -> None:
    a, b, c = blob(0, 21), blob(2, 15), blob(4, 9)  # a is the largest but holds the labeled image
    labeled = a[:1] + np.float32(0.25)
    pool = np.concatenate([a, b, c])
    order = np.random.default_rng(0).permutation(len(pool))  # pool ids in no particular order
    pool_ids = 500 + np.arange(len(pool))
    ctx = SelectionContext(pool=pool_ids, labeled=np.array([3]), signals={"embedding": pool[order]},
                           labeled_signals={"embedding": labeled}, rng=np.random.default_rng(1), round=0)
    centre_of = {"b": 21 + 15 // 2, "c": 21 + 15 + 9 // 2}  # rows of pool at t = 0 of blobs b and c
    where = {name: int(pool_ids[np.flatnonzero(order == row)[0]]) for name, row in centre_of.items()}
    assert TypiClustStrategy().select(ctx, 2).tolist() == [where["b"], where["c"]]


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="knn must be an integer >= 1"):
        TypiClustStrategy(knn=0)
    with pytest.raises(ValueError, match="n_init must be an integer >= 1"):
        TypiClustStrategy(n_init=0)
