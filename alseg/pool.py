"""The pool pass: one streaming pass over images that computes every signal the strategies declared.

Only per-image results are kept (O(N·D) memory for embeddings, O(N) for scores), never N·H·W maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from alseg.faults import fault_point
from alseg.models import SegModel
from alseg.strategies.base import POOL_SIGNALS
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
from alseg.train import to_tensor


@torch.no_grad()
def pool_pass(
    model: SegModel,
    images: np.ndarray,
    idx: np.ndarray,
    signals: Iterable[str],
    batch_size: int,
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Compute the requested signals for the rows `idx`, in batches, in one pass.

    'entropy' also yields 'entropy.sum' and 'entropy.max' (other pixel reductions, free to compute).
    'tta_variance' runs the 8 flips/rotations; the identity view serves the other signals.
    """
    wanted = set(signals)
    unknown = wanted - POOL_SIGNALS
    if unknown:
        raise ValueError(f"unknown pool signals {sorted(unknown)}; known: {sorted(POOL_SIGNALS)}")
    out: dict[str, list[np.ndarray]] = {}
    if not wanted or len(idx) == 0:
        return {}
    model.eval()
    use_amp = device.type == "cuda"
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        x = to_tensor(images, rows, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            res = model(x)
        prob = torch.sigmoid(res.logits.float())
        feats = res.features.float()
        batch: dict[str, torch.Tensor] = {}
        if "entropy" in wanted:
            ent = binary_entropy(prob)
            batch["entropy"] = reduce_pixels(ent, "mean")
            batch["entropy.sum"] = reduce_pixels(ent, "sum")
            batch["entropy.max"] = reduce_pixels(ent, "max")
        if "embedding" in wanted:
            batch["embedding"] = embedding(feats)
        if "fg_bg_similarity" in wanted:
            batch["fg_bg_similarity"] = fg_bg_similarity(prob, feats)
        if "tta_variance" in wanted:
            views = [prob]
            for k in range(1, len(DIHEDRAL)):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    logits = model(dihedral_apply(x, k)).logits.float()
                views.append(dihedral_invert(torch.sigmoid(logits), k))
            batch["tta_variance"] = tta_variance(torch.stack(views))
        for key, value in batch.items():
            out.setdefault(key, []).append(value.float().cpu().numpy())
        if on_batch is not None:
            on_batch(len(rows))
        fault_point("pool-batch")
    return {key: np.concatenate(parts) for key, parts in out.items()}
