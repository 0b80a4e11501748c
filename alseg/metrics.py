"""Per-image segmentation metrics, one definition used everywhere (design §5).

Prediction = sigmoid > 0.5, i.e. logit > 0. Dice and IoU are 1 when prediction and truth are both
empty. mIoU is the mean of the foreground IoU and the background IoU, which is why it exceeds Dice.
"""

from __future__ import annotations

import torch
from torch import Tensor


def confusion_counts(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-image true-positive, false-positive, false-negative and true-negative pixel counts."""
    pred = pred.reshape(pred.shape[0], -1).bool()
    target = target.reshape(target.shape[0], -1).bool()
    tp = (pred & target).sum(1).double()
    fp = (pred & ~target).sum(1).double()
    fn = (~pred & target).sum(1).double()
    tn = (~pred & ~target).sum(1).double()
    return tp, fp, fn, tn


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den with 0/0 = 1 (both masks empty counts as perfect)."""
    return torch.where(den > 0, num / den.clamp(min=1), torch.ones_like(num))


def per_image_metrics(logits: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Dice, IoU and mIoU per image from logits (B,1,H,W) and binary masks (B,1,H,W) or (B,H,W)."""
    pred = logits.reshape(target.shape) > 0
    tp, fp, fn, tn = confusion_counts(pred, target)
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    iou_fg = _ratio(tp, tp + fp + fn)
    iou_bg = _ratio(tn, tn + fp + fn)
    return {"dice": dice, "iou": iou_fg, "miou": (iou_fg + iou_bg) / 2}
