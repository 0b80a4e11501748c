"""The accelerator path: data placed once, batches indexed on the device, no per-step host sync, large eval batches.

The CPU tests force the GPU code paths (a tensor dataset, deferred loss reads) and check they give exactly what the
CPU path gives; the GPU tests run only where CUDA is (skipped with the reason elsewhere).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg.experiment import GPU_INFER_FACTOR, RunSetup, on_device
from alseg.models import build_model
from alseg.train import NonFiniteLossError, TrainSettings, fit, mask_tensor, to_tensor

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_batches_indexed_on_a_device_tensor_equal_those_from_the_arrays(synthetic32):
    idx = np.array([3, 1, 7])
    images, masks = torch.from_numpy(synthetic32.images), torch.from_numpy(synthetic32.masks)
    x = to_tensor(images, idx, CPU)
    assert torch.equal(x, to_tensor(synthetic32.images, idx, CPU))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(mask_tensor(masks, idx, CPU), mask_tensor(synthetic32.masks, idx, CPU))


def test_a_cpu_setup_keeps_the_arrays_and_the_training_batch(tiny_cfg, synthetic32):
    setup = RunSetup(tiny_cfg(), synthetic32, CPU, None)  # type: ignore[arg-type]
    assert setup.images is synthetic32.images and setup.masks is synthetic32.masks
    assert setup.infer_batch == tiny_cfg().batch_size
    assert on_device(synthetic32.images, CPU) is synthetic32.images and GPU_INFER_FACTOR > 1


def _fit(ds, sync: bool, extra_loss=None) -> list[float]:
    torch.manual_seed(0)
    model = build_model("tu-test_efficientnet", "none", 0)
    return fit(model, ds.images, ds.masks, ds.train[:12], TrainSettings(epochs=2, batch_size=4, lr=1e-3),
               torch.Generator().manual_seed(0), CPU, sync_each_step=sync, extra_loss=extra_loss,
               unlabeled=ds.train[12:40] if extra_loss else None, where="test")


def test_reading_the_losses_once_per_epoch_gives_the_same_history(synthetic32):
    torch.set_num_threads(1)
    assert _fit(synthetic32, sync=False) == _fit(synthetic32, sync=True)


@pytest.mark.parametrize("sync", [True, False])
def test_a_non_finite_loss_is_named_at_its_step_in_both_modes(synthetic32, sync):
    calls = {"n": 0}

    def nan_at_third_unlabeled_batch(out, labeled):
        if labeled:
            return None
        calls["n"] += 1
        return out.logits.mean() * (float("nan") if calls["n"] == 3 else 0.0)

    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 3 \(extra_loss on an unlabeled batch = nan\)"):
        _fit(synthetic32, sync, nan_at_third_unlabeled_batch)


@needs_cuda
def test_on_a_gpu_the_data_lives_on_the_device_and_a_run_finishes(tiny_cfg, synthetic32):
    from alseg.bench import run_benchmark

    dev = torch.device("cuda")
    setup = RunSetup(tiny_cfg(device="cuda"), synthetic32, dev, None)  # type: ignore[arg-type]
    assert setup.images.device.type == "cuda" and setup.infer_batch == GPU_INFER_FACTOR * setup.cfg.batch_size
    result = run_benchmark(tiny_cfg(device="cuda", precision="auto", strategies="random,entropy"))
    assert not result.failed
    assert torch.backends.cudnn.benchmark
