"""The two additions to alseg.api this package relies on: build_strategy, and the head's input in predict_scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from alseg_baselines.badge import BadgeStrategy

from alseg.api import ForwardOutput, Strategy, build_strategy
from alseg.testing import make_context


def test_build_strategy_builds_a_registered_strategy_with_parameters() -> None:
    entropy = build_strategy("entropy(aggregate=max)")
    assert isinstance(entropy, Strategy) and type(entropy).name == "entropy" and entropy.aggregate == "max"
    assert type(build_strategy(" bald ")).name == "bald"
    assert build_strategy("power(base=entropy)")._base.aggregate == "mean"


@pytest.mark.parametrize(("spec", "expected"), [
    ("entropyy", "unknown strategy 'entropyy'; available: "),
    ("entropy(width=3)", "unknown parameter 'width' for strategy 'entropy'; valid: aggregate"),
    ("entropy,random", "name exactly one registered strategy"),
    ("all", "name exactly one registered strategy"),
    ("ent*", "name exactly one registered strategy"),
    ("", "name exactly one registered strategy"),
])
def test_build_strategy_refuses_what_names_no_single_strategy(spec: str, expected: str) -> None:
    with pytest.raises(Exception) as caught:
        build_strategy(spec)
    assert type(caught.value).__name__ == "AlsegUsageError" and expected in str(caught.value)


def test_forward_keeps_the_head_input_only_when_asked() -> None:
    model = make_context(BadgeStrategy()).predictor.model.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        plain, kept = model(x), model(x, head_input=True)
    assert isinstance(plain, ForwardOutput) and plain.decoded is None
    assert kept.decoded.shape == (2, 16, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.net.segmentation_head(kept.decoded), kept.logits)
    assert torch.equal(plain.logits, kept.logits)


def test_predict_scores_hands_the_head_input_of_the_first_view() -> None:
    ctx = make_context(BadgeStrategy())
    head = ctx.predictor.model.net.segmentation_head
    seen = []

    def score(probs: torch.Tensor, head_input: torch.Tensor) -> torch.Tensor:
        seen.append((probs.shape, head_input.shape, head_input.dtype))
        first = probs[0] if probs.dim() == 4 else probs
        return (torch.sigmoid(head(head_input))[:, 0] - first).abs().amax(dim=(1, 2))

    gap = ctx.predict_scores(ctx.pool, score, head_input=True)
    assert gap.shape == (len(ctx.pool),) and gap.max() < 1e-6
    torch.manual_seed(0)
    gap = ctx.predict_scores(ctx.pool, score, mc_dropout=True, passes=2, head_input=True)
    assert gap.max() < 1e-6  # after dropout: what the head of the first pass saw
    assert seen[0][1] == (8, 16, 32, 32) and seen[-1][0][0] == 2 and seen[-1][2] == torch.float32
    one_argument = ctx.predict_scores(ctx.pool, lambda probs: probs.mean(dim=(1, 2)))  # unchanged without it
    assert one_argument.shape == (len(ctx.pool),) and np.all(np.isfinite(one_argument))
