"""Selection rules over pool arrays (numpy): top-k, k-center greedy, weighted k-means, MMD matching.

Conventions shared by every function here:

- inputs are float32 or float64 (anything else is converted to float64); float32 stays float32, so
  the pool is never copied into a wider type;
- ties always go to the lowest index;
- memory is O(N·D) for the pool plus O(N) work arrays: no N×N matrix is ever built, and every
  matrix product with the pool runs in blocks of at most ``CHUNK_ROWS`` rows (OpenBLAS has been
  seen to segfault on ``X @ X.T`` for float32 X with ≥ 33,000 rows of 512 columns);
- squared distances are computed as ||x||² − 2·x·c + ||c||² with the norms computed once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CHUNK_ROWS",
    "KMeansResult",
    "k_center_greedy",
    "mmd_greedy",
    "nearest_to_centroids",
    "top_k",
    "unit_normalise",
    "weighted_kmeans",
]

#: Most pool rows that enter one matrix product.
CHUNK_ROWS = 8192
#: Most columns (labeled points or candidates) that enter one block of a pool × set product.
_CHUNK_COLS = 512


# --------------------------------------------------------------------------- helpers


def _chunks(n: int, size: int = CHUNK_ROWS) -> Iterator[slice]:
    """Yield consecutive slices of at most ``size`` rows covering range(n)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _matrix(x: np.ndarray, name: str, *, dtype: np.dtype | None = None, dim: int | None = None) -> np.ndarray:
    """Validate a 2-D float array (float32 kept, else float64), C-contiguous for fast BLAS blocks."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D), got shape {arr.shape}")
    if dtype is None:
        dtype = np.dtype(np.float32) if arr.dtype == np.float32 else np.dtype(np.float64)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has {arr.shape[1]} columns, expected {dim}")
    return arr


def _sq_norms(x: np.ndarray, name: str) -> np.ndarray:
    """Row squared norms; doubles as the finiteness check (NaN/inf anywhere makes a norm non-finite)."""
    sq = np.einsum("ij,ij->i", x, x)
    bad = int(np.count_nonzero(~np.isfinite(sq)))
    if bad:
        raise ValueError(f"{name} has {bad} row(s) with non-finite values (or values too large to square)")
    return sq


def _check_k(k: int, n: int, what: str) -> int:
    """Validate a selection size: an int with 0 ≤ k ≤ n."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise ValueError(f"k must be an int, got {k!r}")
    if k < 0 or k > n:
        raise ValueError(f"k={k} must be between 0 and the number of {what} ({n})")
    return int(k)


def _min_sq_dist(x: np.ndarray, x_sq: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Squared distance from each row of x to its nearest row of ``others``, in blocks (O(N) memory)."""
    o_sq = np.einsum("ij,ij->i", others, others)
    out = np.empty(len(x), dtype=x.dtype)
    for rows in _chunks(len(x)):
        best = None
        for cols in _chunks(len(others), _CHUNK_COLS):
            g = x[rows] @ others[cols].T
            g *= -2.0
            g += o_sq[cols]
            m = g.min(axis=1)
            best = m if best is None else np.minimum(best, m, out=best)
        out[rows] = best
    out += x_sq
    np.maximum(out, 0.0, out=out)
    return out


def _sq_dist_to(x: np.ndarray, x_sq: np.ndarray, c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Squared distance of every row of x to one point c, in blocks."""
    if out is None:
        out = np.empty(len(x), dtype=x.dtype)
    c_sq = float(c @ c)
    for rows in _chunks(len(x)):
        np.dot(x[rows], c, out=out[rows])
    out *= -2.0
    out += x_sq
    out += c_sq
    return out


def unit_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (zero rows stay zero), as mmd_greedy's caller must do."""
    arr = _matrix(x, "x")
    norms = np.sqrt(_sq_norms(arr, "x"))
    return arr / np.maximum(norms, eps)[:, None]


# --------------------------------------------------------------------------- top-k


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, in descending score order, ties to the lowest index."""
    s = np.asarray(scores)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
        raise ValueError(f"scores must be real numbers, got dtype {s.dtype}")
    k = _check_k(k, len(s), "scores")
    s = s.astype(np.float64, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise ValueError(f"scores contain {bad} non-finite value(s) (NaN or inf) out of {len(s)}")
    # A stable sort of −s keeps equal scores in index order.
    return np.argsort(-s, kind="stable")[:k].astype(np.int64)


# --------------------------------------------------------------------------- k-center greedy


def k_center_greedy(pool: np.ndarray, labeled: np.ndarray, k: int) -> np.ndarray:
    """Core-set k-center greedy (Sener & Savarese 2018) on embeddings; k distinct indices into pool.

    Keeps each pool point's squared Euclidean distance to its nearest centre (labeled points, then
    picks): starts from the labeled set (blocked products), then k times picks the argmax (ties to
    the lowest index) and lowers the running minimum with distances to the new pick. A picked point
    is marked so it can never be picked again, even if duplicates make every distance 0.

    With an empty labeled set, the first pick is the point farthest from the pool mean (a
    deterministic, data-centred start; Sener & Savarese leave it open), and greedy continues from it.
    Memory is O(N·D) for the pool plus O(N); time is O(N·D·(|labeled| + k)).
    """
    x = _matrix(pool, "pool")
    n, d = x.shape
    k = _check_k(k, n, "pool points")
    lab = np.asarray(labeled)
    if lab.size == 0:
        lab = np.empty((0, d), dtype=x.dtype)
    lab = _matrix(lab, "labeled", dtype=x.dtype, dim=d)
    picks = np.empty(k, dtype=np.int64)
    if k == 0:
        return picks
    x_sq = _sq_norms(x, "pool")
    if len(lab):
        _sq_norms(lab, "labeled")
        mind = _min_sq_dist(x, x_sq, lab)
        start = 0
    else:
        mean = x.mean(axis=0, dtype=np.float64).astype(x.dtype)
        picks[0] = int(np.argmax(_sq_dist_to(x, x_sq, mean)))
        mind = np.full(n, np.inf, dtype=x.dtype)
        start = 1
        _update_min(x, x_sq, picks[0], mind)
    buf = np.empty(n, dtype=x.dtype)
    for i in range(start, k):
        j = int(np.argmax(mind))
        picks[i] = j
        if i + 1 < k:
            _update_min(x, x_sq, j, mind, buf)
        mind[j] = -np.inf
    return picks


def _update_min(x: np.ndarray, x_sq: np.ndarray, j: int, mind: np.ndarray, buf: np.ndarray | None = None) -> None:
    """Lower the running minimum squared distance with the distances to pool point j; mark j used."""
    d = _sq_dist_to(x, x_sq, x[j], out=buf)
    np.minimum(mind, d, out=mind)
    mind[j] = -np.inf


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
        for rows in _chunks(n):
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


def _nearest_two(
    xb: np.ndarray, xb_sq: np.ndarray, centroids: np.ndarray, c_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest centroid (ties lowest), its squared distance and the second-nearest's, for a block."""
    g = xb @ centroids.T
    g *= -2.0
    g += c_sq
    g += xb_sq[:, None]
    np.maximum(g, 0.0, out=g)
    lab = g.argmin(axis=1)
    rows = np.arange(len(xb))
    d1 = g[rows, lab]
    if g.shape[1] > 1:
        g[rows, lab] = np.inf
        d2 = g.min(axis=1)
    else:
        d2 = np.full(len(xb), np.inf, dtype=g.dtype)
    return lab, d1, d2


class _LloydState:
    """Hamerly-bounded Lloyd state: labels, distance bounds, and running weighted sums per cluster.

    ``upper[i]`` bounds ||x_i − c_{labels[i]}|| from above, ``lower[i]`` bounds the distance to every
    other centroid from below. A point whose upper bound is below max(lower, half the distance from
    its centroid to the nearest other centroid) cannot change cluster, so it is skipped; the others
    are re-examined in blocks. Sums and totals (float64) change only by the points that moved, so
    late iterations cost O(N) plus work on the few points near a boundary instead of O(N·D·k).
    """

    def __init__(self, x: np.ndarray, x_sq: np.ndarray, w: np.ndarray, centroids: np.ndarray) -> None:
        """Assign every point exactly (one blocked pass) and accumulate per-cluster sums."""
        n, d = x.shape
        k = len(centroids)
        self.x, self.x_sq, self.w, self.k = x, x_sq, w, k
        self.positive = w > 0
        self.labels = np.empty(n, dtype=np.int64)
        self.upper = np.empty(n, dtype=np.float64)
        self.lower = np.empty(n, dtype=np.float64)
        self.sums = np.zeros((k, d), dtype=np.float64)
        c_sq = np.einsum("ij,ij->i", centroids, centroids)
        onehot = np.zeros((k, min(CHUNK_ROWS, n)), dtype=x.dtype)
        for rows in _chunks(n):
            xb = x[rows]
            lab, d1, d2 = _nearest_two(xb, x_sq[rows], centroids, c_sq)
            self.labels[rows] = lab
            self.upper[rows] = np.sqrt(d1)
            self.lower[rows] = np.sqrt(d2)
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
        wi = self.w[idx].astype(np.float64)
        xi = self.x[idx].astype(np.float64)
        delta = np.zeros((self.k, len(idx)), dtype=np.float64)
        cols = np.arange(len(idx))
        delta[new, cols] = wi
        delta[old, cols] = -wi
        self.sums += delta @ xi
        self.totals += np.bincount(new, weights=wi, minlength=self.k)
        self.totals -= np.bincount(old, weights=wi, minlength=self.k)
        pos = self.positive[idx]
        self.counts += np.bincount(new[pos], minlength=self.k)
        self.counts -= np.bincount(old[pos], minlength=self.k)
        self.labels[idx] = new

    def centroids(self, current: np.ndarray) -> tuple[np.ndarray, bool]:
        """Weighted means of the clusters; zero-weight clusters re-seeded on the farthest points."""
        empty = np.flatnonzero(self.counts == 0)
        new = current.astype(np.float64)
        if len(empty):
            self.sums[empty] = 0.0
            self.totals[empty] = 0.0
            seeds = self._farthest(current, len(empty))
            for j, i in zip(empty, seeds, strict=True):
                self._move(np.array([i]), np.array([j]))
                self.upper[i] = 0.0
                self.lower[i] = 0.0
        nz = self.totals > 0.0
        new[nz] = self.sums[nz] / self.totals[nz, None]
        if len(empty):
            new[empty] = self.x[seeds]
        return new, bool(len(empty))

    def _farthest(self, centroids: np.ndarray, count: int) -> np.ndarray:
        """The ``count`` points with the largest w·||x − c_label||² (then largest distance, lowest index)."""
        dist = np.empty(len(self.x), dtype=np.float64)
        for rows in _chunks(len(self.x)):
            diff = self.x[rows] - centroids[self.labels[rows]]
            dist[rows] = np.einsum("ij,ij->i", diff, diff)
        order = np.lexsort((-dist, -(self.w * dist)))
        return order[:count]

    def reassign(self, centroids: np.ndarray, shift: np.ndarray) -> int:
        """Bounded assignment step after the centroids moved by ``shift``; returns how many points moved."""
        k = self.k
        labels = self.labels
        self.upper += shift[labels]
        if k > 1:
            top = np.argsort(-shift, kind="stable")[:2]
            other = np.full(k, shift[top[0]])
            other[top[0]] = shift[top[1]]
            self.lower -= other[labels]
            c_sq = np.einsum("ij,ij->i", centroids, centroids).astype(np.float64)
            cd = c_sq[:, None] + c_sq[None, :] - 2.0 * (centroids.astype(np.float64) @ centroids.T)
            np.fill_diagonal(cd, np.inf)
            half = 0.5 * np.sqrt(np.maximum(cd.min(axis=1), 0.0))
        else:
            half = np.full(1, np.inf)
        bound = np.maximum(half[labels], self.lower)
        cand = np.flatnonzero(self.upper >= bound)
        if len(cand) == 0:
            return 0
        x, x_sq = self.x, self.x_sq
        c_sq32 = np.einsum("ij,ij->i", centroids, centroids)
        for start in range(0, len(cand), CHUNK_ROWS):
            idx = cand[start : start + CHUNK_ROWS]
            lab = labels[idx]
            d = x_sq[idx] - 2.0 * np.einsum("ij,ij->i", x[idx], centroids[lab]) + c_sq32[lab]
            self.upper[idx] = np.sqrt(np.maximum(d, 0.0))
        cand = cand[self.upper[cand] >= bound[cand]]
        moved = 0
        for start in range(0, len(cand), CHUNK_ROWS):
            idx = cand[start : start + CHUNK_ROWS]
            lab, d1, d2 = _nearest_two(x[idx], x_sq[idx], centroids, c_sq32)
            self.upper[idx] = np.sqrt(d1)
            self.lower[idx] = np.sqrt(d2)
            change = lab != labels[idx]
            if change.any():
                self._move(idx[change], lab[change])
                moved += int(change.sum())
        return moved


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

    Seeding: greedy weighted k-means++ (D² sampling with probability ∝ w·D²) from
    ``np.random.default_rng(seed)``. Convergence (sklearn's rule): the sum over centroids of the
    squared centroid shift ≤ tol × the mean per-feature variance of x (unweighted), or labels that
    no longer change. A cluster whose total weight is 0 is re-seeded with the point of largest
    w·d² to its centroid. ``n_init`` runs keep the lowest inertia (earliest on ties). Distances are
    computed in the input precision (float32 stays float32), in blocks; memory is O(N·D + N·k).
    """
    arr = _matrix(x, "x")
    n, d = arr.shape
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
    x_sq = _sq_norms(arr, "x")
    mean = arr.mean(axis=0, dtype=np.float64)
    mean_var = max(float(x_sq.mean(dtype=np.float64)) - float(mean @ mean), 0.0) / d
    tol_abs = tol * mean_var
    rng = np.random.default_rng(seed)
    best: KMeansResult | None = None
    for _ in range(n_init):
        result = _lloyd(arr, x_sq, w, k, rng, tol_abs, max_iter)
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
    tol_abs: float,
    max_iter: int,
) -> KMeansResult:
    """One seeded run: k-means++ seeding, bounded Lloyd iterations, then a final exact assignment."""
    centroids = _kmeans_pp(x, x_sq, w, k, rng)
    state = _LloydState(x, x_sq, w, centroids)
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new, reseeded = state.centroids(centroids)
        shift = np.sqrt(((new - centroids) ** 2).sum(axis=1))
        centroids = new.astype(x.dtype)
        if float((shift**2).sum()) <= tol_abs:
            converged = True
            break
        moved = state.reassign(centroids, shift)
        if moved == 0 and not reseeded:
            converged = True  # the next update would reproduce these centroids exactly
            break
    labels = np.empty(len(x), dtype=np.int64)
    inertia = 0.0
    c_sq = np.einsum("ij,ij->i", centroids, centroids)
    for rows in _chunks(len(x)):
        lab, d1, _ = _nearest_two(x[rows], x_sq[rows], centroids, c_sq)
        labels[rows] = lab
        inertia += float(np.dot(w[rows].astype(np.float64), d1.astype(np.float64)))
    return KMeansResult(centroids=centroids, labels=labels, inertia=inertia, n_iter=n_iter, converged=converged)


# --------------------------------------------------------------------------- centroid picks


def nearest_to_centroids(x: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each centroid, the index of its nearest cluster member; k distinct indices in centroid order.

    First pass: every non-empty cluster takes its own nearest member (clusters are disjoint, so these
    are distinct; ties to the lowest index). Second pass, in centroid order: a cluster with no
    members (e.g. a collapsed duplicate centroid) takes the nearest still-unused point of the whole
    set to its centroid. Distances are exact differences ||x − c||², computed in blocks.
    """
    arr = _matrix(x, "x")
    n, d = arr.shape
    cen = _matrix(centroids, "centroids", dtype=arr.dtype, dim=d)
    k = _check_k(len(cen), n, "points")
    lab = np.asarray(labels)
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an integer array of shape ({n},), got {lab.dtype} {lab.shape}")
    if n and (lab.min() < 0 or lab.max() >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}")
    dist = np.empty(n, dtype=np.float64)
    for rows in _chunks(n):
        diff = arr[rows] - cen[lab[rows]]
        dist[rows] = np.einsum("ij,ij->i", diff, diff)
    order = np.lexsort((dist, lab))  # by label, then distance; stable, so then by index
    sorted_lab = lab[order]
    first = np.flatnonzero(np.r_[True, sorted_lab[1:] != sorted_lab[:-1]]) if n else np.empty(0, int)
    picks = np.full(k, -1, dtype=np.int64)
    picks[sorted_lab[first]] = order[first]
    used = np.zeros(n, dtype=bool)
    used[picks[picks >= 0]] = True
    for j in np.flatnonzero(picks < 0):
        dj = np.empty(n, dtype=np.float64)
        for rows in _chunks(n):
            diff = arr[rows] - cen[j]
            dj[rows] = np.einsum("ij,ij->i", diff, diff)
        dj[used] = np.inf
        i = int(np.argmin(dj))
        picks[j] = i
        used[i] = True
    return picks


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
