"""The model factory: offline ImageNet weights for Lite0, clear errors offline, features with logits."""

from __future__ import annotations

import urllib.error

import pytest
import segmentation_models_pytorch as smp
import torch

from alseg import models
from alseg.errors import AlsegUsageError
from alseg.models import LITE0, build_model, rename_lite0_keys


def test_forward_returns_logits_and_deepest_features() -> None:
    model = build_model("tu-test_efficientnet", "none", 0)
    out = model(torch.rand(2, 3, 64, 64))
    assert out.logits.shape == (2, 1, 64, 64)
    assert out.features.shape[0] == 2 and out.features.shape[2:] == (2, 2)  # stride 32


def same(a: dict, b: dict) -> bool:
    """Two state dicts with the same keys hold identical tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_init_seed_same_weights_and_different_seed_differs() -> None:
    a, b, c = (build_model("tu-test_efficientnet", "none", s).state_dict() for s in (5, 5, 6))
    assert same(a, b) and not same(a, c)


def test_lite0_imagenet_loads_offline_with_its_normalisation() -> None:
    model = build_model(LITE0, "imagenet", 0)
    assert torch.allclose(model.mean.flatten(), torch.tensor([0.5, 0.5, 0.5]))
    # The packaged weights differ from a random init: the stem was loaded (strictly, or build_model raises).
    fresh = smp.Unet(LITE0, encoder_weights=None, classes=1)
    assert not torch.equal(model.net.encoder.conv_stem.weight, fresh.encoder.conv_stem.weight)


def test_lite0_checkpoint_is_verified_by_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "LITE0_SHA256", "0" * 64)
    with pytest.raises(AlsegUsageError, match="SHA-256"):
        build_model(LITE0, "imagenet", 0)


def test_rename_maps_blocks_to_stages() -> None:
    renamed = rename_lite0_keys({"_blocks.0._depthwise_conv.weight": torch.zeros(1),
                                 "_blocks.3._expand_conv.weight": torch.zeros(1),
                                 "_blocks.15._project_conv.weight": torch.zeros(1),
                                 "_bn1.bias": torch.zeros(1), "_fc.weight": torch.zeros(1)})
    assert set(renamed) == {"blocks.0.0.conv_dw.weight", "blocks.2.0.conv_pw.weight",
                            "blocks.6.0.conv_pwl.weight", "bn2.bias"}


def test_imagenet_download_failure_suggests_offline_options(monkeypatch: pytest.MonkeyPatch) -> None:
    real = smp.Unet

    def offline_unet(*args, **kwargs):
        if kwargs.get("encoder_weights") == "imagenet":
            raise urllib.error.URLError("no network")
        return real(*args, **kwargs)

    monkeypatch.setattr(models.smp, "Unet", offline_unet)
    with pytest.raises(AlsegUsageError) as err:
        build_model("resnet18", "imagenet", 0)
    text = str(err.value)
    assert "resnet18" in text and "--encoder-weights PATH" in text and "none" in text and LITE0 in text


def test_local_weights_file_round_trip(tmp_path) -> None:
    source = build_model("tu-test_efficientnet", "none", 1)
    path = tmp_path / "enc.pt"
    torch.save(source.net.encoder.state_dict(), path)
    loaded = build_model("tu-test_efficientnet", str(path), 2)
    assert same(source.net.encoder.state_dict(), loaded.net.encoder.state_dict())


def test_unknown_encoder_lists_close_matches() -> None:
    with pytest.raises(AlsegUsageError, match="close matches: resnet34"):
        build_model("resnet3", "none", 0)


def test_mc_dropout_passes_sharing_one_decode_equal_full_forward_passes() -> None:
    import numpy as np

    from alseg.strategies.context import Predictor

    model = build_model("tu-test_efficientnet", "none", 0).eval()
    images = (np.random.default_rng(0).random((5, 32, 32, 3)) * 255).astype(np.uint8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    torch.manual_seed(7)
    with torch.no_grad():
        full = [torch.sigmoid(model(x, mc_dropout=True).logits)[:, 0] for _ in range(4)]
    torch.manual_seed(7)
    shared = Predictor(model, images, 8, torch.device("cpu")).predict(range(5), mc_dropout=True, passes=4).probs
    assert not torch.equal(full[0], full[1])  # dropout is on: the passes differ
    np.testing.assert_allclose(shared, torch.stack(full).numpy(), rtol=0, atol=1e-6)
