"""Uncertainty-weighted k-means (numpy): greedy weighted k-means++ seeding and blocked Lloyd iterations.

Follows the conventions of ``alseg.strategies.selection`` (dtype kept, ties to the lowest index,
row-blocked products with its block sizes, O(N·D + N·k) memory); the centroid picks that follow a
clustering are ``selection.nearest_to_centroids``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alseg.strategies.selection import _check_k, _chunks, _matrix, _sq_dist_to, _sq_norms, _thin_rows

__all__ = ["KMeansResult", "weighted_kmeans"]


# --------------------------------------------------------------------------- weighted k-means


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of weighted_kmeans: centroids (k, D), labels (N,), weighted inertia, iterations."""

    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool


def _weighted_draw(rng: np.random.Generator, mass: np.ndarray, size: int) -> np.ndarray:
    """Draw indices with probability ∝ mass (zero mass never drawn), via a cumulative-sum search."""
    cum = np.cumsum(mass, dtype=np.float64)
    u = rng.random(size) * cum[-1]
    return np.minimum(np.searchsorted(cum, u, side="right"), len(mass) - 1)


def _kmeans_pp(x: np.ndarray, x_sq: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy weighted k-means++ seeding: candidates drawn ∝ w·D², keep the one lowering Σ w·D² most.

    Like sklearn, each step draws 2 + ⌊ln k⌋ candidates (Arthur & Vassilvitskii's greedy variant);
    they share one pass over the pool, so the extra candidates cost almost nothing. If every
    positive-weight point already coincides with a centre, the farthest remaining point (then the
    lowest unused index) is taken so that k centres always exist.
    """
    n = len(x)
    n_trials = 2 + int(np.log(k))
    first = int(_weighted_draw(rng, w, 1)[0])
    centers = [first]
    closest = _sq_dist_to(x, x_sq, x[first])
    np.maximum(closest, 0.0, out=closest)
    closest[first] = 0.0
    wf = w.astype(np.float64)
    for _ in range(1, k):
        mass = wf * closest
        if mass.sum() <= 0.0:
            far = np.where(np.isin(np.arange(n), centers), -1.0, closest)
            j = int(np.argmax(far))
            if far[j] <= 0.0:
                j = int(np.setdiff1d(np.arange(n), centers)[0])
            centers.append(j)
            np.minimum(closest, np.maximum(_sq_dist_to(x, x_sq, x[j]), 0.0), out=closest)
            closest[j] = 0.0
            continue
        cand = _weighted_draw(rng, mass, n_trials)
        cand_pts = x[cand]
        c_sq = np.einsum("ij,ij->i", cand_pts, cand_pts)
        new = np.empty((n, len(cand)), dtype=x.dtype)
        for rows in _chunks(n, _thin_rows(len(cand))):
            g = x[rows] @ cand_pts.T
            g *= -2.0
            g += c_sq
            g += x_sq[rows, None]
            np.maximum(g, 0.0, out=g)
            np.minimum(g, closest[rows, None], out=g)
            new[rows] = g
        new[cand, np.arange(len(cand))] = 0.0
        pots = wf @ new
        best = int(np.argmin(pots))
        centers.append(int(cand[best]))
        closest = np.ascontiguousarray(new[:, best])
    return x[np.asarray(centers)].copy()


def _nearest(
    xb: np.ndarray, xb_sq: np.ndarray, centroids: np.ndarray, c_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row of a block (ties lowest) and its squared distance (float64)."""
    g = xb @ centroids.T
    g *= -2.0
    g += c_sq
    lab = g.argmin(axis=1)
    d1 = g[np.arange(len(xb)), lab].astype(np.float64)
    d1 += xb_sq
    np.maximum(d1, 0.0, out=d1)
    return lab, d1


class _LloydState:
    """Lloyd state: labels, each point's squared distance to its centroid, running weighted cluster sums.

    The first assignment accumulates the per-cluster weighted sums with one blocked product; after
    that, sums and totals (float64) change only by the points that switched cluster, so an iteration
    costs one blocked distance product (N·D·k) instead of two. Per-point bounds (Hamerly/Elkan) were
    tried and dropped: on 512-d embeddings most points fail the bound test, and gathering them cost
    more than it saved.
    """

    def __init__(self, x: np.ndarray, x_sq: np.ndarray, w: np.ndarray, centroids: np.ndarray) -> None:
        """Assign every point (one blocked pass) and accumulate per-cluster weighted sums."""
        n, d = x.shape
        k = len(centroids)
        self.x, self.x_sq, self.w, self.k = x, x_sq, w, k
        self.positive = w > 0
        self.labels = np.empty(n, dtype=np.int64)
        self.dist = np.empty(n, dtype=np.float64)
        self.sums = np.zeros((k, d), dtype=np.float64)
        c_sq = np.einsum("ij,ij->i", centroids, centroids)
        block_rows = _thin_rows(k)
        onehot = np.zeros((k, min(block_rows, n)), dtype=x.dtype)
        for rows in _chunks(n, block_rows):
            xb = x[rows]
            lab, d1 = _nearest(xb, x_sq[rows], centroids, c_sq)
            self.labels[rows] = lab
            self.dist[rows] = d1
            cols = np.arange(len(xb))
            block = onehot[:, : len(xb)]
            block[lab, cols] = w[rows]
            self.sums += block @ xb
            block[lab, cols] = 0.0
        self.totals = np.bincount(self.labels, weights=w, minlength=k).astype(np.float64)
        self.counts = np.bincount(self.labels[self.positive], minlength=k)

    def _move(self, idx: np.ndarray, new: np.ndarray) -> None:
        """Reassign points idx to clusters new, updating sums, totals and positive-weight counts."""
        old = self.labels[idx]
        wi = self.w[idx]
        delta = np.zeros((self.k, len(idx)), dtype=self.x.dtype)
        cols = np.arange(len(idx))
        delta[new, cols] = wi
        delta[old, cols] = -wi
        self.sums += delta @ self.x[idx]
        wi = wi.astype(np.float64)
        self.totals += np.bincount(new, weights=wi, minlength=self.k)
        self.totals -= np.bincount(old, weights=wi, minlength=self.k)
        pos = self.positive[idx]
        self.counts += np.bincount(new[pos], minlength=self.k)
        self.counts -= np.bincount(old[pos], minlength=self.k)
        self.labels[idx] = new

    def centroids(self, current: np.ndarray) -> tuple[np.ndarray, bool]:
        """Weighted cluster means (float64); a cluster with no positive weight is re-seeded.

        The re-seed is the point with the largest w·d² to its centroid (then largest d², then lowest
        index), moved into the empty cluster, as sklearn relocates empty clusters.
        """
        empty = np.flatnonzero(self.counts == 0)
        new = current.astype(np.float64)
        seeds = np.empty(0, dtype=np.int64)
        if len(empty):
            self.sums[empty] = 0.0
            self.totals[empty] = 0.0
            seeds = np.lexsort((-self.dist, -(self.w * self.dist)))[: len(empty)]
            self._move(seeds, empty)
            self.dist[seeds] = 0.0
        nz = self.totals > 0.0
        new[nz] = self.sums[nz] / self.totals[nz, None]
        new[empty] = self.x[seeds]
        return new, bool(len(empty))

    def reassign(self, centroids: np.ndarray) -> int:
        """Assignment step to the given centroids (blocked); returns how many points changed cluster."""
        c_sq = np.einsum("ij,ij->i", centroids, centroids)
        moved = 0
        for rows in _chunks(len(self.x), _thin_rows(self.k)):
            lab, d1 = _nearest(self.x[rows], self.x_sq[rows], centroids, c_sq)
            self.dist[rows] = d1
            change = np.flatnonzero(lab != self.labels[rows])
            if len(change):
                self._move(change + rows.start, lab[change])
                moved += len(change)
        return moved

    def inertia(self) -> float:
        """Weighted sum of squared distances from the last assignment."""
        return float(np.dot(self.w.astype(np.float64), self.dist))


def weighted_kmeans(
    x: np.ndarray,
    k: int,
    weights: np.ndarray | None,
    seed: int,
    tol: float = 1e-4,
    max_iter: int = 300,
    n_init: int = 1,
) -> KMeansResult:
    """Uncertainty-weighted k-means (paper Eq. 4, see below): Lloyd's algorithm with sample weights.

    Objective minimised: Σ_k Σ_{x∈S_k} w(x)·||x − μ_k||² with μ_k the w-weighted mean of S_k. The
    paper's Eq. 4 also divides each cluster's term by |S_k|. We drop that factor: with weighted-mean
    centroids, Lloyd's two steps (assign to the nearest centroid, move each centroid to its
    cluster's weighted mean) each never increase the objective above, so it converges to a local
    minimum of it; the 1/|S_k| version has no closed-form centroid step (moving a point changes
    both clusters' normalisers, so "nearest centroid" is no longer the best assignment) and it
    rewards tiny clusters (a singleton costs 0 however far out it is). Centroid selection is then
    done by nearest_to_centroids. ``weights=None`` means all ones, bit-identical to passing ones.

    Seeding: greedy weighted k-means++ (candidates drawn with probability ∝ w·D²) from
    ``np.random.default_rng(seed)``. Convergence: the relative centroid shift
    Σ_j ||μ_j' − μ_j||² / Σ_j ||μ_j' − x̄||² ≤ tol, with x̄ the weighted data mean (the shift relative
    to the centroids' spread, measured about x̄ rather than the origin so post-ReLU features far from
    0 do not loosen it), or no label changes. sklearn's rule (Σ shift² ≤ tol × mean per-feature
    variance) is ~D times stricter on 512-d embeddings: 150+ iterations on unclustered data for
    changes in inertia below 0.01 %. A cluster with no positive weight is re-seeded with the point
    of largest w·d² to its centroid. ``n_init`` runs keep the lowest inertia (earliest on ties).
    Returned labels are always the nearest-centroid assignment to the returned centroids. Distances
    are computed in the input precision (float32 stays float32), in blocks; memory O(N·D + N·k).
    """
    arr = _matrix(x, "x")
    n = len(arr)
    k = _check_k(k, n, "points")
    if k == 0:
        raise ValueError("k must be at least 1")
    if n_init < 1 or max_iter < 1:
        raise ValueError(f"n_init ({n_init}) and max_iter ({max_iter}) must be at least 1")
    if weights is None:
        w = np.ones(n, dtype=arr.dtype)
    else:
        w = np.asarray(weights, dtype=arr.dtype)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}")
        bad = int(np.count_nonzero(~np.isfinite(w)))
        if bad:
            raise ValueError(f"weights contain {bad} non-finite value(s)")
        if (w < 0).any():
            raise ValueError(f"weights must be non-negative; {int((w < 0).sum())} are negative")
    if float(w.sum(dtype=np.float64)) <= 0.0:
        raise ValueError("weights sum to zero: no point can pull a centroid")
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    x_sq = _sq_norms(arr, "x")
    rng = np.random.default_rng(seed)
    best: KMeansResult | None = None
    for _ in range(n_init):
        result = _lloyd(arr, x_sq, w, k, rng, tol, max_iter)
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None
    return best


def _lloyd(
    x: np.ndarray,
    x_sq: np.ndarray,
    w: np.ndarray,
    k: int,
    rng: np.random.Generator,
    tol: float,
    max_iter: int,
) -> KMeansResult:
    """One seeded run: k-means++ seeding, Lloyd iterations, labels always matching the centroids."""
    centroids = _kmeans_pp(x, x_sq, w, k, rng)
    state = _LloydState(x, x_sq, w, centroids)
    center = state.sums.sum(axis=0) / state.totals.sum()  # weighted data mean
    converged = False
    stale = False  # labels belong to the previous centroids (a tolerance stop skips the last assignment)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new, reseeded = state.centroids(centroids)
        shift = float(((new - centroids) ** 2).sum())
        spread = float(((new - center) ** 2).sum())
        centroids = new.astype(x.dtype)
        if shift <= tol * spread:
            converged, stale = True, shift > 0.0 or reseeded
            break
        moved = state.reassign(centroids)
        if moved == 0 and not reseeded:
            converged = True  # the next update would reproduce these centroids exactly
            break
    if stale:
        state.reassign(centroids)
    return KMeansResult(
        centroids=centroids, labels=state.labels, inertia=state.inertia(), n_iter=n_iter, converged=converged
    )
