"""Arithmetic precision of the training step and the pool pass: fp32, or autocast to bf16 / fp16.

`--precision` is resolved once per experiment against the device (`resolve_precision`); what it resolved to
is part of the protocol, so runs of different precision never merge. Under autocast only the forward runs
in 16 bits: losses, metrics and every selection score are computed in float32 (`logits.float()`), and the
weights and the optimiser stay float32.

`bf16-dw32` is bf16 autocast with the depthwise convolutions (groups == input channels) kept in float32. On a
CPU with AVX-512 BF16 but no AMX, oneDNN's bf16 depthwise-convolution backward is several times slower than
its fp32 one, so plain bf16 gains little in training there (docs/performance.md); computing those layers in
float32 recovers the gain. It computes something else than `bf16`, so it is its own protocol value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from alseg.errors import AlsegUsageError

#: The values `--precision` accepts.
PRECISION_CHOICES = ("fp32", "bf16", "bf16-dw32", "fp16", "auto")

_DTYPES = {"bf16": torch.bfloat16, "bf16-dw32": torch.bfloat16, "fp16": torch.float16}
_PROTOCOL_NAMES = {"fp32": "fp32", "bf16": "bf16-autocast", "bf16-dw32": "bf16-autocast-fp32-depthwise",
                   "fp16": "fp16-autocast"}


def is_depthwise_conv(func: Callable, args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a torch-function call is a 2-d convolution with one group per input channel (and more than one)."""
    if func is not F.conv2d and func is not torch.conv2d:
        return False
    groups = kwargs.get("groups", args[6] if len(args) > 6 else 1)
    return groups > 1 and groups == args[0].shape[1]


class DepthwiseInFloat32(TorchFunctionMode):
    """Inside an autocast region, compute every depthwise convolution in float32 (inputs upcast, autocast off).

    A torch-function mode rather than a change to the model: it applies to any encoder that calls
    `F.conv2d`, leaves weights, checkpoints and copies untouched, and the backward of an op follows the dtype
    its forward ran in.
    """

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if is_depthwise_conv(func, args, kwargs):
            with torch.autocast(args[0].device.type, enabled=False):
                return func(*(a.float() if isinstance(a, torch.Tensor) else a for a in args), **kwargs)
        return func(*args, **kwargs)


@contextmanager
def _autocast_depthwise_in_float32(device_type: str) -> Iterator[None]:
    """bf16 autocast with the depthwise convolutions in float32, entered when the `with` block is."""
    with torch.autocast(device_type, dtype=torch.bfloat16), DepthwiseInFloat32():
        yield


@dataclass(frozen=True)
class Precision:
    """One resolved precision: 'fp32' (no autocast), 'bf16', 'bf16-dw32' or 'fp16' (autocast of the forward)."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in _PROTOCOL_NAMES:
            raise ValueError(f"precision must be fp32, bf16, bf16-dw32 or fp16, got {self.name!r}")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the forward pass computes in."""
        return _DTYPES.get(self.name, torch.float32)

    @property
    def protocol(self) -> str:
        """How the protocol names it: 'fp32', 'bf16-autocast', 'fp16-autocast' (the names stored since 0.1) or
        'bf16-autocast-fp32-depthwise'."""
        return _PROTOCOL_NAMES[self.name]

    def autocast(self, device: torch.device) -> AbstractContextManager:
        """The autocast context for a forward pass on `device` (a no-op context in fp32)."""
        if self.name == "bf16-dw32":
            return _autocast_depthwise_in_float32(device.type)
        return torch.autocast(device.type, dtype=self.dtype, enabled=self.name != "fp32")

    def grad_scaler(self, device: torch.device) -> torch.amp.GradScaler | None:
        """A loss scaler for fp16 training (its small exponent range underflows gradients); None otherwise."""
        return torch.amp.GradScaler(device.type) if self.name == "fp16" else None


FP32 = Precision("fp32")


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX): autocast is then faster, not emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (oneDNN's fast bf16 kernels, the depthwise backward included)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_supports_bf16(device: torch.device) -> bool:
    """Whether the CUDA device computes bf16 natively (compute capability 8.0, Ampere, or newer)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def supported_precisions(device: torch.device) -> tuple[str, ...]:
    """The precisions alseg runs on `device`, in the order `auto` prefers them.

    Fastest first. On a CPU that is bf16-dw32: its training step is 1.6-1.7x fp32's where plain bf16's is
    1.1-1.2x, on AVX-512 BF16 alone and with AMX alike, and its 3-seed accuracy check against fp32 lies within
    the seed-to-seed spread (docs/performance.md). On a GPU, cuDNN's bf16 depthwise kernels are not slow, so
    plain bf16 comes first there.
    """
    if device.type == "cuda":
        return ("bf16", "bf16-dw32", "fp16", "fp32") if cuda_supports_bf16(device) else ("fp16", "fp32")
    return ("bf16-dw32", "bf16", "fp32") if cpu_supports_bf16() else ("fp32",)


def resolve_precision(text: str, device: torch.device) -> Precision:
    """'auto' → the fastest precision this device supports; an explicit one is checked, or a usage error."""
    if text not in PRECISION_CHOICES:
        raise AlsegUsageError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got '{text}'")
    supported = supported_precisions(device)
    if text == "auto":
        return Precision(supported[0])
    if text in supported:
        return Precision(text)
    if device.type == "cpu" and text.startswith("bf16"):
        capability = torch.backends.cpu.get_cpu_capability()
        raise AlsegUsageError(
            f"--precision {text}: this CPU ({capability}) has no native bf16 (AVX-512 BF16 or AMX), so bf16 would be "
            "emulated and slower than fp32; use --precision fp32 (or auto, which picks fp32 here)")
    if device.type == "cpu":
        raise AlsegUsageError("--precision fp16: alseg does not train in fp16 on a CPU (no native fp16 arithmetic "
                              "and no loss scaling there); use --precision bf16 where the CPU supports it, or fp32")
    raise AlsegUsageError(f"--precision {text}: {torch.cuda.get_device_name(device)} has no native {text} "
                          f"(compute capability {'.'.join(map(str, torch.cuda.get_device_capability(device)))}); "
                          f"use one of {', '.join(supported)} or auto")


def legacy_precision(device_type: str) -> str:
    """The protocol precision of a folder written before --precision existed (alseg ≤ 0.2.0's fixed rule)."""
    return "bf16-autocast" if device_type == "cuda" else "fp32"
