"""Selection rules over pool arrays (numpy): top-k, k-center greedy, weighted k-means, MMD matching.

Conventions shared by every function here:

- inputs are float32 or float64 (anything else is converted to float64); float32 stays float32, so
  the pool is never copied into a wider type;
- ties always go to the lowest index;
- memory is O(N·D) for the pool plus O(N) work arrays: no N×N matrix is ever built, and every
  matrix product with the pool runs in row blocks (OpenBLAS has been seen to segfault on ``X @ X.T``
  for float32 X with ≥ 33,000 rows of 512 columns): ``CHUNK_ROWS`` (8192) rows against a wide
  operand, ``THIN_ROWS`` (32768) rows against at most 64 columns;
- squared distances are computed as ||x||² − 2·x·c + ||c||² with the norms computed once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CHUNK_ROWS",
    "THIN_ROWS",
    "KMeansResult",
    "k_center_greedy",
    "mmd_greedy",
    "nearest_to_centroids",
    "top_k",
    "unit_normalise",
    "weighted_kmeans",
]

#: Most pool rows that enter one matrix product with a wide operand (a labeled set).
CHUNK_ROWS = 8192
#: Most pool rows in one product with a thin operand (≤ _THIN_COLS columns: a vector, candidates,
#: centroids). Still under the 33,000 rows seen to crash, with a (rows × ≤64) result; larger blocks
#: matter here because every BLAS call wakes its threads, which costs milliseconds on a busy 2-core box.
THIN_ROWS = 32768
_THIN_COLS = 64
#: Most columns (labeled points or candidates) that enter one block of a pool × set product.
_CHUNK_COLS = 512


# --------------------------------------------------------------------------- helpers


def _thin_rows(cols: int) -> int:
    """Row block for a product of the pool with ``cols`` columns."""
    return THIN_ROWS if cols <= _THIN_COLS else CHUNK_ROWS


def _chunks(n: int, size: int | None = None) -> Iterator[slice]:
    """Yield consecutive slices of at most ``size`` (default CHUNK_ROWS) rows covering range(n)."""
    size = size or CHUNK_ROWS
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
    for rows in _chunks(len(x), _thin_rows(1)):
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
