"""Where bf16 training time goes on a CPU: one training step in fp32, in bf16 autocast, and in bf16 autocast with
the depthwise convolutions kept in fp32.

On the 2-core AMD EPYC with AVX-512 BF16 and no AMX (docs/performance.md), bf16 autocast made the k×k
convolutions' backward faster but the backward of the encoder's depthwise convolutions about 4.6× slower, so 160-px
training gained little. This benchmark measures the step time of the three variants on the `cpu` preset's
model and size (U-Net, EfficientNet-Lite0, batch 16, 160 px, channels-last, one thread) and the convolution
backward time by kind (k×k, 1×1, depthwise) from the profiler. The third variant is a measurement, not a
precision alseg offers (it would change what "bf16" computes, so it would be a new protocol value).
Run: OMP_NUM_THREADS=1 python -m pytest benchmarks/test_bf16_training_step.py -q -s
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from alseg.models import build_model, place
from alseg.precision import cpu_supports_bf16

pytestmark = pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU does not compute bf16 natively")
BATCH, SIZE, REPEATS = 16, 160, 4


def is_depthwise(module: torch.nn.Module) -> bool:
    """A 2-d convolution with one group per input channel."""
    return isinstance(module, torch.nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


@contextlib.contextmanager
def depthwise_in_fp32(model: torch.nn.Module) -> Iterator[int]:
    """Run the model's depthwise convolutions outside autocast, in fp32, while the block is active."""
    patched = [m for m in model.modules() if is_depthwise(m)]
    for module in patched:
        plain = module.forward

        def fp32_forward(x: torch.Tensor, plain: Callable = plain) -> torch.Tensor:
            with torch.autocast("cpu", enabled=False):
                return plain(x.float())

        module.forward = fp32_forward
    try:
        yield len(patched)
    finally:
        for module in patched:
            del module.forward  # back to the class's forward


def test_bf16_training_step_by_convolution_kind(bench_report) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = place(build_model("timm-tf_efficientnet_lite0", "imagenet", 0), torch.device("cpu"))
    x = torch.rand(BATCH, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(BATCH, 1, SIZE, SIZE) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step(bf16: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x).logits.float()
        loss = F.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    def measure(bf16: bool) -> tuple[float, dict[str, float]]:
        """Best step time of REPEATS after two warm-up steps, and conv-backward milliseconds by kind."""
        assert all(torch.isfinite(torch.tensor(step(bf16))) for _ in range(2))
        best = float("inf")
        for _ in range(REPEATS):
            t = time.perf_counter()
            step(bf16)
            best = min(best, time.perf_counter() - t)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step(bf16)
        by_kind: dict[str, float] = collections.defaultdict(float)
        for event in prof.events():
            if event.name == "aten::convolution_backward":
                weight = event.input_shapes[2]
                kind = "depthwise" if weight[1] == 1 else "1x1" if weight[2] == 1 else "kxk"
                by_kind[kind] += event.cpu_time_total / 1e3
        return best, dict(by_kind)

    fp32, fp32_kinds = measure(False)
    bf16, bf16_kinds = measure(True)
    with depthwise_in_fp32(model) as n:
        mixed, mixed_kinds = measure(True)
    assert n > 0, "the encoder has no depthwise convolutions"
    for name, seconds, kinds in (("fp32", fp32, fp32_kinds), ("bf16 autocast", bf16, bf16_kinds),
                                 (f"bf16, {n} depthwise convs in fp32", mixed, mixed_kinds)):
        ms = ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(kinds.items()))
        line = f"{name}: {seconds:.3f} s/step ({fp32 / seconds:.2f}x fp32); conv backward by kind: {ms}"
        print(f"\n{line}", flush=True)
        bench_report(line)
