"""--precision: resolution against the device, autocast in training, evaluation and the pool pass, the protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_ARGS
from typer.testing import CliRunner

import alseg.precision as precision_mod
from alseg.bench import run_benchmark
from alseg.cli import app
from alseg.errors import AlsegUsageError
from alseg.models import build_model
from alseg.pool import pool_pass
from alseg.precision import FP32, Precision, is_depthwise_conv, legacy_precision, resolve_precision
from alseg.store import ExperimentStore
from alseg.train import TrainSettings, evaluate, fit

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(not precision_mod.cpu_supports_bf16(),
                                reason="this CPU has no native bf16 (AVX-512 BF16 or AMX): bf16 runs are refused here")


def test_precision_names_dtypes_and_scalers():
    assert [Precision(n).protocol for n in ("fp32", "bf16", "fp16", "bf16-dw32")] == [
        "fp32", "bf16-autocast", "fp16-autocast", "bf16-autocast-fp32-depthwise"]
    assert Precision("bf16").dtype is torch.bfloat16 and Precision("fp16").dtype is torch.float16
    assert Precision("bf16-dw32").dtype is torch.bfloat16 and Precision("bf16-dw32").grad_scaler(CPU) is None
    assert FP32.dtype is torch.float32
    assert FP32.grad_scaler(CPU) is None and Precision("bf16").grad_scaler(CPU) is None
    assert isinstance(Precision("fp16").grad_scaler(CPU), torch.amp.GradScaler)
    with pytest.raises(ValueError, match="fp32, bf16, bf16-dw32 or fp16"):
        Precision("auto")


def test_fp32_autocast_is_a_no_op_and_bf16_autocast_computes_in_bf16():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with FP32.autocast(CPU):
        assert conv(x).dtype is torch.float32
    with Precision("bf16").autocast(CPU):
        assert conv(x).dtype is torch.bfloat16


def test_is_depthwise_conv_means_one_group_per_input_channel():
    x, w = torch.rand(1, 4, 5, 5), torch.rand(4, 1, 3, 3)
    assert is_depthwise_conv(F.conv2d, (x, w), {"groups": 4})
    assert is_depthwise_conv(torch.conv2d, (x, w, None, 1, 0, 1, 4), {})  # nn.Conv2d passes groups by position
    assert not is_depthwise_conv(F.conv2d, (x, torch.rand(4, 2, 3, 3)), {"groups": 2})  # grouped, not depthwise
    assert not is_depthwise_conv(F.conv2d, (x[:, :1], torch.rand(4, 1, 3, 3)), {})  # groups 1 == 1 channel
    assert not is_depthwise_conv(torch.add, (x, x), {})


def test_bf16_dw32_keeps_depthwise_convolutions_in_fp32_and_the_rest_in_bf16():
    torch.manual_seed(0)
    depthwise, grouped, full = (torch.nn.Conv2d(4, 4, 3, groups=4), torch.nn.Conv2d(4, 4, 3, groups=2),
                                torch.nn.Conv2d(4, 4, 3))
    x = torch.rand(2, 4, 8, 8, requires_grad=True)
    context = Precision("bf16-dw32").autocast(CPU)
    assert not torch.is_autocast_enabled("cpu")  # nothing is active before the with block enters it
    with context:
        out = depthwise(x)
        assert out.dtype is torch.float32
        assert grouped(x).dtype is torch.bfloat16 and full(x).dtype is torch.bfloat16
        assert F.conv2d(x.bfloat16(), depthwise.weight, groups=4).dtype is torch.float32  # upcast, not bf16
        assert full(out).dtype is torch.bfloat16  # autocast is back on after the depthwise layer
    assert not torch.is_autocast_enabled("cpu")
    with Precision("bf16").autocast(CPU):
        assert depthwise(x).dtype is torch.bfloat16
    reference = depthwise(x)
    assert torch.equal(out, reference)  # exactly the fp32 computation
    grad_dw32 = torch.autograd.grad(out.sum(), depthwise.weight)[0]
    grad_fp32 = torch.autograd.grad(reference.sum(), depthwise.weight)[0]
    assert grad_dw32.dtype is torch.float32 and torch.equal(grad_dw32, grad_fp32)


@pytest.mark.parametrize("supported, expected", [(True, "bf16-dw32"), (False, "fp32")])
def test_auto_picks_bf16_dw32_on_a_cpu_only_where_bf16_is_native(monkeypatch, supported, expected):
    monkeypatch.setattr(precision_mod, "cpu_supports_bf16", lambda: supported)
    assert resolve_precision("auto", CPU).name == expected
    assert resolve_precision("fp32", CPU) == FP32


@pytest.mark.parametrize("ampere, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_on_a_gpu_picks_plain_bf16_where_native_and_fp16_on_older_cards(monkeypatch, ampere, expected):
    monkeypatch.setattr(precision_mod, "cuda_supports_bf16", lambda device: ampere)
    assert resolve_precision("auto", torch.device("cuda")).name == expected


@pytest.mark.parametrize("name", ["bf16", "bf16-dw32"])
def test_bf16_on_a_cpu_without_native_bf16_is_refused_with_the_fix(monkeypatch, name):
    monkeypatch.setattr(precision_mod, "cpu_supports_bf16", lambda: False)
    refused = rf"--precision {name}: this CPU .* no native bf16 .* use --precision fp32"
    with pytest.raises(AlsegUsageError, match=refused):
        resolve_precision(name, CPU)
    monkeypatch.setattr(precision_mod, "cpu_supports_bf16", lambda: True)
    assert resolve_precision(name, CPU) == Precision(name)


def test_fp16_on_a_cpu_and_unknown_values_are_refused():
    with pytest.raises(AlsegUsageError, match="does not train in fp16 on a CPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(AlsegUsageError, match="--precision must be one of fp32, bf16, bf16-dw32, fp16, auto"):
        resolve_precision("half", CPU)


def test_legacy_folders_keep_the_precision_they_were_computed_in():
    assert legacy_precision("cpu") == "fp32" and legacy_precision("cuda") == "bf16-autocast"


def _tiny(seed: int = 0):
    return build_model("tu-test_efficientnet", "none", seed).to(memory_format=torch.channels_last)


@needs_bf16
@pytest.mark.parametrize("name", ["bf16", "bf16-dw32"])
def test_bf16_training_evaluation_and_pool_pass_return_float32_close_to_fp32(synthetic32, name):
    ds = synthetic32
    low = Precision(name)
    labeled = ds.train[:8]
    settings = TrainSettings(epochs=1, batch_size=4, lr=1e-3)
    torch.set_num_threads(1)
    losses = {}
    models = {}
    for p in (FP32, low):
        model = _tiny()
        losses[p.name] = fit(model, ds.images, ds.masks, labeled, settings, torch.Generator().manual_seed(0), CPU,
                             precision=p)
        models[p.name] = model
    assert all(np.isfinite(v) for v in losses[name])
    assert abs(losses[name][0] - losses["fp32"][0]) < 0.05  # same first batches, bf16 rounding only
    metrics = evaluate(models[name], ds.images, ds.masks, ds.test[:8], 8, CPU, low)
    assert set(metrics) == {"dice", "iou", "miou"} and all(isinstance(v, float) for v in metrics.values())
    signals = {p: pool_pass(models["fp32"], ds.images, ds.train[:16], {"entropy", "embedding"}, 8, CPU, precision=pr)
               for p, pr in (("fp32", FP32), ("bf16", low))}
    for key in ("entropy", "embedding"):
        assert signals["bf16"][key].dtype == np.float32
        np.testing.assert_allclose(signals["bf16"][key], signals["fp32"][key], rtol=0.05, atol=0.02)


@needs_bf16
@pytest.mark.parametrize("name, protocol", [("bf16", "bf16-autocast"), ("bf16-dw32", "bf16-autocast-fp32-depthwise")])
def test_a_bf16_experiment_stores_its_precision_and_never_merges_with_fp32(tiny_cfg, tmp_path, name, protocol):
    cfg = tiny_cfg(precision=name)
    run_benchmark(cfg)
    store = ExperimentStore(cfg.experiment_dir)
    assert store.read_experiment()["protocol"]["precision"] == protocol
    env = json.loads((cfg.experiment_dir / "environment.json").read_text())
    assert env["precision"]["resolved"] == protocol and env["precision"]["cpu_native_bf16"] is True
    assert env["precision"]["cpu_amx"] is precision_mod.cpu_has_amx()
    result = CliRunner().invoke(app, ["bench", *TINY_ARGS, "--strategies", "random", "--name", "tiny", "--out",
                                      str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
                                      "--precision", "fp32"])
    assert result.exit_code == 2, result.output
    assert "precision" in result.output and "Traceback" not in result.output


def test_the_cpu_and_quick_presets_stay_fp32_and_paper_picks_auto():
    from alseg.presets import PRESETS

    assert PRESETS["cpu"]["precision"] == "fp32" and PRESETS["quick"]["precision"] == "fp32"
    assert PRESETS["paper"]["precision"] == "auto"
