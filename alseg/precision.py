"""Arithmetic precision of the training step and the pool pass: fp32, or autocast to bf16 / fp16.

`--precision` is resolved once per experiment against the device (`resolve_precision`); what it resolved to
is part of the protocol, so runs of different precision never merge. Under autocast only the forward runs
in 16 bits: losses, metrics and every selection score are computed in float32 (`logits.float()`), and the
weights and the optimiser stay float32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from alseg.errors import AlsegUsageError

#: The values `--precision` accepts.
PRECISION_CHOICES = ("fp32", "bf16", "fp16", "auto")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """One resolved precision: 'fp32' (no autocast), 'bf16' or 'fp16' (autocast of the forward pass)."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in ("fp32", *_DTYPES):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.name!r}")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the forward pass computes in."""
        return _DTYPES.get(self.name, torch.float32)

    @property
    def protocol(self) -> str:
        """How the protocol names it: 'fp32', 'bf16-autocast' or 'fp16-autocast' (the names stored since 0.1)."""
        return self.name if self.name == "fp32" else f"{self.name}-autocast"

    def autocast(self, device: torch.device) -> AbstractContextManager:
        """The autocast context for a forward pass on `device` (a no-op context in fp32)."""
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


def cuda_supports_bf16(device: torch.device) -> bool:
    """Whether the CUDA device computes bf16 natively (compute capability 8.0, Ampere, or newer)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def supported_precisions(device: torch.device) -> tuple[str, ...]:
    """The precisions alseg runs on `device`, fastest first."""
    if device.type == "cuda":
        return ("bf16", "fp16", "fp32") if cuda_supports_bf16(device) else ("fp16", "fp32")
    return ("bf16", "fp32") if cpu_supports_bf16() else ("fp32",)


def resolve_precision(text: str, device: torch.device) -> Precision:
    """'auto' → the fastest precision this device supports; an explicit one is checked, or a usage error."""
    if text not in PRECISION_CHOICES:
        raise AlsegUsageError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got '{text}'")
    supported = supported_precisions(device)
    if text == "auto":
        return Precision(supported[0])
    if text in supported:
        return Precision(text)
    if device.type == "cpu" and text == "bf16":
        capability = torch.backends.cpu.get_cpu_capability()
        raise AlsegUsageError(
            f"--precision bf16: this CPU ({capability}) has no native bf16 (AVX-512 BF16 or AMX), so bf16 would be "
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
