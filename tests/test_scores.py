"""Known-answer tests for the per-image scores in alseg.strategies.scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alseg.strategies.scores import (
    DIHEDRAL,
    binary_entropy,
    class_features,
    dihedral_apply,
    dihedral_invert,
    discrepancy_loss,
    embedding,
    fg_bg_similarity,
    reduce_pixels,
    similarity_weight,
    tta_variance,
)

# --------------------------------------------------------------------------- entropy


def test_entropy_half_is_ln2() -> None:
    h = binary_entropy(torch.full((2, 1, 3, 3), 0.5))
    assert torch.allclose(h, torch.full_like(h, math.log(2)), atol=1e-7)


def test_entropy_of_certain_pixels_is_near_zero_and_finite() -> None:
    h = binary_entropy(torch.tensor([0.0, 1.0]))
    assert torch.isfinite(h).all()
    assert (h >= 0).all() and (h < 1e-4).all()


def test_entropy_half_precision_stays_finite() -> None:
    h = binary_entropy(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float16))
    assert torch.isfinite(h).all()
    assert h[1].item() == pytest.approx(math.log(2), abs=1e-6)


def test_one_channel_sigmoid_map_gives_nonzero_scores() -> None:
    # The classic bug: entropy of a 1-channel map computed as a 1-class softmax is identically 0.
    logits = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    scores = reduce_pixels(binary_entropy(torch.sigmoid(logits)))
    assert scores.shape == (4,)
    assert (scores > 0.05).all()


def test_entropy_is_symmetric_and_peaks_at_half() -> None:
    p = torch.tensor([0.1, 0.9, 0.3, 0.5])
    h = binary_entropy(p)
    assert h[0].item() == pytest.approx(h[1].item(), abs=1e-6)
    expected = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert h[2].item() == pytest.approx(expected, abs=1e-6)
    assert h.argmax().item() == 3


def test_reduce_pixels_hand_values() -> None:
    maps = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, -1.0]]])
    assert torch.equal(reduce_pixels(maps, "mean"), torch.tensor([2.5, -0.25]))
    assert torch.equal(reduce_pixels(maps, "sum"), torch.tensor([10.0, -1.0]))
    assert torch.equal(reduce_pixels(maps, "max"), torch.tensor([4.0, 0.0]))
    assert torch.equal(reduce_pixels(maps.unsqueeze(1)), torch.tensor([2.5, -0.25]))


def test_reduce_pixels_unknown_names_valid_ones() -> None:
    with pytest.raises(ValueError, match="mean, sum, max"):
        reduce_pixels(torch.zeros(1, 2), "median")


# --------------------------------------------------------------------------- class features, cosine


def test_fg_bg_similarity_identical_features_is_one() -> None:
    prob = torch.full((3, 1, 8, 8), 0.5)
    feats = torch.rand(3, 5, 2, 2, generator=torch.Generator().manual_seed(1)) + 0.1
    cos = fg_bg_similarity(prob, feats)
    assert cos.shape == (3,)
    assert torch.allclose(cos, torch.ones(3), atol=1e-6)


def test_fg_bg_similarity_orthogonal_is_zero() -> None:
    prob = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    feats = torch.cat([prob, 1.0 - prob], dim=1)  # channel 0 only in the foreground, channel 1 only outside
    f1, f0 = class_features(prob, feats)
    assert torch.allclose(f1, torch.tensor([[0.5, 0.0]]))
    assert torch.allclose(f0, torch.tensor([[0.0, 0.5]]))
    assert fg_bg_similarity(prob, feats).item() == pytest.approx(0.0, abs=1e-7)


def test_fg_bg_similarity_hand_computed_2x2() -> None:
    # prob = [[1, 0], [0.5, 0.5]], channel 0 = [[1, 0], [0, 2]], channel 1 = [[0, 1], [2, 0]].
    # F1 = mean(p·f):     ch0 (1·1 + 0·0 + .5·0 + .5·2)/4 = 0.5,  ch1 (1·0 + 0·1 + .5·2 + .5·0)/4 = 0.25
    # F0 = mean((1−p)·f): ch0 (0·1 + 1·0 + .5·0 + .5·2)/4 = 0.25, ch1 (0·0 + 1·1 + .5·2 + .5·0)/4 = 0.5
    # cos = (0.5·0.25 + 0.25·0.5) / (√(0.25 + 0.0625) · √(0.0625 + 0.25)) = 0.25 / 0.3125 = 0.8
    prob = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]])
    feats = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [2.0, 0.0]]]])
    f1, f0 = class_features(prob, feats)
    assert torch.allclose(f1, torch.tensor([[0.5, 0.25]]))
    assert torch.allclose(f0, torch.tensor([[0.25, 0.5]]))
    assert fg_bg_similarity(prob, feats).item() == pytest.approx(0.8, abs=1e-6)


def test_class_features_downsamples_by_area() -> None:
    # A 4×4 map whose top-left 2×2 block is foreground becomes [[1, 0], [0, 0]] on a 2×2 grid.
    prob = torch.zeros(1, 1, 4, 4)
    prob[..., :2, :2] = 1.0
    feats = torch.arange(1.0, 5.0).reshape(1, 1, 2, 2)  # [[1, 2], [3, 4]]
    f1, f0 = class_features(prob, feats)
    assert f1.item() == pytest.approx(1.0 / 4)
    assert f0.item() == pytest.approx((2.0 + 3.0 + 4.0) / 4)


def test_class_features_shape_errors() -> None:
    with pytest.raises(ValueError, match="prob"):
        class_features(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="batch"):
        class_features(torch.zeros(2, 1, 4, 4), torch.zeros(1, 3, 2, 2))


def test_fg_bg_similarity_is_differentiable_and_finite_when_a_class_is_empty() -> None:
    feats = torch.rand(2, 4, 3, 3, generator=torch.Generator().manual_seed(2)).requires_grad_()
    prob = torch.stack([torch.ones(1, 6, 6), torch.rand(1, 6, 6, generator=torch.Generator().manual_seed(3))])
    cos = fg_bg_similarity(prob, feats)  # image 0: all foreground, so F0 = 0
    assert cos[0].item() == pytest.approx(0.0, abs=1e-6)
    cos.sum().backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()
    assert feats.grad[1].abs().sum() > 0


# --------------------------------------------------------------------------- discrepancy loss


def test_discrepancy_loss_zero_below_margin() -> None:
    assert discrepancy_loss(torch.tensor([-0.5, 0.0, 0.1, 0.2])).item() == 0.0


def test_discrepancy_loss_hand_value_and_gradient() -> None:
    cos = torch.tensor([0.1, 0.5, 0.2, 0.9], requires_grad=True)
    loss = discrepancy_loss(cos, delta=0.2)
    # (0 + 0.3 + 0 + 0.7) / 4 = 0.25
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(0.25, abs=1e-6)
    loss.backward()
    assert cos.grad is not None
    assert torch.allclose(cos.grad, torch.tensor([0.0, 0.25, 0.0, 0.25]))


def test_discrepancy_loss_flows_into_features() -> None:
    feats = (torch.rand(2, 3, 2, 2, generator=torch.Generator().manual_seed(4)) + 0.5).requires_grad_()
    prob = torch.full((2, 1, 8, 8), 0.4)  # F1 ∥ F0, so cos = 1 > δ
    loss = discrepancy_loss(fg_bg_similarity(prob, feats))
    assert loss.item() > 0
    loss.backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()


def test_discrepancy_loss_of_empty_batch_is_zero() -> None:
    assert discrepancy_loss(torch.zeros(0)).item() == 0.0


def test_embedding_is_global_average() -> None:
    feats = torch.arange(16.0).reshape(2, 2, 2, 2)
    assert torch.equal(embedding(feats), torch.tensor([[1.5, 5.5], [9.5, 13.5]]))


# --------------------------------------------------------------------------- dihedral TTA


def test_dihedral_has_eight_distinct_invertible_views() -> None:
    assert len(DIHEDRAL) == 8 and len(set(DIHEDRAL)) == 8
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    views = [dihedral_apply(x, k) for k in range(8)]
    for k, v in enumerate(views):
        assert v.shape == x.shape
        assert torch.equal(dihedral_invert(v, k), x)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.equal(views[i], views[j]), (i, j)
    assert torch.equal(views[0], x)


def test_dihedral_inverts_non_square() -> None:
    x = torch.arange(15.0).reshape(1, 1, 3, 5)
    for k in range(8):
        assert torch.equal(dihedral_invert(dihedral_apply(x, k), k), x)


def test_dihedral_bad_index() -> None:
    with pytest.raises(ValueError, match=r"0\.\.7"):
        dihedral_apply(torch.zeros(1, 1, 2, 2), 8)


def test_tta_variance_zero_for_an_equivariant_model() -> None:
    x = torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(5))
    views = torch.stack([dihedral_invert(torch.sigmoid(dihedral_apply(x, k)), k) for k in range(8)])
    var = tta_variance(views)
    assert var.shape == (2,)
    assert torch.allclose(var, torch.zeros(2), atol=1e-12)


def test_tta_variance_hand_value() -> None:
    # pixel 0 sees {0, 1}: population variance 0.25; pixel 1 sees {0.5, 0.5}: 0 → mean 0.125.
    views = torch.tensor([[[[[0.0, 0.5]]]], [[[[1.0, 0.5]]]]])  # (V=2, B=1, 1, 1, 2)
    assert tta_variance(views).tolist() == pytest.approx([0.125])


def test_tta_variance_positive_for_a_non_equivariant_model() -> None:
    x = torch.zeros(1, 1, 4, 4)
    x[..., 0, 0] = 5.0  # the "model" leaks position: it adds a fixed ramp to every view
    ramp = torch.linspace(-2, 2, 16).reshape(4, 4)
    views = torch.stack([dihedral_invert(torch.sigmoid(dihedral_apply(x, k) + ramp), k) for k in range(8)])
    assert tta_variance(views).item() > 1e-3


# --------------------------------------------------------------------------- similarity weight


def test_similarity_weight_shift_known_values_and_order() -> None:
    cos = np.array([-1.0, -0.5, 0.0, 0.6, 1.0])
    w = similarity_weight(cos, "shift")
    assert isinstance(w, np.ndarray)
    assert np.allclose(w, [0.0, 0.25, 0.5, 0.8, 1.0])
    rng = np.random.default_rng(0)
    c = rng.uniform(-1, 1, 50).astype(np.float32)
    wc = similarity_weight(c)
    assert wc.dtype == np.float32 and (wc >= 0).all()
    assert np.array_equal(np.argsort(c, kind="stable"), np.argsort(wc, kind="stable"))


def test_similarity_weight_clip_and_rounding() -> None:
    assert np.allclose(similarity_weight(np.array([-0.5, 0.0, 0.3]), "clip"), [0.0, 0.0, 0.3])
    assert similarity_weight(np.array([-1.0000001]), "shift")[0] == 0.0  # never negative


def test_similarity_weight_torch() -> None:
    cos = torch.tensor([-1.0, 0.0, 0.5])
    w = similarity_weight(cos)
    assert isinstance(w, torch.Tensor)
    assert torch.allclose(w, torch.tensor([0.0, 0.5, 0.75]))
    assert torch.allclose(similarity_weight(cos, "clip"), torch.tensor([0.0, 0.0, 0.5]))


def test_similarity_weight_unknown_mapping() -> None:
    with pytest.raises(ValueError, match="shift, clip"):
        similarity_weight(np.zeros(2), "abs")
