"""Per-image scores from model outputs (torch), shared by the strategies and the pool pass.

Every function takes a batch and returns one value per image (or a small per-image vector), so the
pool pass never has to keep N·H·W maps around. Definitions follow docs/design.md §3 and the paper's
Eq. 1-5 (section 2 of annotation-efficient-polyp-al.md).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DIHEDRAL",
    "binary_entropy",
    "class_features",
    "dihedral_apply",
    "dihedral_invert",
    "discrepancy_loss",
    "embedding",
    "fg_bg_similarity",
    "reduce_pixels",
    "similarity_weight",
    "tta_variance",
]

_REDUCTIONS = ("mean", "sum", "max")
_WEIGHT_MAPPINGS = ("shift", "clip")

#: The 8 symmetries of a square image as (quarter turns counter-clockwise, flip left-right first).
#: Index 0 is the identity. ``dihedral_apply(x, k)`` flips the last axis (if asked) and then rotates
#: the last two axes by ``90° × turns``; ``dihedral_invert`` undoes it in reverse order.
DIHEDRAL: tuple[tuple[int, bool], ...] = (
    (0, False),
    (1, False),
    (2, False),
    (3, False),
    (0, True),
    (1, True),
    (2, True),
    (3, True),
)


def _float(t: Tensor) -> Tensor:
    """Upcast half precision to float32 so logs, clipping and cosines stay finite under AMP."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def binary_entropy(p: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-pixel entropy of a foreground probability map, treating one sigmoid channel as two classes.

    h(p) = −p ln p − (1−p) ln(1−p) with p clipped to [eps, 1−eps], so p = 0 or 1 gives ≈ 0 (not NaN)
    and p = 0.5 gives ln 2. A 1-channel map is *not* a one-class softmax (whose entropy is always 0).
    """
    p = _float(p).clamp(eps, 1.0 - eps)
    return -(p * torch.log(p) + (1.0 - p) * torch.log1p(-p))


def reduce_pixels(maps: Tensor, reduction: str = "mean") -> Tensor:
    """Reduce per-pixel maps (B, ...) to one score per image (B,), so callers never keep B·H·W."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(_REDUCTIONS)}")
    if maps.dim() < 1:
        raise ValueError("maps must have a batch dimension")
    flat = maps.reshape(maps.shape[0], -1)
    if reduction == "mean":
        return flat.mean(dim=1)
    if reduction == "sum":
        return flat.sum(dim=1)
    return flat.amax(dim=1)


def _resize_prob(prob: Tensor, size: tuple[int, int]) -> Tensor:
    """Bring a (B,1,H,W) map to the feature grid: area averaging when shrinking, bilinear otherwise.

    Area (= adaptive average pooling) makes each feature cell's weight the mean probability of the
    pixels it covers; bilinear with align_corners=False at a 32× reduction would read only the few
    pixels next to each cell centre and alias thin polyp borders.
    """
    h, w = size
    big_h, big_w = prob.shape[-2:]
    if (big_h, big_w) == (h, w):
        return prob
    if h <= big_h and w <= big_w:
        return F.adaptive_avg_pool2d(prob, (h, w))
    return F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)


def class_features(prob: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
    """Masked-average class features F1, F0 (each (B, C)) of the paper's Eq. 1.

    ``prob`` (B,1,H,W) is the foreground probability ŷ1, ``features`` (B,C,h,w) the encoder's deepest
    map f_E. ŷ1 is resized to (h, w) by area averaging when downsampling (bilinear, align_corners=False,
    in the unusual case that the feature grid is larger); F1 = mean over h·w of ŷ1 ⊗ f_E and
    F0 = mean over h·w of (1 − ŷ1) ⊗ f_E ("Avg" = average pooling over all positions).
    """
    if prob.dim() != 4 or prob.shape[1] != 1:
        raise ValueError(f"prob must be (B,1,H,W), got {tuple(prob.shape)}")
    if features.dim() != 4:
        raise ValueError(f"features must be (B,C,h,w), got {tuple(features.shape)}")
    if prob.shape[0] != features.shape[0]:
        raise ValueError(f"batch sizes differ: prob {prob.shape[0]}, features {features.shape[0]}")
    feats = _float(features)
    y1 = _resize_prob(_float(prob).to(feats.dtype), (feats.shape[-2], feats.shape[-1]))
    f1 = (y1 * feats).mean(dim=(2, 3))
    f0 = ((1.0 - y1) * feats).mean(dim=(2, 3))
    return f1, f0


def fg_bg_similarity(prob: Tensor, features: Tensor, eps: float = 1e-8) -> Tensor:
    """Uncertainty I(x) = cos(F1, F0) per image (B,) (Eq. 2); differentiable, for selection and loss.

    The denominator is sqrt(max(|F1|²·|F0|², eps²)), so an all-background or all-foreground image
    (one class feature ≈ 0) gives cos ≈ 0 with finite gradients instead of NaN.
    """
    f1, f0 = class_features(prob, features)
    dot = (f1 * f0).sum(dim=1)
    norms_sq = (f1 * f1).sum(dim=1) * (f0 * f0).sum(dim=1)
    return dot / torch.sqrt(norms_sq.clamp_min(eps * eps))


def discrepancy_loss(cos: Tensor, delta: float = 0.2) -> Tensor:
    """Feature discrepancy loss mean(max(0, cos − δ)) (Eq. 5 without λ); scalar, differentiable."""
    if cos.numel() == 0:
        return cos.sum()
    return torch.clamp(cos - delta, min=0.0).mean()


def embedding(features: Tensor) -> Tensor:
    """Image embedding F(x): global average pool of the deepest map, (B,C,h,w) → (B,C) (Eq. 3)."""
    if features.dim() < 3:
        raise ValueError(f"features must be (B,C,h,w), got {tuple(features.shape)}")
    return _float(features).flatten(2).mean(dim=2)


def _dihedral(k: int) -> tuple[int, bool]:
    """Look up the k-th dihedral transform, with a clear error for a bad index."""
    if not isinstance(k, (int, np.integer)) or not 0 <= k < len(DIHEDRAL):
        raise ValueError(f"dihedral index must be an int in 0..{len(DIHEDRAL) - 1}, got {k!r}")
    return DIHEDRAL[int(k)]


def dihedral_apply(x: Tensor, k: int) -> Tensor:
    """Apply the k-th flip/rotation of DIHEDRAL to the last two axes (a test-time augmentation view)."""
    turns, flip = _dihedral(k)
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def dihedral_invert(y: Tensor, k: int) -> Tensor:
    """Map a prediction of view k back to the original orientation: inverse of dihedral_apply."""
    turns, flip = _dihedral(k)
    if turns:
        y = torch.rot90(y, -turns, dims=(-2, -1))
    return y.flip(-1) if flip else y


def tta_variance(probs_aligned: Tensor) -> Tensor:
    """ASA (re-impl.) uncertainty: per-pixel population variance over V aligned views, pixel mean (B,).

    ``probs_aligned`` is (V,B,1,H,W) (any trailing shape works), already mapped back with
    dihedral_invert; the variance uses 1/V (unbiased=False), so one view or identical views give 0.
    """
    if probs_aligned.dim() < 3:
        raise ValueError(f"probs_aligned must be (V,B,...), got {tuple(probs_aligned.shape)}")
    var = _float(probs_aligned).var(dim=0, unbiased=False)
    return var.reshape(var.shape[0], -1).mean(dim=1)


def similarity_weight(cos: np.ndarray | Tensor, mapping: str = "shift") -> np.ndarray | Tensor:
    """Map I(x) = cos ∈ [−1, 1] to a non-negative k-means weight (same type as the input).

    Why: a ResNet's deepest map is post-ReLU, so F1, F0 ≥ 0 and cos ∈ [0, 1]; EfficientNet/MobileNet
    stages end in a linear projection, so cos can be negative, and a negative sample weight breaks
    weighted k-means (centroids leave the convex hull, the objective is unbounded). "shift" uses
    (cos + 1)/2 ∈ [0, 1]: monotone, keeps the ranking, zero only at cos = −1. "clip" uses max(cos, 0):
    identical to the raw cosine on ResNets, but gives every negative-cos image weight 0.
    """
    if mapping not in _WEIGHT_MAPPINGS:
        raise ValueError(f"unknown mapping {mapping!r}; valid: {', '.join(_WEIGHT_MAPPINGS)}")
    if isinstance(cos, Tensor):
        if mapping == "shift":
            return ((cos + 1.0) * 0.5).clamp(0.0, 1.0)
        return cos.clamp_min(0.0)
    arr = np.asarray(cos)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if mapping == "shift":
        return np.clip((arr + 1.0) * 0.5, 0.0, 1.0).astype(arr.dtype, copy=False)
    return np.maximum(arr, 0.0).astype(arr.dtype, copy=False)
