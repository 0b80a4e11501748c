"""Where bf16 training time goes on a CPU: one training step in fp32, in bf16 autocast, and in bf16 autocast with
the depthwise convolutions kept in fp32 (`--precision bf16-dw32`).

On the 2-core AMD EPYC with AVX-512 BF16 and no AMX (docs/performance.md), bf16 autocast made the k×k
convolutions' backward faster but the backward of the encoder's depthwise convolutions about 4.6× slower, so 160-px
training gained little. This benchmark measures the step time of the three variants on the `cpu` preset's
model and size (U-Net, EfficientNet-Lite0, batch 16, 160 px, channels-last, one thread) and the convolution
backward time by kind (k×k, 1×1, depthwise) from the profiler. The third variant is alseg's `bf16-dw32`
precision, through the same `Precision.autocast` the training loop uses.
Run: OMP_NUM_THREADS=1 python -m pytest benchmarks/test_bf16_training_step.py -q -s
"""

from __future__ import annotations

import collections
import time

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from alseg.models import build_model, place
from alseg.precision import FP32, Precision, cpu_supports_bf16

pytestmark = pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU does not compute bf16 natively")
BATCH, SIZE, REPEATS = 16, 160, 4


def test_bf16_training_step_by_convolution_kind(bench_report) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = place(build_model("timm-tf_efficientnet_lite0", "imagenet", 0), torch.device("cpu"))
    x = torch.rand(BATCH, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(BATCH, 1, SIZE, SIZE) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step(precision: Precision) -> float:
        with precision.autocast(torch.device("cpu")):
            logits = model(x).logits.float()
        loss = F.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    def measure(precision: Precision) -> tuple[float, dict[str, float]]:
        """Best step time of REPEATS after two warm-up steps, and conv-backward milliseconds by kind."""
        assert all(torch.isfinite(torch.tensor(step(precision))) for _ in range(2))
        best = float("inf")
        for _ in range(REPEATS):
            t = time.perf_counter()
            step(precision)
            best = min(best, time.perf_counter() - t)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step(precision)
        by_kind: dict[str, float] = collections.defaultdict(float)
        for event in prof.events():
            if event.name == "aten::convolution_backward":
                weight = event.input_shapes[2]
                kind = "depthwise" if weight[1] == 1 else "1x1" if weight[2] == 1 else "kxk"
                by_kind[kind] += event.cpu_time_total / 1e3
        return best, dict(by_kind)

    n = sum(isinstance(m, torch.nn.Conv2d) and 1 < m.groups == m.in_channels for m in model.modules())
    assert n > 0, "the encoder has no depthwise convolutions"
    fp32, fp32_kinds = measure(FP32)
    bf16, bf16_kinds = measure(Precision("bf16"))
    mixed, mixed_kinds = measure(Precision("bf16-dw32"))
    for name, seconds, kinds in (("fp32", fp32, fp32_kinds), ("bf16 autocast", bf16, bf16_kinds),
                                 (f"bf16-dw32 (bf16, {n} depthwise convs in fp32)", mixed, mixed_kinds)):
        ms = ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(kinds.items()))
        line = f"{name}: {seconds:.3f} s/step ({fp32 / seconds:.2f}x fp32); conv backward by kind: {ms}"
        print(f"\n{line}", flush=True)
        bench_report(line)
