"""Distribution matching (numpy): greedy linear-kernel MMD picks for ASA.

Follows the conventions of ``alseg.strategies.selection`` (ties to the lowest index, inputs checked
for shape and finiteness).
"""

from __future__ import annotations

import numpy as np

from alseg.strategies.selection import _check_k, _matrix, _sq_norms

__all__ = ["mmd_greedy"]


# --------------------------------------------------------------------------- MMD matching


def mmd_greedy(candidates: np.ndarray, pool_mean: np.ndarray, labeled: np.ndarray, k: int) -> np.ndarray:
    """ASA (re-impl.) distribution matching: greedily add candidates so the labeled mean tracks the pool's.

    Embeddings must be unit-normalised by the caller (see unit_normalise); ``pool_mean`` μ_U is the
    mean of the unit-normalised pool embeddings. With A the labeled set plus the picks so far,
    n = |A| and S = n·μ_A (the sum of A), adding x gives μ_{A∪{x}} = (S + f(x))/(n + 1), so the
    linear-kernel MMD² after the step is

        ||μ_{A∪{x}} − μ_U||² = ||f(x) − v||² / (n + 1)²,   v = (n + 1)·μ_U − n·μ_A,
                             = (||f(x)||² − 2⟨f(x), v⟩ + ||v||²) / (n + 1)².

    v and n do not depend on x and ||f(x)||² = 1 for unit vectors, so the greedy step that minimises
    the MMD picks the candidate maximising ⟨f(x), v⟩ (ties to the lowest index). An empty labeled
    set (n = 0) gives v = μ_U. Returns k distinct indices into candidates, in pick order.
    """
    cand = _matrix(candidates, "candidates", dtype=np.dtype(np.float64))
    m, d = cand.shape
    k = _check_k(k, m, "candidates")
    mu_u = np.asarray(pool_mean, dtype=np.float64).reshape(-1)
    if mu_u.shape != (d,):
        raise ValueError(f"pool_mean must have shape ({d},), got {np.shape(pool_mean)}")
    lab = np.asarray(labeled, dtype=np.float64)
    if lab.size == 0:
        lab = np.empty((0, d))
    lab = _matrix(lab, "labeled", dtype=np.dtype(np.float64), dim=d)
    _sq_norms(cand, "candidates")
    if len(lab):
        _sq_norms(lab, "labeled")
    if not np.isfinite(mu_u).all():
        raise ValueError("pool_mean has non-finite values")
    total = lab.sum(axis=0)
    n = len(lab)
    taken = np.zeros(m, dtype=bool)
    picks = np.empty(k, dtype=np.int64)
    for i in range(k):
        v = (n + 1) * mu_u - total
        score = cand @ v
        score[taken] = -np.inf
        j = int(np.argmax(score))
        picks[i] = j
        taken[j] = True
        total += cand[j]
        n += 1
    return picks
