"""The math of the baselines as plain functions: arrays in, arrays out; no context, model or global state.

Torch functions accept numpy arrays too and then return numpy; the numpy ones take their randomness only
from the Generator handed to them. Memory is O(N·D) for N rows of D columns: no N×N matrix is ever built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from alseg.api import binary_entropy, top_k

#: How scores become sampling weights in the stochastic-batch strategy (Kirsch et al. 2023).
MODES = ("power", "softmax", "softrank")
#: Largest block of a distance matrix held at once (rows × columns, float64: 32 MiB).
_BLOCK = 1 << 22


def _on_torch(fn: Callable[..., Tensor], *arrays: Tensor | np.ndarray, **kwargs: object) -> Tensor | np.ndarray:
    """Run a torch function on tensors, or on numpy arrays converted to tensors and back."""
    if all(isinstance(a, Tensor) for a in arrays):
        return fn(*arrays, **kwargs)
    out = fn(*(torch.as_tensor(np.asarray(a)) for a in arrays), **kwargs)
    return out.cpu().numpy()


def _passes(probs: Tensor) -> Tensor:
    """(T, B, ...) Monte-Carlo probabilities in a float type that keeps logs finite (half → float32)."""
    if probs.dim() < 2:
        raise ValueError(f"probs must be shaped (passes, images, ...), got shape {tuple(probs.shape)}")
    return probs.float() if not probs.is_floating_point() or probs.dtype in (torch.float16, torch.bfloat16) \
        else probs


def _predictive_entropy(probs: Tensor) -> Tensor:
    return binary_entropy(_passes(probs).mean(0))


def _mutual_information(probs: Tensor) -> Tensor:
    p = _passes(probs)
    return (binary_entropy(p.mean(0)) - binary_entropy(p).mean(0)).clamp_min(0.0)


def predictive_entropy(probs: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Per pixel, H[mean_t p_t], the binary entropy of the mean of T stochastic passes: (T, B, ...) → (B, ...)."""
    return _on_torch(_predictive_entropy, probs)


def mutual_information(probs: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Per pixel, BALD's I = H[mean_t p_t] − mean_t H[p_t] over T passes: (T, B, ...) → (B, ...), clipped at 0.

    H is alseg's binary_entropy (p clipped to [1e-6, 1 − 1e-6]); I ≥ 0 by Jensen, and the clip at 0 only
    removes float rounding. Passes that agree give 0; p = 0 and p = 1 give ln 2 − h(1e-6) ≈ ln 2 − 1.5e-5.
    """
    return _on_torch(_mutual_information, probs)


# --------------------------------------------------------------------------- stochastic batches


def positive_scores(scores: np.ndarray) -> np.ndarray:
    """Scores as power-mode weights: shifted by −min(s) only if some are negative, then floored at the
    smallest normal float64 (2.2e-308), so a zero score has a finite log and is drawn after every positive one.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size and s.min() < 0:
        s = s - s.min()
    return np.maximum(s, np.finfo(np.float64).tiny)


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each score, 1 for the highest; equal scores rank by lowest index first (as top_k orders them)."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.empty(len(s), dtype=np.float64)
    out[np.argsort(-s, kind="stable")] = np.arange(1, len(s) + 1)
    return out


def log_weights(scores: np.ndarray, beta: float, mode: str) -> np.ndarray:
    """log of the sampling weights: β·log s⁺ (power), β·s (softmax), −β·log rank (softrank); float64.

    Only differences matter (Gumbel-top-k is invariant to adding a constant), so softmax needs no normalising.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    with np.errstate(over="ignore"):  # an overflow gives ±inf, which gumbel_top_k and the strategy refuse
        if mode == "power":
            return beta * np.log(positive_scores(s))
        if mode == "softmax":
            return beta * s
        return -beta * np.log(ranks(s))


def gumbel_top_k(log_w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices drawn without replacement with probability ∝ exp(log_w) at each draw.

    The Gumbel-top-k trick: the k largest log_w + G, G i.i.d. standard Gumbel from `rng`, are distributed
    as k successive draws without replacement (Kool et al. 2019), in one vectorised step.
    """
    lw = np.asarray(log_w, dtype=np.float64)
    if lw.ndim != 1 or not np.all(np.isfinite(lw)):
        raise ValueError("log-weights must be a 1-D array of finite numbers")
    return top_k(lw + rng.gumbel(size=lw.shape), k)


# --------------------------------------------------------------------------- BADGE


def _head_gradient(probs: Tensor, head_input: Tensor, kernel: int) -> Tensor:
    if probs.dim() != 3 or head_input.dim() != 4 or head_input.shape[0] != probs.shape[0] \
            or head_input.shape[2:] != probs.shape[1:]:
        raise ValueError(f"probs must be (B,H,W) and head_input (B,C,H,W) of the same B, H, W; got "
                         f"{tuple(probs.shape)} and {tuple(head_input.shape)}")
    p, d = probs.float(), head_input.float()
    r = p - (p > 0.5).to(p.dtype)  # ∂BCE/∂logit against the hard prediction ŷ
    h, w = p.shape[1:]
    pad = kernel // 2
    padded = F.pad(d, (pad, pad, pad, pad))
    taps = [torch.einsum("bhw,bchw->bc", r, padded[:, :, u : u + h, v : v + w])
            for u in range(kernel) for v in range(kernel)]
    grad_w = torch.stack(taps, dim=-1).reshape(len(p), -1) / (h * w)  # (B, C·k²), ordered like W[0]: c, u, v
    return torch.cat([grad_w, r.mean(dim=(1, 2))[:, None]], dim=1)


def head_gradient(probs: Tensor | np.ndarray, head_input: Tensor | np.ndarray, kernel: int = 3,
                  ) -> Tensor | np.ndarray:
    """BADGE's gradient embedding of a 1-output k×k conv head (stride 1, padding k//2, bias), in closed form.

    For the head z = b + Σ_{c,u,v} W[c,u,v]·D[c, x+(u,v)−k//2] on the decoder output D (zero outside the
    image), p = σ(z) and the loss L = mean over pixels of BCE(z, ŷ) against the hard mask ŷ = [p > 0.5]:
    ∂L/∂W[c,u,v] = mean_x (p − ŷ)(x)·D[c, x+(u,v)−k//2] and ∂L/∂b = mean_x (p − ŷ)(x). probs (B,H,W),
    head_input (B,C,H,W) → (B, C·k² + 1), the weight part ordered as W[0].reshape(-1), the bias last.
    """
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be an odd integer >= 1, got {kernel!r}")
    return _on_torch(_head_gradient, probs, head_input, kernel=kernel)


def _rows(x: np.ndarray, name: str) -> np.ndarray:
    """A 2-D float32/float64 array of rows (other dtypes become float64)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows × features), got shape {arr.shape}")
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)


def _sq_dist_to(x: np.ndarray, x_sq: np.ndarray, row: int) -> np.ndarray:
    """Squared Euclidean distance (float64, ≥ 0) of every row of x to row `row`: O(N) extra memory."""
    d = x_sq - 2.0 * (x @ x[row]).astype(np.float64) + x_sq[row]
    np.maximum(d, 0.0, out=d)
    d[row] = 0.0
    return d


def kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct row indices by k-means++ seeding (Arthur & Vassilvitskii 2007) the way BADGE runs it.

    The first row is the one of largest norm (ties to the lowest index), as in Ash et al.'s code; each
    next one is drawn from `rng` with probability ∝ its squared distance to the nearest chosen row. When
    every unchosen row coincides with a chosen one, the lowest unchosen index is taken. Memory O(N·D + N).
    """
    arr = _rows(x, "x")
    n = len(arr)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"k must be an integer in [0, {n}], got {k!r}")
    picks = np.empty(k, dtype=np.int64)
    if k == 0:
        return picks
    x_sq = np.einsum("ij,ij->i", arr, arr).astype(np.float64)
    chosen = np.zeros(n, dtype=bool)
    picks[0] = int(np.argmax(x_sq))
    chosen[picks[0]] = True
    d2 = _sq_dist_to(arr, x_sq, int(picks[0]))
    for i in range(1, k):
        mass = np.where(chosen, 0.0, d2)
        cum = np.cumsum(mass)
        if not cum[-1] > 0.0:
            j = int(np.flatnonzero(~chosen)[0])
        else:
            j = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
            j = min(j, n - 1)
            if chosen[j]:  # only reachable through rounding at the very end of cum
                j = int(np.flatnonzero(~chosen & (mass > 0))[-1])
        picks[i] = j
        chosen[j] = True
        if i + 1 < k:
            np.minimum(d2, _sq_dist_to(arr, x_sq, j), out=d2)
    return picks


# --------------------------------------------------------------------------- TypiClust


def knn_mean_distance(x: np.ndarray, k: int) -> np.ndarray:
    """Per row, the mean Euclidean distance to its k nearest other rows (0 when k = 0); 1/this is the
    typicality of Hacohen et al. 2022. Computed in row blocks of at most 2²² distances: never n×n at once.
    """
    arr = _rows(x, "x")
    n = len(arr)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < max(n, 1):
        raise ValueError(f"k must be an integer in [0, {max(n - 1, 0)}] for {n} rows, got {k!r}")
    out = np.zeros(n, dtype=np.float64)
    if k == 0:
        return out
    x64 = arr.astype(np.float64, copy=False)
    x_sq = np.einsum("ij,ij->i", x64, x64)
    step = max(1, _BLOCK // n)
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        d2 = x_sq[rows, None] - 2.0 * (x64[rows] @ x64.T) + x_sq[None, :]
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(d2.shape[0]), np.arange(rows.start, rows.stop)] = np.inf  # not its own neighbour
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        out[rows] = np.sqrt(nearest).mean(axis=1)
    return out


def typiclust_select(x: np.ndarray, labels: np.ndarray, labeled: np.ndarray, budget: int,
                     knn: int = 20) -> np.ndarray:
    """TypiClust's picks (row indices of x with labeled False) from a clustering of labeled ∪ pool rows.

    `budget` times: the cluster with the fewest labeled-or-picked rows (so first the uncovered ones), ties to
    the largest, then the lowest label, among clusters that still hold an unpicked pool row; in it, the unpicked
    pool row of highest typicality, i.e. smallest mean distance to its k = min(knn, size − 1) nearest rows of
    the cluster (labeled rows count as neighbours), ties to the lowest index.
    """
    arr = _rows(x, "x")
    lab = np.asarray(labels)
    is_lab = np.asarray(labeled, dtype=bool)
    n = len(arr)
    if lab.shape != (n,) or is_lab.shape != (n,):
        raise ValueError(f"labels and labeled must have one entry per row ({n}), got {lab.shape} and {is_lab.shape}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not 0 <= budget <= int((~is_lab).sum()):
        raise ValueError(f"budget must be an integer in [0, {int((~is_lab).sum())}] (the pool rows), got {budget!r}")
    _, cluster, sizes = np.unique(lab, return_inverse=True, return_counts=True)
    n_clusters = len(sizes)
    covered = np.bincount(cluster[is_lab], minlength=n_clusters)
    available = np.bincount(cluster[~is_lab], minlength=n_clusters)
    taken = is_lab.copy()
    distance: dict[int, np.ndarray] = {}
    picks = np.empty(budget, dtype=np.int64)
    order_ids = np.arange(n_clusters)
    for i in range(budget):
        order = np.lexsort((order_ids, -sizes, covered))
        c = int(order[available[order] > 0][0])
        members = np.flatnonzero(cluster == c)
        if c not in distance:
            distance[c] = knn_mean_distance(arr[members], min(knn, len(members) - 1))
        j = int(members[np.argmin(np.where(taken[members], np.inf, distance[c]))])
        picks[i] = j
        taken[j] = True
        covered[c] += 1
        available[c] -= 1
    return picks
