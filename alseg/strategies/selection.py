"""Selection rules over pool arrays (numpy): top-k, k-center greedy, nearest-to-centroid picks.

Also home of the blocked-array helpers and block sizes shared with ``clustering`` (weighted k-means)
and ``matching`` (MMD matching); they live here so one set of block sizes governs all three (the
functions read ``CHUNK_ROWS``/``THIN_ROWS``/``_CHUNK_COLS`` from this module at call time).

Conventions shared by every function here and in those modules:

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

import numpy as np

__all__ = [
    "CHUNK_ROWS",
    "THIN_ROWS",
    "k_center_greedy",
    "nearest_to_centroids",
    "top_k",
    "unit_normalise",
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
