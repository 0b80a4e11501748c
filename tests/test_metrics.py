"""Known answers for alseg.metrics.per_image_metrics (design §5: Dice, IoU, mIoU = mean of fg and bg IoU)."""

from __future__ import annotations

import pytest
import torch

from alseg.metrics import per_image_metrics


def logits_from(pred: list[list[int]]) -> torch.Tensor:
    """A (1,1,H,W) logit map: +4 where pred is 1, -4 where it is 0."""
    p = torch.tensor(pred, dtype=torch.float32)
    return (p * 8 - 4).view(1, 1, *p.shape)


def mask_from(truth: list[list[int]]) -> torch.Tensor:
    return torch.tensor(truth, dtype=torch.float32).view(1, 1, len(truth), len(truth[0]))


def values(m: dict[str, torch.Tensor], i: int = 0) -> tuple[float, float, float]:
    return float(m["dice"][i]), float(m["iou"][i]), float(m["miou"][i])


def test_perfect_prediction_scores_one():
    truth = [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]]
    m = per_image_metrics(logits_from(truth), mask_from(truth))
    assert values(m) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_empty_prediction_of_empty_truth_scores_one():
    empty = [[0] * 4 for _ in range(4)]
    m = per_image_metrics(logits_from(empty), mask_from(empty))
    assert values(m) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_full_prediction_of_full_truth_has_background_iou_one():
    full = [[1] * 4 for _ in range(4)]
    m = per_image_metrics(logits_from(full), mask_from(full))
    assert values(m) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_empty_prediction_of_nonempty_truth():
    truth = [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    empty = [[0] * 4 for _ in range(4)]
    m = per_image_metrics(logits_from(empty), mask_from(truth))
    # tp=0 fp=0 fn=4 tn=12: Dice 0, IoU 0; background IoU = 12 / (12 + 0 + 4) = 0.75; mIoU = (0 + 0.75) / 2.
    assert values(m) == pytest.approx((0.0, 0.0, 0.375), abs=1e-12)


def test_hand_made_4x4_case():
    pred = [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    truth = [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    m = per_image_metrics(logits_from(pred), mask_from(truth))
    # tp=2 fp=2 fn=2 tn=10: Dice = 4/8, IoU = 2/6, background IoU = 10/14, mIoU = (1/3 + 5/7) / 2 = 11/21.
    assert values(m) == pytest.approx((0.5, 1 / 3, 11 / 21), abs=1e-12)


def test_batch_is_per_image_and_accepts_both_mask_shapes():
    pred = torch.stack([logits_from([[1, 1], [0, 0]])[0], logits_from([[0, 0], [0, 0]])[0]])
    truth = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [0, 1]]], dtype=torch.float32)  # (B,H,W)
    m3 = per_image_metrics(pred, truth)
    m4 = per_image_metrics(pred, truth.unsqueeze(1))  # (B,1,H,W)
    # image 0: tp=1 fp=1 fn=0 tn=2 -> Dice 2/3, IoU 1/2, bg IoU 2/3; image 1: tp=0 fn=1 tn=3 -> 0, 0, 3/4.
    for m in (m3, m4):
        assert m["dice"].shape == (2,)
        assert values(m, 0) == pytest.approx((2 / 3, 1 / 2, (1 / 2 + 2 / 3) / 2), abs=1e-12)
        assert values(m, 1) == pytest.approx((0.0, 0.0, 3 / 8), abs=1e-12)


def test_logits_threshold_at_zero_is_sigmoid_one_half():
    # Logit 0 is sigmoid 0.5, which is not > 0.5: background. Small positive logits (sigmoid 0.5003,
    # 0.574) are foreground: a threshold of 0.5 on logits, or >= 0, would get these wrong.
    logits = torch.tensor([[-1e-3, 0.0], [1e-3, 0.3]]).view(1, 1, 2, 2)
    truth = torch.tensor([[0.0, 0.0], [1.0, 1.0]]).view(1, 1, 2, 2)
    m = per_image_metrics(logits, truth)
    assert values(m) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
