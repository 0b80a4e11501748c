"""The pool pass: one streaming pass over images that computes every signal the strategies declared.

Which signals exist, their keys and variants come from the table in alseg/strategies/signals.py;
this module holds how each is computed. Only per-image results are kept (O(N·D) memory for
embeddings, O(N) for scores), never N·H·W maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from alseg.faults import fault_point
from alseg.models import SegModel
from alseg.precision import FP32, Precision
from alseg.strategies.scores import (
    DIHEDRAL,
    binary_entropy,
    dihedral_apply,
    dihedral_invert,
    embedding,
    fg_bg_similarity,
    reduce_pixels,
    tta_variance,
)
from alseg.strategies.signals import POOL_KEYS, POOL_SIGNALS, SIGNALS, base_of
from alseg.train import to_tensor

__all__ = ["POOL_SIGNALS", "keys_of", "pool_pass"]

_BY_NAME = {s.name: s for s in SIGNALS}


@dataclass(frozen=True)
class _Batch:
    """One batch of the pass: images, the identity view's probabilities and features, and a forward."""

    x: Tensor
    prob: Tensor
    feats: Tensor
    logits: Callable[[Tensor], Tensor]  # logits (float32) of the model on other views of x


def _entropy(b: _Batch) -> dict[str, Tensor]:
    ent = binary_entropy(b.prob)
    out = {"entropy": reduce_pixels(ent, "mean")}
    for (reduction, _), key in zip(_BY_NAME["entropy"].variants, _BY_NAME["entropy"].keys[1:], strict=True):
        out[key] = reduce_pixels(ent, reduction)
    return out


def _embedding(b: _Batch) -> dict[str, Tensor]:
    return {"embedding": embedding(b.feats)}


def _fg_bg_similarity(b: _Batch) -> dict[str, Tensor]:
    return {"fg_bg_similarity": fg_bg_similarity(b.prob, b.feats)}


def _tta_variance(b: _Batch) -> dict[str, Tensor]:
    views = [b.prob]
    for k in range(1, len(DIHEDRAL)):
        views.append(dihedral_invert(torch.sigmoid(b.logits(dihedral_apply(b.x, k))), k))
    return {"tta_variance": tta_variance(torch.stack(views))}


#: How each signal of the table is computed from a batch; keys returned = the signal's keys.
COMPUTE: dict[str, Callable[[_Batch], dict[str, Tensor]]] = {
    "entropy": _entropy,
    "embedding": _embedding,
    "fg_bg_similarity": _fg_bg_similarity,
    "tta_variance": _tta_variance,
}
assert set(COMPUTE) == POOL_SIGNALS, "every signal of alseg/strategies/signals.py needs a computation here"


def _bases(signals: Iterable[str]) -> set[str]:
    """Base signal names for names or keys ('entropy:max' -> 'entropy'); ValueError naming unknown ones."""
    wanted = set(signals)
    unknown = sorted(wanted - POOL_KEYS)
    if unknown:
        raise ValueError(f"unknown pool signals {unknown}; known: {sorted(POOL_KEYS)}")
    return {base_of(k) for k in wanted}


def keys_of(signals: Iterable[str]) -> set[str]:
    """Every key `pool_pass(…, signals)` returns: each requested signal's keys ('entropy' → also 'entropy:max')."""
    return {key for base in _bases(signals) for key in _BY_NAME[base].keys}


@torch.no_grad()
def pool_pass(
    model: SegModel,
    images: np.ndarray,
    idx: np.ndarray,
    signals: Iterable[str],
    batch_size: int,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
    precision: Precision = FP32,
) -> dict[str, np.ndarray]:
    """Compute the requested signals for the rows `idx`, in batches, in one pass.

    `signals` are base names or keys (Needs.pool_signals); each yields all its keys, e.g. 'entropy'
    gives 'entropy', 'entropy:sum' and 'entropy:max' (other pixel reductions, free to compute).
    'tta_variance' runs the 8 flips/rotations; the identity view serves the other signals. The forward runs
    under `precision`'s autocast; probabilities, features and every signal are computed in float32.
    """
    wanted = _bases(signals)
    out: dict[str, list[np.ndarray]] = {}
    if not wanted or len(idx) == 0:
        return {}
    model.eval()

    def logits(x: Tensor) -> Tensor:
        with precision.autocast(device):
            return model(x).logits.float()

    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        x = to_tensor(images, rows, device)
        with precision.autocast(device):
            res = model(x)
        batch = _Batch(x=x, prob=torch.sigmoid(res.logits.float()), feats=res.features.float(), logits=logits)
        for s in SIGNALS:  # table order
            if s.name in wanted:
                for key, value in COMPUTE[s.name](batch).items():
                    out.setdefault(key, []).append(value.float().cpu().numpy())
        if on_batch is not None:
            on_batch(len(rows))
        fault_point("pool-batch")
    return {key: np.concatenate(parts) for key, parts in out.items()}
