"""BADGE's closed-form head gradient equals autograd, on tiny conv heads and on alseg's own U-Net head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from alseg_baselines.badge import BadgeStrategy
from alseg_baselines.maths import head_gradient
from torch import nn

from alseg.testing import make_context


def autograd_embeddings(head: nn.Conv2d, decoded: torch.Tensor) -> np.ndarray:
    """Per image: [∂L/∂W, ∂L/∂b] of the pixel-mean BCE against the hard prediction, by backpropagation."""
    rows = []
    for d in decoded:
        head.zero_grad()
        logits = head(d[None])[:, 0]
        target = (torch.sigmoid(logits) > 0.5).float().detach()
        F.binary_cross_entropy_with_logits(logits, target).backward()
        rows.append(torch.cat([head.weight.grad.reshape(-1), head.bias.grad]).numpy().copy())
    return np.stack(rows)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_closed_form_equals_autograd_on_a_tiny_head(kernel: int) -> None:
    gen = torch.Generator().manual_seed(kernel)
    head = nn.Conv2d(4, 1, kernel, padding=kernel // 2)
    decoded = torch.randn(3, 4, 7, 6, generator=gen)  # non-square, so rows and columns cannot be swapped
    with torch.no_grad():
        probs = torch.sigmoid(head(decoded))[:, 0]
    ours = head_gradient(probs, decoded, kernel)
    assert ours.shape == (3, 4 * kernel * kernel + 1)
    np.testing.assert_allclose(ours.numpy(), autograd_embeddings(head, decoded), rtol=1e-4, atol=1e-7)
    assert isinstance(head_gradient(probs.numpy(), decoded.numpy(), kernel), np.ndarray)


def test_closed_form_equals_autograd_on_alseg_s_unet_head() -> None:
    """ctx.predict_scores(..., head_input=True) hands BADGE the real head's input; its 3x3 head has 16 inputs."""
    strategy = BadgeStrategy()
    ctx = make_context(strategy)
    ids = ctx.pool[:5]
    emb = ctx.predict_scores(ids, strategy.gradient, head_input=True)
    model = ctx.predictor.model
    head = model.net.segmentation_head[0]  # smp's SegmentationHead: Conv2d(16, 1, 3, padding=1)
    assert head.kernel_size == (3, 3) and head.padding == (1, 1) and head.in_channels == 16
    assert emb.shape == (5, 16 * 9 + 1)
    x = torch.from_numpy(ctx.predictor.images[ids]).permute(0, 3, 1, 2).float() / 255
    model.eval()
    with torch.no_grad():
        decoded = model(x, head_input=True).decoded
    np.testing.assert_allclose(emb, autograd_embeddings(head, decoded), rtol=1e-4, atol=1e-7)


def test_head_gradient_refuses_mismatched_shapes_and_even_kernels() -> None:
    with pytest.raises(ValueError, match=r"probs must be \(B,H,W\) and head_input \(B,C,H,W\)"):
        head_gradient(torch.rand(2, 4, 4), torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match="kernel must be an odd integer >= 1"):
        head_gradient(torch.rand(2, 4, 4), torch.rand(2, 3, 4, 4), kernel=2)
    with pytest.raises(ValueError, match="kernel must be an odd integer >= 1"):
        BadgeStrategy(kernel=4)
    with pytest.raises(ValueError, match="kernel must be an integer >= 1"):
        BadgeStrategy(kernel=0)


def test_badge_selects_the_largest_gradient_first() -> None:
    strategy = BadgeStrategy()
    ctx = make_context(strategy)
    emb = strategy.embeddings(ctx)
    picks = strategy.select(make_context(strategy), 5)
    assert picks[0] == ctx.pool[int(np.argmax((emb**2).sum(1)))]
